"""Pushes to the store: fulfillments with tracking, second parcels, cancels, refunds, retries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope

from integrations.models import OutboxMessage, OutboxStatus
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import (
    order_event_handle,
    outbox_deliver,
    outbox_due,
    publish_product,
    push_fulfillment,
    push_refund,
)
from orders import services as order_services
from orders.events import Actor
from orders.models import Order
from podhub.core.exceptions import Conflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(connection, sandbox, workspace):
    remote = sandbox.shop.create_order({"line_items": [
        {"title": "Mug", "sku": "MUG", "price": "10.00", "quantity": 2},
        {"title": "Tee", "sku": "TEE", "price": "20.00", "quantity": 1}]})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        order = Order.objects.select_related("store").get()
    return remote, order


def test_push_fulfillment_creates_a_shopify_fulfillment_with_tracking(connection, sandbox,
                                                                      workspace, imported):
    remote, order = imported
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1", carrier="UPS",
                               number="1Z999AA10123456784",
                               url="https://track.example/1Z999AA10123456784", line_items=None)
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.status == OutboxStatus.DONE
    [f] = sandbox.shop.fulfillments(remote["id"])
    assert (f["tracking_company"], f["tracking_number"], f["tracking_url"]) == (
        "UPS", "1Z999AA10123456784", "https://track.example/1Z999AA10123456784")
    assert f["notify_customer"] is True
    assert sandbox.shop.order(remote["id"])["fulfillment_status"] == "fulfilled"


def test_a_second_parcel_adds_its_own_fulfillment(connection, sandbox, workspace, imported):
    remote, order = imported
    with scope(workspace=workspace):
        mug, tee = order.line_items.order_by("id")
        first = push_fulfillment(store=order.store, order=order, shipment_ref="P1",
                                 carrier="USPS", number="9400111", url="",
                                 line_items=[{"line_item_id": mug.pk, "quantity": 2}])
        again = push_fulfillment(store=order.store, order=order, shipment_ref="P1",
                                 carrier="USPS", number="9400111", url="",
                                 line_items=[{"line_item_id": mug.pk, "quantity": 2}])
        assert again.pk == first.pk  # the same shipment is pushed once
        second = push_fulfillment(store=order.store, order=order, shipment_ref="P2",
                                  carrier="DHL", number="JD0002", url="https://dhl.example/JD0002",
                                  line_items=[{"line_item_id": tee.pk, "quantity": 1}])
        outbox_deliver(message_id=first.pk)
        outbox_deliver(message_id=second.pk)
    fulfillments = sandbox.shop.fulfillments(remote["id"])
    assert [f["tracking_number"] for f in fulfillments] == ["9400111", "JD0002"]
    assert [len(f["line_items"]) for f in fulfillments] == [1, 1]
    assert sandbox.shop.order(remote["id"])["fulfillment_status"] == "fulfilled"


def test_a_push_retries_with_backoff_until_the_store_is_back(connection, sandbox, workspace,
                                                             imported):
    remote, order = imported
    shop = sandbox.shop
    shop.down_until = shop.clock() + 3600  # the store is down for an hour
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1",
                               carrier="UPS", number="1Z1", url="")
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.PENDING and msg.attempts == 1
        assert msg.next_attempt_at > timezone.now() + timedelta(seconds=10)
        assert "503" in msg.last_error
        assert outbox_deliver(message_id=msg.pk) is None  # not due yet
        # hours later: the store is back and the sweep finds the message due
        shop.down_until = 0
        later = timezone.now() + timedelta(hours=2)
        assert (workspace.pk, msg.pk) in outbox_due(now=later)
        msg = outbox_deliver(message_id=msg.pk, now=later)
    assert msg.status == OutboxStatus.DONE and msg.attempts == 2
    assert len(shop.fulfillments(remote["id"])) == 1


def test_the_first_push_the_store_takes_again_brings_its_waiting_pushes_forward(
        connection, sandbox, workspace, imported, monkeypatch):
    """After an outage, parcels pushed while the store was down do not sit out their
    backoff (up to an hour) once the store answers; one being sent is left alone."""
    from integrations import tasks

    remote, order = imported
    shop = sandbox.shop
    other = shop.create_order({"line_items": [
        {"title": "Mug", "sku": "MUG", "price": "10.00", "quantity": 1}]})
    shop.deliver_due()
    rung = []
    monkeypatch.setattr(tasks.outbox_deliver_task, "delay",
                        lambda **kw: rung.append(kw["message_id"]))
    shop.down_until = shop.clock() + 3600
    now = timezone.now()
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        second = Order.objects.select_related("store").get(external_id=str(other["id"]))
        mug, tee = order.line_items.order_by("id")
        waiting = []
        for ref, item in (("S1", mug), ("S2", mug), ("S3", tee)):
            msg = push_fulfillment(store=order.store, order=order, shipment_ref=ref,
                                   carrier="UPS", number=f"1Z{ref}", url="",
                                   line_items=[{"line_item_id": item.pk, "quantity": 1}])
            assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.PENDING
            waiting.append(msg.pk)
        # several failures later: each waits out a long backoff, set a while ago
        OutboxMessage.objects.filter(pk__in=waiting).update(
            attempts=6, next_attempt_at=now + timedelta(minutes=40),
            updated_at=now - timedelta(minutes=5))
        in_flight = push_fulfillment(store=second.store, order=second, shipment_ref="S4",
                                     carrier="UPS", number="1ZS4", url="")
        OutboxMessage.objects.filter(pk=in_flight.pk).update(
            attempts=3, next_attempt_at=now + timedelta(seconds=300))  # claimed: its lease
        shop.down_until = 0
        fresh = push_fulfillment(store=second.store, order=second, shipment_ref="S5",
                                 carrier="UPS", number="1ZS5", url="")
        rung.clear()
        assert outbox_deliver(message_id=fresh.pk).status == OutboxStatus.DONE
        assert sorted(rung) == sorted(waiting)
        due = {pk for _, pk in outbox_due()}
        assert set(waiting) <= due and in_flight.pk not in due
        assert OutboxMessage.objects.get(pk=in_flight.pk).next_attempt_at == \
            now + timedelta(seconds=300)
        for pk in waiting:
            assert outbox_deliver(message_id=pk).status == OutboxStatus.DONE
        # nothing waits any more: the next push done brings nothing forward
        rung.clear()
        OutboxMessage.objects.filter(pk=in_flight.pk).update(next_attempt_at=now)
        outbox_deliver(message_id=in_flight.pk)
        assert rung == []
    numbers = [f["tracking_number"] for f in shop.fulfillments(remote["id"])]
    assert sorted(numbers) == ["1ZS1", "1ZS2", "1ZS3"]


def test_a_push_hands_a_long_wait_for_the_cost_bucket_back_to_the_outbox(
        connection, sandbox, workspace, imported):
    """Shopify's cost bucket is drained and refills slowly: the push does not sleep in a
    worker slot for minutes; it waits in the outbox (not counted as a failed attempt)
    and is made once when the bucket has refilled."""
    remote, order = imported
    shop = sandbox.shop
    shop.settings.restore_rate = 1.0
    shop.bucket, shop.bucket_at = 0.0, shop.clock()
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1",
                               carrier="UPS", number="1ZB1", url="")
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.PENDING and msg.attempts == 0
        assert "THROTTLED" in msg.last_error
        assert msg.next_attempt_at > timezone.now() + timedelta(seconds=30)  # the refill
        shop.settings.restore_rate = 5000.0
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    assert [f["tracking_number"] for f in shop.fulfillments(remote["id"])] == ["1ZB1"]


def test_the_client_waits_for_the_bucket_once_it_has_written():
    """Past `max_wait` a call is refused before it is sent — unless the client sent a
    mutation already: then it waits, so a push is never left half done."""
    from integrations.shopify.client import AdminClient, Bucket, ShopifyThrottled

    slept = []
    client = AdminClient(base_url="http://127.0.0.1:9", token="t", api_version="2025-07",
                         sleep=slept.append, clock=lambda: 100.0, max_wait=2.0)
    client.bucket = Bucket(maximum=1000, available=0, restore_rate=10, at=100.0)
    with pytest.raises(ShopifyThrottled) as refused:
        client._wait_for(100)
    assert refused.value.retry_after == pytest.approx(10.1) and slept == []
    client.wrote = True
    client._wait_for(100)
    assert slept == [pytest.approx(10.1)]
    client.close()


def test_a_lost_answer_does_not_create_a_second_fulfillment(connection, sandbox, workspace,
                                                            imported):
    remote, order = imported
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1",
                               carrier="UPS", number="1Z1", url="")
        outbox_deliver(message_id=msg.pk)
        # the worker died before recording success: the message is due again
        OutboxMessage.objects.filter(pk=msg.pk).update(status=OutboxStatus.PENDING,
                                                       next_attempt_at=timezone.now())
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.status == OutboxStatus.DONE and msg.result.get("already")
    assert len(sandbox.shop.fulfillments(remote["id"])) == 1


def test_a_refused_push_fails_for_good_and_shows(connection, sandbox, workspace, imported,
                                                 client_for, owner):
    remote, order = imported
    sandbox.shop.cancel_order(remote["id"], webhooks=False)
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1",
                               carrier="UPS", number="1Z1", url="")
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.status == OutboxStatus.FAILED
    html = client_for(owner).get(f"/stores/{order.store_id}/").content.decode()
    assert "Failed for good" in html and "1Z1" in html


def test_loss_guard_cancel_cancels_and_refunds_in_the_store(connection, sandbox, workspace,
                                                            imported):
    remote, order = imported
    with scope(workspace=workspace):
        order_services.order_cancel(order_id=order.pk, reason="loss_guard",
                                    actor=Actor.system("Loss guard"), note="below cost")
        event = order.events.get(type="order.cancelled")
        msg = order_event_handle(event_id=event.pk)
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.status == OutboxStatus.DONE
    cancelled = sandbox.shop.order(remote["id"])
    assert cancelled["cancelled_at"] and cancelled["financial_status"] == "refunded"
    # the buyer got back what they paid, and was told (orderCancel refund + notifyCustomer)
    [refund] = cancelled["refunds"]
    assert [t["amount"] for t in refund["transactions"]] == [cancelled["total_price"]]
    assert cancelled["_sandbox"]["cancel"]["notify_customer"] is True
    assert cancelled["_sandbox"]["cancel"]["refund"] is True


def test_a_seller_cancel_is_not_pushed(connection, workspace, imported):
    _, order = imported
    with scope(workspace=workspace):
        order_services.order_cancel(order_id=order.pk, reason="seller",
                                    actor=Actor.system("test"))
        event = order.events.get(type="order.cancelled")
        assert order_event_handle(event_id=event.pk) is None


def test_refund_and_product_publish(connection, sandbox, workspace, imported):
    remote, order = imported
    with scope(workspace=workspace):
        mug = order.line_items.order_by("id").first()
        refund = push_refund(store=order.store, order=order, refund_ref="claim-1",
                             line_items=[{"line_item_id": mug.pk, "quantity": 1}], note="misprint")
        assert outbox_deliver(message_id=refund.pk).status == OutboxStatus.DONE
        product = publish_product(store=order.store, product_ref="catalog-7",
                                  title="PodHub mug", variants=[
                                      {"sku": "PH-MUG-11-W", "price": "14.00", "option": "White"},
                                      {"sku": "PH-MUG-11-B", "price": "14.00", "option": "Black"}])
        assert outbox_deliver(message_id=product.pk).status == OutboxStatus.DONE
    [made] = sandbox.shop.refunds(remote["id"])
    assert [t["amount"] for t in made["transactions"]] == ["10.00"]
    assert [(r["line_item_id"], r["quantity"]) for r in made["refund_line_items"]] == [
        (int(mug.external_id), 1)]
    [p] = sandbox.shop.products()
    assert [v["sku"] for v in p["variants"]] == ["PH-MUG-11-W", "PH-MUG-11-B"]


def test_nothing_is_pushed_to_a_disconnected_store(connection, workspace, imported):
    from integrations.services.connections import store_disconnect

    _, order = imported
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S1",
                               carrier="UPS", number="1Z1", url="")
        store_disconnect(workspace=workspace, store_id=order.store_id)
        msg.refresh_from_db()
        assert msg.status == OutboxStatus.CANCELLED
        with pytest.raises(Conflict):
            push_fulfillment(store=order.store, order=order, shipment_ref="S2",
                             carrier="UPS", number="1Z2", url="")


def test_publish_a_catalog_product_from_the_sync_health_page(connection, sandbox, workspace,
                                                             client_for, owner):
    from tests.factories import ProductFactory, VariantFactory

    product = ProductFactory(name="Photo mug")
    VariantFactory(product=product, sku="PH-MUG-W", options={"Colour": "White"}, price="8.00")
    VariantFactory(product=product, sku="PH-MUG-B", options={"Colour": "Black"}, price="9.50")
    c = client_for(owner)
    page = c.get(f"/stores/{connection.store_id}/").content.decode()
    assert "Photo mug" in page
    resp = c.post(f"/stores/{connection.store_id}/publish/", {"product_id": product.pk,
                                                              "markup_percent": "100"})
    assert resp.status_code == 302
    with scope(workspace=workspace):
        msg = OutboxMessage.objects.get(kind="product_create")
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    [p] = sandbox.shop.products()
    assert p["title"] == "Photo mug"
    assert [(v["sku"], v["price"]) for v in p["variants"]] == [("PH-MUG-W", "16.00"),
                                                               ("PH-MUG-B", "19.00")]


def test_a_shipped_parcel_from_the_fulfillment_app_is_pushed(connection, sandbox, workspace,
                                                             imported):
    """The fulfillment app records `shipment.shipped` with the parcel's tracking and lines."""
    from integrations import tasks
    from orders.services import record_event

    remote, order = imported
    with scope(workspace=workspace):
        mug = order.line_items.order_by("id").first()
        record_event(order=order, type="shipment.shipped", actor=Actor.provider("factory"),
                     data={"shipment_id": 77, "carrier": "USPS", "number": "9400100000000001",
                           "url": "https://tools.usps.com/go/TrackConfirmAction?tLabels=94001",
                           "line_items": [{"line_item_id": mug.pk, "quantity": 2}]})
        event = order.events.get(type="shipment.shipped")
    from unittest import mock

    with mock.patch.object(tasks.order_event_task, "delay"):
        assert tasks.integrations_sweep_task()["events"] == 1  # found even without a doorbell
    with scope(workspace=workspace):
        msg = order_event_handle(event_id=event.pk)
        assert order_event_handle(event_id=event.pk).pk == msg.pk  # once per shipment
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    [f] = sandbox.shop.fulfillments(remote["id"])
    assert (f["tracking_company"], f["tracking_number"]) == ("USPS", "9400100000000001")
    assert f["notify_customer"] is True
    assert f["line_items"] == [{"line_item_id": int(mug.external_id), "quantity": 2}]
    assert sandbox.shop.order(remote["id"])["fulfillment_status"] == "partial"
