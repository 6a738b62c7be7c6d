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
DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
STORAGES = {
    "default": {"BACKEND": env.str("DJANGO_FILE_STORAGE",
                                   default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
