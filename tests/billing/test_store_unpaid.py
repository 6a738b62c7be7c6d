"""An order the buyer has not paid the store for cannot be paid here; auto-pay waits for it."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django_scopes import scope

from billing import ledger, payments
from billing.models import Account, EntryKind, Hold, OrderCharge, Payment
from orders import services as order_services
from orders.events import Actor
from orders.models import Order, OrderEvent
from orders.services import StoreUnpaid

D = Decimal
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_mode")]


def fund(workspace, amount):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D(amount),
                      key=f"fund:{workspace.pk}:{amount}")


def pay(workspace, orders, key="k1"):
    with scope(workspace=workspace):
        return payments.orders_pay(workspace=workspace, order_ids=[o.pk for o in orders],
                                   shipping_methods=None, key=key)


def nothing_held(workspace):
    with scope(workspace=workspace):
        return (not Hold.objects.exists() and not Payment.objects.exists()
                and Account.objects.get().held_amount == 0)


def store_reports_paid(workspace, order, *, updated_at=T0):
    """The store's 'paid' through orders.services.order_import: an older version of
    the order that says only that it is paid (its other fields are ignored)."""
    data = {"external_id": order.external_id, "number": order.number, "store_paid": True,
            "updated_at": updated_at.isoformat(),
            "shipping_address": order.shipping_address,
            "line_items": [{"sku": "MUG-11", "title": "Mug", "unit_price": "12.00"}]}
    return order_services.order_import(workspace=workspace, store=order.store, data=data,
                                       actor=Actor.store("Shopify"))


def test_paying_an_order_the_buyer_has_not_paid_is_refused(workspace, make_order):
    fund(workspace, "100.00")
    order = make_order(workspace, 1, store_paid=False)
    with pytest.raises(StoreUnpaid) as err:
        pay(workspace, [order])
    assert err.value.code == "store_unpaid"
    assert err.value.detail["order_id"] == order.pk
    assert nothing_held(workspace)


def test_bulk_pay_refuses_the_whole_batch_naming_the_unpaid_order(workspace, make_order):
    fund(workspace, "100.00")
    a, c = make_order(workspace, 1), make_order(workspace, 1)
    b = make_order(workspace, 1, store_paid=False, store_updated_at=T1)
    with pytest.raises(StoreUnpaid) as err:
        pay(workspace, [a, b, c])
    assert b.number in err.value.message and a.number not in err.value.message
    assert nothing_held(workspace)
    with scope(workspace=workspace):
        assert set(Order.objects.values_list("state", flat=True)) == {"to_order"}
        assert not OrderEvent.objects.filter(type="order.paid").exists()
    # once the store reports it paid, the same batch goes through
    with scope(workspace=workspace):
        store_reports_paid(workspace, b)
    payment = pay(workspace, [a, b, c], key="k2")
    with scope(workspace=workspace):
        assert payment.charges.count() == 3


def test_review_shows_why_and_the_confirmation_is_refused(owner, client_for, workspace,
                                                          make_order):
    fund(workspace, "100.00")
    paid, unpaid = make_order(workspace, 1), make_order(workspace, 1, store_paid=False)
    seller = client_for(owner)
    choose = seller.get("/pay/").content.decode()
    assert f'value="{paid.pk}"' in choose and f'value="{unpaid.pk}"' not in choose
    assert "Waiting for the buyer's payment in the store" in choose
    review = seller.get("/pay/", {"orders": [paid.pk, unpaid.pk]}).content.decode()
    assert f"Order {unpaid.number} is waiting for the buyer&#x27;s payment" in review
    assert 'data-testid="confirm-pay" disabled' in review
    resp = seller.post("/pay/", {"orders": [paid.pk, unpaid.pk], "key": "x1",
                                 "expected_total": "36.00"})
    assert resp.status_code == 409
    assert f"Order {unpaid.number} is waiting for the buyer" in resp.content.decode()
    assert nothing_held(workspace)
    panel = seller.get(f"/balance/orders/{unpaid.pk}/panel/").content.decode()
    assert "waiting for the buyer's payment in the store" in panel
    assert f"/pay/?orders={unpaid.pk}" not in panel


def test_pay_api_is_409_store_unpaid(owner, api_client_for, workspace, make_order):
    fund(workspace, "100.00")
    paid, unpaid = make_order(workspace, 1), make_order(workspace, 1, store_paid=False)
    resp = api_client_for(owner).post(
        "/api/v1/payments/", {"order_ids": [paid.pk, unpaid.pk], "key": "a1"}, format="json")
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert error["code"] == "store_unpaid" and error["order_id"] == unpaid.pk
    assert unpaid.number in error["message"]
    assert nothing_held(workspace)


def test_auto_pay_waits_for_the_store_payment_then_pays(
        workspace, make_order, celery_eager, django_capture_on_commit_callbacks):
    from tests.factories import StoreFactory

    fund(workspace, "50.00")
    store = StoreFactory(workspace=workspace, auto_pay=True)
    order = make_order(workspace, 1, store=store, store_paid=False, store_updated_at=T1)
    with scope(workspace=workspace):
        # priced (to_order) in an auto-pay store, but the buyer has not paid the store
        assert payments.order_auto_pay(workspace=workspace, order_id=order.pk) is None
        # a top-up retries every waiting order of the store: still not this one
        assert payments.auto_pay_for_event(workspace_id=workspace.pk, order_event_id=None) == 0
        assert not OrderCharge.objects.exists()
        # orders/paid: store_paid flips (order.store_paid) and auto-pay pays it
        with django_capture_on_commit_callbacks(execute=True):
            store_reports_paid(workspace, order)
        assert OrderEvent.objects.filter(order=order, type="order.store_paid").exists()
        assert OrderEvent.objects.filter(order=order, type="order.paid").exists()
        assert Payment.objects.get().auto is True
