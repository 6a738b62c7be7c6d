"""Every write to an order goes through here; only this module sets `Order.state`.

Each transition locks the order row, checks the guard against orders/states.py,
writes an OrderEvent, and sends follow-up work after commit. Illegal moves
raise IllegalTransition (409 in the API, a clear message in the dashboard);
late or repeated events from stores and providers change nothing.

The path, one named service per arrow of PRODUCT.md's table:

    order_import / order_create_manual / csv_import    -> in_quotation (order.imported/created)
    order_mark_priced    in_quotation -> to_order       (order.priced; then the loss guard)
    order_mark_paid      to_order -> awaiting_submission (order.paid; sets submit_at)
    order_submit         awaiting_submission -> in_production (order.submitted)
    order_mark_shipped   in_production -> shipped       (order.shipped)
    order_complete       shipped -> completed           (order.completed)
    order_hold / order_request_info   -> on_hold        (order.held.<reason>)
    order_release_hold / order_edit answering a request -> back (order.released)
    order_cancel / order_store_cancelled / order_bulk_cancel / the 48 h sweep -> cancelled

Other timeline entries: order.updated (a newer version from the store),
order.store_paid (the buyer paid the store: the order may now be paid here),
order.edited (the seller's edit, listing the fields),
order.buyer_data_redacted (order_redact_buyer: the buyer's personal data erased),
order.store_change_after_submission, order.store_cancel_after_submission,
order.progress_while_held (a provider reported progress on a held order).
"""

import hashlib
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from orders import events, hooks, inputs, states
from orders.csv_import import CsvImportReport
from orders.events import Actor
from orders.models import (
    ActorType,
    CancelReason,
    HoldReason,
    LineItem,
    LossPolicy,
    Order,
    OrderEvent,
    OrderState,
    Platform,
    Store,
    SubmitMode,
)
from podhub.core import mail
from podhub.core.exceptions import Conflict, NotFound, PodhubError, ValidationFailed
from podhub.core.money import format_money

log = logging.getLogger(__name__)
S = OrderState

OUTSIDE_STORE_NAME = "Outside orders"
MAX_BULK = 1000
UNMAPPED_REASON = "Not connected: no priced catalog product for this item yet."


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


class StoreUnpaid(Conflict):
    """The buyer has not paid the store for this order yet."""

    code = "store_unpaid"

    def __init__(self, *, order: Order):
        super().__init__(
            f"Order {order.number} is waiting for the buyer's payment in the store: it can be "
            "paid here once the store reports it paid.",
            order_id=order.pk,
        )


class OrderLocked(Conflict):
    """The order was submitted to production and can no longer be edited."""

    code = "order_locked"


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


def record_events(entries: list[NewEvent]) -> list[OrderEvent]:
    """record_event for many entries at once: one INSERT, then the subscribed tasks of
    each event in the order given, after commit (as record_event)."""
    if not entries:
        return []
    made = OrderEvent.objects.bulk_create([
        OrderEvent(workspace_id=e.order.workspace_id, order=e.order,
                   type=events.check_type(e.type), from_state=e.from_state,
                   to_state=e.to_state, actor_type=e.actor.type, actor_user=e.actor.user,
                   actor_label=e.actor.label[:120], message=e.message, data=e.data or {})
        for e in entries])
    events.dispatch(made)
    return made


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


# --- pricing and the loss guard --------------------------------------------------


