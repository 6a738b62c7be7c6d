"""The webhook endpoints API and dashboard: create (secret once), bad input is a 400
naming the field, roles, the delivery log with replay, the schema's webhooks section,
and the cross-tenant walk over every new URL."""

import pytest
from django.db import connection
from django_scopes import scope

from tests.tenancy import MARKER, find_leaks
from webhooks.models import WebhookDelivery, WebhookEndpoint


def test_create_shows_the_secret_once_and_lists_without_it(owner, api_client_for, receiver):
    api = api_client_for(owner)
    response = api.post("/api/v1/webhook-endpoints/", {
        "url": receiver.hook_url, "description": "ERP", "event_types": ["order.paid"]},
        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["order.paid"]
    listed = api.get("/api/v1/webhook-endpoints/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    with scope(workspace=owner.workspace):
        stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert stored.secret.reveal() == body["secret"]
    # encrypted at rest: the column holds no plain secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s",
                       [body["id"]])
        (raw,) = cursor.fetchone()
    assert raw and body["secret"] not in raw and body["secret"][6:] not in raw


@pytest.mark.parametrize(("payload", "field"), [
    ({"url": "", "event_types": ["order.paid"]}, "url"),
    ({"url": "ftp://erp.example/hook", "event_types": ["order.paid"]}, "url"),
    ({"url": "https://erp.example/hook", "event_types": []}, "event_types"),
    ({"url": "https://erp.example/hook", "event_types": ["order.nope"]}, "event_types"),
    ({"url": "https://erp.example/hook"}, "event_types"),
])
def test_bad_input_is_a_400_naming_the_field(owner, api_client_for, payload, field):
    response = api_client_for(owner).post("/api/v1/webhook-endpoints/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


def test_a_private_address_is_refused_in_production_settings(owner, api_client_for, settings,
                                                             receiver):
    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    response = api_client_for(owner).post("/api/v1/webhook-endpoints/", {
        "url": receiver.hook_url, "event_types": ["order.paid"]}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["error"]["fields"]
    assert "not on the public internet" in response.json()["error"]["message"]
    assert receiver.received == []


def test_members_read_but_cannot_manage(member, endpoint, api_client_for):
    api = api_client_for(member)
    assert api.get("/api/v1/webhook-endpoints/").status_code == 200
    assert api.post("/api/v1/webhook-endpoints/", {
        "url": "https://erp.example/hook", "event_types": ["order.paid"]},
        format="json").status_code == 403
    assert api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret/").status_code \
        == 403
    assert api.delete(f"/api/v1/webhook-endpoints/{endpoint.pk}/").status_code == 403


def test_test_event_log_and_replay_over_the_api(owner, endpoint, receiver, api_client_for,
                                                django_capture_on_commit_callbacks):
    api = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test/")
    assert sent.status_code == 202
    (got,) = receiver.verified
    assert got["payload"]["type"] == "webhook.test" and got["id"] == sent.json()["webhook_id"]
    log = api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/").json()["results"]
    assert [d["status"] for d in log] == ["delivered"]
    detail = api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/{log[0]['id']}/")
    attempt = detail.json()["attempt_log"][0]
    assert attempt["response_status"] == 200 and attempt["duration_ms"] >= 0
    assert "webhook-signature" in attempt["request_headers"]
    with django_capture_on_commit_callbacks(execute=True):
        replay = api.post(
            f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/{log[0]['id']}/replay/")
    assert replay.status_code == 202
    assert [v["id"] for v in receiver.verified] == [got["id"], got["id"]]
    assert api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/?status=nope") \
        .status_code == 400


def test_rotate_and_disable_over_the_api(owner, endpoint, api_client_for):
    api = api_client_for(owner)
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret/").json()
    assert rotated["secret"].startswith("whsec_") and rotated["previous_secret_expires_at"]
    changed = api.patch(f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"is_enabled": False},
                        format="json").json()
    assert changed["is_enabled"] is False and "Disabled by owner@acme.test" in \
        changed["disabled_reason"]
    refused = api.post(f"/api/v1/webhook-endpoints/{endpoint.pk}/test/")
    assert refused.status_code == 409 and refused.json()["error"]["is_enabled"] is False
    assert api.delete(f"/api/v1/webhook-endpoints/{endpoint.pk}/").status_code == 204
    assert api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/").status_code == 404


def test_the_schema_documents_the_webhooks(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    hook = schema["webhooks"]["orderEvent"]["post"]
    assert all(h in hook["description"] for h in ("webhook-id", "webhook-timestamp",
                                                  "webhook-signature", "order.held.rule"))
    payload = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][payload.rsplit("/", 1)[1]]["properties"]) \
        == {"type", "timestamp", "data"}
    assert "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay/" \
        in schema["paths"]


def test_dashboard_create_rotate_and_replay(owner, receiver, client_for,
                                            django_capture_on_commit_callbacks):
    web = client_for(owner)
    page = web.post("/settings/webhooks/", {"url": receiver.hook_url, "description": "ERP",
                                            "event_types": ["order.paid", "order.shipped"]})
    assert page.status_code == 200 and b"whsec_" in page.content
    with scope(workspace=owner.workspace):
        endpoint = WebhookEndpoint.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post(f"/settings/webhooks/{endpoint.pk}/test/").status_code == 302
    with scope(workspace=owner.workspace):
        delivery = WebhookDelivery.objects.get()
    page = web.get(f"/settings/webhooks/{endpoint.pk}/")
    assert delivery.msg_id.encode() in page.content and b"Replay" in page.content
    partial = web.get(f"/settings/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/",
                      HTTP_HX_REQUEST="true")
    assert b"webhook-signature" in partial.content and b"<html" not in partial.content
    rotated = web.post(f"/settings/webhooks/{endpoint.pk}/rotate/")
    assert b"New secret" in rotated.content
    with django_capture_on_commit_callbacks(execute=True):
        web.post(f"/settings/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/replay/")
    assert len(receiver.received) == 2
    bad = web.post("/settings/webhooks/", {"url": "ftp://x.example/",
                                           "event_types": ["order.paid"]})
    assert bad.status_code == 400 and b"Only http and https" in bad.content


def test_no_route_shows_another_workspace_its_endpoints_or_deliveries(
        owner, other_owner, client_for, api_client_for):
    with scope(workspace=owner.workspace):
        owner.workspace.name = f"A {MARKER}"
        owner.workspace.save()
    problems = find_leaks(a_membership=owner, b_dashboard=client_for(other_owner),
                          b_api=api_client_for(other_owner))
    assert [p for p in problems if "webhook" in p] == []
