import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_scopes import scope, scopes_disabled
from rest_framework.test import APIClient

from podhub.accounts.models import User
from podhub.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def _create(**kw):
    out = StringIO()
    args = {"name": "Shop One", "email": "one@shop.test", "password": "a-good-long-pass-9"}
    args.update(kw)
    call_command("create_workspace", "--json", *[f"--{k}={v}" for k, v in args.items()],
                 stdout=out)
    return json.loads(out.getvalue())


def test_create_workspace_prints_ids_and_a_working_token():
    result = _create()
    assert set(result) == {"workspace_id", "user_id", "api_token"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {result['api_token']}")
    body = client.get("/api/v1/workspace/").json()
    assert body["id"] == result["workspace_id"] and body["role"] == "owner"
    # the owner can log in straight away (e-mail counts as verified)
    assert APIClient().login(email="one@shop.test", password="a-good-long-pass-9")


def test_rerunning_with_the_same_email_fails_and_changes_nothing():
    _create()
    with scopes_disabled():
        before = (User.objects.count(), Workspace.objects.count())
    with pytest.raises(CommandError, match="already exists"):
        _create(name="Shop Two", email="ONE@shop.test")
    with scopes_disabled():
        assert (User.objects.count(), Workspace.objects.count()) == before


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("email", "nope", "not a valid e-mail"),
    ("password", "123", "password refused"),
    ("name", " ", "--name must not be empty"),
])
def test_bad_arguments_exit_with_a_reason(field, value, reason):
    with pytest.raises(CommandError, match=reason):
        _create(**{field: value})
    assert not User.objects.exists()


def test_owner_membership_is_scoped(owner):
    result = _create()
    ws = Workspace.objects.get(pk=result["workspace_id"])
    with scope(workspace=ws):
        from podhub.workspaces.models import Membership

        assert Membership.objects.get().user_id == result["user_id"]