@transaction.atomic
def order_mark_priced(*, order_id: int, actor: Actor, now: datetime | None = None) -> Order:
    """Every line is priced: in_quotation -> to_order, then the loss guard runs.

    An order held while in quotation stays held; the hold now returns to
    to_order (and the loss guard runs when it is released).
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == S.ON_HOLD and order.return_state == S.IN_QUOTATION:
        order.return_state = S.TO_ORDER
        _stamp(order, S.TO_ORDER, now)
        order.save()
        record_event(order=order, type="order.priced", actor=actor,
                     message="Every item is priced; the order stays on hold.",
                     data={"while_held": True})
        return order
    if order.state != S.TO_ORDER:
        if order.state != S.IN_QUOTATION:
            raise IllegalTransition(order=order, requested=S.TO_ORDER)
        _move(order, S.TO_ORDER, actor=actor, type="order.priced", now=now,
              message="Every item is priced.")
    _run_loss_guard(order, now=now)
    return order


def _run_loss_guard(order: Order, *, now: datetime) -> None:
    verdict = hooks.loss_check(order)
    if verdict is not None and verdict.is_loss:
        _apply_loss_policy(order, verdict, now=now)


def _apply_loss_policy(order: Order, verdict: hooks.LossVerdict, *, now: datetime) -> None:
    text = (
        f"Selling price {format_money(verdict.selling_amount, verdict.currency)} is below "
        f"base cost + shipping + handling ({format_money(verdict.cost_amount, verdict.currency)}"
        f"). {verdict.detail}"
    ).strip()
    actor = Actor.system("Loss guard")
    data = {"selling": str(verdict.selling_amount), "cost": str(verdict.cost_amount),
            "currency": verdict.currency}
    if order.store.loss_policy == LossPolicy.CANCEL:
        _cancel(order, reason=CancelReason.LOSS_GUARD, actor=actor, note=text, now=now,
                data=data)
        _email_cancelled(order, subject=f"Order {order.number} was cancelled: below cost",
                         body=text + "\n\nThe order was cancelled per your store's loss "
                         "policy.")
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


# --- cancellations --------------------------------------------------------------


def _default_cancel_reason(actor: Actor) -> str:
    return {
        ActorType.SELLER: CancelReason.SELLER,
        ActorType.STORE: CancelReason.STORE,
        ActorType.PROVIDER: CancelReason.PROVIDER_REJECTED,
    }.get(actor.type, CancelReason.STAFF)


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


def _email_cancelled(order: Order, *, subject: str, body: str) -> None:
    """The seller's cancel e-mail: it says "refunded" only once the store confirmed
    (order_store_cancel_result sends that one)."""
    if hooks.store_takes_cancels(order):
        tail = ("PodHub is cancelling the order in your store and asking it to refund the "
                "buyer; you will get another e-mail once the store confirms.")
    else:
        tail = ("This order's store is not connected to PodHub: cancel it and refund the "
                "buyer where it was sold.")
    _email_seller(order, subject=subject, body=f"{body}\n\n{tail}")


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


# --- the rest of the path ---------------------------------------------------------


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


# --- orders coming in: stores, manual entry, CSV --------------------------------------


def search_text_for(*, number: str, buyer_name: str, buyer_email: str, skus) -> str:
    """What the dashboard's search matches: "number buyer_name buyer_email sku1 sku2"."""
    parts = [number, buyer_name, buyer_email, *skus]
    return " ".join(p.strip() for p in parts if p and p.strip()).lower()


def _refresh_search_text(order: Order) -> None:
    skus = LineItem.objects.filter(order=order).order_by("id").values_list("sku", flat=True)
    order.search_text = search_text_for(number=order.number, buyer_name=order.buyer_name,
                                        buyer_email=order.buyer_email, skus=skus)


def outside_store(workspace) -> Store:
    """The workspace's own "Outside orders" store (platform manual), made on first use."""
    store = Store.objects.filter(workspace=workspace, is_outside_default=True).first()
    if store is not None:
        return store
    try:
        with transaction.atomic():
            return Store.objects.create(
                workspace=workspace, name=OUTSIDE_STORE_NAME, platform=Platform.MANUAL,
                currency=workspace.billing_currency or "USD", submit_mode=SubmitMode.MANUAL,
                is_outside_default=True,
            )
    except IntegrityError:  # made by a concurrent request
        return Store.objects.get(workspace=workspace, is_outside_default=True)


def _line_item(order: Order, line: inputs.LineInput) -> LineItem:
    """The line PodHub makes: what the store still wants minus what it already
    fulfilled (a store line), or the whole quantity (manual, CSV, API)."""
    return LineItem(
        workspace_id=order.workspace_id, order=order, external_id=line.external_id,
        store_product_id=line.store_product_id, store_variant_id=line.store_variant_id,
        sku=line.sku, title=line.title, variant_title=line.variant_title,
        quantity=line.to_make, store_quantity=line.quantity,
        unit_price_amount=line.unit_price, discount_amount=line.discount,
        personalization=line.personalization, images=line.images,
        catalog_variant_id=line.catalog_variant_id,
        unmapped_reason="" if line.catalog_variant_id else UNMAPPED_REASON,
    )


_ORDER_VALUES = {
    # Order field -> OrderInput attribute
    "number": "number", "channel": "channel", "buyer_name": "buyer_name",
    "buyer_email": "buyer_email", "shipping_address": "shipping_address",
    "currency": "currency", "subtotal_amount": "subtotal", "discount_amount": "discount",
    "shipping_amount": "shipping", "tax_amount": "tax", "total_amount": "total",
    "shipping_discount_amount": "shipping_discount", "shop_money": "shop_money",
}


