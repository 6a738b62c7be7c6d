"""Loss guard (PrintBase): selling price after discounts vs base cost + shipping + handling.

Cost of one white mug to the US (docs/pricing.md): 8.00 + 5.00 shipping + 1.00 handling
= 14.00 USD. The store's policy decides: hold (default) or cancel.
"""

from decimal import Decimal

import pytest
from django_scopes import scope

from orders.models import CancelReason, HoldReason, LossPolicy, OrderState
from quotes import pricing
from quotes.models import ExchangeRate
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState


def mug(unit_price, **line):
    return {"sku": "MUG11-WHITE", "quantity": 1, "unit_price": unit_price, **line}


def test_a_price_above_cost_is_priced(workspace, store, catalog, import_order):
    order = import_order(workspace, store, mug("16.00"))
    assert order.state == S.TO_ORDER
    with scope(workspace=workspace):
        verdict = pricing.loss_verdict(order)
    assert (verdict.selling_amount, verdict.cost_amount, verdict.is_loss) == (
        D("16.00"), D("14.00"), False)
    assert verdict.detail == "Cost: items $8.00 + shipping $5.00 + handling $1.00."


def test_hold_policy_a_discount_that_pushes_below_cost_holds_the_order(
    workspace, store, catalog, import_order
):
    # given the default policy (hold) and a 3.00 discount on a 16.00 mug: 13.00 < 14.00
    assert store.loss_policy == LossPolicy.HOLD
    order = import_order(workspace, store, mug("16.00"), discount="3.00")
    assert (order.state, order.hold_reason, order.return_state) == (
        S.ON_HOLD, HoldReason.LOSS_GUARD, S.TO_ORDER)
    assert order.hold_message.startswith(
        "Selling price $13.00 is below base cost + shipping + handling ($14.00).")


def test_cancel_policy_cancels_and_emails_the_seller(
    workspace, owner, catalog, import_order, mailoutbox
):
    store = StoreFactory(workspace=workspace, loss_policy=LossPolicy.CANCEL)
    order = import_order(workspace, store, mug("16.00", discount="4.00"))  # a line discount
    assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.LOSS_GUARD)
    assert "$12.00 is below" in order.cancel_note
    assert mailoutbox[-1].to == [owner.user.email]
    assert "cancelled: below cost" in mailoutbox[-1].subject


def test_the_shipping_the_buyer_paid_counts_as_selling_price(
    workspace, store, catalog, import_order
):
    # 10.00 for the mug + 5.00 shipping paid by the buyer = 15.00 >= 14.00
    order = import_order(workspace, store, mug("10.00"), shipping="5.00")
    assert order.state == S.TO_ORDER


def test_a_discount_exactly_to_cost_is_not_a_loss(workspace, store, catalog, import_order):
    order = import_order(workspace, store, mug("16.00"), discount="2.00")
    assert order.state == S.TO_ORDER


def test_a_foreign_currency_store_is_judged_at_the_staff_rate(
    workspace, catalog, import_order
):
    ExchangeRate.objects.create(from_currency="EUR", to_currency="USD", rate=D("1.10"))
    eur = StoreFactory(workspace=workspace, currency="EUR")
    # 12.00 EUR = 13.20 USD < 14.00 USD
    order = import_order(workspace, eur, mug("12.00"), currency="EUR")
    assert order.state == S.ON_HOLD
    assert "Selling €12.00 at 1 EUR = 1.1 USD." in order.hold_message
    # 13.00 EUR = 14.30 USD: fine
    ok = import_order(workspace, eur, mug("13.00"), currency="EUR")
    assert ok.state == S.TO_ORDER


def test_an_order_not_fully_priced_is_not_judged(workspace, store, catalog):
    from tests.factories import LineItemFactory, OrderFactory

    order = OrderFactory(workspace=workspace, store=store)
    LineItemFactory(order=order, sku="UNKNOWN")
    with scope(workspace=workspace):
        assert pricing.loss_verdict(order) is None
