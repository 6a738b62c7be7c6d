"""The state moves every service is built from; the only code that sets `Order.state`
on one order (orders_submit_locked in transitions.py moves a batch).

`_move` is one step, stamped (`priced_at`, `paid_at`, ...) and on the timeline;
`_advance` guards it with the table of orders/states.py (docs/orders.md) and ignores
stale or repeated store and provider events; `_hold` and `_cancel` hold and cancel
from any state before shipping. None of them locks: the caller holds the row lock
(timeline.lock_order) inside transaction.atomic.
"""

import logging
from datetime import datetime

from orders import states
from orders.events import Actor
from orders.models import Order, OrderEvent, OrderState
from orders.services.timeline import record_event
from podhub.core.exceptions import Conflict

log = logging.getLogger(__name__)
S = OrderState


class IllegalTransition(Conflict):
    """This action is not possible in the order's current state."""

    code = "illegal_transition"

    def __init__(self, *, order: Order, requested: str, message: str = ""):
        current = order.get_state_display()
        super().__init__(
            message or f"Order {order.number} is {current.lower()}: it cannot move to "
            f"{OrderState(requested).label.lower()}.",
            current_state=order.state,
            requested_state=requested,
            order_id=order.pk,
        )


_STAMPS = {
    S.TO_ORDER: "priced_at", S.AWAITING_SUBMISSION: "paid_at",
    S.IN_PRODUCTION: "submitted_at", S.SHIPPED: "shipped_at",
    S.COMPLETED: "completed_at", S.CANCELLED: "cancelled_at",
}


def _stamp(order: Order, to: str, now: datetime) -> None:
    stamp = _STAMPS.get(to)
    if stamp and getattr(order, stamp) is None:
        setattr(order, stamp, now)


def _move(order: Order, to: str, *, actor: Actor, type: str, message: str = "",
          data: dict | None = None, now: datetime) -> OrderEvent:
    previous = order.state
    order.state = to
    _stamp(order, to, now)
    order.save()
    return record_event(order=order, type=type, actor=actor, message=message,
                        from_state=previous, to_state=to, data=data)


def _advance(order: Order, to: str, *, actor: Actor, type: str, now: datetime,
             message: str = "", data: dict | None = None,
             from_external_event: bool = False) -> bool:
    """One step forward along the table; True when the order moved.

    Replays (already there) change nothing. A store or provider event that lies
    behind the order's progress is stale and changes nothing. Progress a store
    or provider reports while the order is held is remembered (the hold returns
    there) but the order stays held.
    """
    if order.state == to:
        return False
    if from_external_event and states.is_stale(order.state, to, return_state=order.return_state):
        log.info("order %s: ignored stale move %s -> %s", order.pk, order.state, to)
        return False
    if order.state == S.ON_HOLD:
        if from_external_event and order.return_state and states.allowed(
            order.return_state, to
        ):
            previous = order.return_state
            order.return_state = to
            _stamp(order, to, now)
            order.save()
            record_event(order=order, type="order.progress_while_held", actor=actor,
                         message=message or f"Reported {OrderState(to).label.lower()} while "
                         "on hold; the order returns there when the hold is resolved.",
                         data={"from_state": previous, "to_state": to, **(data or {})})
            return False
        why = order.hold_message or order.get_hold_reason_display()
        raise IllegalTransition(order=order, requested=to,
                                message=f"Order {order.number} is on hold: {why}")
    if not states.allowed(order.state, to, return_state=order.return_state):
        raise IllegalTransition(order=order, requested=to)
    _move(order, to, actor=actor, type=type, message=message, data=data, now=now)
    return True


def _hold(order: Order, *, reason: str, message: str, actor: Actor, now: datetime,
          info_due_at: datetime | None = None, data: dict | None = None) -> None:
    if order.state in states.FINAL or order.state == S.SHIPPED:
        raise IllegalTransition(order=order, requested=S.ON_HOLD)
    if order.state != S.ON_HOLD:
        order.return_state = order.state
    order.hold_reason = reason
    order.hold_message = message
    order.info_due_at = info_due_at
    previous = order.state
    order.state = S.ON_HOLD
    order.save()
    record_event(order=order, type=f"order.held.{reason}", actor=actor, message=message,
                 from_state=previous, to_state=S.ON_HOLD, data=data)


def _cancel(order: Order, *, reason: str, actor: Actor, note: str, now: datetime,
            data: dict | None = None) -> None:
    if order.state in states.FINAL or order.state == S.SHIPPED:
        raise IllegalTransition(order=order, requested=S.CANCELLED)
    previous = order.state
    held = {"hold_reason": order.hold_reason, "held_from": order.return_state} \
        if previous == S.ON_HOLD else {}
    order.state = S.CANCELLED
    order.cancel_reason = reason
    order.cancel_note = note
    order.cancelled_at = now
    order.info_due_at = None
    order.return_state = ""
    order.hold_reason = ""
    order.hold_message = ""
    order.save()
    record_event(order=order, type="order.cancelled", actor=actor, message=note,
                 from_state=previous, to_state=S.CANCELLED,
                 data={"reason": reason, **held, **(data or {})})
