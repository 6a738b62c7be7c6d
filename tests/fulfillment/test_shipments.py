"""Provider webhooks (verified, stored, idempotent, forward-only), shipments with
their own tracking, manual tracking entry, completion after N days."""

import json
from datetime import timedelta

import pytest
from django_scopes import scope, scopes_disabled

from fulfillment import shipments, submission
from fulfillment.models import ProviderWebhook, Shipment, ShipmentEvent, Submission
from orders.models import Order, OrderEvent
from sandboxes.factory.factory import sign
from tests.fulfillment import fulfillment_support as support
from tests.fulfillment.fulfillment_support import (
    NOW,
    SECRET,
    make_order,
    make_provider,
    make_variant,
)

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider
webhook_client = support.webhook_client
URL = "/webhooks/providers/sandbox-factory/"


def _order(order) -> Order:
    with scopes_disabled():
        return Order.objects.get(pk=order.pk)


@pytest.fixture
def submitted(workspace, sandbox_provider, factory_server):
    """One order with two items, submitted to the sandbox factory."""
    mug = make_variant("MUG", [(sandbox_provider, "4.00")])
    tee = make_variant("TEE", [(sandbox_provider, "6.00")])
    order = make_order(workspace, [mug, tee])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    return order, sub


def _post(client, event: dict, *, secret=SECRET):
    body = json.dumps(event).encode()
    return client.post(URL, data=body, content_type="application/json",
                       headers={"X-PodHub-Signature": sign(body, secret)})


def _event(sub, status, *, event_id, shipment=None):
    data = {"order": {"id": sub.external_id, "external_id": sub.reference, "status": status}}
    if shipment:
        data["shipment"] = shipment
    return {"id": event_id, "type": f"shipment_{status}" if shipment else "order_updated",
            "data": data}


def test_two_parcels_keep_their_own_tracking_and_ship_the_order(workspace, submitted,
                                                                 factory_server):
    order, sub = submitted
    factory_server.factory.config.split_parcels = True
    # when the factory makes and ships the order (two parcels)
    factory_server.factory.advance(sub.external_id, to="shipped")
    # then each shipment has its own carrier, number and URL, and the order is shipped
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
        events = list(OrderEvent.objects.filter(order=order, type="shipment.shipped")
                      .order_by("pk"))
    assert len(rows) == 2
    assert rows[0].tracking_number != rows[1].tracking_number
    assert [r.carrier for r in rows] == ["USPS", "UPS"]
    assert all(r.tracking_number in r.tracking_url for r in rows)
    assert [r.items[0]["line_item_id"] for r in rows] == [i["line_item_id"] for i in sub.items]
    assert _order(order).state == "shipped"
    assert [e.data["shipment_id"] for e in events] == [r.pk for r in rows]
    assert events[0].data["number"] == rows[0].tracking_number
    assert events[0].data["line_item_ids"] == [sub.items[0]["line_item_id"]]
    assert set(events[0].data) >= {"shipment_id", "carrier", "number", "url", "line_item_ids"}
    # and delivery of both completes it
    factory_server.factory.advance(sub.external_id, to="delivered")
    assert _order(order).state == "completed"


def test_one_parcel_of_two_shipped_leaves_the_order_in_production(workspace, owner, client_for,
                                                                  submitted, webhook_client):
    order, sub = submitted
    ids = [i["line_item_id"] for i in sub.items]
    parcel = {"id": "P1", "carrier": "USPS", "tracking_number": "111", "status": "shipped",
              "items": [{"external_line_id": ids[0], "quantity": 1}]}
    assert _post(webhook_client, _event(sub, "shipped", event_id="e1",
                                        shipment=parcel)).status_code == 200
    # the first parcel fills the placeholder with its item; the other item waits in a new one
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    assert [(r.status, [i["line_item_id"] for i in r.items]) for r in rows] == [
        ("shipped", [ids[0]]), ("pending", [ids[1]])]
    assert _order(order).state == "in_production"
    with scopes_disabled():
        assert Submission.objects.get(pk=sub.pk).status != "shipped"
    panel = client_for(owner).get(f"/orders/{order.pk}/fulfillment/").content.decode()
    assert "1 of 2 parcels shipped" in panel and "111" in panel
    # the second parcel fills the rest: now the order is shipped, each parcel with its number
    parcel2 = {"id": "P2", "carrier": "UPS", "tracking_number": "222", "status": "shipped",
               "items": [{"external_line_id": ids[1], "quantity": 1}]}
    assert _post(webhook_client, _event(sub, "shipped", event_id="e2",
                                        shipment=parcel2)).status_code == 200
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    assert [(r.tracking_number, r.status) for r in rows] == [("111", "shipped"),
                                                             ("222", "shipped")]
    assert _order(order).state == "shipped"
    with scopes_disabled():
        assert Submission.objects.get(pk=sub.pk).status == "shipped"
    panel = client_for(owner).get(f"/orders/{order.pk}/fulfillment/").content.decode()
    assert "All 2 parcels shipped" in panel


