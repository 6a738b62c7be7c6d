"""Integration settings. Read from Django settings when set there, else the environment.

Proposed for podhub/settings/base.py (see docs/shopify.md):
    SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-10")
    SHOPIFY_API_KEY / SHOPIFY_API_SECRET (public app), SHOPIFY_SCOPES
    SHOPIFY_API_BASES (operator only: where a shop's Admin API is, for the sandbox)
"""

from django.conf import settings

from podhub.env import env

DEFAULT_API_VERSION = "2025-10"
DEFAULT_SCOPES = (
    "read_orders,write_orders,read_merchant_managed_fulfillment_orders,"
    "write_merchant_managed_fulfillment_orders,read_products,write_products"
)


def _get(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = env.str(name, default=default)
    return value


def api_version() -> str:
    return _get("SHOPIFY_API_VERSION", DEFAULT_API_VERSION)


def api_key() -> str:
    return _get("SHOPIFY_API_KEY")


def api_secret() -> str:
    return _get("SHOPIFY_API_SECRET")


def shopify_api_base(shop: str) -> str:
    """Where the Admin API and OAuth endpoints of a validated *.myshopify.com shop are:
    https://{shop}, unless the operator mapped the shop (or "*", every shop) elsewhere in
    SHOPIFY_API_BASES — the local sandbox, or a proxy. Never chosen by a seller."""
    bases = getattr(settings, "SHOPIFY_API_BASES", None)
    if bases is None:
        bases = env.dict("SHOPIFY_API_BASES", default={})
    base = bases.get(shop) or bases.get("*") or f"https://{shop}"
    return base.rstrip("/")


def scopes() -> str:
    return _get("SHOPIFY_SCOPES", DEFAULT_SCOPES)


# Webhook bodies above this size are refused (413) before they are read.
WEBHOOK_MAX_BYTES = 5 * 1024 * 1024
# How far back each reconciliation sweep re-reads (overlap with the previous one).
SWEEP_OVERLAP_SECONDS = 15 * 60
# First reconciliation of a store without a high-water mark looks back this far.
SWEEP_FIRST_LOOKBACK_HOURS = 24
# An import job whose heartbeat is older than this is resumed by the sweep.
IMPORT_STALE_SECONDS = 120
# Outbox retry schedule: base * 2**attempt seconds with jitter, capped.
OUTBOX_BACKOFF_BASE = 30
OUTBOX_BACKOFF_MAX = 3600
OUTBOX_MAX_ATTEMPTS = 40  # about 36 h of retries at the cap
INBOX_MAX_ATTEMPTS = 10
# Processed deliveries (raw bodies with buyer data) are deleted after this many days.
INBOX_KEEP_DAYS = 30


def api_secret_previous() -> str:
    """The client secret before a rotation: Shopify signs with the old one for up to an hour."""
    return _get("SHOPIFY_API_SECRET_PREVIOUS")


# --- the bulk import of large Shopify stores (docs/shopify.md "Large stores") -----------
# A store with at least this many orders to import is read with one bulk operation.
DEFAULT_BULK_IMPORT_MIN_ORDERS = 2000
# While Shopify runs the operation the job is asked about this often by the sweep (the
# bulk_operations/finish webhook rings it at once when the store sends it).
BULK_POLL_SECONDS = 30
# Orders applied (and the file position saved) per transaction.
BULK_BATCH = 200
# Operations started for one import before it falls back to reading pages.
BULK_MAX_ATTEMPTS = 2
# The largest bulk file PodHub reads (the outbound policy's cap for the download).
BULK_MAX_BYTES = 20 * 1024 ** 3
# A job that cannot start its operation because another bulk query of the app runs in the
# shop waits at most this long after it started, then reads pages instead.
DEFAULT_BULK_WAIT_FOR_OTHER_SECONDS = 3600


def bulk_import_min_orders() -> int:
    value = getattr(settings, "SHOPIFY_BULK_IMPORT_MIN_ORDERS", None)
    if value is None:
        value = env.int("SHOPIFY_BULK_IMPORT_MIN_ORDERS", default=DEFAULT_BULK_IMPORT_MIN_ORDERS)
    return int(value)


def bulk_wait_for_other_seconds() -> int:
    """How long a bulk import waits for another bulk query of the app (setting
    SHOPIFY_BULK_WAIT_FOR_OTHER_SECONDS) before it falls back to pages."""
    value = getattr(settings, "SHOPIFY_BULK_WAIT_FOR_OTHER_SECONDS", None)
    if value is None:
        value = env.int("SHOPIFY_BULK_WAIT_FOR_OTHER_SECONDS",
                        default=DEFAULT_BULK_WAIT_FOR_OTHER_SECONDS)
    return int(value)
