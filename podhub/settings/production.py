"""Production: refuses to start with a dev secret; secure cookies, HSTS."""

from django.core.exceptions import ImproperlyConfigured

from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import DEV_SECRET_KEY_PREFIX, env

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY.startswith(DEV_SECRET_KEY_PREFIX) or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 32+ characters.")
if not env.list("PODHUB_ENCRYPTION_KEYS", default=[]):
    raise ImproperlyConfigured("PODHUB_ENCRYPTION_KEYS must be set (Fernet keys, newest first).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# The outbound HTTP policy refuses private networks (docs/security.md); no sandbox shop.
PODHUB_ALLOW_PRIVATE_URLS = env.bool(
    "PODHUB_ALLOW_PRIVATE_URLS", default=env.bool("PRINTFILES_ALLOW_PRIVATE_URLS", default=False))
SHOPIFY_API_BASES = env.dict("SHOPIFY_API_BASES", default={})
DEBUG = False
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
