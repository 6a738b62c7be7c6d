"""Public-app OAuth (authorization code grant) and expiring offline tokens.

ShopifyAPI 12 cannot refresh tokens, so the exchange and the refresh are ours,
through the outbound HTTP policy (podhub/core/outbound.py). They send the app's
client secret: `base_url` is always derived from the validated *.myshopify.com
domain, or set by the operator (SHOPIFY_API_BASES, `connect_store --api-base`),
never by a seller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx
from django.utils import timezone

from integrations.shopify.client import ShopifyAuthError, ShopifyUnavailable, answer_reason
from podhub.core import outbound


@dataclass
class TokenSet:
    access_token: str
    scope: str
    expires_at: datetime | None
    refresh_token: str
    refresh_expires_at: datetime | None


def authorize_url(*, base_url: str, client_id: str, scopes: str, redirect_uri: str,
                  state: str) -> str:
    query = urlencode({"client_id": client_id, "scope": scopes, "redirect_uri": redirect_uri,
                       "state": state})
    return f"{base_url.rstrip('/')}/admin/oauth/authorize?{query}"


def _tokens(body: dict, now: datetime) -> TokenSet:
    if not body.get("access_token"):
        raise ShopifyAuthError("the store answered without an access token")
    expires_in = body.get("expires_in")
    refresh_in = body.get("refresh_token_expires_in")
    return TokenSet(
        access_token=body["access_token"],
        scope=body.get("scope", ""),
        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
        refresh_token=body.get("refresh_token", ""),
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
    )


def _post(url: str, data: dict) -> dict:
    try:
        with outbound.client(timeout=10, max_bytes=1024 * 1024) as client:
            resp = client.post(url, json=data, headers={"Accept": "application/json"})
    except outbound.OutboundError as exc:
        raise ShopifyAuthError(f"token endpoint refused by PodHub's policy: {exc.message}") \
            from None
    except httpx.HTTPError as exc:
        raise ShopifyUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
    if resp.status_code >= 500:
        raise ShopifyUnavailable(f"token endpoint answered HTTP {resp.status_code}")
    if resp.status_code != 200:
        raise ShopifyAuthError(f"token endpoint refused: HTTP {resp.status_code}"
                               f"{answer_reason(resp)}")
    try:
        return resp.json()
    except ValueError as exc:
        raise ShopifyAuthError("token endpoint answered with something that is not JSON") \
            from exc


def exchange_code(*, base_url: str, client_id: str, client_secret: str, code: str,
                  now: datetime | None = None) -> TokenSet:
    """Code -> token. `expiring=1` asks for an expiring offline token with a refresh token."""
    body = _post(f"{base_url.rstrip('/')}/admin/oauth/access_token",
                 {"client_id": client_id, "client_secret": client_secret, "code": code,
                  "expiring": 1})
    return _tokens(body, now or timezone.now())


def refresh(*, base_url: str, client_id: str, client_secret: str, refresh_token: str,
            now: datetime | None = None) -> TokenSet:
    body = _post(f"{base_url.rstrip('/')}/admin/oauth/access_token",
                 {"client_id": client_id, "client_secret": client_secret,
                  "grant_type": "refresh_token", "refresh_token": refresh_token})
    return _tokens(body, now or timezone.now())
