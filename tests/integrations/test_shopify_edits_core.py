"""Shopify store edits end to end, with the order core (issue 12; docs/store-truth.md):
the sandbox store edits, refunds and fulfils an order the way Shopify's Admin API does
and sends its webhooks; PodHub maps, prices and holds again what is left to make."""

from decimal import Decimal

import pytest
from django_scopes import scope

from billing import ledger, payments
from billing.models import EntryKind, Hold
from integrations.models import InboundWebhook
from orders import services as order_services
from orders.events import Actor
from orders.models import LineItem, Order, OrderEvent, OrderState

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState
US = {"address1": "1 Main St", "city": "Springfield", "province": "IL", "province_code": "IL",
      "zip": "62701", "country": "United States", "country_code": "US"}


@pytest.fixture
def catalog(db):
    """MUG-11 (12.00) and MUG-15 (15.00) in the catalog; US shipping 5.00 + 2.00 each more
    + 1.00 handling."""
    from quotes.models import Product, ShippingMethod, ShippingRate, ShippingZone, Variant

    product = Product.objects.create(name="Mug", currency="USD")
    Variant.objects.create(product=product, sku="MUG-11", price_amount=D("12.00"))
    Variant.objects.create(product=product, sku="MUG-15", price_amount=D("15.00"))
    zone = ShippingZone.objects.create(name="US", countries="US")
    method = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                           handling_amount=D("1.00"))
    ShippingRate.objects.create(method=method, zone=zone, currency="USD",
                                first_item_amount=D("5.00"), additional_item_amount=D("2.00"))


@pytest.fixture
def mugs(sandbox):
    """The store's mug product with its two variants."""
    product = sandbox.shop.add_product({"title": "Mug", "variants": [
        {"sku": "MUG-11", "price": "30.00", "title": "11 oz"},
        {"sku": "MUG-15", "price": "30.00", "title": "15 oz"}]})
    pid = int(product["id"].rsplit("/", 1)[-1])
    ids = {v["sku"]: int(v["id"].rsplit("/", 1)[-1]) for v in product["variants"]}
    return pid, ids


def _held(workspace, order) -> Decimal:
    with scope(workspace=workspace):
        return sum((h.remaining_amount for h in Hold.objects.filter(order=order, is_open=True)),
                   D(0))


def _order(workspace, remote) -> Order:
    with scope(workspace=workspace):
        return Order.objects.get(external_id=str(remote["id"]))


def _lines(workspace, order) -> list[tuple[str, int]]:
    with scope(workspace=workspace):
        return [(ln.sku, ln.quantity) for ln in LineItem.objects.filter(order=order)
                .order_by("pk")]


@pytest.fixture
def paid(sandbox, workspace, catalog, mugs, sync):
    """A paid order of one 11 oz mug (18.00 held), the balance 100.00."""

    def make(quantity=1, balance="100.00"):
        pid, ids = mugs
        with scope(workspace=workspace):
            ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D(balance),
                          key=f"fund:{workspace.pk}")
        remote = sandbox.shop.create_order({"shipping_address": US, "line_items": [
            {"title": "Mug", "sku": "MUG-11", "variant_title": "11 oz", "price": "30.00",
             "quantity": quantity, "product_id": pid, "variant_id": ids["MUG-11"]}]})
        sync()
        order = _order(workspace, remote)
        assert order.state == S.TO_ORDER
        with scope(workspace=workspace):
            payments.orders_pay(workspace=workspace, order_ids=[order.pk],
                                shipping_methods=None, key="pay")
        return remote, _order(workspace, remote)

    return make


def test_quantity_up_and_down_in_the_store_moves_the_holds(sandbox, workspace, paid, sync):
    remote, order = paid()
    assert _held(workspace, order) == D("18.00")
    line = remote["line_items"][0]["id"]
    sandbox.shop.edit_order(remote["id"], [{"line_item_id": line, "quantity": 3}])
    sync()
    order = _order(workspace, remote)
    assert (order.state, _lines(workspace, order)) == (S.AWAITING_SUBMISSION, [("MUG-11", 3)])
    assert _held(workspace, order) == D("46.00")
    sandbox.shop.edit_order(remote["id"], [{"line_item_id": line, "quantity": 2}])
    sync()
    assert _held(workspace, _order(workspace, remote)) == D("32.00")