def _create_order(*, workspace, store: Store, inp: inputs.OrderInput, actor: Actor,
                  auto_submit: bool, event_type: str, source: str, now: datetime) -> Order:
    """Insert the order and its lines (call inside transaction.atomic)."""
    order = Order.objects.create(
        workspace=workspace, store=store, external_id=inp.external_id,
        state=S.IN_QUOTATION, auto_submit=auto_submit, placed_at=inp.placed_at or now,
        store_updated_at=inp.updated_at, store_paid=inp.store_paid,
        data_problems=inp.problems,
        search_text=search_text_for(number=inp.number, buyer_name=inp.buyer_name,
                                    buyer_email=inp.buyer_email, skus=inp.skus),
        **{name: getattr(inp, attr) for name, attr in _ORDER_VALUES.items()},
    )
    lines = inp.lines_to_make
    LineItem.objects.bulk_create([_line_item(order, line) for line in lines])
    how = "Imported from" if event_type == "order.imported" else "Entered in"
    via = f" ({inp.channel})" if inp.channel else ""
    unpaid = "" if inp.store_paid else " Waiting for the buyer's payment in the store."
    skipped = [ln for ln in inp.lines if ln.fulfilled_quantity]
    done = (" Already fulfilled in the store, not made again: "
            + ", ".join(f"{ln.fulfilled_quantity} × {ln.title}" for ln in skipped) + "."
            if skipped else "")
    record_event(order=order, type=event_type, actor=actor, to_state=S.IN_QUOTATION,
                 message=f"{how} {store.name}{via}.{unpaid}{done}",
                 data={"source": source, "lines": len(lines), "store_paid": inp.store_paid,
                       **({"fulfilled_in_store": {ln.external_id or ln.title:
                                                  ln.fulfilled_quantity for ln in skipped}}
                          if skipped else {})})
    if inp.problems:
        _hold_for_data(order, inp.problems, actor=actor, now=now)
    if lines and all(line.catalog_variant_id for line in lines):
        order = order_mark_priced(order_id=order.pk, actor=Actor.system("Catalog"), now=now)
    return order


def _require_store(workspace, store: Store) -> None:
    if store.workspace_id != workspace.pk:
        raise NotFound("No such store in this workspace.")


class NothingToMake(PodhubError):
    """The store still has this order, but wants nothing made of it."""

    code = "nothing_to_make"


def order_import(*, workspace, store: Store, data: dict, actor: Actor,
                 now: datetime | None = None) -> tuple[Order, bool]:
    """Create or update the store's order `data["external_id"]`; True when it was created.

    Idempotent: an order is unique per (store, external_id), so importing twice
    never makes two orders. A version with an `updated_at` not newer than the
    one already applied changes nothing. Nothing is refused for its data: a
    missing address, e-mail or SKU imports the order on hold with the reasons
    (`Order.data_problems`). Only lines with something left to make are made
    (`fulfilled_quantity`); an order with nothing left raises NothingToMake when
    it is new. A change before submission is applied, mapped, priced and held
    again in this transaction (docs/store-truth.md "Store edits"); after submission
    it flags the order instead.

    `store_paid` only ever moves from False to True (order.store_paid on the
    timeline), whatever the version: the buyer's payment is a fact a late
    delivery may still bring, and an update that omits it or says False never
    takes it back.
    """
    now = now or timezone.now()
    _require_store(workspace, store)
    inp = inputs.validate_order_input(data, default_currency=store.currency, lenient=True)
    # A paid order's balance is locked before its row (billing's lock order), so a
    # store edit and a payment of the same workspace never wait on each other.
    paid = (Order.objects.filter(workspace_id=store.workspace_id, store=store,
                                 external_id=inp.external_id)
            .values_list("state", "return_state").first())
    money_first = paid is not None and _paid_unsubmitted(*paid)
    if paid is None:  # new here: rules may skip it or some of its items (hooks)
        inp, skipped = hooks.filter_import(store, inp)
        if skipped and not inp.lines_to_make:
            raise NothingToMake(f"Not imported: {skipped}")
    try:
        return _import_locked(workspace, store, inp, actor=actor, now=now,
                              money_first=money_first)
    except _LockMoneyFirst:
        return _import_locked(workspace, store, inp, actor=actor, now=now, money_first=True)


class _LockMoneyFirst(Exception):
    """The order was paid meanwhile: start again, locking the balance first."""


def _paid_unsubmitted(state: str, return_state: str) -> bool:
    effective = return_state if state == S.ON_HOLD else state
    return effective in states.PAID_UNSUBMITTED


def _import_locked(workspace, store: Store, inp: inputs.OrderInput, *, actor: Actor,
                   now: datetime, money_first: bool) -> tuple[Order, bool]:
    money = hooks.edit_money()
    lock = money.lock(store.workspace_id) if money_first and money else nullcontext()
    with transaction.atomic(), lock as book:
        order = _lock_by_external_id(store, inp.external_id)
        if order is None:
            if not inp.lines_to_make:
                raise NothingToMake("Nothing left to make: every item was removed, refunded "
                                    "or fulfilled in the store.")
            try:
                with transaction.atomic():
                    order = _create_order(
                        workspace=workspace, store=store, inp=inp, actor=actor,
                        auto_submit=store.auto_submits, event_type="order.imported",
                        source=store.platform, now=now,
                    )
                return order, True
            except IntegrityError:  # a concurrent import of the same order won
                order = _lock_by_external_id(store, inp.external_id)
                if order is None:
                    raise
        if money is not None and not money_first and _paid_unsubmitted(order.state,
                                                                       order.return_state):
            raise _LockMoneyFirst
        _apply_store_paid(order, inp, actor=actor)
        _apply_store_version(order, inp, actor=actor, now=now, book=book)
        return order, False


