"""Tests: the real PostgreSQL and Redis that `make test` starts (DATABASE_URL, REDIS).

`make test` runs the suite twice: with DATABASE_URL on PostgreSQL, then on a SQLite
file (the embedded default's database) with the same options as `make run`.
"""

import re

from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import DATABASES, VAR_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
# Follow-ups (an order event's subscribed task, an e-mail, a re-pricing) run their task
# body in-process right after commit, so a test sees their effect; everything else goes
# to the broker. tests/podhub/test_events.py turns this off to send them for real.
PODHUB_FOLLOW_UPS_EAGER = True
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# xdist workers share one Redis but each has its own database (same ids): keep
# their cache keys apart.
CACHES["default"]["KEY_PREFIX"] = env.str("PYTEST_XDIST_WORKER", default="")  # noqa: F405
# A test that empties the cache (cache.clear(): Redis FLUSHDB) must not empty another
# worker's in the middle of its test (the login throttle counts there): each xdist worker
# has its own Redis database, 3 and up (0-2 are the broker's, the default cache's, REDIS_URL).
_worker = env.str("PYTEST_XDIST_WORKER", default="")
if _worker.startswith("gw") and "Redis" in CACHES["default"]["BACKEND"]:  # noqa: F405
    CACHES["default"]["LOCATION"] = re.sub(  # noqa: F405
        r"/\d+$", f"/{3 + int(_worker[2:]) % 13}", CACHES["default"]["LOCATION"])  # noqa: F405
if CELERY_BROKER_URL.startswith("redis"):
    # and their queues: a test's worker thread never takes another xdist worker's
    # messages (tests/live.py, tests/podhub/test_events.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = {  # noqa: F405
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "global_keyprefix": env.str("PYTEST_XDIST_WORKER", default="main") + ":"}
# No "Try a sandbox store" unless a test starts a sandbox and points this at it.
PODHUB_SANDBOX_STORES: dict[str, str] = {}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory default: the live-server and worker threads open their
    # own connections, as web and worker do under `make run`. pytest-django adds the
    # xdist worker's suffix (one file per worker).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# The suite sends thousands of API requests as the same few user ids: the API budgets
# are out of its way; tests/podhub/test_api_conventions.py sets real ones.
PODHUB_API_RATES = {"read": "1000000/min", "write": "1000000/min", "anonymous": "1000000/min"}
