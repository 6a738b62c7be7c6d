"""PodHub settings: everything lives here; production.py and test.py only override.

Every value comes from the environment. With none set, the embedded default
runs: SQLite (WAL), a Celery worker and beat over kombu's file-system
transport, local media, console e-mail.
"""

import os
import secrets
from decimal import Decimal

from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_INLINE
from kombu import Queue

from podhub.env import BASE_DIR, VAR_DIR, env, generated_secret

DEV_SECRET_KEY_PREFIX = "podhub-dev-"
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="",
) or generated_secret("secret_key", lambda: DEV_SECRET_KEY_PREFIX + secrets.token_urlsafe(40))
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where PodHub is reached from outside: every link in e-mails, the Stripe return URLs,
# OAuth callbacks and the webhook addresses given to stores, providers and sandboxes.
# The embedded default serves on PORT (`make run`, scripts/run.sh), so it is derived from it.
PORT = env.int("PORT", default=8000)
PUBLIC_BASE_URL = env.str("PODHUB_PUBLIC_URL", default=f"http://127.0.0.1:{PORT}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us: self-hosted, no CDN
    "django_htmx",
    "allauth",
    "allauth.account",
    "podhub.core",
    "podhub.accounts",
    "podhub.workspaces",
    "orders",
    "quotes",
    "billing",
    "fulfillment",
    "integrations",
    "webhooks",
    "automation",
    "insights",
    "ops",
    # the simulators of the services we speak to (docs/architecture.md, "Sandboxes")
    "sandboxes",
]

MIDDLEWARE = [
    "ops.middleware.RequestMetricsMiddleware",  # first: times the whole request
    # Next: an oversize body is refused (413) before anything can read it.
    "podhub.core.request_limits.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (below)
    "podhub.core.headers.SecurityHeadersMiddleware",  # Permissions-Policy, CORP
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files without a separate server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Per-view upload limits (413 from Content-Length): before CSRF, which reads the form.
    "podhub.core.uploads.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Amounts in the browser's number format (Accept-Language), else LANGUAGE_CODE's
    # (docs/money.md).
    "podhub.core.money.MoneyLocaleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, so that every view (and the response render) runs inside the scope.
    "podhub.workspaces.middleware.WorkspaceScopeMiddleware",
]

ROOT_URLCONF = "podhub.urls"
WSGI_APPLICATION = "podhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "podhub.workspaces.context_processors.workspace",
            ],
            # `safe_url`: every outside URL rendered in a template (docs/security.md);
            # `money`: every amount shown, by its currency (docs/money.md)
            "builtins": ["podhub.core.templatetags.links", "podhub.core.templatetags.money"],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'podhub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes
    # the write lock at BEGIN so two writers queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # No per-request "SELECT 1": a dead pooled connection fails one request and is
    # replaced, which is cheaper than a round trip on every request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS",
                                                          default=False)
    # Behind PgBouncer in transaction mode (docs/operations.md): no WITH HOLD cursors
    # (QuerySet.iterator()) that outlive their transaction on a pooled server connection.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (rate limits, allauth codes): shared between processes ------------
CACHES = {
    "default": env.cache(
        "CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}"
    ),
}

# Sessions read from the shared cache, written through to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

# allauth: the e-mail is the login; sign-up is confirmed by a 6-digit code.
ACCOUNT_ADAPTER = "podhub.accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_FORMAT = {"numeric": True, "length": 6, "dashed": False}
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT = 15 * 60
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = True
# Failed sign-ins are throttled per (account, address) pair — the adapter makes "key"
# mean both — plus a generous limit per address across accounts: an attacker elsewhere
# cannot lock the owner out (docs/security.md "Sign-in throttling").
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "5/5m/key,30/m/ip,300/h/ip",
    "signup": "20/m/ip",
    "confirm_email": "1/10s/key",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[PodHub] "
# Behind a reverse proxy every request comes from the proxy's address: say how many
# proxies (that append to X-Forwarded-For) you run, or every client shares one limit.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("PODHUB_TRUSTED_PROXY_COUNT", default=0)

# --- i18n -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# PodHub's own wording for the libraries' labels (allauth's "Sign In" is "Sign in" here).
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- files ------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
os.makedirs(STATIC_ROOT, exist_ok=True)  # whitenoise scans it at start-up
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # embedded default: serve straight from the apps, no collectstatic