def _apply_store_paid(order: Order, inp: inputs.OrderInput, *, actor: Actor) -> None:
    if order.store_paid or not (inp.store_paid_given and inp.store_paid):
        return
    order.store_paid = True
    order.save(update_fields=["store_paid", "updated_at"])
    record_event(order=order, type="order.store_paid", actor=actor,
                 message="The buyer paid in the store: the order can be paid now.")


def _lock_by_external_id(store: Store, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",)).select_related("store")
        .filter(workspace_id=store.workspace_id, store=store, external_id=external_id)
        .first()
    )


# --- what changed in the store ---------------------------------------------------------


def _identity(line: LineItem | inputs.LineInput) -> tuple:
    """What the catalog maps by: a change re-maps the line."""
    return (line.sku, line.store_variant_id, line.store_product_id)


def _match_lines(current: list[LineItem], incoming: list[inputs.LineInput]):
    """Pair incoming lines with current ones (by external id, else SKU + variant);
    -> [(incoming, current or None)], [current left over]."""
    unmatched = list(current)
    pairs = []
    for want in incoming:
        have = next((c for c in unmatched if want.external_id and
                     c.external_id == want.external_id), None)
        if have is None:
            have = next((c for c in unmatched if not want.external_id and
                         (c.sku, c.store_variant_id) == (want.sku, want.store_variant_id)),
                        None)
        if have is not None:
            unmatched.remove(have)
        pairs.append((want, have))
    return pairs, unmatched


def _line_changes(current: list[LineItem], incoming: list[inputs.LineInput], *,
                  locked: bool) -> list[dict]:
    """What the store changed in the items, in words a seller reads and as data.

    Before submission the lines compared are what is left to make; after it, the
    store's current quantities (a fulfillment PodHub pushed itself is no change)."""
    changes: list[dict] = []
    pairs, removed = _match_lines(current, incoming)
    for want, have in pairs:
        qty = want.quantity if locked else want.to_make
        if have is None:
            if qty > 0:
                changes.append({"change": "added", "title": want.title, "sku": want.sku,
                                "to": qty})
            continue
        had = (have.store_quantity or have.quantity) if locked else have.quantity
        if _identity(have) != _identity(want):
            changes.append({"change": "variant", "title": want.title, "from_sku": have.sku,
                            "sku": want.sku, "from_variant": have.variant_title,
                            "variant": want.variant_title, "to": qty, "line_id": have.pk})
        elif had != qty:
            changes.append({"change": "quantity", "title": want.title, "sku": want.sku,
                            "from": had, "to": qty, "line_id": have.pk})
        elif not locked and _line_key(have) != _line_key(want):
            changes.append({"change": "details", "title": want.title, "sku": want.sku,
                            "line_id": have.pk})
    for have in removed:
        changes.append({"change": "removed", "title": have.title, "sku": have.sku,
                        "from": have.quantity, "line_id": have.pk})
    return changes


def _describe(change: dict) -> str:
    what = change["title"]
    kind = change["change"]
    if kind == "added":
        return f"{what} added (× {change['to']})"
    if kind == "removed":
        return f"{what} removed (was × {change['from']})"
    if kind == "quantity":
        return f"{what} × {change['from']} → × {change['to']}"
    if kind == "variant":
        before = change.get("from_variant") or change.get("from_sku") or "?"
        after = change.get("variant") or change.get("sku") or "?"
        return f"{what} changed from {before} to {after}"
    return f"{what}: details changed"


def _line_key(line: LineItem | inputs.LineInput) -> tuple:
    if isinstance(line, LineItem):
        return (line.external_id, line.store_product_id, line.store_variant_id, line.sku,
                line.title, line.variant_title, Decimal(line.unit_price_amount),
                Decimal(line.discount_amount), line.personalization, line.images)
    return (line.external_id, line.store_product_id, line.store_variant_id, line.sku,
            line.title, line.variant_title, line.unit_price, line.discount,
            line.personalization, line.images)


def _replace_lines(order: Order, current: list[LineItem],
                   incoming: list[inputs.LineInput]) -> None:
    """Make the order's lines what the store still wants: matched lines are updated in
    place (their catalog mapping kept unless the SKU or variant changed — then it is
    mapped again), the rest deleted, new ones added."""
    pairs, unmatched = _match_lines(current, [ln for ln in incoming if ln.to_make > 0])
    keep: list[LineItem] = []
    new: list[LineItem] = []
    for want, have in pairs:
        if have is None:
            new.append(_line_item(order, want))
            continue
        fresh = _line_item(order, want)
        if want.catalog_variant_given:
            mapped = want.catalog_variant_id
        elif _identity(have) != _identity(want):
            mapped = None  # another product now: map it again (a colour swap)
            fresh.price_snapshot = {}
        else:
            mapped = have.catalog_variant_id
            fresh.price_snapshot = have.price_snapshot
        fresh.pk, fresh.catalog_variant_id, fresh.created_at = have.pk, mapped, have.created_at
        fresh.unmapped_reason = "" if mapped else UNMAPPED_REASON
        keep.append(fresh)
    if unmatched:
        LineItem.objects.filter(pk__in=[c.pk for c in unmatched]).delete()
    for line in keep:
        line.save()
    LineItem.objects.bulk_create(new)


