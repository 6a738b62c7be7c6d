"""WooCommerce store truth end to end, with the order core (issue 12): what the store sends
is held, priced, re-held, cancelled and refunded as docs/woocommerce.md says, over HTTP
against the sandbox store (signed webhooks in, the official client out)."""

from decimal import Decimal

import pytest
from django_scopes import scope

from billing import ledger, payments
from billing.models import EntryKind, Hold
from integrations.models import OutboxStatus
from integrations.services.outbox import order_event_handle, outbox_deliver
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, LineItem, Order, OrderEvent, OrderState
from tests.integrations.test_woocommerce import drain

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState
US = {"first_name": "Ana", "last_name": "Lima", "address_1": "1 Main St", "address_2": "",
      "city": "Springfield", "state": "IL", "postcode": "62701", "country": "US"}


@pytest.fixture
def catalog(db):
    """MUG-11 at 12.00 USD; standard shipping to the US: 5.00 + 2.00 each more + 1.00."""
    from quotes.models import Product, ShippingMethod, ShippingRate, ShippingZone, Variant

    product = Product.objects.create(name="Mug", currency="USD")
    mug = Variant.objects.create(product=product, sku="MUG-11", price_amount=D("12.00"))
    zone = ShippingZone.objects.create(name="United States", countries="US")
    standard = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                             handling_amount=D("1.00"))
    ShippingRate.objects.create(method=standard, zone=zone, currency="USD",
                                first_item_amount=D("5.00"), additional_item_amount=D("2.00"))
    return mug


def _import(conn, shop, workspace, spec, capture):
    remote = shop.create_order({"currency": "USD", "shipping": US, **spec})
    shop.deliver_due()
    with capture(execute=True):
        drain(conn, workspace)
    with scope(workspace=workspace):
        return remote, Order.objects.get(external_id=remote["id"])


def _held(workspace, order) -> Decimal:
    with scope(workspace=workspace):
        return sum((h.remaining_amount for h in Hold.objects.filter(order=order, is_open=True)),
                   D(0))


def _paid(conn, shop, workspace, capture, quantity=1):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100.00"),
                      key=f"fund:{workspace.pk}")
    remote, order = _import(conn, shop, workspace, {"line_items": [
        {"name": "Mug 11oz", "sku": "MUG-11", "price": "30.00", "quantity": quantity}]},
        capture)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == S.TO_ORDER
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key="pay")
        order.refresh_from_db()
    assert order.state == S.AWAITING_SUBMISSION
    return remote, order


def test_a_pos_like_order_is_held_with_its_reasons_and_keeps_json_meta(
    woo_conn, woo_store, workspace, django_capture_on_commit_callbacks
):
    shop = woo_store.store
    remote = shop.create_order({"no_address": True, "line_items": [
        {"name": "Custom item", "sku": "", "price": "5.00", "quantity": 1,
         "meta": {"Layers": {"front": ["text", "photo"], "back": None}}}]})
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get(external_id=remote["id"])
        line = LineItem.objects.get(order=order)
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.DATA_PROBLEM)
    # (its line has a store product id: quotable without a SKU)
    assert set(order.data_problems) == {"shipping_address", "buyer_email"}
    assert line.personalization == [{"key": "Layers",
                                     "value": {"front": ["text", "photo"], "back": None}}]
    # the seller fixes both by editing (and gives the item a SKU); the order goes on
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={
            "buyer_email": "ana@example.com",
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "zip": "62701", "country_code": "US"},
            "lines": {str(line.pk): {"sku": "MUG-11"}}})
        order.refresh_from_db()
    assert order.state == S.IN_QUOTATION and not order.data_problems


