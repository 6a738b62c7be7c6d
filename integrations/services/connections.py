"""Store connections of every platform: the connection row made or reconnected, manual
stores, disconnect and uninstall. How a platform checks credentials and connects is its
own (integrations/platforms/: Shopify's tokens and OAuth in integrations/shopify/connect.py,
WooCommerce's keys in integrations/woocommerce/services.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_scopes import scope

from integrations.models import (
    ConnectionStatus,
    ImportJob,
    JobStatus,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.platforms import registry
from integrations.platforms.base import StorePlatform
from orders.models import Platform, Store
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.workspaces.services import require_manager

log = logging.getLogger(__name__)


class ShopUnavailable(Conflict):
    """The shop is live in another workspace. Sellers are told only that it cannot be
    connected (which shops use PodHub is nobody's business); the operator's CLI says why."""

    def __init__(self, shop: str, *, workspace_id: int | None = None):
        super().__init__("This shop cannot be connected to this workspace. If it is your "
                         "shop, contact PodHub support.")
        which = f" (id {workspace_id})" if workspace_id else ""
        self.operator_message = f"{shop} is already connected to another workspace{which}."


def revealed(value) -> str:
    """A stored credential (a Secret, or empty) as text, for the platform's client."""
    return value.reveal() if isinstance(value, Secret) else (value or "")


@transaction.atomic
def connection_for_update(*, workspace, platform: str, domain: str,
                          name: str = "") -> StoreConnection:
    """The workspace's connection to this store, locked (connecting again replaces its
    keys), or a new one with its Store; the store is (re)activated and renamed."""
    conn = (StoreConnection.objects.select_for_update().select_related("store")
            .filter(workspace=workspace, platform=platform, shop_domain=domain)
            .order_by("-pk").first())
    if conn is None:
        store = Store.objects.create(workspace=workspace, name=(name or domain)[:120],
                                     platform=platform)
        return StoreConnection(workspace=workspace, store=store, platform=platform,
                               shop_domain=domain)
    store = conn.store
    if name:
        store.name = name[:120]
    store.is_active = True
    store.save(update_fields=["name", "is_active", "updated_at"])
    return conn


def save_connected(conn: StoreConnection, *, now: datetime) -> None:
    """Mark the connection live and save it; the one-live-connection-per-store rule
    (a concurrent connect from another workspace) answers 409."""
    conn.status = ConnectionStatus.ACTIVE
    conn.connected_at = now
    conn.disconnected_at = None
    conn.last_error = ""
    try:
        with transaction.atomic():
            conn.save()
    except IntegrityError:
        raise ShopUnavailable(conn.shop_domain) from None


def connectable_platforms() -> list[StorePlatform]:
    """The registered platforms a seller connects with fields, in the settings' order."""
    return [p for p in registry.platforms().values() if p.connect_fields() or p.authorizes]


def connectable(code: str) -> StorePlatform:
    """The platform of that code, if a seller can connect its stores (else 404)."""
    platform = registry.find(code)
    if platform is None or not (platform.connect_fields() or platform.authorizes):
        raise NotFound(f"PodHub does not connect {code!r} stores.")
    return platform


def store_authorize(*, workspace, membership, user, platform: str) -> str:
    """An `authorizes` platform (OAuth): where to send the seller to allow PodHub."""
    require_manager(membership, message="Only the owner or an admin can connect a store.")
    chosen = connectable(platform)
    if not chosen.authorizes:
        raise NotFound(f"{chosen.label} stores are connected with their credentials.")
    return chosen.authorize(workspace=workspace, user=user)


def store_authorized(*, workspace, membership, user, platform: str,
                     params: dict) -> StoreConnection:
    """The platform sent the seller back with a grant: connect the store."""
    require_manager(membership, message="Only the owner or an admin can connect a store.")
    chosen = connectable(platform)
    if not chosen.authorizes:
        raise NotFound(f"{chosen.label} stores are connected with their credentials.")
    return chosen.authorized(workspace=workspace, user=user, params=params)


def store_connect(*, workspace, membership, platform: str, credentials: dict,
                  start_import: bool = True) -> StoreConnection:
    """Connect a seller's store of any registered platform (the Stores page and the API):
    a manager's action; only the platform's `connect_fields` (and the name) are passed
    on, so nothing a seller sends reaches an operator's option."""
    require_manager(membership, message="Only the owner or an admin can connect a store.")
    chosen = connectable(platform)
    if chosen.authorizes:
        raise ValidationFailed(f"{chosen.label} stores are connected by allowing PodHub in "
                               f"{chosen.label}: start at /stores/connect/{chosen.code}/.")
    names = {f.name for f in chosen.connect_fields()} | {"name"}
    given = {k: str(v or "") for k, v in credentials.items() if k in names}
    return chosen.connect(workspace=workspace, start_import=start_import, **given)


def sandbox_url(platform: str) -> str:
    """Where the embedded default's sandbox of that platform listens
    (settings.PODHUB_SANDBOX_STORES, from scripts/run.sh; empty in production: no
    sandbox stores there)."""
    return ((getattr(settings, "PODHUB_SANDBOX_STORES", None) or {}).get(platform) or "") \
        .rstrip("/")


def sandbox_platforms() -> list:
    """The platforms a seller can try a sandbox store of, in the registry's order."""
    return [p for code, p in registry.platforms().items()
            if sandbox_url(code)
            and type(p).sandbox_connect is not StorePlatform.sandbox_connect]


def store_connect_sandbox(*, workspace, membership, platform: str) -> StoreConnection:
    """"Try a sandbox store": a new store of the platform's sandbox, for this workspace
    alone, connected through the platform's `connect`."""
    require_manager(membership, message="Only the owner or an admin can connect a store.")
    chosen = registry.find(platform)
    if chosen is None or chosen not in sandbox_platforms():
        raise NotFound("There is no such sandbox store here.")
    return chosen.sandbox_connect(workspace=workspace, sandbox_url=sandbox_url(platform))


def is_sandbox(conn: StoreConnection) -> bool:
    base = sandbox_url(conn.platform)
    return bool(base) and (conn.api_base or "").startswith(base + "/")


def sandbox_test_order(*, workspace, store_id: int) -> str:
    """Ask the sandbox to send this sandbox store's next order (it arrives by webhook);
    the store's order number."""
    with scope(workspace=workspace):
        conn = StoreConnection.objects.filter(store_id=store_id).first()
    if conn is None or not is_sandbox(conn) or conn.status != ConnectionStatus.ACTIVE:
        raise NotFound("This is not a connected sandbox store.")
    return registry.platform_for(conn).sandbox_order(conn)


@transaction.atomic
def store_create_manual(*, workspace, name: str) -> Store:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the store a name.", field="name")
    with scope(workspace=workspace):
        return Store.objects.create(workspace=workspace, name=name[:120],
                                    platform=Platform.MANUAL, submit_mode="manual")


def _stop_traffic(conn: StoreConnection, *, status: str, now: datetime, why: str) -> None:
    conn.status = status
    conn.disconnected_at = now
    conn.access_token = Secret("")
    conn.refresh_token = Secret("")
    conn.consumer_secret = Secret("")
    conn.token_expires_at = None
    conn.save()
    ImportJob.objects.filter(connection=conn, status__in=[JobStatus.PENDING, JobStatus.RUNNING]) \
        .update(status=JobStatus.CANCELLED, finished_at=now, error=why)
    OutboxMessage.objects.filter(store_id=conn.store_id, status=OutboxStatus.PENDING) \
        .update(status=OutboxStatus.CANCELLED, last_error=why, updated_at=now)
    Store.objects.filter(pk=conn.store_id).update(is_active=False, updated_at=now)
    platform = registry.find(conn.platform)
    if platform is not None:
        platform.disconnected(conn)


@transaction.atomic
def store_disconnect(*, workspace, store_id: int, now: datetime | None = None) -> StoreConnection:
    """Forget the credentials and stop every call to and from the store (orders stay)."""
    now = now or timezone.now()
    conn = (StoreConnection.objects.select_for_update()
            .filter(workspace=workspace, store_id=store_id).first())
    if conn is None:
        raise NotFound("No such connected store.")
    if conn.status != ConnectionStatus.ACTIVE:
        raise Conflict("This store is not connected.")
    _stop_traffic(conn, status=ConnectionStatus.DISCONNECTED, now=now,
                  why="Disconnected by the seller.")
    return conn


def connection_uninstalled(*, connection_id: int, now: datetime | None = None) -> None:
    """app/uninstalled: the token is dead; stop everything (shop/redact follows in 48 h)."""
    now = now or timezone.now()
    with transaction.atomic():
        conn = StoreConnection.objects.select_for_update().filter(pk=connection_id).first()
        if conn is None or conn.status != ConnectionStatus.ACTIVE:
            return
        _stop_traffic(conn, status=ConnectionStatus.UNINSTALLED, now=now,
                      why="The app was uninstalled in the store.")