# --- request limits (docs/security.md "Request limits") ----------------------------------
# A body whose Content-Length is over the limit of its path family is refused with 413
# before it is read; a body without a length (chunked) is refused once it passes it
# (podhub/core/request_limits.py). First matching pattern wins; the rest get the default.
_mb = 1024 * 1024
_form = 64 * 1024  # room for a multipart form's own fields and boundaries
REQUEST_BODY_MAX_BYTES = 2 * _mb  # dashboard forms, API JSON
REQUEST_BODY_LIMITS = [
    # a CSV of orders: at most 5 MB (orders/csv_import.py MAX_BYTES)
    (r"/orders/import/$|/api/v1/orders/import-csv/$", 5 * _mb + _form),
    # a claim or its reply: up to 6 photos of 10 MB (fulfillment/claims.py)
    (r"/orders/\d+/fulfillment/claims/", 6 * 10 * _mb + _form),
    # store, provider and Stripe webhooks: integrations/conf.py WEBHOOK_MAX_BYTES
    (r"/webhooks/", 5 * _mb),
    # staff upload print-file assets in the admin (PRINTFILES_MAX_UPLOAD_MB: 50)
    (r"/admin/", 50 * _mb + _form),
]
# What a body that fits may do: at most 5 MB of it read into memory (a webhook; uploaded
# files above 2.5 MB are spooled to a temporary file), 1000 form fields (a bulk action
# posts up to 500 order ids), 10 files (a claim takes 6 photos).
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * _mb
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * _mb + _mb // 2
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# --- security headers (docs/security.md, "Headers and CSP") --------------------------
# No inline script anywhere: page behaviour lives in static/js/ (data- attributes in the
# templates), htmx runs without eval (base.html's htmx-config). style="" attributes are
# allowed, <style> elements are not: an attribute cannot run script, read the page or
# load from another origin (img-src and font-src below), a <style> element can. Images
# may come from any https host: buyers' and catalog photos live on the stores' CDNs.
# form-action is not set: top-ups and the Shopify install continue on Stripe's and the
# shop's own pages. The Django admin and the API docs run under this policy too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "frame-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"  # older browsers; frame-ancestors 'none' for the rest
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # our URLs (order ids, signed links) stay with us
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- e-mail -------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PodHub <no-reply@podhub.local>")
# /dev/mail/: every queued e-mail in the browser, for this machine only (podhub/core/
# dev_mail.py). The embedded default's; production turns it off.
PODHUB_DEV_MAILBOX = env.bool("PODHUB_DEV_MAILBOX", default=True)

# --- secrets at rest ------------------------------------------------------------
# Comma-separated Fernet keys, newest first (older ones still decrypt: rotation).
FIELD_ENCRYPTION_KEYS = env.list("PODHUB_ENCRYPTION_KEYS", default=[]) or [
    generated_secret("encryption.key", lambda: Fernet.generate_key().decode())
]

