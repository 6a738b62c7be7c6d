"""Captures after a burst of order moves: one doorbell per workspace, not one per order.

The submit sweep moves orders into production by the hundred; billing's subscriber
rings one `order_charges_sync_task` while one is waiting, and that task captures
every order of the workspace that moved (podhub/core/doorbell.py)."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django_scopes import scope

from billing import handlers, ledger, payments, tasks
from billing.models import Account, EntryKind, LedgerEntry
from orders import services as order_services
from orders.events import Actor
from podhub.core import doorbell

D = Decimal
pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self):
        self.calls = []

    def follow_up(self, **kwargs):
        self.calls.append(kwargs)


def test_ring_once_sends_one_task_until_it_is_answered():
    task, key = Recorder(), "test:ring-once"
    cache.delete(doorbell.PREFIX + key)
    assert doorbell.ring_once(task, key=key, workspace_id=1) is True
    assert doorbell.ring_once(task, key=key, workspace_id=1) is False
    assert task.calls == [{"workspace_id": 1}]
    doorbell.answered(key)  # the task started: what commits now needs a new ring
    assert doorbell.ring_once(task, key=key, workspace_id=1) is True
    assert len(task.calls) == 2


def test_without_a_cache_every_ring_sends(monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(doorbell.cache, "add", down)
    task = Recorder()
    assert doorbell.ring_once(task, key="test:down", workspace_id=1)
    assert doorbell.ring_once(task, key="test:down", workspace_id=1)
    assert len(task.calls) == 2


def test_a_burst_of_submits_rings_once_and_the_task_captures_them_all(
        workspace, make_order, monkeypatch, django_capture_on_commit_callbacks,
        swap_subscribed_task):
    # given three paid orders (12 product + 6 shipping each) on a 100.00 balance
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100.00"),
                      key=f"fund:{workspace.pk}")
        orders = [make_order(workspace, 1) for _ in range(3)]
        payments.orders_pay(workspace=workspace, order_ids=[o.pk for o in orders],
                            shipping_methods=None, key="burst")
    cache.delete(doorbell.PREFIX + handlers.charges_doorbell(workspace.pk))
    rung = swap_subscribed_task(tasks.order_charges_sync_task)
    # when all three go into production (each its own commit, subscribers after it)
    with scope(workspace=workspace):
        for order in orders:
            with django_capture_on_commit_callbacks(execute=True):
                order_services.order_submit(order_id=order.pk, actor=Actor.system("test"))
        # then one doorbell was rung for the workspace, and nothing is captured yet
        assert rung.calls == [{"workspace_id": workspace.pk}]
        assert Account.objects.get().held_amount == D("54.00")
    monkeypatch.undo()
    # when the task runs, it captures the product cost of all three
    assert tasks.order_charges_sync_task(workspace_id=workspace.pk) == 3
    with scope(workspace=workspace):
        acct = Account.objects.get()
        assert (acct.balance_amount, acct.held_amount) == (D("64.00"), D("18.00"))
        assert LedgerEntry.objects.filter(kind=EntryKind.CAPTURE).count() == 3
    # and a later move rings again (the task answered the doorbell)
    calls = swap_subscribed_task(tasks.order_charges_sync_task)
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_mark_shipped(order_id=orders[0].pk, actor=Actor.system("test"))
    assert calls.calls == [{"workspace_id": workspace.pk}]


def test_the_task_leaves_other_workspaces_alone(workspace, other_workspace, make_order):
    with scope(workspace=other_workspace):
        ledger.credit(workspace_id=other_workspace.pk, kind=EntryKind.TOP_UP,
                      amount=D("50.00"), key=f"fund:{other_workspace.pk}")
        theirs = make_order(other_workspace, 1)
        payments.orders_pay(workspace=other_workspace, order_ids=[theirs.pk],
                            shipping_methods=None, key="theirs")
        order_services.order_submit(order_id=theirs.pk, actor=Actor.system("test"))
    assert tasks.order_charges_sync_task(workspace_id=workspace.pk) == 0
    with scope(workspace=other_workspace):
        assert Account.objects.get().held_amount == D("18.00")  # still held: not ours