def test_a_paid_order_edited_in_the_store_is_held_again(
    woo_conn, woo_store, workspace, catalog, django_capture_on_commit_callbacks
):
    shop = woo_store.store
    remote, order = _paid(woo_conn, shop, workspace, django_capture_on_commit_callbacks)
    assert _held(workspace, order) == D("18.00")  # 12.00 + 5.00 + 1.00
    mug = remote["line_items"][0]["id"]
    shop.update_order(remote["id"], {"line_items": [{"id": mug, "quantity": 3}]})
    shop.deliver_due()
    with django_capture_on_commit_callbacks(execute=True):
        drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert LineItem.objects.get(order=order).quantity == 3
    assert order.state == S.AWAITING_SUBMISSION
    assert _held(workspace, order) == D("46.00")  # 36.00 + 5.00 + 2 × 2.00 + 1.00


def test_a_refunded_mug_releases_its_price(woo_conn, woo_store, workspace, catalog,
                                           django_capture_on_commit_callbacks):
    shop = woo_store.store
    remote, order = _paid(woo_conn, shop, workspace, django_capture_on_commit_callbacks,
                          quantity=3)
    assert _held(workspace, order) == D("46.00")
    mug = remote["line_items"][0]["id"]
    shop.refund(remote["id"], lines={mug: 2})
    shop.deliver_due()
    with django_capture_on_commit_callbacks(execute=True):
        drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert LineItem.objects.get(order=order).quantity == 1
    assert _held(workspace, order) == D("18.00")


def test_every_line_refunded_before_submission_cancels_the_order(
    woo_conn, woo_store, workspace, catalog, django_capture_on_commit_callbacks
):
    shop = woo_store.store
    remote, order = _paid(woo_conn, shop, workspace, django_capture_on_commit_callbacks)
    shop.refund(remote["id"], lines={remote["line_items"][0]["id"]: 1})
    shop.deliver_due()
    with django_capture_on_commit_callbacks(execute=True):
        drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)
    assert (order.state, order.cancel_reason) == (S.CANCELLED, "store")
    assert _held(workspace, order) == 0


def test_a_refund_after_submission_is_flagged_not_applied(
    woo_conn, woo_store, workspace, catalog, django_capture_on_commit_callbacks
):
    shop = woo_store.store
    remote, order = _paid(woo_conn, shop, workspace, django_capture_on_commit_callbacks,
                          quantity=2)
    with scope(workspace=workspace):
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    shop.refund(remote["id"], lines={remote["line_items"][0]["id"]: 1})
    shop.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert LineItem.objects.get(order=order).quantity == 2
        assert OrderEvent.objects.filter(order=order,
                                         type="order.store_change_after_submission").exists()
    assert order.state == S.IN_PRODUCTION and order.needs_attention


@pytest.mark.parametrize(("gateway", "refund", "said"), [
    ("stripe", "gateway", "The store cancelled the order and refunded the buyer."),
    ("cod", "manual", "refund the buyer by hand"),
])
@pytest.mark.parametrize("reason", ["loss_guard", "no_response", "copyright", "staff",
                                    "provider_rejected"])
def test_each_cancel_reason_ends_cancelled_and_refunded_in_the_store(
    reason, gateway, refund, said, woo_conn, woo_store, workspace, owner, mailoutbox,
    django_capture_on_commit_callbacks
):
    shop = woo_store.store
    remote, order = _import(woo_conn, shop, workspace, {"payment_method": gateway,
                                                        "line_items": [
        {"name": "Mug", "sku": "MUG-11", "price": "30.00", "quantity": 1}]},
        django_capture_on_commit_callbacks)
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_cancel(order_id=order.pk, reason=reason,
                                    actor=Actor.system("PodHub"), note="cancelled")
        msg = order_event_handle(event_id=order.events.get(type="order.cancelled").pk)
    mailoutbox.clear()
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        msg = outbox_deliver(message_id=msg.pk)
        confirmed = OrderEvent.objects.get(order=order, type="order.store_cancel_confirmed")
    assert msg.status == OutboxStatus.DONE
    store_order = shop.get_order(remote["id"])
    assert store_order["status"] == "cancelled"
    assert shop.list_refunds(remote["id"])
    assert confirmed.data["refund"] == refund
    assert said in confirmed.message
    assert [m.subject for m in mailoutbox] == [
        f"[PodHub] Order {order.number}: cancelled in your store"]
