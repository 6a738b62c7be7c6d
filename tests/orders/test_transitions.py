"""Every arrow of docs/orders.md's lifecycle through its service; every illegal one refused."""

from datetime import time, timedelta

import pytest
from django_scopes import scope

from orders import events, services
from orders.events import Actor
from orders.models import (
    CancelReason,
    HoldReason,
    OrderEvent,
    OrderState,
    Platform,
    SubmitMode,
)
from orders.services import IllegalTransition
from podhub.core.exceptions import ValidationFailed
from tests.factories import StoreFactory, UserFactory
from tests.orders.service_data import SYSTEM, T0, order_at

S = OrderState


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def only_orders_subscribers(monkeypatch):
    """Run on-commit work of orders alone: other apps' event subscribers are theirs to test."""
    monkeypatch.setattr(events, "_subscriptions", [])


@pytest.fixture
def staff(db):
    return Actor.staff(UserFactory(email="staff@podhub.test", is_staff=True))


def _seller_cancel(o):
    return services.order_cancel(order_id=o.pk, reason=CancelReason.SELLER,
                                 actor=Actor.seller(None), now=T0)


ACTIONS = {
    "mark_priced": lambda o: services.order_mark_priced(order_id=o.pk, actor=SYSTEM, now=T0),
    "mark_paid": lambda o: services.order_mark_paid(order_id=o.pk, actor=SYSTEM, now=T0),
    "submit": lambda o: services.order_submit(order_id=o.pk, actor=SYSTEM, now=T0),
    "mark_shipped": lambda o: services.order_mark_shipped(order_id=o.pk, actor=SYSTEM, now=T0),
    "complete": lambda o: services.order_complete(order_id=o.pk, actor=SYSTEM, now=T0),
    "hold": lambda o: services.order_hold(order_id=o.pk, reason=HoldReason.PREFLIGHT,
                                          message="Print file is 72 DPI", actor=SYSTEM, now=T0),
    "seller_cancel": _seller_cancel,
    "staff_cancel": lambda o: services.order_cancel(order_id=o.pk, reason=CancelReason.STAFF,
                                                    actor=Actor.staff(None), now=T0),
    "release": lambda o: services.order_release_hold(order_id=o.pk, actor=SYSTEM, now=T0),
}

# (state, action) -> the state it ends in; "same" = a replay that changes nothing;
# anything not listed must raise IllegalTransition and change nothing.
LEGAL = {
    (S.IN_QUOTATION, "mark_priced"): S.TO_ORDER,
    (S.TO_ORDER, "mark_paid"): S.AWAITING_SUBMISSION,
    (S.AWAITING_SUBMISSION, "submit"): S.IN_PRODUCTION,
    (S.IN_PRODUCTION, "mark_shipped"): S.SHIPPED,
    (S.SHIPPED, "complete"): S.COMPLETED,
    **{(st, "hold"): S.ON_HOLD for st in (S.IN_QUOTATION, S.TO_ORDER, S.AWAITING_SUBMISSION,
                                           S.IN_PRODUCTION, S.ON_HOLD)},
    **{(st, "seller_cancel"): S.CANCELLED for st in (S.IN_QUOTATION, S.TO_ORDER,
                                                     S.AWAITING_SUBMISSION, S.ON_HOLD)},
    **{(st, "staff_cancel"): S.CANCELLED for st in (S.IN_QUOTATION, S.TO_ORDER,
                                                    S.AWAITING_SUBMISSION, S.IN_PRODUCTION,
                                                    S.ON_HOLD)},
    (S.ON_HOLD, "release"): S.TO_ORDER,  # order_at holds from to_order
    # replays: already there, nothing happens
    (S.TO_ORDER, "mark_priced"): "same",
    (S.AWAITING_SUBMISSION, "mark_paid"): "same",
    (S.IN_PRODUCTION, "submit"): "same",
    (S.SHIPPED, "mark_shipped"): "same",
    (S.COMPLETED, "complete"): "same",
    (S.CANCELLED, "seller_cancel"): "same",
    (S.CANCELLED, "staff_cancel"): "same",
}


@pytest.mark.parametrize("state", S.values)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_service_moves_only_along_the_table(workspace, store, state, action):
    with scope(workspace=workspace):
        # given an order brought to `state` through the services
        order = order_at(workspace, store, state)
        events_before = OrderEvent.objects.filter(order=order).count()
        expected = LEGAL.get((state, action))
        if expected is None:
            # when the action is not in the table, then it is refused with the current state
            with pytest.raises(IllegalTransition) as caught:
                ACTIONS[action](order)
            assert caught.value.detail["current_state"] == state
            assert caught.value.status == 409
            order.refresh_from_db()
            assert order.state == state
            assert OrderEvent.objects.filter(order=order).count() == events_before
        elif expected == "same":
            ACTIONS[action](order)
            order.refresh_from_db()
            assert order.state == state
            assert OrderEvent.objects.filter(order=order).count() == events_before
        else:
            ACTIONS[action](order)
            order.refresh_from_db()
            assert order.state == expected
            last = OrderEvent.objects.filter(order=order).latest("created_at", "id")
            assert (last.from_state, last.to_state) == (state, expected)


