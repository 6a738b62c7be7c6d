"""Each parcel shipped captures its share of the order's shipping; the order's own
shipped capture takes the rest; replays and late parcels change nothing."""

from decimal import Decimal

import pytest
from django_scopes import scope

from billing import ledger, payments, tasks
from billing.models import Account, EntryKind, Hold, LedgerEntry
from orders import services as order_services
from orders.events import Actor
from orders.models import LineItem

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_mode")]
SYSTEM = Actor.system("test")


def _paid_two_mug_order(workspace, make_order):
    """Two mugs: product 24.00 and shipping 5 + 2 + 1 handling = 8.00 held."""
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100.00"),
                      key=f"fund:{workspace.pk}")
        order = make_order(workspace, 2)
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key="parcels")
        order_services.order_submit(order_id=order.pk, actor=SYSTEM)
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)
    return order


def _parcel(order, shipment_id: int, quantity: int):
    line = LineItem.objects.get(order=order)
    return order_services.record_event(
        order=order, type="shipment.shipped", actor=SYSTEM,
        data={"shipment_id": shipment_id, "carrier": "USPS", "number": f"9400{shipment_id}",
              "line_items": [{"line_item_id": line.pk, "quantity": quantity}]})


def _shipping(workspace) -> tuple[Decimal, bool]:
    hold = Hold.objects.get(purpose="shipping")
    return hold.captured_amount, hold.is_open


def test_two_parcels_each_capture_their_share(workspace, make_order):
    order = _paid_two_mug_order(workspace, make_order)
    with scope(workspace=workspace):
        assert _shipping(workspace) == (D("0.00"), True)
        # the first parcel carries one of the two mugs: half the shipping
        first = _parcel(order, 1, 1)
        entry = payments.shipment_shipping_capture(workspace_id=workspace.pk,
                                                   order_event_id=first.pk)
        assert entry.amount == D("4.00")
        assert _shipping(workspace) == (D("4.00"), True)
        # a replay of the same event captures nothing more
        payments.shipment_shipping_capture(workspace_id=workspace.pk, order_event_id=first.pk)
        assert _shipping(workspace) == (D("4.00"), True)
        # the second parcel ships: the order is shipped and its capture takes the rest
        second = _parcel(order, 2, 1)
        order_services.order_mark_shipped(order_id=order.pk, actor=SYSTEM)
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)
        assert _shipping(workspace) == (D("8.00"), False)
        # the second parcel's own task, arriving late, finds nothing left
        assert payments.shipment_shipping_capture(
            workspace_id=workspace.pk, order_event_id=second.pk) is None
        acct = Account.objects.get()
        assert (acct.balance_amount, acct.held_amount) == (D("68.00"), D("0.00"))
        captures = LedgerEntry.objects.filter(kind=EntryKind.CAPTURE, order=order)
        assert sorted(captures.values_list("amount", flat=True)) == [
            D("4.00"), D("4.00"), D("24.00")]


def test_the_subscriber_rings_the_parcel_capture(workspace, make_order,
                                                 django_capture_on_commit_callbacks,
                                                 swap_subscribed_task):
    order = _paid_two_mug_order(workspace, make_order)
    sent = swap_subscribed_task(tasks.shipment_capture_task)
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        event = _parcel(order, 7, 2)
    assert sent.calls == [{"workspace_id": workspace.pk, "event_id": event.pk,
                           "type": "shipment.shipped"}]
