"""WooCommerce webhook signatures: X-WC-Webhook-Signature = base64(HMAC-SHA256(raw body, secret)).

INTEGRATIONS.md §2.2 (woocommerce/woocommerce: includes/class-wc-webhook.php,
generate_signature). Shared with the sandbox store, which signs with the same function.
"""

import base64
import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, header: str, secret: str) -> bool:
    """Constant-time comparison of the header with the body's signature."""
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(body, secret).encode())