def test_the_timeline_records_each_step_with_who_and_when(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.COMPLETED)
        events = list(OrderEvent.objects.filter(order=order).order_by("created_at", "id"))
    assert [e.type for e in events] == ["order.imported", "order.priced", "order.paid",
                                        "order.submitted", "order.shipped", "order.completed"]
    assert [e.to_state for e in events] == [S.IN_QUOTATION, S.TO_ORDER, S.AWAITING_SUBMISSION,
                                            S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED]
    assert events[0].actor_type == "store"
    order.refresh_from_db()
    assert order.priced_at == order.paid_at == order.submitted_at == order.shipped_at == T0
    assert order.completed_at == T0


def test_seller_cannot_cancel_in_production_and_is_told_why(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.IN_PRODUCTION)
        with pytest.raises(IllegalTransition, match="already in production"):
            _seller_cancel(order)


def test_staff_cancel_for_copyright_emails_the_seller(
    workspace, owner, store, staff, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.IN_PRODUCTION)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_cancel(order_id=order.pk, reason=CancelReason.COPYRIGHT,
                                  actor=staff, note="Disney character")
        order.refresh_from_db()
    assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.COPYRIGHT)
    assert [m.to for m in mailoutbox] == [["owner@acme.test"]]
    assert "Copyright violation" in mailoutbox[0].body


def test_unknown_cancel_reason_is_a_validation_error(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        with pytest.raises(ValidationFailed):
            services.order_cancel(order_id=order.pk, reason="bored", actor=SYSTEM)


def test_generic_transition_to_cancelled_sets_a_reason(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_transition(order_id=order.pk, to=S.CANCELLED,
                                  actor=Actor.seller(None), message="changed my mind")
        order.refresh_from_db()
    assert (order.cancel_reason, order.cancel_note) == (CancelReason.SELLER, "changed my mind")


def test_cancelling_a_held_order_clears_the_hold(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.ON_HOLD)
        services.order_cancel(order_id=order.pk, reason=CancelReason.SELLER,
                              actor=Actor.seller(None))
        order.refresh_from_db()
        event = OrderEvent.objects.filter(order=order, type="order.cancelled").get()
    assert (order.hold_reason, order.return_state, order.info_due_at) == ("", "", None)
    assert event.data["hold_reason"] == HoldReason.ADDRESS_INVALID


# --- forward only: late and duplicated store/provider events -------------------------


def test_duplicated_shipment_event_changes_nothing(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.SHIPPED)
        before = OrderEvent.objects.filter(order=order).count()
        services.order_mark_shipped(order_id=order.pk, actor=Actor.provider("printful"),
                                    from_external_event=True, now=T0 + timedelta(days=1))
        order.refresh_from_db()
        assert OrderEvent.objects.filter(order=order).count() == before
    assert order.shipped_at == T0


def test_late_shipment_event_never_moves_a_completed_order_back(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.COMPLETED)
        services.order_mark_shipped(order_id=order.pk, actor=Actor.provider("printful"),
                                    from_external_event=True)
        order.refresh_from_db()
    assert order.state == S.COMPLETED


def test_shipment_reported_for_a_cancelled_order_is_ignored(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.CANCELLED)
        services.order_mark_shipped(order_id=order.pk, actor=Actor.provider("printful"),
                                    from_external_event=True)
        order.refresh_from_db()
    assert order.state == S.CANCELLED


def test_shipment_reported_while_held_is_kept_for_when_the_hold_ends(workspace, store):
    with scope(workspace=workspace):
        # given an order held while in production
        order = order_at(workspace, store, S.ON_HOLD, held_from=S.IN_PRODUCTION)
        # when the provider reports it shipped
        services.order_mark_shipped(order_id=order.pk, actor=Actor.provider("printful"),
                                    from_external_event=True, now=T0)
        order.refresh_from_db()
        # then it stays held, and returns to shipped once resolved
        assert (order.state, order.return_state, order.shipped_at) == (S.ON_HOLD, S.SHIPPED,
                                                                       T0)
        services.order_release_hold(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
    assert order.state == S.SHIPPED


# --- paid: the submit countdown ---------------------------------------------------------


@pytest.mark.parametrize(("fields", "expected"), [
    ({"submit_mode": SubmitMode.AFTER_HOURS, "submit_after_hours": 6}, T0 + timedelta(hours=6)),
    ({"submit_mode": SubmitMode.AFTER_HOURS, "submit_after_hours": 0}, T0),
    ({"submit_mode": SubmitMode.MANUAL}, None),
    # 12:00 UTC is 08:00 in New York (EDT): today's 09:00 is still ahead -> 13:00 UTC
    ({"submit_mode": SubmitMode.DAILY, "submit_daily_at": time(9, 0),
      "timezone": "America/New_York"}, T0 + timedelta(hours=1)),
    # 07:00 in New York has passed: tomorrow 07:00 EDT = 11:00 UTC
    ({"submit_mode": SubmitMode.DAILY, "submit_daily_at": time(7, 0),
      "timezone": "America/New_York"}, T0 + timedelta(hours=23)),
    ({"submit_mode": SubmitMode.AFTER_HOURS, "platform": Platform.MANUAL}, None),
])
def test_paying_starts_the_store_submit_countdown(workspace, fields, expected):
    store = StoreFactory(workspace=workspace, **fields)
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
        order.refresh_from_db()
    assert order.paid_at == T0
    assert order.submit_at == expected


def test_paying_twice_keeps_the_first_countdown(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
        services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0 + timedelta(hours=3))
        order.refresh_from_db()
    assert (order.paid_at, order.submit_at) == (T0, T0 + timedelta(hours=6))
