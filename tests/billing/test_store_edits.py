"""A store edit to an order before submission is mapped, priced and held again in one
transaction (issue 12; docs/store-truth.md "Store edits"): the holds always equal the price
of what the store still wants, or the order waits for payment (or a quote) again."""

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django_scopes import scope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import ledger, payments
from billing.models import EntryKind, Hold, Invoice, InvoiceKind, LedgerEntry, OrderCharge
from orders import services as order_services
from orders.events import Actor
from orders.models import LineItem, OrderEvent, OrderState, Platform
from quotes.models import OrderPrice, Quote, Variant
from tests.billing.test_ledger_properties import assert_invariants
from tests.factories import StoreFactory, WorkspaceFactory

D = Decimal
S = OrderState
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
STORE = Actor.store("Shopify")
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_mode")]


@pytest.fixture
def mug15(catalog):
    """A second variant of the catalog's mug: 15 oz at 15.00 USD."""
    mug = catalog["mug"]
    return Variant.objects.create(product=mug.product, sku="MUG-15", price_amount=D("15.00"),
                                  options={"Size": "15 oz"})


def _line(sku: str, quantity: int, n: int = 0, **extra) -> dict:
    return {"external_id": f"li-{n}", "sku": sku, "store_variant_id": f"v-{sku}",
            "store_product_id": "p-mug", "title": "Mug", "quantity": quantity,
            "unit_price": "30.00", **extra}


def _version(minutes: int, *lines: dict, external_id="9001") -> dict:
    return {"external_id": external_id, "number": "#9001", "buyer_email": "ana@example.com",
            "updated_at": (T0 + timedelta(minutes=minutes)).isoformat(), "currency": "USD",
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "zip": "62701", "country_code": "US"},
            "line_items": list(lines)}


@pytest.fixture
def shop(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def apply(workspace, shop, django_capture_on_commit_callbacks):
    """Apply a store version as the inbox does, running what follows the commit (the
    catalog's pricing)."""

    def do(data):
        with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
            order, _ = order_services.order_import(workspace=workspace, store=shop, data=data,
                                                   actor=STORE, now=T0)
        with scope(workspace=workspace):
            order.refresh_from_db()
        return order

    return do


def _fund(workspace, amount: str):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D(amount),
                      key=f"fund:{workspace.pk}:{amount}")


def _pay(workspace, order, key="pay-1"):
    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key=key)
        order.refresh_from_db()
    assert order.state == S.AWAITING_SUBMISSION


def _held(workspace, order) -> dict:
    with scope(workspace=workspace):
        return {h.purpose: h.remaining_amount for h in Hold.objects.filter(
            order=order, is_open=True)}


def _available(workspace) -> Decimal:
    with scope(workspace=workspace):
        return assert_invariants(workspace).available_amount


def _paid_order(workspace, apply, *lines):
    _fund(workspace, "100.00")
    order = apply(_version(0, *lines))
    assert order.state == S.TO_ORDER
    _pay(workspace, order)
    return order


def test_more_mugs_in_the_store_hold_more(workspace, apply, catalog):
    # given a paid order of 1 mug: 12.00 product, 5.00 + 1.00 shipping held
    order = _paid_order(workspace, apply, _line("MUG-11", 1))
    assert _held(workspace, order) == {"product": D("12.00"), "shipping": D("6.00")}
    # when the store edits it to 5 mugs
    order = apply(_version(1, _line("MUG-11", 5)))
    # then 5 are made, and what is held is their price: 60.00 + (5 + 4 × 2 + 1) shipping
    assert order.state == S.AWAITING_SUBMISSION
    with scope(workspace=workspace):
        assert LineItem.objects.get(order=order).quantity == 5
        charge = OrderCharge.objects.get(order=order)
        event = OrderEvent.objects.filter(order=order, type="order.repriced").get()
        updated = OrderEvent.objects.filter(order=order, type="order.updated").get()
        snapshot = OrderPrice.objects.get(order=order)
        adjustment = Invoice.objects.get(kind=InvoiceKind.ADJUSTMENT)
    assert _held(workspace, order) == {"product": D("60.00"), "shipping": D("14.00")}
    assert (charge.product_amount, charge.shipping_amount) == (D("60.00"), D("14.00"))
    assert snapshot.total_amount == D("74.00")
    assert adjustment.total_amount == D("56.00")
    assert _available(workspace) == D("26.00")
    assert "Mug × 1 → × 5" in updated.message
    assert event.message == ("Priced again after the store's change: $18.00 → $74.00 "
                             "($56.00 more held).")


