"""WooCommerce refunds, cancels and status notes over HTTP against the sandbox (issue #12).

Refunds arrive as the store sends them: a signed `order.updated` whose `refunds[]` lists
only ids and totals, so PodHub reads `GET /orders/<id>/refunds` for the lines. Pushes go
through the outbox to the sandbox's REST API with the official `woocommerce` client.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.models import InboundWebhook, InboxStatus, OutboxKind, OutboxMessage, OutboxStatus
from integrations.services.imports import reconcile_store
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import (
    _event_key,
    order_event_handle,
    order_events_missing,
    outbox_deliver,
    outbox_enqueue,
    push_order_note,
)
from integrations.woocommerce import services as woo
from orders import services as order_services
from orders.events import Actor
from orders.models import Order, Platform
from tests.integrations.test_woocommerce import KEY, SECRET, _shipped, _to_production, drain

pytestmark = pytest.mark.django_db

MUGS_AND_TEE = {"line_items": [
    {"name": "Mug 11oz", "sku": "MUG-11", "price": "10.00", "quantity": 3},
    {"name": "Tee", "sku": "TEE-M", "price": "20.00", "quantity": 1}]}


def imported(conn, shop, workspace, spec=MUGS_AND_TEE):
    remote = shop.create_order(spec)
    shop.deliver_due()
    drain(conn, workspace)
    with scope(workspace=workspace):
        return remote, Order.objects.select_related("store").get(external_id=remote["id"])


def lines_of(order) -> list[tuple[str, int]]:
    return [(ln.sku, ln.quantity) for ln in order.line_items.order_by("id")]


def cancel(order, *, reason="loss_guard"):
    order_services.order_cancel(order_id=order.pk, reason=reason,
                                actor=Actor.system("Loss guard"), note="below cost")
    return order_event_handle(event_id=order.events.get(type="order.cancelled").pk)


# --- what the sandbox sends, as WooCommerce sends it ----------------------------------


def test_entity_encoded_names_and_addresses_arrive_decoded(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace, {
        "line_items": [{"name": "Ship Your Idea", "sku": "SYI-BLK", "price": "12.00",
                        "quantity": 1, "attributes": {"pa_color": "Black"}},
                       {"name": "Tom & Jerry <Mug>", "sku": "TJ", "price": "9.00",
                        "quantity": 1, "meta": {"Gift message": "Love & hugs",
                                                "Bundle": "Mug &times; 1"}}],
        "shipping": {"first_name": "Seán", "last_name": "O'Brien",
                     "address_2": "632 O'Conner Skyway"}})
    sent = shop.get_order(remote["id"])
    assert sent["line_items"][0]["name"] == "Ship Your Idea &ndash; Color: Black"
    assert sent["line_items"][1]["name"] == "Tom &amp; Jerry &lt;Mug&gt;"
    assert sent["shipping"]["last_name"] == "O&#8217;Brien"
    with scope(workspace=workspace):
        syi, mug = order.line_items.order_by("id")
        assert (syi.title, syi.variant_title) == ("Ship Your Idea – Color: Black", "Black")
        assert mug.title == "Tom & Jerry <Mug>"
        assert mug.personalization == [{"key": "Gift message", "value": "Love & hugs"},
                                       {"key": "Bundle", "value": "Mug × 1"}]
        assert order.buyer_name == "Seán O’Brien"
        assert order.shipping_address["address2"] == "632 O’Conner Skyway"


def test_without_a_shipping_address_the_billing_address_is_used(woo_conn, woo_store,
                                                                workspace):
    _, order = imported(woo_conn, woo_store.store, workspace,
                        {**MUGS_AND_TEE, "shipping": None})
    with scope(workspace=workspace):
        assert order.shipping_address["city"] == "Lisboa"
        assert order.shipping_address["name"] == "Ana Lima"
        assert order.buyer_email == "ana@example.com"


def test_an_order_without_address_email_or_sku_maps_for_the_core_to_hold(woo_store):
    """The sandbox's POS-like order (the control `no_address`): mapped as sent. Whether
    the core imports it on hold is the lead's (#12)."""
    shop = woo_store.store
    remote = shop.create_order({"no_address": True, "line_items": [
        {"name": "Custom item", "sku": "", "price": "5.00", "quantity": 1,
         "meta": {"Layers": {"front": ["text", "photo"], "back": None}}}]}, webhooks=False)
    data, facts = woo.map_order(woo.WooClient(url=woo_store.url, consumer_key=KEY,
                                              consumer_secret=SECRET), remote)
    assert (data["shipping_address"], data["buyer_email"], data["buyer_name"]) == ({}, "", "")
    (line,) = data["line_items"]
    assert line["sku"] == "" and line["personalization"] == [
        {"key": "Layers", "value": {"front": ["text", "photo"], "back": None}}]
    assert facts.importable and not facts.nothing_left