def _apply_store_version(order: Order, inp: inputs.OrderInput, *, actor: Actor,
                         now: datetime, book=None) -> None:
    if inp.updated_at and order.store_updated_at and inp.updated_at <= order.store_updated_at:
        log.info("order %s: ignored store version %s (have %s)", order.pk, inp.updated_at,
                 order.store_updated_at)
        return
    if inp.updated_at:
        order.store_updated_at = inp.updated_at
    current = list(LineItem.objects.filter(order=order).order_by("id"))
    locked = order.is_locked or order.state == S.SHIPPED
    if not locked:
        _keep_seller_fixes(order, current, inp)
    changed = [name for name, attr in _ORDER_VALUES.items()
               if _differs(getattr(order, name), getattr(inp, attr))]
    line_changes = _line_changes(current, inp.lines, locked=locked)
    if line_changes:
        changed.append("line_items")
    nothing = not changed and (locked or inp.problems == order.data_problems)
    if order.state == S.CANCELLED or nothing:
        if inp.updated_at:
            order.save(update_fields=["store_updated_at", "updated_at"])
        return
    if locked:
        _flag_store_change(order, changed, line_changes, actor=actor)
        return
    for name, attr in _ORDER_VALUES.items():
        setattr(order, name, getattr(inp, attr))
    if line_changes:
        _replace_lines(order, current, inp.lines)
    order.data_problems = inp.problems
    order.search_text = search_text_for(number=inp.number, buyer_name=inp.buyer_name,
                                        buyer_email=inp.buyer_email, skus=inp.skus)
    order.save()
    said = [_describe(c) for c in line_changes] + [
        n.replace("_amount", "").replace("_", " ") for n in changed if n != "line_items"]
    record_event(order=order, type="order.updated", actor=actor,
                 message="Updated from the store: " + "; ".join(said) + "." if said else
                 "Updated from the store.",
                 data={"fields": changed, "lines": line_changes})
    if not inp.lines_to_make:
        _cancel(order, reason=CancelReason.STORE, actor=actor, now=now,
                note="Nothing left to make: every item was removed, refunded or fulfilled "
                "in the store.")
        return
    if line_changes or "shipping_address" in changed:
        _after_store_edit(order, book=book, now=now)
    _sync_data_hold(order, actor=actor, now=now)


def _keep_seller_fixes(order: Order, current: list[LineItem], inp: inputs.OrderInput) -> None:
    """A store version that still lacks what the seller filled in PodHub (an address, an
    e-mail, a SKU) keeps the seller's value instead of blanking it again."""
    problems = dict(inp.problems)
    if any(k.startswith("shipping_address") for k in problems) and order.shipping_address \
            and not any(k.startswith("shipping_address") for k in order.data_problems):
        inp.shipping_address = dict(order.shipping_address)
        problems = {k: v for k, v in problems.items() if not k.startswith("shipping_address")}
    if "buyer_email" in problems and order.buyer_email:
        inp.buyer_email = order.buyer_email
        problems.pop("buyer_email")
    pairs, _ = _match_lines(current, inp.lines)
    for i, (want, have) in enumerate(pairs):
        if have is not None and not want.sku and have.sku and not (
                want.store_product_id or want.store_variant_id):
            want.sku = have.sku
            problems.pop(f"line_items.{i}.sku", None)  # pairs follow inp.lines
    inp.problems = problems


def _differs(have, want) -> bool:
    if isinstance(want, Decimal):
        return Decimal(have) != want
    if isinstance(want, dict):
        return {k: v for k, v in (have or {}).items() if v not in ("", None)} != \
            {k: v for k, v in want.items() if v not in ("", None)}
    return have != want


def _flag_store_change(order: Order, changed: list[str], line_changes: list[dict], *,
                       actor: Actor) -> None:
    """After submission a store change is never applied: the order is flagged and the
    seller told, once per distinct change."""
    said = [_describe(c) for c in line_changes] + [
        n.replace("_amount", "").replace("_", " ") for n in changed if n != "line_items"]
    digest = hashlib.sha256("|".join(sorted(said)).encode()).hexdigest()[:16]
    last = (OrderEvent.objects.filter(order=order, type="order.store_change_after_submission")
            .order_by("-pk").values_list("data", flat=True).first()) or {}
    order.needs_attention = "Changed in the store after it went to production."
    order.save(update_fields=["store_updated_at", "needs_attention", "updated_at"])
    if last.get("digest") == digest:
        return
    text = "; ".join(said)
    record_event(order=order, type="order.store_change_after_submission", actor=actor,
                 message=f"Changed in the store after it went to production ({text}); the "
                 "order was not changed.",
                 data={"fields": changed, "lines": line_changes, "digest": digest})
    _email_seller(order, subject=f"Order {order.number} changed in the store",
                  body=f"The order was changed in the store after it went to production "
                  f"({text}). PodHub kept the submitted version; check with the provider "
                  "whether the change can still be made, or cancel it there.")