def test_fewer_mugs_release_the_difference(workspace, apply, catalog):
    order = _paid_order(workspace, apply, _line("MUG-11", 3))
    assert _held(workspace, order) == {"product": D("36.00"), "shipping": D("10.00")}
    order = apply(_version(1, _line("MUG-11", 1)))
    assert order.state == S.AWAITING_SUBMISSION
    assert _held(workspace, order) == {"product": D("12.00"), "shipping": D("6.00")}
    assert _available(workspace) == D("82.00")


def test_a_colour_swap_makes_the_new_variant_and_holds_its_price(workspace, apply, mug15):
    # given a paid order of an 11 oz mug; when the buyer swaps it for the 15 oz one
    order = _paid_order(workspace, apply, _line("MUG-11", 2))
    order = apply(_version(1, _line("MUG-15", 2)))
    # then the line maps to the 15 oz variant (not the old one), priced 15.00 each
    with scope(workspace=workspace):
        line = LineItem.objects.get(order=order)
    assert (line.sku, line.catalog_variant_id) == ("MUG-15", mug15.pk)
    assert order.state == S.AWAITING_SUBMISSION
    assert _held(workspace, order) == {"product": D("30.00"), "shipping": D("8.00")}


def test_a_removed_line_is_not_made_and_its_price_goes_back(workspace, apply, mug15):
    order = _paid_order(workspace, apply, _line("MUG-11", 1, 0), _line("MUG-15", 1, 1))
    assert _held(workspace, order) == {"product": D("27.00"), "shipping": D("8.00")}
    order = apply(_version(1, _line("MUG-11", 1, 0)))  # the 15 oz line removed / refunded
    with scope(workspace=workspace):
        assert list(LineItem.objects.filter(order=order).values_list("sku", flat=True)) == [
            "MUG-11"]
    assert _held(workspace, order) == {"product": D("12.00"), "shipping": D("6.00")}


def test_an_edit_the_balance_cannot_cover_sends_the_order_back_to_pay(workspace, apply,
                                                                       catalog):
    # given 100.00, a paid order of 1 mug (18.00 held)
    order = _paid_order(workspace, apply, _line("MUG-11", 1))
    # when the store edits it to 10 mugs: 120.00 + 24.00 shipping, 144.00 > 100.00
    order = apply(_version(1, _line("MUG-11", 10)))
    # then nothing stays held: the order waits for payment, saying what is missing
    assert order.state == S.TO_ORDER
    assert order.submit_at is None and order.paid_at is None
    assert _held(workspace, order) == {}
    assert _available(workspace) == D("100.00")
    with scope(workspace=workspace):
        event = OrderEvent.objects.get(order=order, type="order.unpaid")
        assert not OrderCharge.objects.filter(order=order).exists()
        assert not OrderPrice.objects.filter(order=order).exists()
    assert event.from_state == S.AWAITING_SUBMISSION
    assert event.data["missing"] == "44.00"
    assert "$44.00 short" in event.message
    # and once the balance allows it, it can be paid again
    _fund(workspace, "50.00")
    _pay(workspace, order, key="pay-2")
    assert _held(workspace, order) == {"product": D("120.00"), "shipping": D("24.00")}


def test_a_swap_to_an_unknown_product_releases_the_holds_and_asks_for_a_quote(
    workspace, apply, catalog
):
    order = _paid_order(workspace, apply, _line("MUG-11", 1))
    order = apply(_version(1, _line("PLAQUE-OAK", 1)))
    assert order.state == S.IN_QUOTATION
    assert _held(workspace, order) == {}
    with scope(workspace=workspace):
        event = OrderEvent.objects.get(order=order, type="order.unpriced")
        assert Quote.objects.filter(workspace=workspace).count() == 1  # after commit
        line = LineItem.objects.get(order=order)
    assert "PLAQUE-OAK" in event.message
    assert line.catalog_variant_id is None


def test_an_unpaid_order_whose_item_no_longer_maps_waits_for_a_quote(workspace, apply,
                                                                       catalog):
    order = apply(_version(0, _line("MUG-11", 1)))
    assert order.state == S.TO_ORDER
    order = apply(_version(1, _line("PLAQUE-OAK", 1)))
    assert order.state == S.IN_QUOTATION


