"""Connecting stores: custom-app tokens, public-app OAuth, disconnect, tokens, clients."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations import conf
from integrations.models import (
    ConnectionKind,
    ConnectionStatus,
    ImportJob,
    JobStatus,
    OAuthState,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.shopify import oauth
from integrations.shopify.client import AdminClient, ShopifyAuthError, ShopifyError
from integrations.shopify.hmac import normalize_shop_domain, verify_query
from orders.models import Platform, Store
from podhub.core import outbound
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed

log = logging.getLogger(__name__)

OAUTH_STATE_MAX_AGE = timedelta(minutes=30)
REFRESH_MARGIN = timedelta(minutes=5)


def webhook_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integrations:shopify_webhook")


def clean_shop_domain(value: str) -> str:
    shop = normalize_shop_domain(value)
    if shop is None:
        raise ValidationFailed(
            f"{value!r} is not a Shopify store address: use your-store.myshopify.com.",
            field="shop_domain")
    return shop


def clean_api_base(value: str) -> str:
    """An operator's API base override (`connect_store --api-base`: the sandbox, a proxy);
    it still has to pass the outbound HTTP policy. Never taken from a seller: a seller's
    shop is reached at the address derived from its *.myshopify.com domain."""
    if not (value or "").strip():
        return ""
    try:
        base = outbound.clean_base_url(value)
    except outbound.OutboundError as exc:
        raise ValidationFailed(f"{value!r} is not a usable base URL: {exc.message}",
                               field="api_base") from None
    if len(base) > 255:
        raise ValidationFailed("That base URL is too long.", field="api_base")
    return base


class ShopUnavailable(Conflict):
    """The shop is live in another workspace. Sellers are told only that it cannot be
    connected (which shops use PodHub is nobody's business); the operator's CLI says why."""

    def __init__(self, shop: str, *, workspace_id: int | None = None):
        super().__init__("This shop cannot be connected to this workspace. If it is your "
                         "shop, contact PodHub support.")
        which = f" (id {workspace_id})" if workspace_id else ""
        self.operator_message = f"{shop} is already connected to another workspace{which}."


def _reveal(value) -> str:
    return value.reveal() if isinstance(value, Secret) else (value or "")


def _check_token(shop: str, token: str, *, api_base: str = "") -> None:
    """One small query with the pasted token: the store must accept it."""
    base = api_base or conf.shopify_api_base(shop)
    with AdminClient(base_url=base, token=token, api_version=conf.api_version(),
                     max_retries=1) as client:
        try:
            client.execute("query PodhubShop { shop { id } }")
        except ShopifyAuthError:
            raise ValidationFailed("The store refused this token: paste the Admin API access "
                                   "token of the app installed in this store.",
                                   field="access_token") from None
        except ShopifyError as exc:
            raise ValidationFailed(f"Could not reach {shop} to check the token ({exc}).",
                                   field="shop_domain") from None


def _active_elsewhere(shop: str) -> StoreConnection | None:
    with scopes_disabled():
        return StoreConnection.objects.filter(
            platform=Platform.SHOPIFY, shop_domain=shop, status=ConnectionStatus.ACTIVE
        ).first()


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


def store_connect_shopify(
    *, workspace, shop_domain: str, access_token: str, webhook_secret: str = "",
    api_base: str = "", name: str = "", kind: str = ConnectionKind.CUSTOM, scopes: str = "",
    refresh_token: str = "", token_expires_at: datetime | None = None,
    refresh_token_expires_at: datetime | None = None, start_import: bool = True,
    verify_token: bool = False, now: datetime | None = None,
) -> StoreConnection:
    """Connect (or reconnect) a Shopify store to the workspace; start its initial import.

    `api_base` is the operator's override (the CLI), never a seller's. `verify_token`
    (a seller pasting a token) asks the store first: only someone holding a working
    token of the shop learns whether it can be connected.
    """
    now = now or timezone.now()
    shop = clean_shop_domain(shop_domain)
    api_base = clean_api_base(api_base)
    access_token = (access_token or "").strip()
    webhook_secret = (webhook_secret or "").strip()
    if not access_token or len(access_token) > 500:
        raise ValidationFailed("Paste the Admin API access token of the store's app.",
                               field="access_token")
    if kind == ConnectionKind.CUSTOM and not webhook_secret:
        raise ValidationFailed("Paste the webhook signing secret shown under the app's "
                               "webhooks settings.", field="webhook_secret")
    if len(webhook_secret) > 500:
        raise ValidationFailed("That webhook secret is too long.", field="webhook_secret")
    if verify_token:
        _check_token(shop, access_token, api_base=api_base)
    other = _active_elsewhere(shop)
    if other is not None and other.workspace_id == workspace.pk:
        raise Conflict(f"{shop} is already connected to this workspace.")
    if other is not None:
        raise ShopUnavailable(shop, workspace_id=other.workspace_id)
    with scope(workspace=workspace):
        conn = connection_for_update(workspace=workspace, platform=Platform.SHOPIFY,
                                     domain=shop, name=name)
        conn.kind = kind
        conn.api_base = api_base
        conn.access_token = Secret(access_token)
        conn.refresh_token = Secret(refresh_token or "")
        conn.token_expires_at = token_expires_at
        conn.refresh_token_expires_at = refresh_token_expires_at
        conn.webhook_secret = Secret(webhook_secret)
        conn.scopes = scopes[:500]
        save_connected(conn, now=now)
        forget_cached_connection(shop)
        if start_import:
            from integrations.services.imports import import_job_start

            import_job_start(connection=conn)
    return conn


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
    forget_cached_connection(conn.shop_domain)


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


# --- webhook intake's connection lookup (hot path) ---------------------------------------

_CACHE: dict[str, tuple[float, tuple | None]] = {}
_CACHE_SECONDS = 5.0


def forget_cached_connection(shop: str) -> None:
    _CACHE.pop(shop, None)


def connection_for_webhook(shop: str) -> tuple | None:
    """(connection id, workspace id, [accepted secrets]) for a shop, cached for 5 s.

    Any connection of the shop answers, newest first and active first: privacy
    webhooks (shop/redact) arrive after the app was uninstalled. Processing
    re-checks the connection's status, so a short cache never lets a
    disconnected store change anything.
    """
    hit = _CACHE.get(shop)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    with scopes_disabled():
        conns = list(StoreConnection.objects.filter(platform=Platform.SHOPIFY, shop_domain=shop)
                     .only("pk", "workspace_id", "webhook_secret", "kind", "status")
                     .order_by("-pk")[:5])
    conns.sort(key=lambda c: c.status != ConnectionStatus.ACTIVE)
    value = None
    if conns:
        c = conns[0]
        accepted = [_reveal(c.webhook_secret)] if _reveal(c.webhook_secret) else []
        if c.kind == ConnectionKind.OAUTH or not accepted:
            accepted += [s for s in (conf.api_secret(), conf.api_secret_previous()) if s]
        value = (c.pk, c.workspace_id, accepted)
    if len(_CACHE) > 10_000:
        _CACHE.clear()
    _CACHE[shop] = (now + _CACHE_SECONDS, value)
    return value


# --- tokens and clients -------------------------------------------------------------------


def access_token(connection_id: int, *, now: datetime | None = None) -> str:
    """The connection's token, refreshed first when an expiring token is about to expire."""
    now = now or timezone.now()
    with scopes_disabled():
        conn = StoreConnection.objects.get(pk=connection_id)
    if conn.status != ConnectionStatus.ACTIVE:
        raise ShopifyAuthError("the store is not connected")
    if conn.token_expires_at is None or conn.token_expires_at - REFRESH_MARGIN > now:
        return _reveal(conn.access_token)
    with transaction.atomic(), scopes_disabled():
        conn = StoreConnection.objects.select_for_update().get(pk=connection_id)
        if conn.token_expires_at and conn.token_expires_at - REFRESH_MARGIN > now:
            return _reveal(conn.access_token)  # another worker refreshed it
        if not _reveal(conn.refresh_token):
            raise ShopifyAuthError("the access token expired and there is no refresh token")
        tokens = oauth.refresh(base_url=conn.base_url, client_id=conf.api_key(),
                               client_secret=conf.api_secret(),
                               refresh_token=_reveal(conn.refresh_token), now=now)
        conn.access_token = Secret(tokens.access_token)
        conn.refresh_token = Secret(tokens.refresh_token or _reveal(conn.refresh_token))
        conn.token_expires_at = tokens.expires_at
        conn.refresh_token_expires_at = tokens.refresh_expires_at or \
            conn.refresh_token_expires_at
        if tokens.scope:
            conn.scopes = tokens.scope[:500]
        conn.save()
        log.info("refreshed the Shopify token of connection %s", conn.pk)
        return tokens.access_token


def client_for(connection: StoreConnection, **kwargs) -> AdminClient:
    """A client bound to this one store; the token is read (and refreshed) per call."""
    cid = connection.pk
    return AdminClient(base_url=connection.base_url, token=lambda: access_token(cid),
                       api_version=conf.api_version(), **kwargs)


# --- public-app OAuth -------------------------------------------------------------------


def oauth_redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integrations:oauth_callback")


@transaction.atomic
def oauth_begin(*, workspace, user, shop_domain: str, now: datetime | None = None) -> str:
    """Start an install: remember a nonce for this member, return Shopify's consent URL
    (on the shop's own domain, or where the operator's SHOPIFY_API_BASES puts it)."""
    if not conf.api_key() or not conf.api_secret():
        raise Conflict("This PodHub has no Shopify app configured (SHOPIFY_API_KEY and "
                       "SHOPIFY_API_SECRET). Connect with a custom-app token instead.")
    shop = clean_shop_domain(shop_domain)
    nonce = secrets.token_urlsafe(24)
    OAuthState.objects.create(workspace=workspace, user=user, nonce=nonce, shop_domain=shop,
                              created_at=now or timezone.now())
    return oauth.authorize_url(base_url=conf.shopify_api_base(shop), client_id=conf.api_key(),
                               scopes=conf.scopes(), redirect_uri=oauth_redirect_uri(),
                               state=nonce)


def oauth_complete(*, workspace, user, params: dict[str, str],
                   now: datetime | None = None) -> StoreConnection:
    """The callback: HMAC, state nonce (one use, same member, fresh), shop, code exchange."""
    now = now or timezone.now()
    if not verify_query(params, conf.api_secret(), now=now.timestamp()):
        raise ValidationFailed("The answer from Shopify is not signed correctly; start again.")
    shop = normalize_shop_domain(params.get("shop", ""))
    if shop is None:
        raise ValidationFailed("The answer from Shopify names no valid shop.")
    with transaction.atomic():
        state = (OAuthState.objects.select_for_update()
                 .filter(workspace=workspace, nonce=params.get("state", "")).first())
        if state is None or state.used_at or state.user_id != user.pk \
                or state.created_at < now - OAUTH_STATE_MAX_AGE:
            raise ValidationFailed("This installation link expired or was already used; "
                                   "start again.")
        if state.shop_domain != shop:
            raise ValidationFailed("Shopify answered for a different shop than the one "
                                   "you started with.")
        state.used_at = now
        state.save(update_fields=["used_at", "updated_at"])
    # The app secret goes only to the validated shop's own address (or the operator's).
    try:
        tokens = oauth.exchange_code(base_url=conf.shopify_api_base(shop),
                                     client_id=conf.api_key(), client_secret=conf.api_secret(),
                                     code=params.get("code", ""), now=now)
    except ShopifyError as exc:
        log.warning("OAuth code exchange for %s failed: %s", shop, exc)
        raise ValidationFailed("Shopify did not complete the installation; start "
                               "again.") from None
    return store_connect_shopify(
        workspace=workspace, shop_domain=shop, access_token=tokens.access_token,
        kind=ConnectionKind.OAUTH, scopes=tokens.scope,
        refresh_token=tokens.refresh_token, token_expires_at=tokens.expires_at,
        refresh_token_expires_at=tokens.refresh_expires_at, now=now,
    )