def _after_store_edit(order: Order, *, book, now: datetime) -> None:
    """Map, price and hold again what the store changed (docs/store-truth.md "Store edits")."""
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    lines = list(LineItem.objects.filter(order=order).order_by("pk"))
    if effective == S.IN_QUOTATION:
        # the catalog maps it after commit (order.updated), as a new order
        if lines and all(line.catalog_variant_id for line in lines):
            order_mark_priced(order_id=order.pk, actor=Actor.system("Catalog"), now=now)
        return
    reasons = hooks.map_lines(order, lines) or {}
    catalog = Actor.system("Catalog")
    if effective in states.PAID_UNSUBMITTED:
        money = hooks.edit_money()
        rep = None
        if money is not None:
            rep = money.reprice(order, book=book, priced=not reasons,
                                version=(order.store_updated_at or now).isoformat(), now=now)
        if reasons:
            _go_back(order, S.IN_QUOTATION, actor=catalog, now=now,
                     message=_unpriced_text(reasons, lines)
                     + (f" {rep.message}" if rep else ""),
                     data={"reasons": {str(k): v for k, v in reasons.items()},
                           **(rep.data if rep else {})})
        elif rep is not None and not rep.funded:
            _go_back(order, S.TO_ORDER, actor=Actor.system("Balance"), now=now,
                     message=rep.message, data=rep.data)
        elif rep is not None:
            record_event(order=order, type="order.repriced", actor=Actor.system("Balance"),
                         message=rep.message, data=rep.data)
    elif reasons:  # to_order
        _go_back(order, S.IN_QUOTATION, actor=catalog, now=now,
                 message=_unpriced_text(reasons, lines),
                 data={"reasons": {str(k): v for k, v in reasons.items()}})
    if order.state in (S.TO_ORDER, S.AWAITING_SUBMISSION):
        _run_loss_guard(order, now=now)


def _unpriced_text(reasons: dict[int, str], lines: list[LineItem]) -> str:
    titles = {line.pk: line.title for line in lines}
    return "Not priced after the store's change: " + "; ".join(
        f"{titles.get(pk, 'an item')}: {why}" for pk, why in reasons.items()) + "."


def _go_back(order: Order, to: str, *, actor: Actor, message: str, data: dict,
             now: datetime) -> None:
    """A store edit sends the order back (states.STORE_EDIT_BACK); a held order stays
    held and returns there when released."""
    event = "order.unpriced" if to == S.IN_QUOTATION else "order.unpaid"
    if to != S.AWAITING_SUBMISSION:
        order.submit_at = None
        order.paid_at = None
    if order.state == S.ON_HOLD:
        previous = order.return_state
        order.return_state = to
        order.save()
        record_event(order=order, type=event, actor=actor, message=message,
                     data={"while_held": True, "from_state": previous, "to_state": to,
                           **data})
        return
    if to not in states.STORE_EDIT_BACK.get(order.state, frozenset()):
        raise IllegalTransition(order=order, requested=to)
    _move(order, to, actor=actor, type=event, message=message, data=data, now=now)


# --- data the store sent that needs fixing -----------------------------------------------


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


def _order_as_input(order: Order) -> dict:
    """The order as an input dict, to check its data again after an edit."""
    return {
        "external_id": order.external_id, "number": order.number,
        "buyer_name": order.buyer_name, "buyer_email": order.buyer_email,
        "shipping_address": order.shipping_address, "currency": order.currency,
        "line_items": [{"sku": ln.sku, "title": ln.title, "quantity": ln.quantity,
                        "unit_price": str(ln.unit_price_amount),
                        "store_product_id": ln.store_product_id,
                        "store_variant_id": ln.store_variant_id,
                        "catalog_variant_id": ln.catalog_variant_id}
                       for ln in LineItem.objects.filter(order=order).order_by("pk")],
    }


def _outside_store_for(workspace, store: Store | None) -> Store:
    if store is None:
        return outside_store(workspace)
    _require_store(workspace, store)
    if store.platform != Platform.MANUAL:
        message = (f"{store.name} is a {store.get_platform_display()} store: its orders are "
                   "imported from the store. Enter outside orders in an outside-source store.")
        raise ValidationFailed(message, fields={"store": message})
    return store