def test_everything_refunded_before_submission_cancels_and_releases(workspace, apply,
                                                                    catalog):
    order = _paid_order(workspace, apply, _line("MUG-11", 2))
    order = apply(_version(1))  # every line refunded: the store lists none
    assert (order.state, order.cancel_reason) == (S.CANCELLED, "store")
    assert "Nothing left to make" in order.cancel_note
    with scope(workspace=workspace):
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)
    assert _held(workspace, order) == {}


def test_a_replayed_version_moves_no_money_twice(workspace, apply, catalog):
    order = _paid_order(workspace, apply, _line("MUG-11", 1))
    apply(_version(1, _line("MUG-11", 3)))
    with scope(workspace=workspace):
        before = LedgerEntry.objects.filter(workspace=workspace).count()
    apply(_version(1, _line("MUG-11", 3)))  # the same version again (a duplicate webhook)
    apply(_version(0, _line("MUG-11", 1)))  # an older one, late
    with scope(workspace=workspace):
        assert LedgerEntry.objects.filter(workspace=workspace).count() == before
    assert _held(workspace, order) == {"product": D("36.00"), "shipping": D("10.00")}


def test_after_submission_the_edit_is_flagged_once_never_applied(
    workspace, owner, apply, catalog, mailoutbox
):
    order = _paid_order(workspace, apply, _line("MUG-11", 1))
    with scope(workspace=workspace):
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    mailoutbox.clear()
    order = apply(_version(1, _line("MUG-11", 4)))
    apply(_version(2, _line("MUG-11", 4)))  # a later version with the same change
    with scope(workspace=workspace):
        order.refresh_from_db()
        flags = OrderEvent.objects.filter(order=order,
                                          type="order.store_change_after_submission")
        assert LineItem.objects.get(order=order).quantity == 1
    assert order.state == S.IN_PRODUCTION
    assert order.needs_attention == "Changed in the store after it went to production."
    assert flags.count() == 1
    assert "Mug × 1 → × 4" in flags.get().message
    assert len(mailoutbox) == 1


# --- any sequence of edits ----------------------------------------------------------------

edits = st.lists(st.tuples(st.sampled_from(["MUG-11", "MUG-15", "PLAQUE"]),
                           st.integers(0, 12), st.booleans()), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=edits)
def test_any_edit_sequence_keeps_the_holds_equal_to_the_price(sequence, mug15, catalog,
                                                               django_capture_on_commit_callbacks):
    """held = the price of the current lines + shipping, or nothing held at all; and every
    ledger invariant holds after each edit."""
    ws = WorkspaceFactory()
    shop = StoreFactory(workspace=ws, platform=Platform.SHOPIFY)
    with scope(workspace=ws):
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=D("150.00"),
                      key=f"fund:{ws.pk}")

    def apply(data):
        with scope(workspace=ws), django_capture_on_commit_callbacks(execute=True):
            order, _ = order_services.order_import(workspace=ws, store=shop, data=data,
                                                   actor=STORE, now=T0)
            order.refresh_from_db()
        return order

    order = apply(_version(0, _line("MUG-11", 1)))
    with scope(workspace=ws):
        payments.orders_pay(workspace=ws, order_ids=[order.pk], shipping_methods=None,
                            key="p0")
    for i, (sku, quantity, second) in enumerate(sequence, start=1):
        lines = [_line(sku, quantity, 0)] if quantity else []
        if second:
            lines.append(_line("MUG-11", 1, 1))
        if not lines:
            lines = [{**_line(sku, 1, 0), "fulfilled_quantity": 1}]
        order = apply(_version(i, *lines))
        with scope(workspace=ws):
            # what billing's doorbell does after a cancel
            payments.order_charge_sync(workspace_id=ws.pk, order_id=order.pk)
            assert_invariants(ws)
            held = sum(Hold.objects.filter(order=order, is_open=True).values_list(
                "amount", flat=True), D(0)) - sum(
                (h.captured_amount + h.released_amount for h in Hold.objects.filter(
                    order=order, is_open=True)), D(0))
            if order.state == S.AWAITING_SUBMISSION:
                price = payments.pricing.quote(order, "standard")
                assert not price.problem
                assert held == price.total
                assert OrderCharge.objects.get(order=order).total_amount == price.total
            else:
                assert held == 0
            if order.state == S.TO_ORDER and order.store_paid:
                # a paid order that went back may be paid again when the balance allows
                with contextlib.suppress(ledger.InsufficientFunds):
                    payments.orders_pay(workspace=ws, order_ids=[order.pk],
                                        shipping_methods=None, key=f"p{i}")
        if order.state == S.CANCELLED:
            break
