"""Standard Webhooks signatures, made by the specification's reference library
(`standardwebhooks`, docs/webhooks.md "Verifying").

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`; during a
secret rotation's overlap it carries one signature per secret, space-separated (the
specification allows several), so a receiver still holding the old secret verifies.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from standardwebhooks.webhooks import Webhook


@lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def headers(*, msg_id: str, timestamp: datetime, body: str, secrets: list[str]) -> dict:
    """The three Standard Webhooks headers for one attempt."""
    signatures = " ".join(_signer(s).sign(msg_id, timestamp, body) for s in secrets if s)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
