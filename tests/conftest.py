import os

import pytest
from django_scopes import scope, scopes_disabled
from rest_framework.test import APIClient

from podhub.workspaces import services as workspace_services
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

PASSWORD = "correct horse battery"


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    # Fixtures build data across workspaces; test bodies must scope explicitly.
    with scopes_disabled():
        return (yield)


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


@pytest.fixture
def page(_chromium, live_server):
    """A fresh browser context on the live server; `page.goto("/path")` works."""
    context = _chromium.new_context(base_url=live_server.url, viewport={"width": 1280,
                                                                         "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


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
