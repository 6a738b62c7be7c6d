"""Cancelling: by the seller, staff, the store or the provider, one or many, and what the
store answered to PodHub's cancel (docs/store-truth.md)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import states
from orders.events import Actor
from orders.models import ActorType, CancelReason, Order, OrderEvent, OrderState
from orders.services.emails import _email_cancelled, _email_seller
from orders.services.moves import IllegalTransition, _cancel
from orders.services.timeline import lock_order, record_event
from podhub.core.exceptions import PodhubError, ValidationFailed

S = OrderState

MAX_BULK = 1000


def _default_cancel_reason(actor: Actor) -> str:
    return {
        ActorType.SELLER: CancelReason.SELLER,
        ActorType.STORE: CancelReason.STORE,
        ActorType.PROVIDER: CancelReason.PROVIDER_REJECTED,
    }.get(actor.type, CancelReason.STAFF)


@transaction.atomic
def order_cancel(*, order_id: int, reason: str, actor: Actor, note: str = "",
                 now: datetime | None = None, workspace=None,
                 cancel_in_store: bool = False, at_provider: str = "") -> Order:
    """Cancel with a reason. Sellers only before production; staff any time before shipping.

    `at_provider`: the provider (its name) confirmed it stopped the order before making
    it (fulfillment/provider_cancel.py, docs/store-truth.md "Cancel at the provider"),
    so a seller may cancel after submission too.

    A cancel that affects the buyer (states.STORE_CANCEL_REASONS: loss guard, no
    response, copyright, staff, provider rejected) is pushed to a connected store with
    a refund to the buyer; a seller's cancel only when `cancel_in_store` (the seller
    ticked "also cancel in the store"). Cancelling a cancelled order changes nothing
    (replay-safe).
    """
    now = now or timezone.now()
    if reason not in CancelReason.values:
        raise ValidationFailed(f"Unknown cancel reason {reason!r}.", fields={"reason": reason})
    order = lock_order(order_id, workspace=workspace)
    if order.state == S.CANCELLED:
        return order
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    if actor.type == ActorType.SELLER and effective not in states.SELLER_CANCELLABLE \
            and not at_provider:
        if order.state in (S.SHIPPED, S.COMPLETED) or effective in (S.SHIPPED, S.COMPLETED):
            message = (f"Order {order.number} has already shipped: it can no longer be "
                       "cancelled. Open a claim if something went wrong.")
        else:
            message = (f"Order {order.number} is already in production: it can no longer be "
                       "cancelled from the dashboard. Open a claim or contact support.")
        raise IllegalTransition(order=order, requested=S.CANCELLED, message=message)
    note = (note or "").strip()
    data = {"cancel_in_store": True} if cancel_in_store else {}
    if at_provider:
        data["at_provider"] = at_provider
        order.needs_attention = ""  # the store's change is answered: the order is stopped
    _cancel(order, reason=reason, actor=actor, note=note, now=now, data=data)
    if actor.type == ActorType.STAFF:
        _email_cancelled(order, subject=f"Order {order.number} was cancelled by PodHub",
                         body=f"Reason: {CancelReason(reason).label}."
                         + (f"\n\n{note}" if note else ""))
    return order


def cancel_reaches_store(reason: str, data: dict | None) -> bool:
    """Is this cancel pushed to the store (with a refund to the buyer)?"""
    return reason in states.STORE_CANCEL_REASONS or bool((data or {}).get("cancel_in_store"))


@transaction.atomic
def order_store_cancel_result(*, order_id: int, confirmed: bool, refund: str = "",
                              error: str = "", now: datetime | None = None) -> Order:
    """What the store answered to PodHub's cancel: confirmed (the order cancelled there;
    `refund` "gateway" — the buyer's payment refunded —, "manual" — recorded, the seller
    refunds by hand — or "none"), or failed with `error`. Writes the timeline and tells
    the seller once; a repeat changes nothing."""
    order = lock_order(order_id)
    done = OrderEvent.objects.filter(order=order, type__in=(
        "order.store_cancel_confirmed", "order.store_cancel_failed")).values_list(
        "type", flat=True)
    if "order.store_cancel_confirmed" in done or (not confirmed
                                                   and "order.store_cancel_failed" in done):
        return order
    store = Actor.store(order.store.name)
    if confirmed:
        if refund == "manual":
            said = ("The store cancelled the order, but its payment gateway cannot refund "
                    "automatically: a refund was recorded in the store; refund the buyer by "
                    "hand (in the payment provider).")
        elif refund == "none":
            said = "The store cancelled the order; there was no payment to refund."
        elif refund == "pending":
            said = ("The store cancelled the order, but it does not show the buyer's refund "
                    "yet: check the refund in your store.")
        else:
            said = "The store cancelled the order and refunded the buyer."
        record_event(order=order, type="order.store_cancel_confirmed", actor=store,
                     message=said, data={"refund": refund or "gateway"})
        _email_seller(order, subject=f"Order {order.number}: cancelled in your store",
                      body=said)
    else:
        said = (f"The store did not cancel the order: {error}. Cancel it and refund the buyer "
                "in your store by hand; PodHub has cancelled it here.")
        record_event(order=order, type="order.store_cancel_failed", actor=store,
                     message=said, data={"error": error[:500]})
        _email_seller(order, subject=f"Order {order.number}: not cancelled in your store",
                      body=said)
    return order


def store_cancel_awaited(order: Order) -> bool:
    """A cancel PodHub pushed to the store that the store has not confirmed yet."""
    if order.state != S.CANCELLED:
        return False
    seen = dict(OrderEvent.objects.filter(order=order, type__in=(
        "order.cancelled", "order.store_cancel_confirmed")).values_list("type", "data"))
    if "order.store_cancel_confirmed" in seen:
        return False
    return cancel_reaches_store(order.cancel_reason, seen.get("order.cancelled"))


@transaction.atomic
def order_store_cancelled(*, order_id: int, actor: Actor, note: str = "",
                          reason: str = CancelReason.BUYER,
                          now: datetime | None = None) -> Order:
    """The buyer or the store cancelled: before submission it cancels, after it flags.

    A repeated store cancellation changes nothing (no second event or e-mail).
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == S.CANCELLED:
        return order
    if order.is_locked or order.state == S.SHIPPED:
        flag = "Cancelled in the store after it went to production."
        if order.needs_attention == flag:
            return order
        order.needs_attention = flag
        order.save(update_fields=["needs_attention", "updated_at"])
        record_event(order=order, type="order.store_cancel_after_submission", actor=actor,
                     message=note or flag, data={"reason": reason})
        _email_seller(order, subject=f"Order {order.number} was cancelled in the store",
                      body="The buyer or the store cancelled this order after it went to "
                      "production. Check with the provider whether it can still be stopped.")
        return order
    _cancel(order, reason=reason, actor=actor, note=note, now=now)
    return order


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def order_bulk_cancel(*, workspace, order_ids: list[int], actor: Actor,
                      note: str = "", cancel_in_store: bool = False) -> BulkResult:
    """Cancel many orders, each in its own transaction: one failure never blocks the rest.

    An order already cancelled counts as done; one of another workspace, or
    one past the point where this actor may cancel, is reported with its reason.
    """
    ids = list(dict.fromkeys(order_ids))
    if len(ids) > MAX_BULK:
        raise ValidationFailed(f"Cancel at most {MAX_BULK} orders at once.",
                               fields={"order_ids": f"At most {MAX_BULK}."})
    reason = _default_cancel_reason(actor)
    result = BulkResult()
    for order_id in ids:
        try:
            order_cancel(order_id=order_id, reason=reason, actor=actor, note=note,
                         workspace=workspace, cancel_in_store=cancel_in_store)
        except PodhubError as exc:
            result.failed.append((order_id, exc.message))
        else:
            result.done.append(order_id)
    return result