def order_create_manual(*, workspace, data: dict, actor: Actor,
                        store: Store | None = None) -> Order:
    """An order from an outside source (Etsy, Amazon, ...), entered by the seller.

    Never auto-submitted: the seller checks the personalisation and submits by
    hand. Bad input raises ValidationFailed with per-field reasons; an order
    number already used in that store raises Conflict.
    """
    now = timezone.now()
    store = _outside_store_for(workspace, store)
    inp = inputs.validate_order_input(data, default_currency=store.currency,
                                      require_sku=True, require_number=True)
    existing = Order.objects.filter(workspace=workspace, store=store,
                                    external_id=inp.external_id).only("id").first()
    if existing is not None:
        raise _duplicate(inp, store, existing.pk)
    try:
        with transaction.atomic():
            return _create_order(workspace=workspace, store=store, inp=inp, actor=actor,
                                 auto_submit=False, event_type="order.created",
                                 source="manual", now=now)
    except IntegrityError:
        raise _duplicate(inp, store, None) from None


def _duplicate(inp: inputs.OrderInput, store: Store, order_id: int | None) -> Conflict:
    message = f"Order {inp.number} already exists in {store.name}."
    return Conflict(message, order_id=order_id, fields={"number": message})


def csv_import(*, workspace, file, actor: Actor, store: Store | None = None) -> CsvImportReport:
    """Import outside-source orders from a CSV (docs/csv-import.md) in this process.

    The dashboard and the API queue the same work as a job instead
    (orders/csv_jobs.py: CsvImport, a task, progress); this runs that job
    inline and returns its report. File-level problems (over 5 MB, not UTF-8,
    required columns missing) raise ValidationFailed and import nothing.
    """
    from orders import csv_jobs  # built on this module's order creation

    return csv_jobs.csv_import(workspace=workspace, file=file, actor=actor, store=store)


# --- the seller's edits ---------------------------------------------------------------

EDITABLE = {"buyer_name", "buyer_email", "shipping_address", "lines"}
# sku: only on a line that maps to no catalog product yet (a store's custom item)
LINE_EDITABLE = {"personalization", "images", "sku"}


def _locked_message(order: Order) -> str:
    if order.state == S.CANCELLED:
        return f"Order {order.number} is cancelled: it can no longer be edited."
    when = f" on {order.submitted_at:%Y-%m-%d}" if order.submitted_at else ""
    return (f"Order {order.number} was submitted to production{when}: personalisation, "
            "address and items can no longer be edited.")


@transaction.atomic
def order_edit(*, order_id: int, actor: Actor, changes: dict,
               now: datetime | None = None, workspace=None) -> Order:
    """The seller edits buyer, shipping address or per-line personalisation.

    `changes` holds any of buyer_name, buyer_email, shipping_address (the keys
    given replace those on the order) and lines: {line_id: {"personalization":
    [...], "images": [...]}}. A locked order raises OrderLocked. A seller's
    edit of an order held for an information request answers it: the order
    returns to where it was held from.
    """
    now = now or timezone.now()
    if not isinstance(changes, dict):
        raise ValidationFailed("Send the changes as an object.")
    order = lock_order(order_id, workspace=workspace)
    if order.is_locked:
        raise OrderLocked(_locked_message(order))
    errors = inputs.Errors()
    for key in changes:
        if key not in EDITABLE:
            errors.add(key, "This field cannot be edited. Editable: "
                       + ", ".join(sorted(EDITABLE)) + ".")
    changed: list[str] = []
    if "buyer_name" in changes:
        value = inputs.text(changes["buyer_name"], "buyer_name", errors, max_length=200)
        if value != order.buyer_name:
            order.buyer_name = value
            changed.append("buyer_name")
    if "buyer_email" in changes:
        value = inputs.email(changes["buyer_email"], "buyer_email", errors)
        if value != order.buyer_email:
            order.buyer_email = value
            changed.append("buyer_email")
    if "shipping_address" in changes:
        changed += _edit_address(order, changes["shipping_address"], errors)
    line_updates = _edit_lines(order, changes.get("lines"), errors) \
        if "lines" in changes else []
    errors.raise_if_any("The change")
    for line, fields in line_updates:
        line.save(update_fields=[*fields, "updated_at"])
        changed += [f"lines.{line.pk}.{f}" for f in fields if f != "unmapped_reason"]
    if {"buyer_name", "buyer_email"} & set(changed) or any(c.endswith(".sku") for c in changed):
        _refresh_search_text(order)
    if order.data_problems and changed:
        order.data_problems = inputs.validate_order_input(
            _order_as_input(order), default_currency=order.currency, lenient=True).problems
    order.save()
    if changed:
        record_event(order=order, type="order.edited", actor=actor,
                     message="Edited " + ", ".join(changed) + ".", data={"fields": changed})
    if (actor.type == ActorType.SELLER and order.state == S.ON_HOLD
            and order.hold_reason == HoldReason.INFO_REQUESTED):
        _release(order, actor=actor, now=now,
                 message="The seller answered the request for information by editing the "
                 "order.")
    elif changed and (order.data_problems or order.hold_reason == HoldReason.DATA_PROBLEM):
        _sync_data_hold(order, actor=actor, now=now)
    return order


