"""Tests: the real PostgreSQL and Redis that `make test` starts (DATABASE_URL, REDIS)."""

from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# xdist workers share one Redis but each has its own database (same ids): keep
# their cache keys apart.
CACHES["default"]["KEY_PREFIX"] = env.str("PYTEST_XDIST_WORKER", default="")  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
