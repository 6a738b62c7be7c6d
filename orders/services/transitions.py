"""The forward path: paid (with the submit countdown), submitted (one order or the submit
sweep's batch), shipped, completed; order_transition for a plain move along the table."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from orders import states
from orders.events import Actor
from orders.models import Order, OrderState, SubmitMode
from orders.services.cancellations import _default_cancel_reason, order_cancel
from orders.services.moves import IllegalTransition, _advance, _stamp
from orders.services.timeline import NewEvent, lock_order, record_events
from podhub.core.exceptions import Conflict

S = OrderState


class StoreUnpaid(Conflict):
    """The buyer has not paid the store for this order yet."""

    code = "store_unpaid"

    def __init__(self, *, order: Order):
        super().__init__(
            f"Order {order.number} is waiting for the buyer's payment in the store: it can be "
            "paid here once the store reports it paid.",
            order_id=order.pk,
        )


@transaction.atomic
def order_transition(
    *, order_id: int, to: str, actor: Actor, message: str = "", data: dict | None = None,
    from_external_event: bool = False, now: datetime | None = None,
) -> Order:
    """Move an order along the table. Prefer the named services below.

    Cancelling goes through order_cancel (with `data["reason"]`, else a reason
    that fits the actor); holding needs a reason, so use order_hold.
    """
    now = now or timezone.now()
    if to == S.CANCELLED:
        reason = (data or {}).get("reason") or _default_cancel_reason(actor)
        return order_cancel(order_id=order_id, reason=reason, actor=actor, note=message,
                            now=now)
    if to == S.ON_HOLD:
        raise ValueError("A hold needs a reason: use order_hold() or order_request_info().")
    order = lock_order(order_id)
    _advance(order, to, actor=actor, type=f"order.{to}", message=message, data=data,
             from_external_event=from_external_event, now=now)
    return order


def next_submit_at(order: Order, now: datetime) -> datetime | None:
    """When the store's submit countdown ends; None when the seller submits by hand."""
    store = order.store
    if not order.auto_submit or not store.auto_submits:
        return None
    if store.submit_mode == SubmitMode.AFTER_HOURS:
        return now + timedelta(hours=store.submit_after_hours)
    if store.submit_mode == SubmitMode.DAILY and store.submit_daily_at is not None:
        try:
            zone = ZoneInfo(store.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local_now = now.astimezone(zone)
        at = store.submit_daily_at.replace(tzinfo=None)
        candidate = datetime.combine(local_now.date(), at, tzinfo=zone)
        if candidate <= local_now:
            candidate = datetime.combine(local_now.date() + timedelta(days=1), at, tzinfo=zone)
        return candidate.astimezone(UTC)
    return None


@transaction.atomic
def order_mark_paid(*, order_id: int, actor: Actor, now: datetime | None = None) -> Order:
    """Paid (funds held): to_order -> awaiting_submission, and the submit countdown starts.

    A store order the buyer has not paid yet (store_paid False) raises StoreUnpaid.
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == S.TO_ORDER and not order.store_paid:
        raise StoreUnpaid(order=order)
    if order.state == S.TO_ORDER:
        order.submit_at = next_submit_at(order, now)
        order.paid_at = now
    _advance(order, S.AWAITING_SUBMISSION, actor=actor, type="order.paid", now=now,
             message="Paid." if order.submit_at is None else
             f"Paid; goes to production at {order.submit_at.astimezone(UTC):%Y-%m-%d %H:%M} "
             "UTC unless edited or cancelled first.",
             data={"submit_at": order.submit_at.isoformat() if order.submit_at else None})
    return order


@transaction.atomic
def order_submit(*, order_id: int, actor: Actor, now: datetime | None = None) -> Order:
    """To production: awaiting_submission -> in_production. From here the order is locked."""
    now = now or timezone.now()
    order = lock_order(order_id)
    _advance(order, S.IN_PRODUCTION, actor=actor, type="order.submitted", now=now,
             message="Submitted to production.")
    return order


@dataclass
class SubmitResult:
    moved: list[Order] = field(default_factory=list)
    unchanged: list[Order] = field(default_factory=list)  # already in production: a replay
    refused: dict[int, IllegalTransition] = field(default_factory=dict)  # order id -> why


def orders_submit_locked(*, orders: list[Order], actor: Actor,
                         now: datetime | None = None) -> SubmitResult:
    """order_submit for a batch whose row locks the caller already holds (the submit
    sweep): the same guard per order (an order in another state is refused with the
    IllegalTransition order_submit would raise, and the others still move), one UPDATE
    for the batch, one INSERT of their `order.submitted` events (subscribers told of
    each after commit). The objects passed are updated in place."""
    now = now or timezone.now()
    result = SubmitResult()
    for order in orders:
        try:
            if order.state == S.IN_PRODUCTION:
                result.unchanged.append(order)
                continue
            if order.state == S.ON_HOLD:
                why = order.hold_message or order.get_hold_reason_display()
                raise IllegalTransition(order=order, requested=S.IN_PRODUCTION,
                                        message=f"Order {order.number} is on hold: {why}")
            if not states.allowed(order.state, S.IN_PRODUCTION,
                                  return_state=order.return_state):
                raise IllegalTransition(order=order, requested=S.IN_PRODUCTION)
        except IllegalTransition as exc:
            result.refused[order.pk] = exc
            continue
        result.moved.append(order)
    if not result.moved:
        return result
    previous = {order.pk: order.state for order in result.moved}
    updated_at = timezone.now()
    Order.objects.filter(pk__in=list(previous)).update(
        state=S.IN_PRODUCTION, submitted_at=Coalesce(F("submitted_at"), now),
        updated_at=updated_at)
    for order in result.moved:
        order.state = S.IN_PRODUCTION
        order.updated_at = updated_at
        _stamp(order, S.IN_PRODUCTION, now)
    record_events([NewEvent(order=order, type="order.submitted", actor=actor,
                            message="Submitted to production.",
                            from_state=previous[order.pk], to_state=S.IN_PRODUCTION)
                   for order in result.moved])
    return result


@transaction.atomic
def order_mark_shipped(*, order_id: int, actor: Actor, now: datetime | None = None,
                       from_external_event: bool = False) -> Order:
    """in_production -> shipped. A late or repeated provider event changes nothing."""
    now = now or timezone.now()
    order = lock_order(order_id)
    _advance(order, S.SHIPPED, actor=actor, type="order.shipped", now=now,
             from_external_event=from_external_event)
    return order


@transaction.atomic
def order_complete(*, order_id: int, actor: Actor, now: datetime | None = None,
                   from_external_event: bool = False) -> Order:
    """shipped -> completed (delivered, or N days after shipping)."""
    now = now or timezone.now()
    order = lock_order(order_id)
    _advance(order, S.COMPLETED, actor=actor, type="order.completed", now=now,
             from_external_event=from_external_event)
    return order