def _ship(sub, *, parcel: str, line_id: int, status: str, now, number: str = ""):
    """One provider fact applied at `now` (the webhook endpoint stamps the wall clock)."""
    from fulfillment.providers import ProviderUpdate
    from fulfillment.providers.base import RemoteShipment

    update = ProviderUpdate(
        event_key=f"{parcel}-{status}", reference=sub.reference, status=status,
        shipment=RemoteShipment(external_id=parcel, status=status, carrier="USPS",
                                number=number or f"N-{parcel}", line_item_ids=[line_id]))
    with scopes_disabled():
        return shipments.apply_update(provider=sub.provider, update=update, now=now)


def test_completion_counts_from_the_last_parcel(workspace, submitted, settings):
    settings.FULFILLMENT_COMPLETE_AFTER_DAYS = 14
    order, sub = submitted
    first, second = (i["line_item_id"] for i in sub.items)
    _ship(sub, parcel="P1", line_id=first, status="shipped", now=NOW)
    # 20 days after the first parcel, the second is still in production: nothing completes
    assert shipments.complete_sweep(now=NOW + timedelta(days=20)) == 0
    assert _order(order).state == "in_production"
    last = NOW + timedelta(days=10)
    _ship(sub, parcel="P2", line_id=second, status="shipped", now=last)
    shipped = _order(order)
    assert shipped.state == "shipped" and shipped.shipped_at == last
    # 14 days after the first parcel (but 4 after the last): still shipped
    assert shipments.complete_sweep(now=NOW + timedelta(days=14)) == 0
    assert shipments.complete_sweep(now=last + timedelta(days=14) - timedelta(minutes=1)) == 0
    assert _order(order).state == "shipped"
    assert shipments.complete_sweep(now=last + timedelta(days=14)) == 1
    assert _order(order).state == "completed"


def test_completed_when_every_parcel_is_delivered_not_the_first(workspace, submitted):
    order, sub = submitted
    first, second = (i["line_item_id"] for i in sub.items)
    _ship(sub, parcel="P1", line_id=first, status="shipped", now=NOW)
    _ship(sub, parcel="P2", line_id=second, status="shipped", now=NOW)
    _ship(sub, parcel="P1", line_id=first, status="delivered", now=NOW + timedelta(days=2))
    assert _order(order).state == "shipped"
    _ship(sub, parcel="P2", line_id=second, status="delivered", now=NOW + timedelta(days=3))
    done = _order(order)
    assert done.state == "completed" and done.completed_at == NOW + timedelta(days=3)


def test_a_late_extra_parcel_keeps_a_shipped_order_open_for_n_days(workspace, submitted,
                                                                   settings):
    """A parcel reported after the order counted as shipped (a provider re-shipping an
    item) restarts the completion clock: N days from the LAST parcel."""
    settings.FULFILLMENT_COMPLETE_AFTER_DAYS = 14
    order, sub = submitted
    first, second = (i["line_item_id"] for i in sub.items)
    _ship(sub, parcel="P1", line_id=first, status="shipped", now=NOW)
    _ship(sub, parcel="P2", line_id=second, status="shipped", now=NOW)
    _ship(sub, parcel="P3", line_id=second, status="shipped", now=NOW + timedelta(days=10))
    assert _order(order).state == "shipped"
    assert shipments.complete_sweep(now=NOW + timedelta(days=15)) == 0
    assert shipments.complete_sweep(now=NOW + timedelta(days=24)) == 1


def test_bad_signature_is_refused_and_stored_nowhere(workspace, submitted, webhook_client):
    order, sub = submitted
    event = _event(sub, "shipped", event_id="bad", shipment={
        "id": "P1", "carrier": "USPS", "tracking_number": "1", "status": "shipped"})
    assert _post(webhook_client, event, secret="wrong").status_code == 401
    body = json.dumps(event).encode()
    assert webhook_client.post(URL, data=body, content_type="application/json").status_code == 401
    assert not ProviderWebhook.objects.exists()
    assert _order(order).state == "in_production"


def test_unknown_provider_is_404(webhook_client, db):
    assert webhook_client.post("/webhooks/providers/nobody/", data=b"{}",
                               content_type="application/json").status_code == 404


def test_unknown_order_is_stored_and_ignored_with_a_reason(workspace, submitted,
                                                           webhook_client):
    order, sub = submitted
    event = {"id": "e-unknown", "type": "shipment_shipped", "data": {
        "order": {"id": "SF9999", "external_id": "PH0-1", "status": "shipped"},
        "shipment": {"id": "X", "carrier": "USPS", "tracking_number": "9", "status": "shipped"}}}
    assert _post(webhook_client, event).status_code == 200
    row = ProviderWebhook.objects.get(event_key="e-unknown")
    assert row.result == "ignored" and "unknown order" in row.reason
    assert _order(order).state == "in_production"


