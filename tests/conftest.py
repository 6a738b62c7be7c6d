import os
import threading

import pytest
from django_scopes import scope, scopes_disabled
from rest_framework.test import APIClient

from podhub.workspaces import services as workspace_services
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

PASSWORD = "correct horse battery"


# --- the two databases ------------------------------------------------------------
# `make test` runs the suite on PostgreSQL and again on SQLite (scripts/test.sh). On
# SQLite, browser tests (they drive the UI, which does not depend on the database) and
# tests marked `postgres_only(reason=...)` (a PostgreSQL branch of a helper, row locks
# across connections) are skipped; their count is printed at the end.
SQLITE_SKIP_PREFIX = "PostgreSQL only: "
BROWSER_SKIP = "browser test: run on PostgreSQL only (the UI does not depend on the database)"


def on_sqlite() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def pytest_collection_modifyitems(config, items):
    if not on_sqlite():
        return
    for item in items:
        only = item.get_closest_marker("postgres_only")
        if only is not None:
            reason = only.kwargs.get("reason") or (only.args[0] if only.args else "")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: postgres_only needs reason=...")
            item.add_marker(pytest.mark.skip(reason=SQLITE_SKIP_PREFIX + reason))
        elif item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.skip(reason=BROWSER_SKIP))


def pytest_terminal_summary(terminalreporter):
    if not on_sqlite():
        return
    browser = postgres = 0
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        browser += BROWSER_SKIP in reason
        postgres += SQLITE_SKIP_PREFIX in reason
    terminalreporter.write_line(f"skipped on SQLite: {postgres} PostgreSQL-only, "
                                f"{browser} browser tests")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    # Fixtures build data across workspaces; test bodies must scope explicitly.
    with scopes_disabled():
        return (yield)


@pytest.fixture(autouse=True)
def _no_doorbell_from_the_last_test():
    """Webhook intake coalesces doorbells per process with timers; on SQLite ids are reused
    after a rollback, so a timer left by one test would ring inside the next one's mocks."""
    from django.core.cache import cache

    from integrations.webhooks import reset_rings

    reset_rings()
    # a sweep's ring keeps its key for minutes (podhub/core/doorbell.py SWEEP_TTL), and
    # the next test's rows have the same ids
    cache.clear()
    yield
    reset_rings()


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme Prints")


@pytest.fixture
def owner(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(email="owner@acme.test"))


@pytest.fixture
def user(owner):
    return owner.user


@pytest.fixture
def other_workspace(db):
    return WorkspaceFactory(name="Other Co")


@pytest.fixture
def other_owner(other_workspace):
    return MembershipFactory(workspace=other_workspace, user=UserFactory(email="owner@other.test"))


@pytest.fixture
def client_for(client):
    """A dashboard client logged in as the member's user, acting for its workspace."""

    def make(membership):
        from django.test import Client

        c = Client()
        c.force_login(membership.user)
        session = c.session
        session["workspace_id"] = membership.workspace_id
        session.save()
        return c

    return make


@pytest.fixture
def api_client_for(db):
    """An API client with a fresh token of the member's workspace."""

    def make(membership):
        with scope(workspace=membership.workspace):
            _, key = workspace_services.api_token_create(
                workspace=membership.workspace, user=membership.user
            )
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return c

    return make


@pytest.fixture
def artifacts_dir():
    path = os.environ.get("PODHUB_ARTIFACTS", "test-artifacts")
    os.makedirs(path, exist_ok=True)
    return path


# --- real headless browser ------------------------------------------------------


