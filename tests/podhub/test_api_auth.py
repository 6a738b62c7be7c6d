import pytest
from django_scopes import scope
from rest_framework.test import APIClient

from podhub.workspaces import services


def test_token_scopes_the_api_to_its_workspace(owner, other_owner, api_client_for):
    body = api_client_for(owner).get("/api/v1/workspace/").json()
    assert body["name"] == "Acme Prints"
    assert [m["email"] for m in body["members"]] == ["owner@acme.test"]


@pytest.mark.parametrize("header", [
    "Token", "Token a b", "Token " + "x" * 200, "Token ph_not-a-real-key", "Bearer abc",
])
def test_malformed_or_unknown_tokens_get_401_with_the_error_body(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/workspace/")
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Token")


def test_revoked_token_is_refused(owner):
    with scope(workspace=owner.workspace):
        token, key = services.api_token_create(workspace=owner.workspace, user=owner.user)
        services.api_token_revoke(workspace=owner.workspace, by=owner, token_id=token.pk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/workspace/").status_code == 401


def test_token_of_a_removed_member_stops_working(owner):
    from tests.factories import MembershipFactory

    member = MembershipFactory(workspace=owner.workspace, role="member")
    with scope(workspace=owner.workspace):
        _, key = services.api_token_create(workspace=owner.workspace, user=member.user)
        services.membership_remove(workspace=owner.workspace, by=owner, membership_id=member.pk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/workspace/").status_code == 401


def test_no_credentials_get_401(db):
    response = APIClient().get("/api/v1/workspace/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_schema_and_docs_are_served(db, client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/workspace/" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200


def test_unknown_api_url_gets_a_json_404(db, client):
    response = client.get("/api/v1/nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_token_key_is_stored_only_as_a_hash(owner):
    with scope(workspace=owner.workspace):
        token, key = services.api_token_create(workspace=owner.workspace, user=owner.user)
        token.refresh_from_db()
    assert key not in (token.key_hash, token.prefix)
    assert token.key_hash == token.hash_key(key)