def test_a_store_edit_of_the_lines_arrives(woo_conn, woo_store, workspace):
    """PUT /orders/<id> line_items: a quantity changed, a line removed (quantity 0), a line
    added; the core replaces the lines of an order not yet submitted."""
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    mug, tee = (ln["id"] for ln in remote["line_items"])
    shop.update_order(remote["id"], {"line_items": [
        {"id": mug, "quantity": 1}, {"id": tee, "quantity": 0},
        {"name": "Cap", "sku": "CAP", "price": "15.00", "quantity": 2}]})
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert lines_of(order) == [("MUG-11", 1), ("CAP", 2)]
    assert shop.get_order(remote["id"])["total"] == "45.00"


# --- refunds arriving ------------------------------------------------------------------


def test_a_refunded_line_arrives_by_signed_webhook_partly_then_fully(woo_conn, woo_store,
                                                                     workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    mug, tee = (ln["id"] for ln in remote["line_items"])
    shop.refund(remote["id"], lines={mug: 1}, restock=True, reason="one arrived broken")
    assert shop.deliver_due() == 1  # order.updated, refunds[] = ids and totals only
    assert drain(woo_conn, workspace) == 1
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert lines_of(order) == [("MUG-11", 2), ("TEE-M", 1)]
        assert order.subtotal_amount == Decimal("40.00")
        assert order.total_amount == Decimal("45.00")  # 50 + 5 shipping - 10 refunded
        assert "line_items" in order.events.filter(type="order.updated").last().data["fields"]
    shop.refund(remote["id"], lines={mug: 2}, restock=False)
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert lines_of(order) == [("TEE-M", 1)]  # nothing left of the mug line
        assert order.state == "in_quotation"
        rows = list(InboundWebhook.objects.order_by("pk").values_list("status", "result"))
    assert rows == [(InboxStatus.PROCESSED, "created"), (InboxStatus.PROCESSED, "updated"),
                    (InboxStatus.PROCESSED, "updated")]
    restocked = [e["quantity"] for e in shop.log if e.get("restock")]
    assert restocked == [1]  # the first refund restocked, the second did not


def test_everything_refunded_is_a_store_cancel(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    shop.refund(remote["id"], lines={ln["id"]: ln["quantity"] for ln in remote["line_items"]},
                amount=remote["total"])  # the shipping too: WooCommerce sets `refunded`
    assert shop.get_order(remote["id"])["status"] == "refunded"
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == "cancelled"


def test_a_deleted_refund_brings_the_line_back(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    refund = shop.refund(remote["id"], lines={remote["line_items"][1]["id"]: 1})
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert lines_of(order) == [("MUG-11", 3)]
    shop.delete_refund(remote["id"], refund["id"])
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert lines_of(order) == [("MUG-11", 3), ("TEE-M", 1)]


def test_the_refunds_cannot_be_read_the_delivery_waits_and_loses_nothing(woo_conn, woo_store,
                                                                          workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    shop.refund(remote["id"], lines={remote["line_items"][0]["id"]: 3})
    shop.deliver_due()
    shop.fail_next = 2  # GET /orders/<id>/refunds answers 500, its retry too
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.order_by("pk").last()
        assert row.status == InboxStatus.PENDING and "HTTP 500" in row.error
        assert lines_of(order) == [("MUG-11", 3), ("TEE-M", 1)]  # not applied half-read
        inbox_drain(connection_id=woo_conn.pk, now=row.next_attempt_at)
        row.refresh_from_db()
        assert (row.status, row.result) == (InboxStatus.PROCESSED, "updated")
        assert lines_of(order) == [("TEE-M", 1)]


def test_a_refund_on_a_submitted_order_only_flags_it(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    with scope(workspace=workspace):
        _to_production(order)
    shop.refund(remote["id"], lines={remote["line_items"][0]["id"]: 1})
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == "in_production"
        assert lines_of(order) == [("MUG-11", 3), ("TEE-M", 1)]
        assert "after it went to production" in order.needs_attention


def test_the_sweep_reads_refunds_too(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    shop.next_delivery(drop=True)  # the webhook is lost: only the sweep sees the refund
    shop.refund(remote["id"], lines={remote["line_items"][1]["id"]: 1})
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=woo_conn.pk)
        assert stats["updated"] == 1
        assert lines_of(order) == [("MUG-11", 3)]


# --- cancel pushed: status cancelled + refund ---------------------------------------------


def test_a_cancel_refunds_the_buyer_through_the_gateway(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    with scope(workspace=workspace):
        msg = cancel(order)
        assert (msg.kind, msg.payload["refund"]) == (OutboxKind.ORDER_CANCEL, True)
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.status == OutboxStatus.DONE
    assert msg.result["cancelled"] is True and msg.result["refund"] == "gateway"
    assert msg.result["amount"] == "55.00"
    after = shop.get_order(remote["id"])
    assert after["status"] == "cancelled"
    (refund,) = shop.list_refunds(remote["id"])
    assert (refund["amount"], refund["refunded_payment"]) == ("55.00", True)
    assert refund["reason"] == "Order cancelled"
    assert refund["meta_data"][0]["value"] == msg.key
    notes = shop.list_notes(remote["id"])
    private = [n["note"] for n in notes if not n["customer_note"] and n["author"] != "system"]
    assert private == [f"Cancelled by PodHub (below cost). Refunded €55.00 through the "
                       f"payment gateway. (PodHub ref {msg.key})"]
    assert [n["note"] for n in notes if n["customer_note"]] == [
        f"Your order #{remote['number']} has been cancelled. A refund of €55.00 is on its "
        "way to you."]
    assert [e["status"] for e in shop.log if "status" in e and "from" in e] == [
        "refunded", "cancelled"]  # WooCommerce's own status after a full refund, then ours
    shop.deliver_due()  # the store's echoes change nothing
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().events.filter(type="order.cancelled").count() == 1


def test_a_gateway_that_cannot_refund_gets_a_manual_refund_and_the_seller_is_told(
        woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace,
                             {**MUGS_AND_TEE, "payment_method": "cod"})  # cash on delivery
    with scope(workspace=workspace):
        msg = outbox_deliver(message_id=cancel(order).pk)
    assert msg.status == OutboxStatus.DONE
    assert msg.result["refund"] == "manual" and msg.result["amount"] == "55.00"
    assert "does not support automatic refunds" in msg.result["refund_error"]
    (refund,) = shop.list_refunds(remote["id"])
    assert refund["refunded_payment"] is False  # recorded: no money moved
    assert shop.get_order(remote["id"])["status"] == "cancelled"
    seller = [n["note"] for n in shop.list_notes(remote["id"])
              if not n["customer_note"] and "PodHub ref" in n["note"]]
    assert len(seller) == 1 and "pay the buyer back by hand" in seller[0]
    assert not [e for e in shop.log if e.get("gateway")]  # the gateway refunded nothing


def test_a_lost_answer_never_refunds_twice(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    shop.lose_next = 1  # the refund is made, its answer lost (504)
    with scope(workspace=workspace):
        msg = outbox_deliver(message_id=cancel(order).pk)
        assert msg.status == OutboxStatus.PENDING and "HTTP 504" in msg.last_error
        assert len(shop.list_refunds(remote["id"])) == 1
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
        assert msg.status == OutboxStatus.DONE and msg.result["refund"] == "gateway"
        # and once more, as if the "done" were lost too
        OutboxMessage.objects.filter(pk=msg.pk).update(status=OutboxStatus.PENDING,
                                                       next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    assert len(shop.list_refunds(remote["id"])) == 1
    assert sum(1 for e in shop.log if e.get("gateway")) == 1
    notes = shop.list_notes(remote["id"])
    assert sum(1 for n in notes if "PodHub ref" in n["note"]) == 1
    assert sum(1 for n in notes if n["customer_note"]) == 1


def test_the_contract_payload_refunds_the_amount_given_without_telling_the_buyer(
        woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    with scope(workspace=workspace):
        msg, _ = outbox_enqueue(
            store=order.store, order=order, kind=OutboxKind.ORDER_CANCEL,
            key=f"cancel:{order.external_id}",
            payload={"order_id": order.external_id, "reason": "provider_rejected",
                     "note": "", "refund": True, "notify": False, "amount": "12.50"})
        msg = outbox_deliver(message_id=msg.pk)
    assert msg.result == {"cancelled": True, "refund": "gateway", "amount": "12.50",
                          "refund_id": shop.list_refunds(remote["id"])[0]["id"]}
    assert not [n for n in shop.list_notes(remote["id"]) if n["customer_note"]]
    assert [n["note"] for n in shop.list_notes(remote["id"]) if "PodHub ref" in n["note"]] == \
        [f"Cancelled by PodHub (provider rejected). Refunded €12.50 through the payment "
         f"gateway. (PodHub ref {msg.key})"]


def test_an_unpaid_order_is_cancelled_without_a_refund(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace, {**MUGS_AND_TEE, "status": "pending"})
    with scope(workspace=workspace):
        msg = outbox_deliver(message_id=cancel(order).pk)
    assert msg.result == {"cancelled": True, "refund": "none"}
    assert shop.list_refunds(remote["id"]) == []
    assert shop.get_order(remote["id"])["status"] == "cancelled"
    assert [n["note"] for n in shop.list_notes(remote["id"]) if n["customer_note"]] == [
        f"Your order #{remote['number']} has been cancelled."]


def test_what_the_seller_refunded_already_is_not_refunded_again(woo_conn, woo_store,
                                                                 workspace):
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    shop.refund(remote["id"], lines={remote["line_items"][1]["id"]: 1})  # the tee, 20.00
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        msg = outbox_deliver(message_id=cancel(order).pk)
    assert msg.result["amount"] == "35.00"
    assert [r["amount"] for r in shop.list_refunds(remote["id"])] == ["35.00", "20.00"]
    assert shop.get_order(remote["id"])["status"] == "cancelled"


# --- status mirrored as order notes --------------------------------------------------------


def test_every_state_change_is_mirrored_as_it_happens(woo_conn, woo_store, workspace):
    """In production (a private note), a parcel shipped (the tracking note the buyer gets),
    the last parcel (status completed); a cancelled order (status cancelled + refund)."""
    shop = woo_store.store
    remote, order = imported(woo_conn, shop, workspace)
    with scope(workspace=workspace):
        _to_production(order)
        note = order_event_handle(event_id=order.events.get(type="order.submitted").pk)
        assert (note.kind, note.key) == (OutboxKind.ORDER_NOTE,
                                         f"note:{remote['id']}:in_production")
        assert outbox_deliver(message_id=note.pk).status == OutboxStatus.DONE
        OutboxMessage.objects.filter(pk=note.pk).update(  # a lost answer: no second note
            status=OutboxStatus.PENDING, next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=note.pk).result == {"note": False}
        mug, tee = order.line_items.order_by("id")
        parcel = order_event_handle(event_id=_shipped(order, 7, "JD7", [
            {"line_item_id": mug.pk, "quantity": 3}, {"line_item_id": tee.pk,
                                                      "quantity": 1}]).pk)
        assert outbox_deliver(message_id=parcel.pk).status == OutboxStatus.DONE
        order_services.order_mark_shipped(order_id=order.pk, actor=Actor.system("test"))
        done = order_event_handle(event_id=order.events.get(type="order.shipped").pk)
        assert outbox_deliver(message_id=done.pk).status == OutboxStatus.DONE
    notes = [(n["note"], n["customer_note"]) for n in reversed(shop.list_notes(remote["id"]))
             if n["author"] != "system"]
    assert notes[0] == ("In production: PodHub sent this order to be made.", False)
    assert notes[1][1] is True and "JD7" in notes[1][0]
    assert len(notes) == 2
    assert shop.get_order(remote["id"])["status"] == "completed"

    other, second = imported(woo_conn, shop, workspace)
    with scope(workspace=workspace):
        assert outbox_deliver(message_id=cancel(second).pk).status == OutboxStatus.DONE
    assert shop.get_order(other["id"])["status"] == "cancelled"
    assert shop.list_refunds(other["id"])[0]["refunded_payment"] is True


def test_a_lost_in_production_doorbell_is_found_by_the_sweep(woo_conn, woo_store, workspace):
    _, order = imported(woo_conn, woo_store.store, workspace)
    with scope(workspace=workspace):
        _to_production(order)
        event = order.events.get(type="order.submitted")
    with scopes_disabled():
        assert (workspace.pk, event.pk) in order_events_missing()
        order_event_handle(event_id=event.pk)
        assert (workspace.pk, event.pk) not in order_events_missing(
            now=timezone.now() + timedelta(seconds=1))


def test_only_woocommerce_orders_get_an_in_production_note():
    assert _event_key("order.submitted", {}, "5", Platform.SHOPIFY) is None
    assert _event_key("order.submitted", {}, "5", Platform.WOOCOMMERCE) == \
        "note:5:in_production"


def test_a_note_push_to_a_shopify_store_is_refused(workspace):
    from orders.models import Store
    from podhub.core.exceptions import Conflict

    with scope(workspace=workspace):
        shopify = Store.objects.create(workspace=workspace, name="Shop",
                                       platform=Platform.SHOPIFY)
        with pytest.raises(Conflict):
            push_order_note(store=shopify, order=None, key="k", note="n")
