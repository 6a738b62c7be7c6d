"""Etsy's webhooks: the signature check and what a delivery names (docs/etsy.md, "Webhooks").

Etsy's webhooks page (https://developers.etsy.com/documentation/essentials/webhooks):
commercial apps only; endpoints and their signing secret (`whsec_…`) are set up for the
whole app in Etsy's developer portal, not per shop; events ORDER_PAID (`order.paid`) and,
per the AsyncAPI description of the same surface, `order.canceled`, `order.shipped`,
`order.delivered`. The payload is flat: `{"event_type": "order.paid", "resource_url":
"https://api.etsy.com/v3/application/shops/<shop>/receipts/<receipt>", "shop_id": …}`
(github.com/etsy/open-api discussion #1564: the nested `data` form first documented is not
what Etsy sends). Each delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
`webhook-signature`: base64 HMAC-SHA256 of `"<id>.<timestamp>.<raw body>"` keyed with the
base64-decoded part of the secret after `whsec_` (the Standard Webhooks form; the header may
hold several space-separated `v1,<signature>` entries). Etsy retries a delivery that is not
answered 2xx (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

TOLERANCE_SECONDS = 300  # a delivery older (or newer) than this is refused: a replay
RECEIPT_URL = re.compile(r"/shops/(\d+)/receipts/(\d+)/?$")


def secrets_of(setting: str) -> list[str]:
    """The secrets `ETSY_WEBHOOK_SECRET` names: one, or several separated by commas or
    spaces while a secret is rotated (the new one and the old one, both accepted until the
    old one is removed; a `whsec_…` secret is base64 and holds neither)."""
    return [s for s in re.split(r"[,\s]+", setting or "") if s]


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (its base64 part, decoded); a secret that is not
    base64 is used as it is (the operator pasted a raw one)."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode()


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 signature>`: what Etsy puts in `webhook-signature` (the sandbox signs so)."""
    digest = hmac.new(signing_key(secret), f"{webhook_id}.{timestamp}.".encode() + body,
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(*, secrets: list[str], webhook_id: str, timestamp: str, signature: str,
           body: bytes, now: float) -> str:
    """"" when one of `secrets` signed this delivery recently; else why not."""
    if not (webhook_id and timestamp and signature):
        return "webhook-id, webhook-timestamp and webhook-signature are required"
    try:
        sent = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not a number"
    if abs(now - sent) > TOLERANCE_SECONDS:
        return "webhook-timestamp is outside the allowed window (a replay?)"
    # only v1 entries (Standard Webhooks: a receiver ignores versions it does not know)
    given = [part[3:] for part in signature.split() if part.startswith("v1,")]
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret, webhook_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), g.encode()) for g in given):
            return ""
    return "the signature does not match"


def receipt_of(payload: dict) -> tuple[str, str]:
    """(shop id, receipt id) an event names: its `resource_url`, else "" for the receipt."""
    match = RECEIPT_URL.search(str(payload.get("resource_url") or ""))
    shop = str(payload.get("shop_id") or (match.group(1) if match else "")).strip()
    return shop, match.group(2) if match else ""