def test_a_variant_swap_makes_the_new_variant(sandbox, workspace, paid, mugs, sync):
    remote, order = paid()
    _, ids = mugs
    sandbox.shop.edit_order(remote["id"], [
        {"line_item_id": remote["line_items"][0]["id"], "quantity": 0},
        {"variant_id": ids["MUG-15"], "quantity": 1}])
    sync()
    order = _order(workspace, remote)
    assert _lines(workspace, order) == [("MUG-15", 1)]
    assert order.state == S.AWAITING_SUBMISSION
    assert _held(workspace, order) == D("21.00")  # 15.00 + 5.00 + 1.00


def test_the_balance_too_short_for_the_edit_sends_it_back_to_pay(sandbox, workspace, paid,
                                                                 sync):
    remote, order = paid(balance="30.00")
    sandbox.shop.edit_order(remote["id"], [{"line_item_id": remote["line_items"][0]["id"],
                                            "quantity": 4}])
    sync()
    order = _order(workspace, remote)
    assert order.state == S.TO_ORDER
    assert _held(workspace, order) == 0
    with scope(workspace=workspace):
        assert "short" in OrderEvent.objects.get(order=order, type="order.unpaid").message


def test_a_refunded_line_is_not_made_and_everything_refunded_cancels(sandbox, workspace,
                                                                     paid, sync):
    remote, order = paid(quantity=2)
    line = remote["line_items"][0]["id"]
    sandbox.shop.refund_order(remote["id"], [{"line_item_id": line, "quantity": 1,
                                              "restock_type": "return"}])
    sync()
    order = _order(workspace, remote)
    assert _lines(workspace, order) == [("MUG-11", 1)]
    assert _held(workspace, order) == D("18.00")
    sandbox.shop.refund_order(remote["id"], [{"line_item_id": line, "quantity": 1,
                                              "restock_type": "no_restock"}])
    sync()
    order = _order(workspace, remote)
    assert (order.state, order.cancel_reason) == (S.CANCELLED, "store")


def test_after_submission_an_edit_is_flagged_not_made(sandbox, workspace, paid, sync):
    remote, order = paid()
    with scope(workspace=workspace):
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    sandbox.shop.edit_order(remote["id"], [{"line_item_id": remote["line_items"][0]["id"],
                                            "quantity": 5}])
    sync()
    order = _order(workspace, remote)
    assert _lines(workspace, order) == [("MUG-11", 1)]
    assert order.needs_attention.startswith("Changed in the store")


def test_lines_fulfilled_outside_podhub_are_not_made(sandbox, workspace, catalog, sync):
    remote = sandbox.shop.create_order({"shipping_address": US, "line_items": [
        {"title": "Mug", "sku": "MUG-11", "price": "30.00", "quantity": 3}]}, webhooks=False)
    sandbox.shop._fulfill(remote["id"], [{"line_item_id": remote["line_items"][0]["id"],
                                          "quantity": 2}], tracking={}, notify=False)
    sync()
    order = _order(workspace, remote)
    with scope(workspace=workspace):
        line = LineItem.objects.get(order=order)
    assert (line.quantity, line.store_quantity) == (1, 3)


def test_an_order_fulfilled_outside_is_skipped_with_the_reason(sandbox, workspace, catalog,
                                                               sync):
    sandbox.shop.create_order({"shipping_address": US, "fulfillment_status": "fulfilled",
                               "line_items": [{"title": "Mug", "sku": "MUG-11",
                                               "price": "30.00", "quantity": 1}]})
    sync()
    with scope(workspace=workspace):
        assert Order.objects.count() == 0
        assert {r.result for r in InboundWebhook.objects.all()} <= {
            "skipped:fulfilled", "skipped:nothing left to make"}


def test_a_eur_order_keeps_shop_and_buyer_money(sandbox, workspace, sync):
    remote = sandbox.shop.create_order({
        "presentment_currency": "EUR", "to_shop_rate": "1.10", "shipping_discount": "2.00",
        "shipping_address": US, "line_items": [{"title": "Mug", "sku": "MUG-11",
                                                 "price": "20.00", "quantity": 2}]})
    sync()
    order = _order(workspace, remote)
    assert order.currency == "EUR"
    assert order.subtotal_amount == D("40.00")
    assert order.shipping_discount_amount == D("2.00")
    assert order.shop_money["currency"] == sandbox.shop.settings.currency
    assert D(order.shop_money["subtotal"]) == D("44.00")
