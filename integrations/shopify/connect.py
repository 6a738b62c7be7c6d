"""Connecting Shopify stores: custom-app tokens, public-app OAuth, tokens (refreshed) and
clients, and the webhook intake's shop lookup (docs/shopify.md, "Connecting")."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations import conf
from integrations.models import ConnectionKind, ConnectionStatus, OAuthState, StoreConnection
from integrations.services.connections import (
    ShopUnavailable,
    connection_for_update,
    revealed,
    save_connected,
)
from integrations.shopify import oauth
from integrations.shopify.client import AdminClient, ShopifyAuthError, ShopifyError
from integrations.shopify.hmac import normalize_shop_domain, verify_query
from orders.models import Platform
from podhub.core import outbound
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict, ValidationFailed

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
        accepted = [revealed(c.webhook_secret)] if revealed(c.webhook_secret) else []
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
        return revealed(conn.access_token)
    with transaction.atomic(), scopes_disabled():
        conn = StoreConnection.objects.select_for_update().get(pk=connection_id)
        if conn.token_expires_at and conn.token_expires_at - REFRESH_MARGIN > now:
            return revealed(conn.access_token)  # another worker refreshed it
        if not revealed(conn.refresh_token):
            raise ShopifyAuthError("the access token expired and there is no refresh token")
        tokens = oauth.refresh(base_url=conn.base_url, client_id=conf.api_key(),
                               client_secret=conf.api_secret(),
                               refresh_token=revealed(conn.refresh_token), now=now)
        conn.access_token = Secret(tokens.access_token)
        conn.refresh_token = Secret(tokens.refresh_token or revealed(conn.refresh_token))
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