# --- REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "podhub.workspaces.api_auth.WorkspaceTokenAuthentication",
        "podhub.workspaces.api_auth.WorkspaceSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["podhub.workspaces.api_auth.IsWorkspaceMember"],
    "DEFAULT_SCHEMA_CLASS": "podhub.core.schema.AutoSchema",  # + Idempotency-Key
    "EXCEPTION_HANDLER": "podhub.core.api.exception_handler",
    # JSON with a nesting limit (podhub/core/safejson.py); forms and multipart as DRF's.
    "DEFAULT_PARSER_CLASSES": [
        "podhub.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": None,  # one keyset cursor: podhub/core/pagination.py
    # Per API token (or dashboard user), with RateLimit-* headers: podhub/core/throttling.py
    "DEFAULT_THROTTLE_CLASSES": ["podhub.core.throttling.ApiRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}
# Seller API budgets per token, per window, counted in the default cache (docs/api.md).
PODHUB_API_RATES = {"read": env.str("PODHUB_API_RATE_READ", default="600/min"),
                    "write": env.str("PODHUB_API_RATE_WRITE", default="120/min"),
                    "anonymous": env.str("PODHUB_API_RATE_ANONYMOUS", default="60/min")}

SPECTACULAR_SETTINGS = {
    "TITLE": "PodHub seller API",
    "DESCRIPTION": "Orders, quotes, balance and stores of one workspace. "
    "Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation lists the error statuses it can answer (podhub/core/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "podhub.core.schema.add_error_responses"],
    # What PodHub sends to the sellers' webhook endpoints (webhooks/schema.py)
    "WEBHOOKS": ["webhooks.schema.ORDER_EVENT"],
}

# --- Celery: the broker is a doorbell, the database the ledger --------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _d in ("queue", "processed", "control"):
        (_broker_dir / _d).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Celery's Django fixup closes every database connection before and after each task
# unless this is set, so each task started a PostgreSQL backend of its own (the fault
# drill counted 18 connections an order, most of PostgreSQL's CPU). Set past reach, the
# fixup keeps them; podhub/celery.py closes one between tasks the way Django does
# between requests instead: when it failed, or once it is older than CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = 10**9
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Every periodic sweep, in one place. Each picks up rows that are due or whose
# task was lost (the broker is a doorbell), so a lost task costs one interval.
CELERY_BEAT_SCHEDULE = {
    # every 15 s: proves broker, beat and worker all work (read by /healthz)
    "heartbeat": {"task": "podhub.core.tasks.heartbeat_task", "schedule": 15.0},
    # every 60 s: e-mails whose task was lost, and retries that are due (core/mail.py)
    "email-sweep": {"task": "podhub.core.tasks.email_sweep_task", "schedule": 60.0},
    # every 15 min: requests for information unanswered for too long -> cancelled
    "orders-info-request-expiry": {"task": "orders.tasks.info_request_expiry_sweep_task",
                                   "schedule": 15 * 60.0},
    # every 60 s: CSV order imports whose task was lost or whose worker died
    "orders-csv-import-sweep": {"task": "orders.tasks.csv_import_sweep_task", "schedule": 60.0},
    # every 60 s: rules' "apply to existing orders" jobs whose task was lost
    "automation-apply-sweep": {"task": "automation.tasks.apply_sweep_task", "schedule": 60.0},
    # every 60 s: orders whose follow-up pricing was lost (docs/pricing.md)
    "quotes-pricing-sweep": {"task": "quotes.tasks.pricing_sweep_task", "schedule": 60.0},
    # every 60 s: Stripe events, captures/releases and recharges whose task was lost
    "billing-sweep": {"task": "billing.tasks.billing_sweep_task", "schedule": 60.0},
    # every 60 s: print-file renders whose task was lost
    "printfiles-render-sweep": {"task": "fulfillment.tasks.render_sweep_task", "schedule": 60.0},
    # every 60 s: orders whose submit countdown ended; unsent or stuck submissions;
    # stored provider webhooks whose processing failed
    "fulfillment-submit-sweep": {"task": "fulfillment.tasks.submit_sweep_task",
                                 "schedule": 60.0},
    # every 5 min: open submissions at API providers not heard of for a while are polled
    # (CustomCat always, Printful/Gelato as a safety net; fulfillment/polling.py)
    "fulfillment-poll-sweep": {"task": "fulfillment.tasks.poll_sweep_task",
                               "schedule": 5 * 60.0},
    # every 15 min: shipped orders older than FULFILLMENT_COMPLETE_AFTER_DAYS -> completed
    "fulfillment-complete-sweep": {"task": "fulfillment.tasks.complete_sweep_task",
                                   "schedule": 15 * 60.0},
    # every 30 s: store webhooks, import jobs and outbox pushes that are due or were lost
    "integrations-sweep": {"task": "integrations.tasks.integrations_sweep_task",
                           "schedule": 30.0},
    # every 10 min: re-read each connected store's recently updated orders
    "integrations-reconcile": {"task": "integrations.tasks.reconcile_sweep_task",
                               "schedule": 600.0},
    # every 30 s: stores without webhooks (Etsy) whose poll interval (ETSY_POLL_SECONDS)
    # has passed are read for new and changed orders
    "integrations-poll": {"task": "integrations.tasks.poll_sweep_task", "schedule": 30.0},
    # every 15 s: outbound webhook retries that are due, deliveries and order-event
    # fan-outs whose task was lost (webhooks/services.py, docs/webhooks.md)
    "webhooks-sweep": {"task": "webhooks.tasks.deliveries_sweep_task", "schedule": 15.0},
}
# Two queues: "sweeps" carries every beat task above, "celery" every doorbell. A burst
# of doorbells (thousands of order events) never delays a sweep: a worker takes from
# both in turn. Every worker consumes both (both are listed here, so a worker without
# -Q does; scripts/run.sh and docker-compose.yml also say `-Q celery,sweeps`).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("sweeps"))
CELERY_TASK_ROUTES = {entry["task"]: {"queue": "sweeps"}
                      for entry in CELERY_BEAT_SCHEDULE.values()}
# Beat's ticks say which entry sent them: each sweep runs under a lease, and a second
# beat's tick within half an interval of the last run is skipped (podhub/core/sweeps.py).
for _name, _entry in CELERY_BEAT_SCHEDULE.items():
    _entry.setdefault("options", {}).setdefault("headers", {})["podhub_beat"] = _name
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = env.int("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", default=90)

# --- operations: GET /metrics for Prometheus (docs/operations.md) ----------------------
# Readable with `Authorization: Bearer <token>`, or from the listed addresses/networks;
# with neither set, refused (403).
PODHUB_METRICS_TOKEN = env.str("PODHUB_METRICS_TOKEN", default="")
PODHUB_METRICS_ALLOW = env.list("PODHUB_METRICS_ALLOW", default=[])
PODHUB_METRICS_CACHE_SECONDS = env.float("PODHUB_METRICS_CACHE_SECONDS", default=5.0)

# --- product rules ------------------------------------------------------------
# Sellers' webhook retries (docs/webhooks.md): the schedule's waits are multiplied by this.
# 1 in production; bench/webhooks_drill_settings.py compresses it so a drill of minutes
# goes through the retries a 10-minute outage causes.
PODHUB_WEBHOOK_RETRY_SCALE = 1.0
# Hours a seller has to answer a staff request for information (PrintBase: 48).
ORDER_INFO_REQUEST_HOURS = env.int("ORDER_INFO_REQUEST_HOURS", default=48)

# --- fulfillment: the provider registry (fulfillment/providers/registry.py) -------------
# One line per provider adapter module (each declares PROVIDER = ProviderSpec(...)); the
# adapter choices, client_for, provider webhooks, polling and run_provider_standin read it.
PODHUB_PROVIDERS = [
    "fulfillment.providers.own",
    "fulfillment.providers.manual",
    "fulfillment.providers.sandbox",
    "fulfillment.providers.printful",
    "fulfillment.providers.customcat",
    "fulfillment.providers.gelato",
    "fulfillment.providers.shineon",
    "fulfillment.providers.printify",
]

# The store platforms orders come from: one module each, declaring `PLATFORM = ...`
# (integrations/platforms/registry.py; docs/architecture.md, "Adding a store platform").
PODHUB_STORE_PLATFORMS = [
    "integrations.platforms.shopify",
    "integrations.platforms.woocommerce",
    "integrations.platforms.etsy",
]

# --- billing: Stripe ------------------------------------------------------------------
# With no STRIPE_SECRET_KEY the embedded default talks to the local Stripe-like
# sandbox (`python -m sandboxes.stripe`, started by `make run`) with its test keys.
_stripe_key = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_SANDBOX = not _stripe_key
STRIPE_SECRET_KEY = _stripe_key or "sk_test_podhub_sandbox"
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET",
                                default="whsec_podhub_sandbox" if STRIPE_SANDBOX else "")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:12111"
                          if STRIPE_SANDBOX else "https://api.stripe.com")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)  # seconds

