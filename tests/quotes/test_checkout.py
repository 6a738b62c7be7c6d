"""Made-to-order checkout (issue 17, item 4; quotes/checkout.py, docs/pricing.md): the
seller orders from the catalog — single, mini-bulk and bulk priced by the variant's
tiers — chooses stamps on a product's first order, confirms the specifications, gets an
order number and the specifications by e-mail, and the order waits for payment; with
the workspace's setting it goes to production as soon as it is paid.

The catalog is tests/quotes/conftest.py's (docs/pricing.md's worked examples).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope

from billing import ledger, payments
from billing.models import EntryKind
from orders.models import Order, OrderState
from podhub.core.exceptions import ValidationFailed
from podhub.core.models import OutgoingEmail
from quotes.checkout import CheckoutLine, catalog_order_place, checkout_draft
from quotes.models import CatalogOrder, SetupFeeCharge, Stamps, StampsChoice

pytestmark = pytest.mark.django_db

ADDRESS = {"name": "Ana Lima", "address1": "1 Main St", "city": "Springfield", "zip": "62701",
           "province": "IL", "country_code": "US"}
BILLING = {"name": "Acme Prints LLC", "address1": "9 Market St", "city": "Chicago",
           "zip": "60601", "province": "IL", "country_code": "US"}


@pytest.fixture
def made_in_house(catalog):
    """The white mug is made by an in-house provider (submitted without a network)."""
    from quotes.models import VariantProvider
    from tests.fulfillment.fulfillment_support import make_provider

    VariantProvider.objects.create(variant=catalog.mug_white,
                                   provider=make_provider("house", kind="own"),
                                   provider_sku="H-MUG", base_cost_amount=Decimal("3.00"))


def _place(workspace, owner, lines, **kw):
    kw.setdefault("confirmed", True)
    with scope(workspace=workspace):
        return catalog_order_place(workspace=workspace, by=owner, lines=lines,
                                   shipping_address=kw.pop("shipping", ADDRESS), **kw)


def test_the_price_per_item_follows_the_tiers_as_the_quantity_changes(workspace, catalog):
    def unit(quantity):
        with scope(workspace=workspace):
            draft = checkout_draft(workspace=workspace, country_code="US", lines=[
                CheckoutLine(variant_id=catalog.mug_white.pk, quantity=quantity)])
        line = draft.breakdown.lines[0]
        return line.unit_price, line.tier

    assert unit(1) == (Decimal("8.00"), "")  # single
    assert unit(10) == (Decimal("7.00"), "10-49 mini-bulk")
    assert unit(50) == (Decimal("6.00"), "50+ bulk")


def test_a_mini_bulk_order_is_placed_with_its_specifications_and_waits_for_payment(
        workspace, owner, catalog):
    order = _place(workspace, owner, [CheckoutLine(variant_id=catalog.mug_white.pk,
                                                   quantity=12, personalization="Ana")],
                   billing_address=BILLING)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.number.startswith("MTO-")
        assert order.channel == "catalog"
        assert order.state == OrderState.TO_ORDER  # "To order": pay it
        line = order.line_items.get()
        assert (line.catalog_variant_id, line.quantity, line.sku) == (
            catalog.mug_white.pk, 12, "MUG11-WHITE")
        assert line.personalization == [{"key": "Text", "value": "Ana"}]
        spec = CatalogOrder.objects.get(order=order)
    assert spec.billing_address["name"] == "Acme Prints LLC"
    assert spec.confirmed_by == owner.user
    assert spec.specifications["lines"][0] | {"unit_price": "7.00", "quantity": 12,
                                              "tier": "10-49 mini-bulk"} == \
        spec.specifications["lines"][0]
    # 12 × 7.00 + shipping 5.00 + 11 × 2.00 + handling 1.00
    assert spec.specifications["total"] == "112.00"
    mail = OutgoingEmail.objects.get(subject=f"[PodHub] Order {order.number}: specifications")
    assert mail.to == ["owner@acme.test"]
    assert "12 × Mug 11 oz (White, MUG11-WHITE) at $7.00 each (10-49 mini-bulk)" in mail.body
    assert "print: “Ana”" in mail.body
    assert "Bill to: Acme Prints LLC, 9 Market St" in mail.body
    assert "Total: $112.00" in mail.body
    assert f"/orders/{order.pk}/" in mail.body


def test_nothing_is_placed_without_confirming_the_specifications(workspace, owner, catalog):
    with pytest.raises(ValidationFailed) as refused:
        _place(workspace, owner, [CheckoutLine(variant_id=catalog.mug_white.pk, quantity=1)],
               confirmed=False)
    assert "confirm" in refused.value.detail["fields"]
    with scope(workspace=workspace):
        assert not Order.objects.exists()
    assert not OutgoingEmail.objects.exists()


@pytest.mark.parametrize(("lines", "field"), [
    ([], "lines"),
    ([CheckoutLine(variant_id=999_999, quantity=1)], "lines.0.variant"),
    ([CheckoutLine(variant_id=None, quantity=0)], "lines.0.quantity"),
])
def test_bad_items_are_refused_with_the_reason(workspace, owner, catalog, lines, field):
    with pytest.raises(ValidationFailed) as refused:
        _place(workspace, owner, lines)
    assert field in refused.value.detail["fields"]
    with scope(workspace=workspace):
        assert not Order.objects.exists()


def test_a_private_product_of_another_workspace_cannot_be_ordered(workspace, owner, catalog,
                                                                   other_workspace):
    catalog.stamp.made_for_workspace = other_workspace
    catalog.stamp.save()
    with pytest.raises(ValidationFailed) as refused:
        _place(workspace, owner, [CheckoutLine(variant_id=catalog.stamp_40.pk, quantity=1)],
               stamps={catalog.stamp.pk: Stamps.UNLABELED})
    assert "lines.0.variant" in refused.value.detail["fields"]


def test_the_first_order_of_a_product_with_stamps_asks_unlabeled_or_custom(
        workspace, owner, catalog):
    stamp = [CheckoutLine(variant_id=catalog.stamp_40.pk, quantity=2)]
    with scope(workspace=workspace):
        draft = checkout_draft(workspace=workspace, lines=stamp, country_code="US")
    assert draft.stamps_needed == [catalog.stamp]
    with pytest.raises(ValidationFailed) as refused:
        _place(workspace, owner, stamp)
    assert refused.value.detail["fields"] == {f"stamps.{catalog.stamp.pk}": (
        "Custom stamp: choose “Unlabeled” or “Develop custom stamps” (a one-time fee of "
        "$30.00).")}

    order = _place(workspace, owner, stamp, stamps={catalog.stamp.pk: Stamps.UNLABELED})
    with scope(workspace=workspace):
        choice = StampsChoice.objects.get(product=catalog.stamp)
        assert (choice.choice, choice.chosen_by) == (Stamps.UNLABELED, owner.user)
        spec = CatalogOrder.objects.get(order=order).specifications
        assert spec["setup_fees"] == [{"product": "Custom stamp", "amount": "0",
                                       "stamps": "unlabeled"}]
        # remembered: the next order asks nothing and pays no fee
        again = checkout_draft(workspace=workspace, lines=stamp, country_code="US")
        assert again.stamps_needed == []
        assert again.breakdown.setup_total == 0


def test_custom_stamps_charge_the_fee_once_at_payment(workspace, owner, catalog):
    stamp = [CheckoutLine(variant_id=catalog.stamp_40.pk, quantity=1)]
    first = _place(workspace, owner, stamp, stamps={catalog.stamp.pk: Stamps.CUSTOM})
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("500"), key="fund")
        payments.orders_pay(workspace=workspace, order_ids=[first.pk], shipping_methods=None,
                            key="first")
        assert SetupFeeCharge.objects.get(product=catalog.stamp).amount == Decimal("30.00")
        draft = checkout_draft(workspace=workspace, lines=stamp, country_code="US")
    assert draft.stamps_needed == []  # the fee is paid: nothing to choose
    assert draft.breakdown.setup_total == 0


def test_a_store_order_of_an_unlabeled_product_pays_no_setup_fee(workspace, owner, catalog,
                                                                  store, import_order):
    _place(workspace, owner, [CheckoutLine(variant_id=catalog.stamp_40.pk, quantity=1)],
           stamps={catalog.stamp.pk: Stamps.UNLABELED})
    order = import_order(workspace, store, ("STAMP-40", 1))
    with scope(workspace=workspace):
        from quotes.pricing import price_order

        bd = price_order(order=order)
    assert [(f.amount, f.unlabeled) for f in bd.setup_fees] == [(Decimal("0"), True)]


@pytest.mark.parametrize("launch", [True, False])
def test_a_paid_catalog_order_goes_to_production_at_once_when_the_workspace_asks(
        workspace, owner, catalog, made_in_house, launch, django_capture_on_commit_callbacks):
    workspace.launch_catalog_orders = launch
    workspace.save()
    order = _place(workspace, owner, [CheckoutLine(variant_id=catalog.mug_white.pk,
                                                   quantity=1)])
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100"), key="fund")
        with django_capture_on_commit_callbacks(execute=True):
            payments.orders_pay(workspace=workspace, order_ids=[order.pk],
                                shipping_methods=None, key="pay")
        order.refresh_from_db()
        if launch:  # the order.paid subscriber submitted it, no "Submit now"
            assert order.submitted_at is not None
            assert order.state != OrderState.AWAITING_SUBMISSION
            assert order.events.filter(type="order.submitted",
                                       actor_label="Launched when paid").exists()
        else:  # like any order entered by hand: it waits for "Submit now"
            assert order.state == OrderState.AWAITING_SUBMISSION
            assert order.submit_at is None


def test_the_submit_sweep_launches_a_paid_catalog_order_whose_task_was_lost(
        workspace, owner, catalog, made_in_house):
    from fulfillment.submission import launch_sweep

    workspace.launch_catalog_orders = True
    workspace.save()
    order = _place(workspace, owner, [CheckoutLine(variant_id=catalog.mug_white.pk,
                                                   quantity=1)])
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100"), key="fund")
        payments.orders_pay(workspace=workspace, order_ids=[order.pk],  # no commit hooks:
                            shipping_methods=None, key="pay")           # the task is lost
        order.refresh_from_db()
        assert order.state == OrderState.AWAITING_SUBMISSION
    now = timezone.now()
    assert launch_sweep(now=now) == 0  # paid just now: its task may still come
    assert launch_sweep(now=now + timedelta(minutes=2)) == 1
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.submitted_at is not None
    assert launch_sweep(now=now + timedelta(minutes=3)) == 0


def test_a_store_order_is_never_launched_by_the_catalog_setting(workspace, catalog, store,
                                                                 import_order):
    workspace.launch_catalog_orders = True
    workspace.save()
    order = import_order(workspace, store, ("MUG11-WHITE", 1))
    from quotes.checkout import launches_when_paid

    with scope(workspace=workspace):
        assert launches_when_paid(order) is False


def test_a_catalog_order_nobody_makes_is_held_with_the_reason_not_retried(
        workspace, owner, catalog, django_capture_on_commit_callbacks):
    """No provider makes the white mug here: launching holds it, as the submit sweep
    would, and the sweep does not try again every minute."""
    from fulfillment.submission import launch_sweep

    workspace.launch_catalog_orders = True
    workspace.save()
    order = _place(workspace, owner, [CheckoutLine(variant_id=catalog.mug_white.pk,
                                                   quantity=1)])
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100"), key="fund")
        with django_capture_on_commit_callbacks(execute=True):
            payments.orders_pay(workspace=workspace, order_ids=[order.pk],
                                shipping_methods=None, key="pay")
        order.refresh_from_db()
    assert order.state == OrderState.ON_HOLD
    assert "no provider makes it for US" in order.hold_message
    assert launch_sweep(now=timezone.now() + timedelta(minutes=5)) == 0
