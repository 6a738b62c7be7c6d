"""The order's row lock and its timeline: every OrderEvent is written here.

record_event / record_events also send the subscribed tasks of higher apps after
commit (orders/events.py, docs/architecture.md "Order events: one way to react").
"""

from dataclasses import dataclass

from orders import events
from orders.events import Actor
from orders.models import Order, OrderEvent
from podhub.core.exceptions import NotFound


def lock_order(order_id: int, *, workspace=None) -> Order:
    """Re-read one order under a row lock (call inside transaction.atomic)."""
    qs = Order.objects.select_for_update(of=("self",)).select_related("store")
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    order = qs.filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


def record_event(
    *, order: Order, type: str, actor: Actor, message: str = "", from_state: str = "",
    to_state: str = "", data: dict | None = None,
) -> OrderEvent:
    """Write a timeline entry (its type from events.OrderEvents); the subscribed tasks
    of higher apps are sent after commit (events.dispatch)."""
    event = OrderEvent.objects.create(
        workspace_id=order.workspace_id, order=order, type=events.check_type(type),
        from_state=from_state, to_state=to_state, actor_type=actor.type,
        actor_user=actor.user, actor_label=actor.label[:120], message=message,
        data=data or {},
    )
    events.dispatch([event])
    return event


@dataclass(frozen=True)
class NewEvent:
    """One timeline entry for record_events (the arguments of record_event)."""

    order: Order
    type: str
    actor: Actor
    message: str = ""
    from_state: str = ""
    to_state: str = ""
    data: dict | None = None


def record_events(entries: list[NewEvent], *, batch: bool = False) -> list[OrderEvent]:
    """record_event for many entries at once: one INSERT, then the subscribed tasks of
    each event in the order given, after commit (as record_event); with `batch`, one
    message per subscription for them all (events.dispatch)."""
    if not entries:
        return []
    made = OrderEvent.objects.bulk_create([
        OrderEvent(workspace_id=e.order.workspace_id, order=e.order,
                   type=events.check_type(e.type), from_state=e.from_state,
                   to_state=e.to_state, actor_type=e.actor.type, actor_user=e.actor.user,
                   actor_label=e.actor.label[:120], message=e.message, data=e.data or {})
        for e in entries])
    events.dispatch(made, batch=batch)
    return made
