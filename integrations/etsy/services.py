"""Etsy shops: connect (OAuth with PKCE, or an operator's refresh token), the shop's
tokens (refreshed and rotated under a row lock), the remaining rate-limit budget, and the
tracking push. The import job, the polling sweep and the outbox loop are the generic
services', reached through integrations/platforms/etsy.py; docs/etsy.md.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.etsy import oauth
from integrations.etsy.client import (
    Budget,
    EtsyAuthError,
    EtsyClient,
    EtsyError,
    EtsyUserError,
)
from integrations.etsy.mapping import shipped_with
from integrations.models import (
    ConnectionKind,
    ConnectionStatus,
    ImportJob,
    JobStatus,
    OAuthState,
    OutboxMessage,
    StoreConnection,
)
from integrations.services.connections import (
    ShopUnavailable,
    connection_for_update,
    revealed,
    save_connected,
)
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict, ValidationFailed

CODE = "etsy"
LABEL = "Etsy"
OAUTH_STATE_MAX_AGE = timedelta(minutes=30)
# A token this close to its end is refreshed before the call (Etsy's last an hour).
REFRESH_MARGIN = timedelta(minutes=2)
REFRESH_TOKEN_LIFE = timedelta(days=90)  # Etsy: refresh tokens last 90 days
# OAuthState.shop_domain of an Etsy grant: the shop is known only once Etsy answers.
STATE_MARK = "etsy:"
REVOKED = ("Etsy refused PodHub's access to this shop ({reason}). Nothing more is read or "
           "sent; pushes wait. Connect the shop again (Stores → Connect an Etsy store) and "
           "everything waiting goes through.")


def api_base() -> str:
    return settings.ETSY_API_BASE.rstrip("/")


def api_key() -> str:
    """The x-api-key header: `keystring:shared secret` (Etsy's newer form) or the
    keystring alone when no shared secret is configured."""
    secret = settings.ETSY_SHARED_SECRET
    return f"{settings.ETSY_API_KEY}:{secret}" if secret else settings.ETSY_API_KEY


def configured() -> bool:
    return bool(settings.ETSY_API_KEY and settings.ETSY_API_BASE)


def redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
        "integrations:connect_callback", kwargs={"platform": CODE})


# --- the shop's tokens ----------------------------------------------------------------------


def access_revoked(*, connection_id: int, reason: str, now: datetime | None = None) -> None:
    """The grant is dead: forget the tokens (no call is made any more: the poll sweep
    skips a connection without one) and say so on sync health. The connection stays,
    its pushes stay pending: a new grant picks everything up."""
    now = now or timezone.now()
    with scopes_disabled():
        StoreConnection.objects.filter(pk=connection_id).update(
            access_token=Secret(""), refresh_token=Secret(""), token_expires_at=None,
            last_error=REVOKED.format(reason=reason)[:2000], last_error_at=now)


def token_refresh(*, connection_id: int, refused: str | None,
                  now: datetime | None = None) -> tuple[str, datetime]:
    """A live access token for the connection. Under the connection's row lock: Etsy
    rotates the refresh token, so two workers refreshing at once would spend it twice
    and the second would read as a revoked grant. A token another worker refreshed
    meanwhile is used as it is."""
    now = now or timezone.now()
    failure: EtsyAuthError | None = None
    with transaction.atomic(), scopes_disabled():
        conn = StoreConnection.objects.select_for_update().get(pk=connection_id)
        access = revealed(conn.access_token)
        if access and access != refused and conn.token_expires_at \
                and conn.token_expires_at > now + REFRESH_MARGIN:
            return access, conn.token_expires_at
        refresh = revealed(conn.refresh_token)
        if not refresh or conn.status != ConnectionStatus.ACTIVE:
            raise EtsyAuthError("PodHub has no access to this Etsy shop any more: connect "
                                "it again.")
        try:
            tokens = oauth.refresh(api_base=conn.api_base or api_base(),
                                   client_id=settings.ETSY_API_KEY, refresh_token=refresh,
                                   now=now)
        except EtsyAuthError as exc:
            failure = exc
        else:
            conn.access_token = Secret(tokens["access_token"])
            conn.refresh_token = Secret(tokens["refresh_token"])
            conn.token_expires_at = tokens["expires_at"]
            conn.refresh_token_expires_at = now + REFRESH_TOKEN_LIFE
            conn.save(update_fields=["access_token", "refresh_token", "token_expires_at",
                                     "refresh_token_expires_at", "updated_at"])
            return tokens["access_token"], tokens["expires_at"]
    access_revoked(connection_id=connection_id, reason=failure.code or str(failure), now=now)
    raise failure


class ConnectionTokens:
    """The client's token source for one connection (integrations/etsy/client.py)."""

    def __init__(self, connection: StoreConnection):
        self.connection_id = connection.pk
        self.access = revealed(connection.access_token)
        self.expires = connection.token_expires_at

    def current(self) -> str:
        if not self.access or self.expires is None \
                or self.expires <= timezone.now() + REFRESH_MARGIN:
            self.renew(self.access or None)
        return self.access

    def renew(self, refused: str | None) -> None:
        self.access, self.expires = token_refresh(connection_id=self.connection_id,
                                                  refused=refused)

    def revoked(self, reason: str) -> None:
        access_revoked(connection_id=self.connection_id, reason=reason)


class _Given:
    """The tokens of a grant not stored yet (connecting)."""

    def __init__(self, access: str):
        self.access = access

    def current(self) -> str:
        return self.access

    def renew(self, refused):
        raise EtsyAuthError("Etsy refused the new grant's token.")

    def revoked(self, reason: str) -> None:
        return None


def budget_seen(connection_id: int, budget: Budget) -> None:
    """Keep what Etsy said of the limits on the connection (sync health shows it)."""
    with scopes_disabled():
        StoreConnection.objects.filter(pk=connection_id).update(
            api_budget={**budget.as_dict(), "at": timezone.now().isoformat()})


# A budget Etsy told us this recently is trusted before the first call (the daily
# reserve holds across sweeps); an older one is asked again, so a stop lasts at most this.
BUDGET_FRESH = timedelta(minutes=10)


def _known_budget(connection: StoreConnection) -> Budget | None:
    seen = dict(connection.api_budget or {})
    at = seen.pop("at", None)
    try:
        fresh = at and timezone.now() - datetime.fromisoformat(at) < BUDGET_FRESH
        return Budget(**seen) if fresh else None
    except (TypeError, ValueError):
        return None


def client_for(connection: StoreConnection, **kwargs) -> EtsyClient:
    client = EtsyClient(base=connection.api_base or api_base(), api_key=api_key(),
                        tokens=ConnectionTokens(connection), shop_id=connection.shop_domain,
                        reserve=settings.ETSY_DAILY_RESERVE,
                        on_budget=lambda b: budget_seen(connection.pk, b), **kwargs)
    client.budget = _known_budget(connection)
    return client


# --- connect --------------------------------------------------------------------------------


def _connect_shop(*, workspace, tokens: dict, base: str, name: str, start_import: bool,
                  now: datetime) -> StoreConnection:
    """The grant's shop, asked of Etsy first (nothing is written on a refusal)."""
    probe = EtsyClient(base=base, api_key=api_key(), tokens=_Given(tokens["access_token"]),
                       max_retries=1)
    try:
        me = probe.me()
        shop_id = str(me.get("shop_id") or "")
        if not shop_id.isdigit():
            raise ValidationFailed("This Etsy account has no shop to connect.")
        shop = probe.shop(shop_id)
    except EtsyAuthError as exc:
        raise ValidationFailed(f"Etsy refused the new grant ({exc}).") from None
    except EtsyError as exc:
        raise ValidationFailed(f"Could not reach Etsy: {exc}") from None
    finally:
        probe.close()
    with scopes_disabled():
        other = StoreConnection.objects.filter(platform=CODE, shop_domain=shop_id,
                                               status=ConnectionStatus.ACTIVE).first()
    if other is not None and other.workspace_id != workspace.pk:
        raise ShopUnavailable(f"Etsy shop {shop_id}", workspace_id=other.workspace_id)
    # Connecting again from the same workspace replaces the tokens: a revoked grant's
    # waiting pushes go out with the new one.
    with transaction.atomic(), scope(workspace=workspace):
        conn = connection_for_update(workspace=workspace, platform=CODE, domain=shop_id,
                                     name=name or str(shop.get("shop_name") or ""))
        conn.kind = ConnectionKind.OAUTH
        conn.api_base = base
        conn.access_token = Secret(tokens["access_token"])
        conn.refresh_token = Secret(tokens["refresh_token"])
        conn.token_expires_at = tokens["expires_at"]
        conn.refresh_token_expires_at = now + REFRESH_TOKEN_LIFE
        conn.scopes = oauth.SCOPES
        save_connected(conn, now=now)
        if start_import and not ImportJob.objects.filter(
                connection=conn, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).exists():
            from integrations.services.imports import import_job_start

            import_job_start(connection=conn)
    return conn


def oauth_begin(*, workspace, user, now: datetime | None = None) -> str:
    """Remember a state nonce for this member; Etsy's consent URL (with the PKCE
    challenge of the verifier derived from the nonce)."""
    if not configured():
        raise Conflict("This PodHub has no Etsy app configured (ETSY_API_KEY).")
    nonce = secrets.token_urlsafe(24)
    OAuthState.objects.create(workspace=workspace, user=user, nonce=nonce,
                              shop_domain=STATE_MARK, created_at=now or timezone.now())
    return oauth.authorize_url(connect_url=settings.ETSY_CONNECT_URL,
                               client_id=settings.ETSY_API_KEY, redirect_uri=redirect_uri(),
                               state=nonce)


def oauth_complete(*, workspace, user, params: dict, start_import: bool = True,
                   now: datetime | None = None) -> StoreConnection:
    """Etsy sent the seller back: the state (one use, same member, fresh, an Etsy one),
    then the code exchanged with the PKCE verifier, then the shop connected."""
    now = now or timezone.now()
    if params.get("error"):
        raise ValidationFailed(f"Etsy did not grant access ({str(params['error'])[:100]}).")
    state_value = str(params.get("state") or "")
    with transaction.atomic():
        state = (OAuthState.objects.select_for_update()
                 .filter(workspace=workspace, nonce=state_value, shop_domain=STATE_MARK)
                 .first())
        if state is None or state.used_at or state.user_id != user.pk \
                or state.created_at < now - OAUTH_STATE_MAX_AGE:
            raise ValidationFailed("This Etsy connection link expired or was already used; "
                                   "start again.")
        state.used_at = now
        state.save(update_fields=["used_at", "updated_at"])
    code = str(params.get("code") or "")
    if not code:
        raise ValidationFailed("Etsy's answer has no authorization code; start again.")
    try:
        tokens = oauth.exchange_code(api_base=api_base(), client_id=settings.ETSY_API_KEY,
                                     redirect_uri=redirect_uri(), code=code,
                                     state=state_value, now=now)
    except (EtsyAuthError, EtsyUserError) as exc:
        raise ValidationFailed(f"Etsy refused the authorization code ({exc}); start "
                               "again.") from None
    except EtsyError as exc:
        raise ValidationFailed(f"Could not reach Etsy: {exc}") from None
    return _connect_shop(workspace=workspace, tokens=tokens, base=api_base(), name="",
                         start_import=start_import, now=now)


def connect_with_refresh_token(*, workspace, refresh_token: str, base: str = "",
                               name: str = "", start_import: bool = True,
                               now: datetime | None = None) -> StoreConnection:
    """The operator's way (connect_store etsy --refresh-token, the sandbox shops): a
    grant made elsewhere, refreshed once (which checks it and rotates it)."""
    now = now or timezone.now()
    refresh_token = (refresh_token or "").strip()
    if not refresh_token or len(refresh_token) > 500:
        raise ValidationFailed("Give the shop's refresh token.", field="refresh_token")
    base = (base or api_base()).rstrip("/")
    try:
        tokens = oauth.refresh(api_base=base, client_id=settings.ETSY_API_KEY,
                               refresh_token=refresh_token, now=now)
    except (EtsyAuthError, EtsyUserError) as exc:
        raise ValidationFailed(f"Etsy refused this refresh token ({exc}).",
                               field="refresh_token") from None
    except EtsyError as exc:
        raise ValidationFailed(f"Could not reach Etsy at {base}: {exc}", field="api_base") \
            from None
    return _connect_shop(workspace=workspace, tokens=tokens, base=base, name=name,
                         start_import=start_import, now=now)


# --- the push ----------------------------------------------------------------------------------


def fulfillment_create(client: EtsyClient, conn, msg: OutboxMessage) -> dict:
    """createReceiptShipment with the carrier's name and the tracking code (Etsy e-mails
    the buyer). A push whose answer was lost is not made twice: the receipt's
    shipments are read first."""
    p = msg.payload
    receipt = client.receipt(p["order_id"])
    if shipped_with(receipt, p["number"]):
        return {"already": True}
    if str(receipt.get("status") or "").lower() in ("canceled", "cancelled"):
        raise EtsyUserError(f"receipt {p['order_id']} is canceled in Etsy")
    answer = client.create_receipt_shipment(
        p["order_id"], tracking_code=p["number"], carrier_name=p.get("carrier") or "other")
    shipments = answer.get("shipments") or [{}]
    return {"receipt_shipping_id": shipments[-1].get("receipt_shipping_id")}
