import pytest


@pytest.fixture(autouse=True)
def _fresh_metrics_cache():
    """The gauges' per-process cache must not carry one test's rows into the next."""
    from ops import metrics

    metrics.DATABASE._until = 0.0
    yield
    metrics.DATABASE._until = 0.0
