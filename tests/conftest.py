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