# --- billing: limits on money coming in (docs/billing.md "Limits") --------------------------
# In the workspace's billing currency. A top-up, by hand or automatic, is between MIN and
# MAX; an auto-recharge threshold is below its recharge amount and at most THRESHOLD_MAX.
# In any 24 hours a workspace's card is charged automatically at most MAX_PER_DAY times
# and for at most MAX_AMOUNT_PER_DAY in all (staff may set other caps per workspace).
BILLING_TOP_UP_MIN = Decimal(env.str("BILLING_TOP_UP_MIN", default="5"))
BILLING_TOP_UP_MAX = Decimal(env.str("BILLING_TOP_UP_MAX", default="10000"))
BILLING_RECHARGE_THRESHOLD_MAX = Decimal(env.str("BILLING_RECHARGE_THRESHOLD_MAX",
                                                 default="5000"))
BILLING_RECHARGE_MAX_PER_DAY = env.int("BILLING_RECHARGE_MAX_PER_DAY", default=5)
BILLING_RECHARGE_MAX_AMOUNT_PER_DAY = Decimal(env.str("BILLING_RECHARGE_MAX_AMOUNT_PER_DAY",
                                                      default="20000"))

# --- integrations: Shopify -------------------------------------------------------------
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-10")  # pinned
SHOPIFY_API_KEY = env.str("SHOPIFY_API_KEY", default="")  # public app (OAuth install)
SHOPIFY_API_SECRET = env.str("SHOPIFY_API_SECRET", default="")
# Operator only: where a shop's Admin API and OAuth endpoints are when not at
# https://<shop> ("shop=url,…"; "*" for every shop). The embedded default maps the
# demo's Sandbox Shopify store (`make run`, port 8010). Sellers never choose it.
SHOPIFY_API_BASES = env.dict("SHOPIFY_API_BASES", default={
    "podhub-sandbox.myshopify.com": "http://127.0.0.1:8010"})
