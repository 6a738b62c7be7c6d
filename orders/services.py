"""Every write to an order goes through here; only this module sets `Order.state`.

Each transition locks the order row, checks the guard against orders/states.py,
writes an OrderEvent, and sends follow-up work after commit. Illegal moves
raise IllegalTransition (409 in the API, a clear message in the dashboard);
late or repeated events from stores and providers change nothing.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from orders import events, hooks, states
from orders.events import Actor
from orders.models import (
    CancelReason,
    HoldReason,
    LossPolicy,
    Order,
    OrderEvent,
    OrderState,
)
from podhub.core.exceptions import Conflict, NotFound

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


class OrderLocked(Conflict):
    """The order was submitted to production and can no longer be edited."""

    code = "order_locked"


def lock_order(order_id: int) -> Order:
    """Re-read one order under a row lock (call inside transaction.atomic)."""
    order = Order.objects.select_for_update(of=("self",)).select_related("store").filter(
        pk=order_id
    ).first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


def record_event(
    *, order: Order, type: str, actor: Actor, message: str = "", from_state: str = "",
    to_state: str = "", data: dict | None = None,
) -> OrderEvent:
    """Write a timeline entry and tell subscribers after commit."""
    event = OrderEvent.objects.create(
        workspace_id=order.workspace_id, order=order, type=type, from_state=from_state,
        to_state=to_state, actor_type=actor.type, actor_user=actor.user,
        actor_label=actor.label[:120], message=message, data=data or {},
    )
    for fn in events.subscribers():
        transaction.on_commit(
            lambda fn=fn, e=event: fn(event_id=e.pk, workspace_id=e.workspace_id, type=e.type)
        )
    return event


def _move(order: Order, to: str, *, actor: Actor, type: str, message: str = "",
          data: dict | None = None, now: datetime) -> OrderEvent:
    previous = order.state
    order.state = to
    stamp = {
        S.TO_ORDER: "priced_at", S.AWAITING_SUBMISSION: "paid_at",
        S.IN_PRODUCTION: "submitted_at", S.SHIPPED: "shipped_at",
        S.COMPLETED: "completed_at", S.CANCELLED: "cancelled_at",
    }.get(to)
    if stamp and getattr(order, stamp) is None:
        setattr(order, stamp, now)
    order.save()
    return record_event(order=order, type=type, actor=actor, message=message,
                        from_state=previous, to_state=to, data=data)


@transaction.atomic
def order_transition(
    *, order_id: int, to: str, actor: Actor, message: str = "", data: dict | None = None,
    from_external_event: bool = False, now: datetime | None = None,
) -> Order:
    """Move an order along the table. The core that every named transition uses.

    `from_external_event`: a store or provider reported it; if the order is
    already there or further on, the event is stale and changes nothing.
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == to:
        return order  # replay-safe
    if from_external_event and states.is_stale(order.state, to, return_state=order.return_state):
        log.info("order %s: ignored stale move %s -> %s", order.pk, order.state, to)
        return order
    if order.state == S.ON_HOLD and to != S.CANCELLED:
        # Progress reported while held (e.g. shipped by a provider) is kept for later.
        why = order.hold_message or order.get_hold_reason_display()
        raise IllegalTransition(order=order, requested=to,
                                message=f"Order {order.number} is on hold: {why}")
    if not states.allowed(order.state, to, return_state=order.return_state):
        raise IllegalTransition(order=order, requested=to)
    _move(order, to, actor=actor, type=f"order.{to}", message=message, data=data, now=now)
    return order


# --- pricing and the loss guard --------------------------------------------------


@transaction.atomic
def order_mark_priced(*, order_id: int, actor: Actor, now: datetime | None = None) -> Order:
    """Every line is priced: in_quotation -> to_order, then the loss guard runs."""
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state != S.TO_ORDER:
        if order.state != S.IN_QUOTATION:
            raise IllegalTransition(order=order, requested=S.TO_ORDER)
        _move(order, S.TO_ORDER, actor=actor, type="order.priced", now=now,
              message="Every item is priced.")
    verdict = hooks.loss_check(order)
    if verdict is not None and verdict.is_loss:
        _apply_loss_policy(order, verdict, now=now)
    return order


def _apply_loss_policy(order: Order, verdict: hooks.LossVerdict, *, now: datetime) -> None:
    text = (
        f"Selling price {verdict.selling_amount} {verdict.currency} is below base cost + "
        f"shipping + handling ({verdict.cost_amount} {verdict.currency}). {verdict.detail}"
    ).strip()
    actor = Actor.system("Loss guard")
    data = {"selling": str(verdict.selling_amount), "cost": str(verdict.cost_amount),
            "currency": verdict.currency}
    if order.store.loss_policy == LossPolicy.CANCEL:
        _cancel(order, reason=CancelReason.LOSS_GUARD, actor=actor, note=text, now=now,
                data=data)
        _email_seller(order, subject=f"Order {order.number} was cancelled: below cost",
                      body=text + "\n\nThe order was cancelled and the buyer refunded "
                      "through the store, per your store's loss policy.")
    else:
        _hold(order, reason=HoldReason.LOSS_GUARD, message=text, actor=actor, now=now,
              data=data)


