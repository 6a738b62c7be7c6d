"""Rules of the order itself: information requests and the 48-hour rule, buyer and store
cancellations, and the loss guard."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django_scopes import scope, scopes_disabled

from orders import events, hooks, services, tasks
from orders.events import Actor
from orders.models import CancelReason, HoldReason, LossPolicy, OrderEvent, OrderState, Platform
from podhub.core.exceptions import ValidationFailed
from tests.factories import StoreFactory, UserFactory
from tests.orders.service_data import STORE, SYSTEM, T0, imported, order_at

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


@pytest.fixture
def loss_check():
    """Install a loss check for one test, and put the previous one back."""
    previous = hooks._loss_check

    def install(fn):
        hooks.register_loss_check(fn)

    yield install
    hooks.register_loss_check(previous)


# --- information requests and the 48-hour rule ------------------------------------------


def test_request_for_information_holds_and_emails_the_seller(
    workspace, owner, store, staff, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.AWAITING_SUBMISSION)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_request_info(order_id=order.pk, message="Which font for the name?",
                                        actor=staff, now=T0)
        order.refresh_from_db()
    assert (order.state, order.return_state) == (S.ON_HOLD, S.AWAITING_SUBMISSION)
    assert order.hold_reason == HoldReason.INFO_REQUESTED
    assert order.info_due_at == T0 + timedelta(hours=48)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["owner@acme.test"]
    assert "Which font for the name?" in mailoutbox[0].body
    assert "2026-05-03 12:00 UTC" in mailoutbox[0].body


def test_request_for_information_needs_a_message(workspace, store, staff):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        with pytest.raises(ValidationFailed):
            services.order_request_info(order_id=order.pk, message="  ", actor=staff)


def test_unanswered_request_is_cancelled_after_48_hours_not_before(
    workspace, owner, store, staff, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_request_info(order_id=order.pk, message="Photo is blurry", actor=staff,
                                    now=T0)
    # when the sweep runs one minute before the deadline, nothing happens
    with scopes_disabled():
        assert services.info_request_expiry_sweep(now=T0 + timedelta(hours=47, minutes=59)) == 0
        order.refresh_from_db()
    assert order.state == S.ON_HOLD
    # when it runs at the deadline, the order is cancelled for no response
    with scopes_disabled(), django_capture_on_commit_callbacks(execute=True):
        assert services.info_request_expiry_sweep(now=T0 + timedelta(hours=48)) == 1
    with scope(workspace=workspace):
        order.refresh_from_db()
        event = OrderEvent.objects.filter(order=order, type="order.cancelled").get()
    assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.NO_RESPONSE)
    assert event.actor_label == "48-hour rule"
    assert "Photo is blurry" in order.cancel_note
    assert [m.subject for m in mailoutbox] == [
        f"[PodHub] Order {order.number} was cancelled: no answer",
    ]


def test_the_beat_task_runs_the_sweep_across_workspaces_on_the_real_clock(
    workspace, store, other_workspace, staff
):
    other_store = StoreFactory(workspace=other_workspace)
    with time_machine.travel(T0, tick=False):
        with scope(workspace=workspace):
            mine = order_at(workspace, store, S.TO_ORDER)
            services.order_request_info(order_id=mine.pk, message="?", actor=staff)
        with scope(workspace=other_workspace):
            theirs = order_at(other_workspace, other_store, S.TO_ORDER)
            services.order_request_info(order_id=theirs.pk, message="?", actor=staff)
    with time_machine.travel(T0 + timedelta(hours=48, seconds=1), tick=False):
        assert tasks.info_request_expiry_sweep_task() == 2


def test_the_hours_to_answer_are_a_setting(workspace, store, staff, settings):
    settings.ORDER_INFO_REQUEST_HOURS = 24
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_request_info(order_id=order.pk, message="?", actor=staff, now=T0)
        order.refresh_from_db()
    assert order.info_due_at == T0 + timedelta(hours=24)


def test_seller_answering_by_editing_releases_the_hold_and_stops_the_clock(
    workspace, user, store, staff
):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.AWAITING_SUBMISSION)
        services.order_request_info(order_id=order.pk, message="Name spelled right?",
                                    actor=staff, now=T0)
        line = order.line_items.order_by("id").first()
        # when the seller edits the personalisation within the 48 hours
        services.order_edit(order_id=order.pk, actor=Actor.seller(user), changes={
            "lines": {line.pk: {"personalization": [{"key": "Name", "value": "Anna"}]}}},
            now=T0 + timedelta(hours=5))
        order.refresh_from_db()
        assert (order.state, order.hold_reason, order.info_due_at) == (
            S.AWAITING_SUBMISSION, "", None)
        types = list(OrderEvent.objects.filter(order=order).order_by("id")
                     .values_list("type", flat=True))
    assert types[-2:] == ["order.edited", "order.released"]
    # then the sweep after the deadline leaves it alone
    with scopes_disabled():
        assert services.info_request_expiry_sweep(now=T0 + timedelta(hours=49)) == 0


def test_a_staff_edit_does_not_count_as_the_sellers_answer(workspace, store, staff):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_request_info(order_id=order.pk, message="?", actor=staff, now=T0)
        services.order_edit(order_id=order.pk, actor=staff, changes={"buyer_name": "Ana L."})
        order.refresh_from_db()
    assert order.state == S.ON_HOLD


def test_other_holds_are_not_released_by_an_edit(workspace, user, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.ON_HOLD)  # address_invalid
        services.order_edit(order_id=order.pk, actor=Actor.seller(user),
                            changes={"buyer_name": "Ana L."})
        order.refresh_from_db()
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.ADDRESS_INVALID)


# --- buyer / store cancellation -------------------------------------------------------------


@pytest.mark.parametrize("state", [S.IN_QUOTATION, S.TO_ORDER, S.AWAITING_SUBMISSION])
def test_buyer_cancel_before_submission_cancels(workspace, store, state):
    with scope(workspace=workspace):
        order = order_at(workspace, store, state)
        services.order_store_cancelled(order_id=order.pk, actor=STORE, note="customer asked")
        order.refresh_from_db()
    assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.BUYER)


@pytest.mark.parametrize("state", [S.IN_PRODUCTION, S.SHIPPED])
def test_buyer_cancel_after_submission_flags_the_order_once(
    workspace, owner, store, state, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    with scope(workspace=workspace):
        order = order_at(workspace, store, state)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_store_cancelled(order_id=order.pk, actor=STORE)
            services.order_store_cancelled(order_id=order.pk, actor=STORE)  # duplicate webhook
        order.refresh_from_db()
        flagged = OrderEvent.objects.filter(order=order,
                                            type="order.store_cancel_after_submission")
        assert flagged.count() == 1
    assert order.state == state
    assert "after it went to production" in order.needs_attention
    assert len(mailoutbox) == 1


def test_buyer_cancel_within_the_submit_window_with_a_controlled_clock(workspace, store):
    # given a store that submits 6 hours after payment (PrintBase's window)
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
        order.refresh_from_db()
        assert order.submit_at == T0 + timedelta(hours=6)
        # when the buyer cancels 5 h 59 min later, before the countdown ends
        with time_machine.travel(T0 + timedelta(hours=5, minutes=59), tick=False):
            services.order_store_cancelled(order_id=order.pk, actor=STORE)
        order.refresh_from_db()
    # then the order is cancelled
    assert order.state == S.CANCELLED
    assert order.cancelled_at == T0 + timedelta(hours=5, minutes=59)


def test_buyer_cancel_after_the_window_closed_and_it_was_submitted_only_flags(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
        services.order_submit(order_id=order.pk, actor=SYSTEM, now=T0 + timedelta(hours=6))
        with time_machine.travel(T0 + timedelta(hours=6, minutes=1), tick=False):
            services.order_store_cancelled(order_id=order.pk, actor=STORE)
        order.refresh_from_db()
    assert order.state == S.IN_PRODUCTION
    assert order.needs_attention


# --- the loss guard ------------------------------------------------------------------------


def _loss(order):
    return hooks.LossVerdict(selling_amount=Decimal("45.00"), cost_amount=Decimal("52.10"),
                             currency="USD", detail="Base 40.10 + shipping 12.00.")


def test_loss_guard_holds_by_default(workspace, store, loss_check):
    loss_check(_loss)
    with scope(workspace=workspace):
        order = imported(workspace, store)
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
    assert (order.state, order.return_state) == (S.ON_HOLD, S.TO_ORDER)
    assert order.hold_reason == HoldReason.LOSS_GUARD
    assert "52.10" in order.hold_message


def test_loss_guard_cancels_when_the_store_says_so(
    workspace, owner, loss_check, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    store = StoreFactory(workspace=workspace, loss_policy=LossPolicy.CANCEL)
    loss_check(_loss)
    with scope(workspace=workspace):
        order = imported(workspace, store)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
    assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.LOSS_GUARD)
    assert len(mailoutbox) == 1
    assert "below cost" in mailoutbox[0].subject


def test_no_loss_no_hold(workspace, store, loss_check):
    loss_check(lambda order: hooks.LossVerdict(Decimal("60"), Decimal("52.10"), "USD"))
    with scope(workspace=workspace):
        order = imported(workspace, store)
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
    assert order.state == S.TO_ORDER


def test_seller_releasing_a_loss_hold_accepts_the_loss(workspace, user, store, loss_check):
    loss_check(_loss)
    with scope(workspace=workspace):
        order = imported(workspace, store)
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        services.order_release_hold(order_id=order.pk, actor=Actor.seller(user))
        order.refresh_from_db()
    assert order.state == S.TO_ORDER


def test_priced_while_held_returns_to_to_order_and_is_judged_then(
    workspace, store, staff, loss_check
):
    with scope(workspace=workspace):
        # given an order held for information while still in quotation
        order = imported(workspace, store)
        services.order_request_info(order_id=order.pk, message="?", actor=staff)
        # when the catalog prices it, it stays held but will return to to_order
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
        assert (order.state, order.return_state) == (S.ON_HOLD, S.TO_ORDER)
        # and when released, the loss guard judges it
        loss_check(_loss)
        services.order_release_hold(order_id=order.pk, actor=SYSTEM)
        order.refresh_from_db()
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.LOSS_GUARD)
