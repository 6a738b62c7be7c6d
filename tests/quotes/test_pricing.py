"""The price service on docs/pricing.md's worked examples; the snapshot taken at payment."""

from decimal import Decimal

import pytest
from django_scopes import scope

from orders import services as order_services
from orders.events import Actor
from orders.models import LineItem, OrderState
from podhub.core.exceptions import Conflict
from quotes import pricing, services
from quotes.models import ExchangeRate, OrderPrice, SetupFeeCharge

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState


def _price(workspace, order, **kwargs):
    with scope(workspace=workspace):
        return pricing.price_order(order=order, **kwargs)


def test_example_a_mini_bulk_tier_counts_every_variant_of_the_product(
    workspace, store, catalog, import_order
):
    order = import_order(workspace, store, ("MUG11-WHITE", 6), ("MUG11-BLACK", 6))
    bd = _price(workspace, order)
    white, black = bd.lines
    assert (white.tier_quantity, white.tier, white.unit_price, white.total) == (
        12, "10-49 mini-bulk", D("7.00"), D("42.00"))
    assert (black.unit_price, black.total) == (D("8.00"), D("48.00"))
    assert bd.items_total == D("90.00")
    assert (bd.shipping.method_code, bd.shipping.items, bd.shipping.amount) == (
        "standard", 12, D("27.00"))
    assert bd.handling_total == D("1.00")
    assert bd.total == D("118.00")
    assert bd.setup_fees == []
    # the seller may choose express instead
    express = _price(workspace, order, shipping_method="express")
    assert (express.shipping_total, express.total) == (D("45.00"), D("136.00"))
    assert [o.method_code for o in bd.shipping_options] == ["standard", "express"]


def test_example_b_bulk(workspace, store, catalog, import_order):
    order = import_order(workspace, store, ("MUG11-WHITE", 50))
    bd = _price(workspace, order)
    assert (bd.lines[0].unit_price, bd.items_total) == (D("6.00"), D("300.00"))
    assert bd.shipping_total == D("103.00")
    assert bd.total == D("404.00")


def test_example_c_setup_fee_is_charged_once_per_workspace_and_product(
    workspace, other_workspace, store, catalog, import_order
):
    first = import_order(workspace, store, ("STAMP-40", 2))
    bd = _price(workspace, first)
    assert [(f.product_name, f.amount) for f in bd.setup_fees] == [("Custom stamp", D("30.00"))]
    assert bd.total == D("24.00") + D("30.00") + D("7.00") + D("1.00") == D("62.00")
    # before the first is paid, a second order still shows the fee ...
    second = import_order(workspace, store, ("STAMP-40", 1))
    assert _price(workspace, second).setup_total == D("30.00")
    # ... once the first is paid (snapshot), the second does not pay it again
    with scope(workspace=workspace):
        snap = services.snapshot_order_price(workspace=workspace, order_id=first.pk)
    assert snap.total_amount == D("62.00")
    bd2 = _price(workspace, second)
    assert bd2.setup_fees[0].amount == 0
    assert bd2.setup_fees[0].paid_with_order_number == first.number
    assert bd2.total == D("18.00")
    # another workspace pays its own setup fee
    from tests.factories import StoreFactory

    other_store = StoreFactory(workspace=other_workspace)
    theirs = import_order(other_workspace, other_store, ("STAMP-40", 1))
    assert _price(other_workspace, theirs).setup_total == D("30.00")


def test_example_d_rest_of_world_multi_item_shipping(workspace, store, catalog, import_order):
    order = import_order(workspace, store, ("MUG11-WHITE", 3), country="DE")
    bd = _price(workspace, order)
    assert (bd.shipping.zone, bd.shipping.amount) == ("Rest of world", D("17.00"))
    assert bd.total == D("42.00")
    assert [o.method_code for o in bd.shipping_options] == ["standard"]  # no express there
    missing = _price(workspace, order, shipping_method="express")
    assert missing.shipping is None
    assert "does not ship to DE" in missing.shipping_problem


def test_example_e_store_currency_uses_the_staff_exchange_rate(
    workspace, catalog, import_order
):
    from tests.factories import StoreFactory

    ExchangeRate.objects.create(from_currency="EUR", to_currency="USD", rate=D("1.10"))
    eur_store = StoreFactory(workspace=workspace, currency="EUR")
    order = import_order(workspace, eur_store, {"sku": "MUG11-WHITE", "quantity": 1,
                                                "unit_price": "18.00"}, currency="EUR")
    assert order.state == S.TO_ORDER
    bd = _price(workspace, order)
    assert bd.currency == "USD" and bd.store_currency == "EUR"
    assert (bd.selling_store_amount, bd.selling_amount) == (D("18.00"), D("19.80"))
    assert bd.cost_for_loss_guard == D("14.00")
    assert bd.profit == D("5.80")
    assert [(c.from_currency, c.to_currency, c.rate) for c in bd.conversions] == [
        ("EUR", "USD", D("1.10"))]


