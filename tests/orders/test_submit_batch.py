"""orders_submit_locked: order_submit for a batch the caller has locked (the submit sweep)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django_scopes import scope

from orders import events, services
from orders.events import Actor
from orders.models import Order, OrderEvent, OrderState, Platform
from orders.services import IllegalTransition, NewEvent
from tests.factories import StoreFactory
from tests.orders.service_data import SYSTEM, T0, order_at

S = OrderState
NOW = T0 + timedelta(hours=1)
SWEEP = Actor.system("Submit countdown")


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def heard(monkeypatch):
    """The subscribers' calls, in order (other apps' subscribers are theirs to test)."""
    calls: list[tuple[int, int, str]] = []

    class Heard:
        @staticmethod
        def follow_up(*, event_id, workspace_id, type):
            transaction.on_commit(lambda: calls.append((event_id, workspace_id, type)))

    monkeypatch.setattr(events, "_subscriptions", [events.Subscription(
        task=Heard, types=frozenset(events.OrderEvents))])
    return calls


def _locked(ids):
    return list(Order.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))


def _timeline(order):
    return [(e.type, e.from_state, e.to_state, e.actor_type, e.actor_label, e.message)
            for e in OrderEvent.objects.filter(order=order).order_by("created_at", "pk")]


def test_a_batch_moves_stamps_and_writes_one_event_each(
        workspace, store, heard, django_capture_on_commit_callbacks, django_assert_num_queries):
    with scope(workspace=workspace):
        due = [order_at(workspace, store, S.AWAITING_SUBMISSION) for _ in range(3)]
        heard.clear()
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            locked = _locked([o.pk for o in due])
            with django_assert_num_queries(2):  # one UPDATE, one INSERT for the batch
                result = services.orders_submit_locked(orders=locked, actor=SWEEP, now=NOW)
            assert heard == []  # nobody hears of it before the commit
        assert [o.pk for o in result.moved] == [o.pk for o in due]
        assert result.refused == {} and result.unchanged == []
        assert all(o.state == S.IN_PRODUCTION and o.submitted_at == NOW for o in locked)
        for order in due:
            order.refresh_from_db()
            assert order.state == S.IN_PRODUCTION
            assert order.submitted_at == NOW and order.is_locked
            assert _timeline(order)[-1] == ("order.submitted", S.AWAITING_SUBMISSION,
                                            S.IN_PRODUCTION, "system", "Submit countdown",
                                            "Submitted to production.")
            assert OrderEvent.objects.filter(order=order, type="order.submitted").count() == 1
        submitted = list(OrderEvent.objects.filter(type="order.submitted",
                                                   order__in=due).order_by("pk"))
    # after commit: every subscriber once per event, in order
    assert heard == [(e.pk, workspace.pk, "order.submitted") for e in submitted]


def test_the_timeline_is_the_one_order_submit_writes(workspace, store, heard):
    with scope(workspace=workspace):
        one = order_at(workspace, store, S.AWAITING_SUBMISSION)
        other = order_at(workspace, store, S.AWAITING_SUBMISSION)
        services.order_submit(order_id=one.pk, actor=SWEEP, now=NOW)
        with transaction.atomic():
            services.orders_submit_locked(orders=_locked([other.pk]), actor=SWEEP, now=NOW)
        one.refresh_from_db()
        other.refresh_from_db()
        assert _timeline(one) == _timeline(other)
        assert (one.state, one.submitted_at) == (other.state, other.submitted_at)


def test_an_order_in_another_state_is_refused_and_the_others_still_move(
        workspace, store, heard, django_capture_on_commit_callbacks):
    with scope(workspace=workspace):
        due = order_at(workspace, store, S.AWAITING_SUBMISSION)
        held = order_at(workspace, store, S.ON_HOLD, held_from=S.AWAITING_SUBMISSION)
        unpaid = order_at(workspace, store, S.TO_ORDER)
        done = order_at(workspace, store, S.IN_PRODUCTION)
        before = {o.pk: _timeline(o) for o in (held, unpaid, done)}
        # what order_submit says for each (and changes nothing)
        expected = {}
        for order in (held, unpaid):
            with pytest.raises(IllegalTransition) as caught:
                services.order_submit(order_id=order.pk, actor=SWEEP, now=NOW)
            expected[order.pk] = (caught.value.message, caught.value.detail)
        heard.clear()
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            result = services.orders_submit_locked(
                orders=_locked([due.pk, held.pk, unpaid.pk, done.pk]), actor=SWEEP, now=NOW)
        assert [o.pk for o in result.moved] == [due.pk]
        assert [o.pk for o in result.unchanged] == [done.pk]  # a replay changes nothing
        assert {pk: (exc.message, exc.detail) for pk, exc in result.refused.items()} == expected
        assert "on hold" in result.refused[held.pk].message
        for order, state in ((due, S.IN_PRODUCTION), (held, S.ON_HOLD), (unpaid, S.TO_ORDER),
                             (done, S.IN_PRODUCTION)):
            order.refresh_from_db()
            assert order.state == state
        for order in (held, unpaid, done):
            assert _timeline(order) == before[order.pk]
        assert held.submitted_at is None and unpaid.submitted_at is None
        assert done.submitted_at == T0  # not stamped again
    assert [t for _, _, t in heard] == ["order.submitted"]


def test_record_events_is_one_insert_and_tells_subscribers_after_commit(
        workspace, store, heard, django_capture_on_commit_callbacks, django_assert_num_queries):
    with scope(workspace=workspace):
        a = order_at(workspace, store, S.IN_PRODUCTION)
        b = order_at(workspace, store, S.IN_PRODUCTION)
        heard.clear()
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            with django_assert_num_queries(1):
                made = services.record_events([
                    NewEvent(order=a, type="fulfillment.accepted", actor=Actor.provider("F"),
                             message="F accepted PH1-1 as X1.", data={"reference": "PH1-1"}),
                    NewEvent(order=b, type="fulfillment.accepted", actor=SYSTEM,
                             message="F accepted PH2-1 as X2.")])
            assert heard == []
        assert [e.pk for e in made] == sorted(e.pk for e in made)
        row = OrderEvent.objects.get(pk=made[0].pk)
        assert (row.order_id, row.type, row.actor_type, row.actor_label, row.data) == (
            a.pk, "fulfillment.accepted", "provider", "F", {"reference": "PH1-1"})
        assert OrderEvent.objects.get(pk=made[1].pk).data == {}
    assert heard == [(e.pk, workspace.pk, "fulfillment.accepted") for e in made]


def test_a_rolled_back_batch_tells_nobody(workspace, store, heard,
                                          django_capture_on_commit_callbacks):
    with scope(workspace=workspace):
        due = order_at(workspace, store, S.AWAITING_SUBMISSION)
        heard.clear()
        def failing_batch():
            with transaction.atomic():
                services.orders_submit_locked(orders=_locked([due.pk]), actor=SWEEP, now=NOW)
                raise RuntimeError("the sweep's batch failed")

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            failing_batch()
        due.refresh_from_db()
        assert due.state == S.AWAITING_SUBMISSION
        assert not OrderEvent.objects.filter(order=due, type="order.submitted").exists()
    assert heard == []