# --- holds -------------------------------------------------------------------------


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


@transaction.atomic
def order_hold(*, order_id: int, reason: str, message: str, actor: Actor,
               now: datetime | None = None) -> Order:
    order = lock_order(order_id)
    _hold(order, reason=reason, message=message, actor=actor, now=now or timezone.now())
    return order


@transaction.atomic
def order_request_info(*, order_id: int, message: str, actor: Actor,
                       now: datetime | None = None) -> Order:
    """Staff ask the seller for missing or wrong information; the 48 h clock starts."""
    now = now or timezone.now()
    if not message.strip():
        raise Conflict("Say what information is missing.")
    order = lock_order(order_id)
    due = now + timedelta(hours=settings.ORDER_INFO_REQUEST_HOURS)
    _hold(order, reason=HoldReason.INFO_REQUESTED, message=message.strip(), actor=actor,
          now=now, info_due_at=due, data={"due_at": due.isoformat()})
    _email_seller(
        order, subject=f"Information needed for order {order.number}",
        body=f"{message.strip()}\n\nPlease answer by editing the order in PodHub before "
        f"{due:%Y-%m-%d %H:%M} UTC; after that the order is cancelled and refunded.",
    )
    return order


@transaction.atomic
def order_release_hold(*, order_id: int, actor: Actor, message: str = "",
                       now: datetime | None = None) -> Order:
    """Resolved: back to the state the order was held from."""
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state != S.ON_HOLD:
        raise IllegalTransition(order=order, requested=order.state,
                                message=f"Order {order.number} is not on hold.")
    back = order.return_state or S.TO_ORDER
    reason = order.hold_reason
    order.return_state = ""
    order.hold_reason = ""
    order.hold_message = ""
    order.info_due_at = None
    _move(order, back, actor=actor, type="order.released", now=now,
          message=message or "Hold resolved.", data={"hold_reason": reason})
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
        _email_seller(order, subject=f"Order {order.number} was cancelled: no answer",
                      body="We asked for information and received no answer in time; the "
                      "order was cancelled and the buyer refunded.")
    return len(due)


# --- cancellations --------------------------------------------------------------


def _cancel(order: Order, *, reason: str, actor: Actor, note: str, now: datetime,
            data: dict | None = None) -> None:
    if order.state in states.FINAL or order.state == S.SHIPPED:
        raise IllegalTransition(order=order, requested=S.CANCELLED)
    previous = order.state
    order.state = S.CANCELLED
    order.cancel_reason = reason
    order.cancel_note = note
    order.cancelled_at = now
    order.info_due_at = None
    order.save()
    record_event(order=order, type="order.cancelled", actor=actor, message=note,
                 from_state=previous, to_state=S.CANCELLED,
                 data={"reason": reason, **(data or {})})


@transaction.atomic
def order_cancel(*, order_id: int, reason: str, actor: Actor, note: str = "",
                 now: datetime | None = None) -> Order:
    """Cancel with a reason. Sellers only before production; staff any time before shipping."""
    now = now or timezone.now()
    if reason not in CancelReason.values:
        raise Conflict(f"Unknown cancel reason {reason!r}.")
    order = lock_order(order_id)
    if order.state == S.CANCELLED:
        return order
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    if actor.type == "seller" and effective not in states.SELLER_CANCELLABLE:
        raise IllegalTransition(
            order=order, requested=S.CANCELLED,
            message=f"Order {order.number} is already in production: it can no longer be "
            "cancelled from the dashboard. Open a claim or contact support.",
        )
    _cancel(order, reason=reason, actor=actor, note=note, now=now)
    return order


@transaction.atomic
def order_store_cancelled(*, order_id: int, actor: Actor, note: str = "",
                          now: datetime | None = None) -> Order:
    """The buyer or the store cancelled: before submission it cancels, after it flags."""
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == S.CANCELLED:
        return order
    if order.is_locked or order.state == S.SHIPPED:
        order.needs_attention = "Cancelled in the store after it went to production."
        order.save(update_fields=["needs_attention", "updated_at"])
        record_event(order=order, type="order.store_cancel_after_submission", actor=actor,
                     message=note or order.needs_attention)
        _email_seller(order, subject=f"Order {order.number} was cancelled in the store",
                      body="The buyer or the store cancelled this order after it went to "
                      "production. Check with the provider whether it can still be stopped.")
        return order
    _cancel(order, reason=CancelReason.BUYER, actor=actor, note=note, now=now)
    return order


# --- the rest of the path ---------------------------------------------------------


def _email_seller(order: Order, *, subject: str, body: str) -> None:
    from podhub.workspaces.models import Membership, Role

    recipients = list(
        Membership.objects.filter(workspace_id=order.workspace_id,
                                  role__in=[Role.OWNER, Role.ADMIN])
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    url = f"{settings.PUBLIC_BASE_URL}/orders/{order.pk}/"
    transaction.on_commit(
        lambda: send_mail(subject=f"[PodHub] {subject}", message=f"{body}\n\n{url}",
                          from_email=None, recipient_list=recipients, fail_silently=True)
    )
