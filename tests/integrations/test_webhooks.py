"""POST /webhooks/shopify/: signatures, bad input, the inbox before the 200, duplicates."""

import json

import pytest
from django_scopes import scope

from integrations.models import InboundWebhook, InboxStatus
from integrations.services.inbox import inbox_drain
from orders.models import Order
from tests.integrations.conftest import SECRET, SHOP, post_webhook, webhook_headers

pytestmark = pytest.mark.django_db


def _order(sandbox, **spec):
    return sandbox.shop.create_order(spec, webhooks=False)


def _inbox_count(workspace):
    with scope(workspace=workspace):
        return InboundWebhook.objects.count()


def test_a_signed_delivery_is_stored_raw_before_the_200(connection, sandbox, webhook_client,
                                                        workspace):
    payload = _order(sandbox)
    body = json.dumps(payload, ensure_ascii=False).encode()
    resp = webhook_client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers=webhook_headers("orders/create", body, event_id="ev-1"))
    assert resp.status_code == 200
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
    assert row.body.encode() == body  # exactly as it came
    assert (row.topic, row.event_id, row.status) == ("orders/create", "ev-1",
                                                     InboxStatus.PENDING)
    assert row.resource_id == str(payload["id"])


def test_wrong_hmac_is_refused_and_nothing_is_stored(connection, sandbox, webhook_client,
                                                     workspace):
    resp = post_webhook(webhook_client, "orders/create", _order(sandbox), secret="not-it")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "bad_signature"
    assert _inbox_count(workspace) == 0


def test_a_body_changed_after_signing_is_refused(connection, sandbox, webhook_client, workspace):
    body = json.dumps(_order(sandbox)).encode()
    headers = webhook_headers("orders/create", body)
    resp = webhook_client.post("/webhooks/shopify/", data=body.replace(b"Main", b"Evil"),
                               content_type="application/json", headers=headers)
    assert resp.status_code == 401
    assert _inbox_count(workspace) == 0


@pytest.mark.parametrize("missing", ["X-Shopify-Topic", "X-Shopify-Shop-Domain",
                                     "X-Shopify-Event-Id"])
def test_missing_headers_are_refused_with_the_reason(connection, webhook_client, workspace,
                                                     missing):
    body = b'{"id": 1}'
    headers = webhook_headers("orders/create", body)
    headers.pop(missing)
    if missing == "X-Shopify-Event-Id":
        headers.pop("X-Shopify-Webhook-Id")
    resp = webhook_client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers=headers)
    assert resp.status_code == 400
    assert missing in resp.json()["error"]["message"]
    assert _inbox_count(workspace) == 0


def test_a_missing_signature_is_401(connection, webhook_client, workspace):
    body = b'{"id": 1}'
    headers = webhook_headers("orders/create", body)
    headers.pop("X-Shopify-Hmac-Sha256")
    resp = webhook_client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers=headers)
    assert resp.status_code == 401
    assert _inbox_count(workspace) == 0


def test_an_unknown_shop_is_refused(connection, webhook_client, workspace):
    resp = post_webhook(webhook_client, "orders/create", {"id": 1}, shop="stranger.myshopify.com")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unknown_shop"
    resp = post_webhook(webhook_client, "orders/create", {"id": 1}, shop="evil.example.com")
    assert resp.status_code == 401
    assert _inbox_count(workspace) == 0


def test_malformed_json_is_400_with_the_reason(connection, webhook_client, workspace):
    resp = post_webhook(webhook_client, "orders/create", b'{"id": 1,')
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"
    assert "not JSON" in resp.json()["error"]["message"]
    assert _inbox_count(workspace) == 0


def test_a_body_over_5_mb_is_413(connection, webhook_client, workspace):
    body = b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    resp = webhook_client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers=webhook_headers("orders/create", body))
    assert resp.status_code == 413
    assert _inbox_count(workspace) == 0


def test_a_body_just_under_5_mb_is_accepted(connection, webhook_client, workspace):
    pad = 5 * 1024 * 1024 - 100
    body = b'{"id": 77, "pad": "' + b"x" * pad + b'"}'
    resp = webhook_client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers=webhook_headers("shop/update", body))
    assert resp.status_code == 200
    assert _inbox_count(workspace) == 1


def test_get_is_not_allowed(webhook_client):
    assert webhook_client.get("/webhooks/shopify/").status_code == 405


def test_duplicates_are_acknowledged_and_change_nothing(connection, sandbox, webhook_client,
                                                        workspace):
    payload = _order(sandbox)
    for _ in range(3):
        resp = post_webhook(webhook_client, "orders/create", payload, event_id="same-event")
        assert resp.status_code == 200
    assert _inbox_count(workspace) == 1
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        post_webhook(webhook_client, "orders/create", payload, event_id="same-event")
        inbox_drain(connection_id=connection.pk)
        assert Order.objects.filter(external_id=str(payload["id"])).count() == 1
        assert InboundWebhook.objects.get().status == InboxStatus.PROCESSED
        order = Order.objects.get()
        assert order.events.filter(type="order.imported").count() == 1


def test_sandbox_duplicate_deliveries_store_one_row(connection, sandbox, workspace):
    sandbox.shop.create_order({}, delivery={"duplicate": 2})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        # orders/create and orders/paid, each delivered three times
        assert InboundWebhook.objects.count() == 2
        inbox_drain(connection_id=connection.pk)
        assert Order.objects.count() == 1


def test_a_disconnected_store_changes_nothing(connection, sandbox, webhook_client, workspace):
    from integrations.services.connections import store_disconnect

    with scope(workspace=workspace):
        store_disconnect(workspace=workspace, store_id=connection.store_id)
    resp = post_webhook(webhook_client, "orders/create", _order(sandbox))
    assert resp.status_code == 200  # acknowledged, so Shopify stops retrying
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        assert Order.objects.count() == 0
        assert InboundWebhook.objects.get().status == InboxStatus.IGNORED


def test_secret_of_another_shop_does_not_open_this_one(connection, sandbox, webhook_client,
                                                       workspace, other_workspace):
    from integrations.shopify.connect import store_connect_shopify

    with scope(workspace=other_workspace):
        store_connect_shopify(workspace=other_workspace, shop_domain="other.myshopify.com",
                              access_token="t", webhook_secret="other-secret",
                              start_import=False)
    resp = post_webhook(webhook_client, "orders/create", _order(sandbox), secret="other-secret",
                        shop=SHOP)
    assert resp.status_code == 401
    assert SECRET != "other-secret"