def _edit_address(order: Order, value, errors: inputs.Errors) -> list[str]:
    """The keys given replace the order's; the result must be a whole valid address."""
    if not isinstance(value, dict):
        errors.add("shipping_address", "Send the address fields to change as an object.")
        return []
    current = order.shipping_address or {}
    given = {inputs.ADDRESS_ALIASES.get(k, k): v for k, v in value.items()}
    candidate = {k: v for k, v in current.items() if k in inputs.ADDRESS_FIELDS} | given
    clean = inputs.address(candidate, "shipping_address", errors)
    changed = [f"shipping_address.{k}" for k, v in clean.items() if (current.get(k) or "") != v]
    order.shipping_address = {**current, **clean}
    return changed


def _edit_lines(order: Order, value, errors: inputs.Errors) -> list[tuple[LineItem, list[str]]]:
    if not isinstance(value, dict):
        errors.add("lines", "Send {line_id: {\"personalization\": [...]}}.")
        return []
    wanted: dict[int, dict] = {}
    for raw_id, line_changes in value.items():
        try:
            wanted[int(raw_id)] = line_changes
        except (TypeError, ValueError):
            errors.add(f"lines.{raw_id}", "Not a line item id.")
    found = {line.pk: line for line in LineItem.objects.filter(order=order, pk__in=list(wanted))}
    updates = []
    for line_id, line_changes in wanted.items():
        line = found.get(line_id)
        if line is None:
            errors.add(f"lines.{line_id}", "No such line item in this order.")
            continue
        if not isinstance(line_changes, dict):
            errors.add(f"lines.{line_id}", "Send {\"personalization\": [...]}.")
            continue
        fields = []
        for key in line_changes:
            if key not in LINE_EDITABLE:
                errors.add(f"lines.{line_id}.{key}", "Editable: personalization, images, sku.")
        if "personalization" in line_changes:
            value = _keep_json_values(inputs.personalization(
                line_changes["personalization"], f"lines.{line_id}.personalization", errors),
                line.personalization)
            if value != line.personalization:
                line.personalization = value
                fields.append("personalization")
        if "images" in line_changes:
            value = inputs.images(line_changes["images"], f"lines.{line_id}.images", errors)
            if value != line.images:
                line.images = value
                fields.append("images")
        if "sku" in line_changes:
            value = inputs.text(line_changes["sku"], f"lines.{line_id}.sku", errors,
                                max_length=128)
            if line.catalog_variant_id and value != line.sku:
                errors.add(f"lines.{line_id}.sku", "This item is already connected to a "
                           "catalog product: its SKU comes from the store.")
            elif value != line.sku:
                line.sku = value
                line.unmapped_reason = UNMAPPED_REASON  # the catalog maps it again
                fields += ["sku", "unmapped_reason"]
        if fields:
            updates.append((line, fields))
    return updates


def _keep_json_values(new: list[dict], old: list[dict]) -> list[dict]:
    """A form shows an object value as its readable text; sent back unchanged, the value
    stays the object it was (a text edit replaces it)."""
    before = {p.get("key"): p.get("value") for p in old or [] if isinstance(p, dict)}
    kept = []
    for pair in new:
        was = before.get(pair["key"])
        if not isinstance(was, str) and was is not None and \
                pair["value"] == inputs.display_value(was):
            pair = {**pair, "value": was}
        kept.append(pair)
    return kept


# --- privacy -------------------------------------------------------------------------------

# Personalisation is kept while the order may still be made; erased once it is finished.
_FINISHED = (S.SHIPPED, S.COMPLETED, S.CANCELLED)


@transaction.atomic
def order_redact_buyer(*, order_id: int, actor: Actor, reason: str = "") -> Order:
    """Erase the buyer's personal data: name, e-mail, shipping address, and the items'
    personalisation and images once the order is finished (shipped, completed or
    cancelled; until then production needs them). Records order.buyer_data_redacted
    when anything was erased; a repeat changes nothing.
    """
    order = lock_order(order_id)
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    erased: list[str] = [name for name in ("buyer_name", "buyer_email", "shipping_address")
                         if getattr(order, name)]
    order.buyer_name, order.buyer_email, order.shipping_address = "", "", {}
    if effective in _FINISHED or order.state in _FINISHED:
        lines = LineItem.objects.filter(order=order)
        if any(p or i for p, i in lines.values_list("personalization", "images")):
            lines.update(personalization=[], images=[], updated_at=timezone.now())
            erased.append("personalization")
    if not erased:
        return order
    _refresh_search_text(order)
    order.save(update_fields=["buyer_name", "buyer_email", "shipping_address", "search_text",
                              "updated_at"])
    record_event(order=order, type="order.buyer_data_redacted", actor=actor,
                 message=reason or "The buyer's personal data was erased.",
                 data={"fields": erased})
    return order


# --- e-mail -----------------------------------------------------------------------------


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
    mail.send(to=recipients, subject=f"[PodHub] {subject}", body=f"{body}\n\n{url}",
              workspace_id=order.workspace_id)