@pytest.fixture(scope="session")
def _chromium():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("PODHUB_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


class _RequestsInFlight:
    """Counts the requests the live server is handling.

    A page can have a request in flight when its test ends (an htmx poll, a fragment
    loaded after the page's load event). Closing the browser does not stop the server
    thread handling it; if the test database is flushed meanwhile, that thread's reads
    and the flush's TRUNCATE deadlock (seen in CI). So the page fixture waits for them.
    A request counts from its request line until its answer is written: a connection
    kept alive between requests is not a request."""

    def __init__(self, httpd):
        self.handling = 0
        self.changed = threading.Condition()
        tracker = self

        class CountedHandler(httpd.RequestHandlerClass):
            def parse_request(self):
                with tracker.changed:
                    tracker.handling += 1
                self.podhub_counted = True
                return super().parse_request()

            def handle_one_request(self):
                self.podhub_counted = False
                try:
                    super().handle_one_request()
                finally:
                    if self.podhub_counted:
                        with tracker.changed:
                            tracker.handling -= 1
                            tracker.changed.notify_all()

        httpd.RequestHandlerClass = CountedHandler

    def wait_until_idle(self, timeout=30):
        with self.changed:
            return self.changed.wait_for(lambda: self.handling == 0, timeout=timeout)


def _requests_in_flight(live_server):
    httpd = live_server.thread.httpd
    if not hasattr(httpd, "podhub_in_flight"):
        httpd.podhub_in_flight = _RequestsInFlight(httpd)
    return httpd.podhub_in_flight


@pytest.fixture
def page(_chromium, live_server):
    """A fresh browser context on the live server; `page.goto("/path")` works."""
    in_flight = _requests_in_flight(live_server)
    context = _chromium.new_context(base_url=live_server.url, viewport={"width": 1280,
                                                                         "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    # The CSP forbids inline script and foreign sources: a page that breaks it would
    # quietly lose its behaviour in the browser, so any violation fails the test.
    violations = []
    pg.on("console", lambda msg: violations.append(msg.text) if msg.type == "error" and
          "Content Security Policy" in msg.text else None)
    yield pg
    context.close()  # no new request can start
    assert in_flight.wait_until_idle(), "the live server is still handling a request"
    assert not violations, f"the page broke its Content-Security-Policy: {violations}"


@pytest.fixture
def login(page):
    """Sign a member in through the real login form."""

    def do(membership, password=PASSWORD):
        page.goto("/accounts/login/")
        page.fill("input[name=login]", membership.user.email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login" not in url)
        return page

    return do


@pytest.fixture
def stripe_sandbox(settings):
    """The Stripe-like sandbox over real HTTP on a free port; `stripe` is pointed at it.

    Events are only recorded (webhook_url None) unless a test sets `webhook_url`."""
    from sandboxes.stripe.server import StripeSandbox, serve

    sandbox = StripeSandbox(secret_key=settings.STRIPE_SECRET_KEY,
                            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
                            retry_base_seconds=0.2)
    server, base = serve(sandbox)
    settings.STRIPE_API_BASE = base
    yield sandbox
    sandbox.close()
    server.shutdown()
    server.server_close()


# --- order event subscriptions ---------------------------------------------------------


class RecordingTask:
    """A stand-in for a subscribed task: records its follow-ups after commit, as the
    real PodhubTask.follow_up sends them."""

    def __init__(self):
        self.calls: list[dict] = []

    def follow_up(self, **kwargs):
        from django.db import transaction

        transaction.on_commit(lambda: self.calls.append(kwargs))

    def follow_up_once(self, *, key, **kwargs):
        from podhub.celery import PodhubTask

        PodhubTask.follow_up_once(self, key=key, **kwargs)  # the doorbell, then follow_up

    def delay(self, **kwargs):
        self.calls.append(kwargs)


@pytest.fixture
def swap_subscribed_task(monkeypatch):
    """Replace a subscribed task by a RecordingTask for this test (returns it)."""
    from orders import events

    def swap(task):
        recorder = RecordingTask()
        monkeypatch.setattr(events, "_subscriptions", [
            events.Subscription(task=recorder, types=s.types, coalesce=s.coalesce)
            if s.task is task else s for s in events.subscriptions()])
        return recorder

    return swap
