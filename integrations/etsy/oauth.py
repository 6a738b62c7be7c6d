"""Etsy's OAuth 2 authorization-code grant with PKCE (S256), and token refresh.

https://developers.etsy.com/documentation/essentials/authentication:
the seller is sent to https://www.etsy.com/oauth/connect with response_type=code,
client_id (the app's keystring), redirect_uri, scope, state, code_challenge and
code_challenge_method=S256; Etsy sends the browser back with `code` and `state`; the
code, with the code_verifier, is exchanged at POST https://api.etsy.com/v3/public/oauth/token
(form: grant_type=authorization_code, client_id, redirect_uri, code, code_verifier) for
{access_token, token_type, expires_in (3600), refresh_token}; grant_type=refresh_token
(client_id, refresh_token) gives a new pair. Tokens are `<user id>.<token>`.

The code verifier is never stored: it is HMAC(SECRET_KEY, state), 43 URL-safe characters
(RFC 7636's minimum), so only this PodHub can answer the challenge it sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx
from django.conf import settings

from integrations.etsy.client import EtsyError, raise_for
from podhub.core import outbound

SCOPES = "transactions_r transactions_w shops_r"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def code_verifier(state: str) -> str:
    return _b64(hmac.new(settings.SECRET_KEY.encode(), f"etsy-pkce:{state}".encode(),
                         hashlib.sha256).digest())


def code_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(ASCII(verifier)))."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def authorize_url(*, connect_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    return f"{connect_url}?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": SCOPES, "state": state, "code_challenge": code_challenge(code_verifier(state)),
        "code_challenge_method": "S256"})


def user_id_of(access_token: str) -> str:
    """Etsy's tokens start with the numeric user id and a period."""
    head, dot, _ = access_token.partition(".")
    return head if dot and head.isdigit() else ""


def _token(*, api_base: str, form: dict, now: datetime) -> dict:
    try:
        with outbound.client(timeout=15) as http:
            response = http.post(f"{api_base.rstrip('/')}/public/oauth/token", data=form,
                                 headers={"accept": "application/json"})
    except outbound.OutboundError as exc:
        raise EtsyError(f"PodHub's outbound policy refused Etsy's address: {exc}") from None
    except httpx.HTTPError as exc:
        raise EtsyError(f"Etsy's token endpoint did not answer ({type(exc).__name__}).") \
            from None
    raise_for(response, what="the token request")
    try:
        body = response.json()
        access, refresh = str(body["access_token"]), str(body["refresh_token"])
        expires_in = int(body.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError):
        raise EtsyError("Etsy's token answer is not a token.") from None
    return {"access_token": access, "refresh_token": refresh,
            "expires_at": now + timedelta(seconds=expires_in)}


def exchange_code(*, api_base: str, client_id: str, redirect_uri: str, code: str,
                  state: str, now: datetime) -> dict:
    return _token(api_base=api_base, now=now, form={
        "grant_type": "authorization_code", "client_id": client_id,
        "redirect_uri": redirect_uri, "code": code, "code_verifier": code_verifier(state)})


def refresh(*, api_base: str, client_id: str, refresh_token: str, now: datetime) -> dict:
    return _token(api_base=api_base, now=now, form={
        "grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token})
