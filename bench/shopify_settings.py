"""Settings for the webhook benchmark: production-like, plus the reference endpoint's URLs."""

from podhub.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.shopify_wsgi"
DEBUG = False
