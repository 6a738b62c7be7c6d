"""For tests with a real Celery worker and sandboxes running in threads: a worker
fixture and a condition wait (no fixed sleeps)."""

import time

import pytest


def wait_for(condition, timeout=30.0, what="condition"):
    """Poll a condition (no fixed sleeps): the worker and the sandbox run in threads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)  # condition-wait poll interval (noqa: sleep check)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker():
    """A real Celery worker (in a thread) on the test Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from podhub.celery import app

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                      shutdown_timeout=10):
        yield