def test_a_store_currency_without_rate_waits_with_the_reason(workspace, catalog, import_order):
    from tests.factories import StoreFactory

    gbp_store = StoreFactory(workspace=workspace, currency="GBP")
    order = import_order(workspace, gbp_store, ("MUG11-WHITE", 1), currency="GBP")
    with scope(workspace=workspace):
        assert order.state == S.IN_QUOTATION
        line = LineItem.objects.get(order=order)
        assert line.unmapped_reason.startswith(
            "Your store sells in GBP and you are billed in USD: PodHub staff need to set an "
            "exchange rate GBP→USD first.")


def test_a_catalog_priced_in_another_currency_is_converted(workspace, store, import_order):
    from tests.factories import ProductFactory, ShippingRateFactory, VariantFactory

    ShippingRateFactory(zone__countries="US")
    ExchangeRate.objects.create(from_currency="USD", to_currency="EUR", rate=D("0.8"))
    VariantFactory(product=ProductFactory(currency="EUR"), sku="EU-MUG", price="8.00")
    order = import_order(workspace, store, ("EU-MUG", 2))
    bd = _price(workspace, order)
    assert bd.lines[0].source_unit_price == D("8.00")
    assert bd.lines[0].unit_price == D("10.00")  # 8 EUR at 1 USD = 0.8 EUR
    assert ("EUR", "USD", D("1.25")) in [(c.from_currency, c.to_currency, c.rate)
                                         for c in bd.conversions]


def test_no_shipping_zone_is_explained(workspace, store, import_order):
    from tests.factories import VariantFactory

    VariantFactory(sku="LONELY")
    order = import_order(workspace, store, ("LONELY", 1))
    bd = _price(workspace, order)
    assert bd.items_priced and bd.shipping is None
    assert bd.shipping_problem == "No shipping zone covers US."


# --- the snapshot at payment ---------------------------------------------------------------


def test_the_snapshot_freezes_the_price_on_the_order_and_its_lines(
    workspace, store, catalog, import_order
):
    order = import_order(workspace, store, ("MUG11-WHITE", 6), ("MUG11-BLACK", 6))
    with scope(workspace=workspace):
        snap = services.snapshot_order_price(workspace=workspace, order_id=order.pk,
                                             shipping_method="express")
        assert (snap.total_amount, snap.shipping_method, snap.currency) == (
            D("136.00"), "express", "USD")
        white = LineItem.objects.filter(order=order).order_by("pk").first()
        assert white.price_snapshot["unit_price"] == "7.00"
        assert white.price_snapshot["tier"] == "10-49 mini-bulk"
        # a later price change never alters it
        catalog.mug_white.price_amount = D("99.00")
        catalog.mug_white.tiers = []
        catalog.mug_white.save()
        again = services.snapshot_order_price(workspace=workspace, order_id=order.pk)
        assert again.pk == snap.pk and again.total_amount == D("136.00")
        assert OrderPrice.objects.filter(order=order).count() == 1
        white.refresh_from_db()
        assert white.price_snapshot["unit_price"] == "7.00"
    assert _price(workspace, order).lines[0].unit_price == D("99.00")  # the live price moved


def test_a_snapshot_is_refused_for_an_unpriced_or_unshippable_order(
    workspace, store, catalog, import_order
):
    waiting = import_order(workspace, store, ("NOPE", 1))
    with scope(workspace=workspace), pytest.raises(Conflict, match="is in quotation"):
        services.snapshot_order_price(workspace=workspace, order_id=waiting.pk)
    order = import_order(workspace, store, ("MUG11-WHITE", 1), country="DE")
    with scope(workspace=workspace), pytest.raises(Conflict, match="cannot be shipped"):
        services.snapshot_order_price(workspace=workspace, order_id=order.pk,
                                      shipping_method="express")
    with scope(workspace=workspace):
        assert not SetupFeeCharge.objects.exists()


def test_the_paid_order_keeps_its_setup_fee_charge(workspace, store, catalog, import_order):
    order = import_order(workspace, store, ("STAMP-40", 1))
    with scope(workspace=workspace):
        services.snapshot_order_price(workspace=workspace, order_id=order.pk)
        order_services.order_mark_paid(order_id=order.pk, actor=Actor.system())
        charge = SetupFeeCharge.objects.get(workspace=workspace)
        assert (charge.order_id, charge.amount) == (order.pk, D("30.00"))
        # the paid order's own breakdown still shows its fee as charged with it
        assert pricing.price_order(order=order).setup_total == D("30.00")


def test_price_order_query_budget(workspace, store, catalog, import_order,
                                  django_assert_max_num_queries):
    order = import_order(workspace, store, *[(s, 2) for s in ("MUG11-WHITE", "MUG11-BLACK",
                                                             "STAMP-40")] * 5)
    with scope(workspace=workspace):
        order = type(order).objects.select_related("workspace").get(pk=order.pk)
        with django_assert_max_num_queries(10):
            pricing.price_order(order=order)
