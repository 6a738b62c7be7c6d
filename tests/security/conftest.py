# Fixtures of other test packages that the security tests drive.
from tests.billing.conftest import celery_eager, stripe_sandbox  # noqa: F401