def test_duplicate_delivery_changes_nothing(workspace, submitted, webhook_client):
    order, sub = submitted
    parcel = {"id": "P1", "carrier": "USPS", "tracking_number": "111", "status": "shipped"}
    event = _event(sub, "shipped", event_id="dup", shipment=parcel)
    first = _post(webhook_client, event)
    second = _post(webhook_client, event)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    with scope(workspace=workspace):
        assert ShipmentEvent.objects.filter(shipment__order=order).count() == 1
        assert OrderEvent.objects.filter(order=order, type="shipment.shipped").count() == 1
    # the same fact under a new event id is recognised too (forward-only)
    _post(webhook_client, _event(sub, "shipped", event_id="dup-2", shipment=parcel))
    assert ProviderWebhook.objects.get(event_key="dup-2").result == "ignored"


def test_backwards_status_is_ignored(workspace, submitted, webhook_client):
    order, sub = submitted
    parcel = {"id": "P1", "carrier": "USPS", "tracking_number": "111"}
    _post(webhook_client, _event(sub, "in_transit", event_id="t1",
                                 shipment={**parcel, "status": "in_transit"}))
    late = _post(webhook_client, _event(sub, "shipped", event_id="t0",
                                        shipment={**parcel, "status": "shipped",
                                                  "tracking_number": "OTHER"}))
    assert late.status_code == 200
    row = ProviderWebhook.objects.get(event_key="t0")
    assert row.result == "ignored" and "not after in_transit" in row.reason
    with scope(workspace=workspace):
        shipment = Shipment.objects.get(order=order)
    assert shipment.status == "in_transit" and shipment.tracking_number == "111"
    # an order-level status going backwards is ignored as well
    _post(webhook_client, _event(sub, "accepted", event_id="a0"))
    assert ProviderWebhook.objects.get(event_key="a0").result == "ignored"
    assert _order(order).state == "shipped"


def test_manual_provider_tracking_typed_in_by_the_seller(workspace, owner, client_for):
    manual = make_provider("local-printer", kind="manual", name="Local printer")
    order = make_order(workspace, [make_variant("MUG", [(manual, "3.00")])])
    submission.submit_sweep(now=NOW)
    client = client_for(owner)
    page = client.get(f"/orders/{order.pk}/fulfillment/")
    assert b"packing sheet" in page.content and b"tracking-form" in page.content
    with scope(workspace=workspace):
        shipment = Shipment.objects.get(order=order)
    url = f"/orders/{order.pk}/fulfillment/shipments/{shipment.pk}/tracking/"
    missing = client.post(url, {"carrier": "USPS"}, headers={"HX-Request": "true"})
    assert missing.status_code == 400
    ok = client.post(url, {"carrier": "USPS", "number": "9400111"},
                     headers={"HX-Request": "true"})
    # the order shipped: htmx reloads the whole order page (its state, Actions and
    # timeline changed, not only the panel), the notice on top
    assert ok.status_code == 204
    assert ok["HX-Redirect"] == f"/orders/{order.pk}/#fulfillment"
    whole = client.get(ok["HX-Redirect"]).content.decode()
    assert 'data-testid="order-state">Shipped<' in whole
    assert "Tracking saved; it goes to the store." in whole
    assert "9400111" in client.get(f"/orders/{order.pk}/fulfillment/").content.decode()
    with scope(workspace=workspace):
        shipment.refresh_from_db()
        event = OrderEvent.objects.get(order=order, type="shipment.shipped")
    assert shipment.tracking_url.endswith("9400111")
    assert event.data["carrier"] == "USPS" and event.data["number"] == "9400111"
    assert _order(order).state == "shipped"
    sheet = client.get(f"/orders/{order.pk}/fulfillment/packing-sheet/")
    assert sheet.status_code == 200 and order.number.encode() in sheet.content


def test_completed_after_n_days(workspace, submitted, webhook_client, settings):
    settings.FULFILLMENT_COMPLETE_AFTER_DAYS = 14
    order, sub = submitted
    _post(webhook_client, _event(sub, "shipped", event_id="s", shipment={
        "id": "P1", "carrier": "USPS", "tracking_number": "1", "status": "shipped"}))
    shipped_at = _order(order).shipped_at
    assert shipments.complete_sweep(now=shipped_at + timedelta(days=13)) == 0
    assert _order(order).state == "shipped"
    assert shipments.complete_sweep(now=shipped_at + timedelta(days=14)) == 1
    assert _order(order).state == "completed"
