"""Holds: staff's, the information request with its 48-hour clock (and the sweep that
cancels unanswered ones), the release back to where the order was held from, and the
hold for data the store sent that needs fixing (`Order.data_problems`)."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders import inputs, states
from orders.events import Actor
from orders.models import CancelReason, HoldReason, Order, OrderState
from orders.services.emails import _email_cancelled, _email_seller
from orders.services.moves import IllegalTransition, _cancel, _hold, _move
from orders.services.pricing import _run_loss_guard
from orders.services.timeline import lock_order
from podhub.core.exceptions import ValidationFailed

S = OrderState


@transaction.atomic
def order_hold(*, order_id: int, reason: str, message: str, actor: Actor,
               now: datetime | None = None, unschedule: bool = False) -> Order:
    """`unschedule`: also clear `submit_at`, so that once released the order waits for
    "Submit now" instead of being due again (the submit sweep's unroutable orders)."""
    if reason not in HoldReason.values:
        raise ValidationFailed(f"Unknown hold reason {reason!r}.", fields={"reason": reason})
    order = lock_order(order_id)
    if unschedule:
        order.submit_at = None
    _hold(order, reason=reason, message=message, actor=actor, now=now or timezone.now())
    return order


@transaction.atomic
def order_request_info(*, order_id: int, message: str, actor: Actor,
                       now: datetime | None = None) -> Order:
    """Staff ask the seller for missing or wrong information; the 48 h clock starts."""
    now = now or timezone.now()
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("Say what information is missing.",
                               fields={"message": "Say what information is missing."})
    order = lock_order(order_id)
    due = now + timedelta(hours=settings.ORDER_INFO_REQUEST_HOURS)
    _hold(order, reason=HoldReason.INFO_REQUESTED, message=message, actor=actor,
          now=now, info_due_at=due, data={"due_at": due.isoformat()})
    _email_seller(
        order, subject=f"Information needed for order {order.number}",
        body=f"{message}\n\nPlease answer by editing the order in PodHub before "
        f"{due.astimezone(UTC):%Y-%m-%d %H:%M} UTC; after that the order is cancelled and "
        "refunded.",
    )
    return order


def _release(order: Order, *, actor: Actor, message: str, now: datetime) -> None:
    back = order.return_state or S.TO_ORDER
    reason = order.hold_reason
    order.return_state = ""
    order.hold_reason = ""
    order.hold_message = ""
    order.info_due_at = None
    _move(order, back, actor=actor, type="order.released", now=now,
          message=message or "Hold resolved.", data={"hold_reason": reason})
    if back == S.TO_ORDER and reason != HoldReason.LOSS_GUARD:
        # Priced while held, or held for something else: judge it now. A seller
        # who released a loss-guard hold has accepted the loss.
        _run_loss_guard(order, now=now)


@transaction.atomic
def order_release_hold(*, order_id: int, actor: Actor, message: str = "",
                       now: datetime | None = None) -> Order:
    """Resolved: back to the state the order was held from."""
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state != S.ON_HOLD:
        raise IllegalTransition(order=order, requested=order.state,
                                message=f"Order {order.number} is not on hold.")
    _release(order, actor=actor, message=message, now=now)
    return order


@transaction.atomic
def info_request_expiry_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Cancel orders whose information request went unanswered past its deadline."""
    now = now or timezone.now()
    due = list(
        Order.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("store")
        .filter(state=S.ON_HOLD, hold_reason=HoldReason.INFO_REQUESTED, info_due_at__lte=now)
        .order_by("info_due_at")[:limit]
    )
    for order in due:
        _cancel(order, reason=CancelReason.NO_RESPONSE, actor=Actor.system("48-hour rule"),
                note=f"No answer to: {order.hold_message}", now=now)
        _email_cancelled(order, subject=f"Order {order.number} was cancelled: no answer",
                         body="We asked for information and received no answer in time; "
                         "the order was cancelled.")
    return len(due)


def _problems_text(problems: dict[str, str]) -> str:
    return "Order data needs fixing: " + " ".join(
        f"{inputs.field_label(name).capitalize()}: {reason}" for name, reason in
        problems.items())


def _hold_for_data(order: Order, problems: dict[str, str], *, actor: Actor,
                   now: datetime) -> None:
    if order.state == S.ON_HOLD and order.hold_reason != HoldReason.DATA_PROBLEM:
        return  # held for something else; the problems stay listed on the order
    if order.state in states.FINAL or order.is_locked:
        return
    _hold(order, reason=HoldReason.DATA_PROBLEM, message=_problems_text(problems)[:2000],
          actor=actor, now=now, data={"problems": problems})


def _sync_data_hold(order: Order, *, actor: Actor, now: datetime) -> None:
    """Hold an order whose data has problems; release it when none are left."""
    if order.data_problems:
        if order.state != S.ON_HOLD or (order.hold_reason == HoldReason.DATA_PROBLEM
                                        and order.hold_message
                                        != _problems_text(order.data_problems)[:2000]):
            _hold_for_data(order, order.data_problems, actor=actor, now=now)
    elif order.state == S.ON_HOLD and order.hold_reason == HoldReason.DATA_PROBLEM:
        _release(order, actor=actor, now=now, message="The order's data is complete now.")