# --- integrations: Etsy (docs/etsy.md) ---------------------------------------------------
# The app's keystring (the OAuth client id) and shared secret (x-api-key is
# "keystring:secret"). Without a keystring the embedded default talks to the local Etsy
# sandbox (sandboxes/etsy, started by `make run` on port 8040) with its app's keys.
_etsy_key = env.str("ETSY_API_KEY", default="")
ETSY_SANDBOX = not _etsy_key
_etsy_sandbox = env.str("PODHUB_SANDBOX_ETSY_URL", default="http://127.0.0.1:8040")
ETSY_API_KEY = _etsy_key or "podhub-sandbox-keystring"
ETSY_SHARED_SECRET = env.str("ETSY_SHARED_SECRET",
                             default="podhub-sandbox-secret" if ETSY_SANDBOX else "")
ETSY_API_BASE = env.str("ETSY_API_BASE", default=f"{_etsy_sandbox}/v3" if ETSY_SANDBOX
                        else "https://api.etsy.com/v3")
ETSY_CONNECT_URL = env.str("ETSY_CONNECT_URL", default=f"{_etsy_sandbox}/oauth/connect"
                           if ETSY_SANDBOX else "https://www.etsy.com/oauth/connect")
# The signing secret (`whsec_…`) of the app's webhook endpoint /webhooks/etsy/, set up in
# Etsy's developer portal (commercial apps only); the sandbox's in the embedded default.
# Empty: Etsy webhooks are refused (404) and the poll sweep alone reads receipts. Several,
# separated by commas, while a secret is rotated: a delivery signed with any is accepted
# (docs/etsy.md "Rotating the signing secret").
ETSY_WEBHOOK_SECRET = env.str("ETSY_WEBHOOK_SECRET",
                              default="whsec_cG9kaHViLXNhbmRib3gtd2ViaG9va3M="
                              if ETSY_SANDBOX else "")
# How often each Etsy shop is read for new receipts (the safety net of the webhooks, and
# the only way in without them): at most 2 minutes
# from payment to PodHub (issue 16), about 1,440 calls a day per shop at 60 s.
ETSY_POLL_SECONDS = env.int("ETSY_POLL_SECONDS", default=60)
# Reading stops when fewer calls than this are left in Etsy's 24-hour window: tracking
# pushes (the buyer's shipping e-mail) keep their budget.
ETSY_DAILY_RESERVE = env.int("ETSY_DAILY_RESERVE", default=200)
# "Try a sandbox store" on the Stores page (docs/architecture.md, "Sandboxes"): where the
# embedded default's sandbox stores listen (scripts/run.sh starts them), by platform code.
# Empty (production.py, the tests unless a test says otherwise): no button, no URL.
PODHUB_SANDBOX_STORES = {
    code: url for code, url in (
        ("shopify", env.str("PODHUB_SANDBOX_SHOPIFY_URL", default="http://127.0.0.1:8010")),
        ("woocommerce", env.str("PODHUB_SANDBOX_WOOCOMMERCE_URL",
                                default="http://127.0.0.1:8030")),
        ("etsy", env.str("PODHUB_SANDBOX_ETSY_URL", default="http://127.0.0.1:8040")),
    ) if url}

# --- outbound HTTP policy (podhub/core/outbound.py, docs/security.md) ------------------
# Whether requests to seller-, store- or provider-influenced URLs may reach loopback,
# private, link-local and CGNAT addresses: on in the embedded default (the sandboxes run
# on 127.0.0.1), off in production. PRINTFILES_ALLOW_PRIVATE_URLS is the old name.
PODHUB_ALLOW_PRIVATE_URLS = env.bool(
    "PODHUB_ALLOW_PRIVATE_URLS", default=env.bool("PRINTFILES_ALLOW_PRIVATE_URLS", default=True))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
