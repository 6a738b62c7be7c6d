"""Production: refuses to start without every secret its features need, or with a dev
or published one; secure cookies, HSTS.

Stripe is always on (every Balance page offers top-ups and auto-recharge; with no key,
base.py would point at the local sandbox and its published test secrets), so both
Stripe secrets are required. The Shopify app's secret is required when its key is
set, and the S3 secret when its access key is.
"""

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import DEV_SECRET_KEY_PREFIX, env

# The Stripe sandbox's secrets are in this repository: anyone could sign with them.
SANDBOX_STRIPE_SECRETS = {"sk_test_podhub_sandbox", "whsec_podhub_sandbox"}


def _fernet_ok(key: str) -> bool:
    try:
        Fernet(key.encode())
    except ValueError:
        return False
    return True


def missing_secrets() -> list[str]:
    """What the environment lacks for production, one sentence per variable, each
    starting with the variable's name."""
    problems = []
    secret_key = env.str("SECRET_KEY", default="")
    if (not secret_key or secret_key.startswith(DEV_SECRET_KEY_PREFIX)
            or len(secret_key) < 32):
        problems.append("SECRET_KEY must be set to a random value of 32+ characters.")
    keys = env.list("PODHUB_ENCRYPTION_KEYS", default=[])
    if not keys:
        problems.append("PODHUB_ENCRYPTION_KEYS must be set (Fernet keys, newest first).")
    elif not all(_fernet_ok(k) for k in keys):
        problems.append("PODHUB_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe "
                        "base64-encoded bytes each, comma-separated).")
    for name, what in (("STRIPE_SECRET_KEY", "the secret API key"),
                       ("STRIPE_WEBHOOK_SECRET", "the webhook endpoint's signing secret")):
        value = env.str(name, default="")
        if not value:
            problems.append(f"{name} must be set to Stripe's {what} (balance top-ups and "
                            "auto-recharge are always on).")
        elif value in SANDBOX_STRIPE_SECRETS:
            problems.append(f"{name} is the local sandbox's published value: use your own "
                            "Stripe account's.")
    if env.str("SHOPIFY_API_KEY", default="") and not env.str("SHOPIFY_API_SECRET",
                                                               default=""):
        problems.append("SHOPIFY_API_SECRET must be set when SHOPIFY_API_KEY is (it verifies "
                        "Shopify's webhooks and OAuth callbacks).")
    if env.str("AWS_ACCESS_KEY_ID", default="") and not env.str("AWS_SECRET_ACCESS_KEY",
                                                                 default=""):
        problems.append("AWS_SECRET_ACCESS_KEY must be set when AWS_ACCESS_KEY_ID is.")
    if not env.list("ALLOWED_HOSTS", default=[]):
        problems.append("ALLOWED_HOSTS must name the public host name(s).")
    return problems


_problems = missing_secrets()
if _problems:
    raise ImproperlyConfigured("Production settings refuse to start: " + " ".join(_problems))
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# The outbound HTTP policy refuses private networks (docs/security.md); no sandbox shop.
PODHUB_ALLOW_PRIVATE_URLS = env.bool(
    "PODHUB_ALLOW_PRIVATE_URLS", default=env.bool("PRINTFILES_ALLOW_PRIVATE_URLS", default=False))
SHOPIFY_API_BASES = env.dict("SHOPIFY_API_BASES", default={})
PODHUB_SANDBOX_STORES: dict[str, str] = {}  # never sandbox stores in production
# Etsy: the real Open API unless the operator says otherwise; without ETSY_API_KEY the
# Etsy connect button answers that no Etsy app is configured (never the sandbox's keys).
ETSY_API_KEY = env.str("ETSY_API_KEY", default="")
ETSY_SHARED_SECRET = env.str("ETSY_SHARED_SECRET", default="")
ETSY_API_BASE = env.str("ETSY_API_BASE", default="https://api.etsy.com/v3")
ETSY_CONNECT_URL = env.str("ETSY_CONNECT_URL", default="https://www.etsy.com/oauth/connect")
ETSY_WEBHOOK_SECRET = env.str("ETSY_WEBHOOK_SECRET", default="")
DEBUG = False
PODHUB_DEV_MAILBOX = False  # it shows every e-mail, sign-in codes included
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Print files and uploads: S3-compatible object storage (AWS, MinIO, R2, ...) when a
# bucket is named, else the local disk (a single-host install with a volume).
_bucket = env.str("AWS_STORAGE_BUCKET_NAME", default="")
_default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if _bucket:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": None,  # the bucket is private; objects inherit it
            "file_overwrite": False,  # every render is a new version
            "querystring_auth": True,  # any URL handed out is signed and expires
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=3600),
            "signature_version": "s3v4",
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
