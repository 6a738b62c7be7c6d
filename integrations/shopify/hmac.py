"""Shopify signatures: webhook bodies (base64) and OAuth query strings (hex)."""

import base64
import hashlib
import hmac
import re
import time
from urllib.parse import quote

SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9\-]*\.myshopify\.com$")


def normalize_shop_domain(value: str) -> str | None:
    """`acme`, `Acme.myshopify.com`, `https://acme.myshopify.com/` -> `acme.myshopify.com`.

    None when it is not a *.myshopify.com host (no other host is ever accepted,
    so an OAuth redirect or an API call can only go to Shopify).
    """
    value = (value or "").strip().lower()
    value = re.sub(r"^https?://", "", value).split("/")[0]
    if value and "." not in value:
        value = f"{value}.myshopify.com"
    if len(value) > 255 or not SHOP_DOMAIN_RE.match(value):
        return None
    return value


def webhook_signature(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_webhook(body: bytes, header: str, secrets: list[str]) -> bool:
    """Constant-time check of X-Shopify-Hmac-SHA256 against each accepted secret."""
    if not header:
        return False
    given = header.strip().encode()
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(webhook_signature(body, secret).encode(), given)
    return ok


def _escape(value: str, is_key: bool) -> str:
    value = value.replace("%", "%25").replace("&", "%26")
    return value.replace("=", "%3D") if is_key else value


def query_signature(params: dict[str, str], secret: str) -> str:
    """Hex HMAC-SHA256 over the sorted query (without hmac/signature), as Shopify signs it."""
    pairs = sorted(
        (_escape(k, True), _escape(str(v), False))
        for k, v in params.items() if k not in ("hmac", "signature")
    )
    message = "&".join(f"{k}={v}" for k, v in pairs)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query(params: dict[str, str], secret: str, *, max_age: int = 24 * 3600,
                 now: float | None = None) -> bool:
    given = params.get("hmac", "")
    if not given or not secret:
        return False
    if not hmac.compare_digest(query_signature(params, secret), given):
        return False
    try:
        ts = int(params.get("timestamp", "0"))
    except ValueError:
        return False
    return abs((now or time.time()) - ts) <= max_age


def signed_query(params: dict[str, str], secret: str) -> str:
    """A query string with its hmac (used by the sandbox to sign callbacks)."""
    sig = query_signature(params, secret)
    items = [*params.items(), ("hmac", sig)]
    return "&".join(f"{quote(k)}={quote(str(v))}" for k, v in items)
