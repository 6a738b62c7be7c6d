"""Tests: the real PostgreSQL and Redis that `make test` starts (DATABASE_URL, REDIS).

`make test` runs the suite twice: with DATABASE_URL on PostgreSQL, then on a SQLite
file (the embedded default's database) with the same options as `make run`.
"""

from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import DATABASES, VAR_DIR, env

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

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory default: the live-server and worker threads open their
    # own connections, as web and worker do under `make run`. pytest-django adds the
    # xdist worker's suffix (one file per worker).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
