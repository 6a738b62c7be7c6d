"""Cancel at the provider: the offer made when the store changed or cancelled an order
after it went to production (docs/store-truth.md "Cancel at the provider").

PodHub never applies such a store change (orders.services flags the order). Where the
provider still takes a cancel in the submission's current status (each adapter's
`cancellable`, from the provider's documentation), the seller — an owner or admin: it
moves money — or staff may stop the order there:

1. each open submission is cancelled at its provider (outside any lock: an HTTP call),
   then marked cancelled with a timeline entry, one by one, so a repeat after a partial
   failure cancels only what is left;
2. one transaction refunds what was captured for the order (the provider made nothing)
   and cancels the order; `order.cancelled` releases the holds (billing) and, unless the
   store itself cancelled it, pushes the cancel with a refund to the buyer to the store
   (integrations' outbox), like every cancel that affects the buyer.

A provider's refusal (already in production) leaves the order as it was, flagged, with
the provider's reason on the timeline and in the 409.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.services import order_refund_captured
from billing.topups import require_money_role
from fulfillment.models import Submission, SubmissionStatus
from fulfillment.providers import ProviderRefused, ProviderUnavailable, client_for, registry
from orders import services as order_services
from orders.events import Actor, OrderEvents
from orders.models import ActorType, CancelReason, Order, OrderEvent, OrderState
from podhub.core.exceptions import Conflict, NotFound
from podhub.workspaces.models import Membership

log = logging.getLogger(__name__)
S = OrderState

STORE_CHANGED = "order.store_change_after_submission"
STORE_CANCELLED = "order.store_cancel_after_submission"
# Sent or being sent: the provider has it (or may have it) and a cancel must go there.
OPEN = (SubmissionStatus.PENDING, SubmissionStatus.SENDING, SubmissionStatus.ACCEPTED,
        SubmissionStatus.IN_PRODUCTION, SubmissionStatus.SHIPPED)


class CancelRefused(Conflict):
    """The provider did not cancel the order (or PodHub cannot ask it to)."""

    code = "cancel_refused"


class ProviderUnreachable(Conflict):
    """The provider could not be reached; nothing was cancelled. Try again."""

    code = "provider_unavailable"
    status = 503


@dataclass(frozen=True)
class CancelOffer:
    provider_name: str  # "Sandbox factory"; several: "Printful and Gelato"
    store_cancelled: bool  # the store cancelled it itself: nothing is pushed back


def store_flag(order: Order) -> str:
    """"cancel" (the store cancelled the order after submission), "change" (it changed
    it), or "" (not flagged, or the order is past the point of any cancel)."""
    if not order.needs_attention or order.state in (S.CANCELLED, S.SHIPPED, S.COMPLETED):
        return ""
    types = set(OrderEvent.objects.filter(order=order, type__in=(STORE_CHANGED,
                                                                 STORE_CANCELLED))
                .values_list("type", flat=True))
    if STORE_CANCELLED in types:
        return "cancel"
    return "change" if STORE_CHANGED in types else ""


def _submissions(order: Order) -> list[Submission]:
    return list(Submission.objects.filter(order=order, workspace_id=order.workspace_id)
                .exclude(status=SubmissionStatus.FAILED).select_related("provider")
                .order_by("pk"))


def _can_cancel(sub: Submission) -> bool:
    try:
        client = registry.get(sub.adapter).client
    except LookupError:
        return False
    return bool(sub.external_id) and client.can_cancel(sub.status)


def _why_not(order: Order, subs: list[Submission]) -> str:
    """Why no cancel is offered; "" when it is."""
    if not store_flag(order):
        return (f"Order {order.number} was not changed or cancelled in the store after it "
                "went to production: there is nothing to cancel at the provider.")
    open_subs = [s for s in subs if s.status in OPEN]
    if not open_subs and not any(s.status == SubmissionStatus.CANCELLED for s in subs):
        return f"Order {order.number} was not sent to a provider."
    for sub in open_subs:
        if not _can_cancel(sub):
            return (f"{sub.provider.name} does not take a cancel of an order that is "
                    f"{sub.get_status_display().lower()} ({sub.reference}): ask it directly "
                    "or open a claim.")
    return ""


def cancel_offer(*, order: Order) -> CancelOffer | None:
    """What the order page and the API offer: a cancel at the provider, or None."""
    subs = _submissions(order)
    if _why_not(order, subs):
        return None
    names = list(dict.fromkeys(s.provider.name for s in subs
                               if s.status in OPEN or s.status == SubmissionStatus.CANCELLED))
    return CancelOffer(provider_name=" and ".join(names),
                       store_cancelled=store_flag(order) == "cancel")


def _state(order: Order, subs: list[Submission], **extra) -> dict:
    """The current state, for the 409's body."""
    return {"order_id": order.pk, "current_state": order.state,
            "needs_attention": order.needs_attention,
            "submissions": [{"reference": s.reference, "provider": s.provider.code,
                             "status": s.status} for s in subs], **extra}


def _require_role(order: Order, actor: Actor) -> None:
    """Seller: the owner or an admin only (the cancel moves money). Staff act in admin."""
    if actor.type != ActorType.SELLER:
        return
    membership = Membership.objects.filter(workspace_id=order.workspace_id,
                                           user=actor.user).first()
    require_money_role(membership, what="cancel an order at its provider")


def submission_cancel_at_provider(*, order_id: int, actor: Actor, workspace=None,
                                  now: datetime | None = None) -> Order:
    """Cancel the order's open submissions at their providers, then the order here (with
    its money back and, unless the store cancelled it, the cancel pushed to the store).
    A cancelled order is returned as it is (replay-safe). Raises NotFound (another
    workspace's order), PermissionDenied (a member), CancelRefused (409: not offered, or
    the provider refused — the order stays flagged) or ProviderUnreachable (503)."""
    now = now or timezone.now()
    orders = Order.objects.filter(pk=order_id)
    if workspace is not None:
        orders = orders.filter(workspace=workspace)
    order = orders.first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    _require_role(order, actor)
    if order.state == S.CANCELLED:
        return order
    subs = _submissions(order)
    why = _why_not(order, subs)
    if why:
        raise CancelRefused(why, **_state(order, subs))
    flag = store_flag(order)
    for sub in subs:
        if sub.status in OPEN:
            _cancel_one(order, sub, actor=actor, now=now)
    names = " and ".join(dict.fromkeys(s.provider.name for s in subs))
    with transaction.atomic():
        # the ledger lock first (billing's lock order: the balance, then the order)
        order_refund_captured(
            workspace_id=order.workspace_id, order_id=order.pk, key="cancelled-at-provider",
            reason=f"cancelled at {names} before production", user=actor.user)
        store_cancelled = flag == "cancel"
        return order_services.order_cancel(
            order_id=order.pk, workspace=order.workspace, actor=actor, now=now,
            reason=_reason(actor, store_cancelled), at_provider=names,
            cancel_in_store=not store_cancelled and actor.type == ActorType.SELLER,
            note=f"Cancelled at {names} after the order "
            f"{'was cancelled' if store_cancelled else 'changed'} in the store.")


def _reason(actor: Actor, store_cancelled: bool) -> str:
    if store_cancelled:
        return CancelReason.BUYER  # as the store's own cancel: not pushed back to it
    # a staff cancel reaches the store by its reason; a seller's by cancel_in_store
    return CancelReason.STAFF if actor.type == ActorType.STAFF else CancelReason.SELLER


def _cancel_one(order: Order, sub: Submission, *, actor: Actor, now: datetime) -> None:
    """One submission: the provider's cancel (no lock held), then ours."""
    try:
        client_for(sub.provider, adapter=sub.adapter).cancel(sub.external_id)
    except ProviderUnavailable as exc:
        # (CredentialsRejected is one too: the key waits for staff, nothing was cancelled)
        raise ProviderUnreachable(
            f"{sub.provider.name} could not be reached ({exc.message}); nothing was "
            "cancelled. Try again later.", **_state(order, [sub])) from exc
    except ProviderRefused as exc:
        if _mark_cancelled(order, sub, actor=actor, now=now, refused=exc.message):
            return  # a concurrent request cancelled it meanwhile
        order.refresh_from_db()
        raise CancelRefused(
            f"{sub.provider.name} did not cancel the order: {exc.message}. The order is "
            "still in production and flagged; PodHub changed nothing.",
            **_state(order, _submissions(order), provider_message=exc.message)) from exc
    _mark_cancelled(order, sub, actor=actor, now=now)


@transaction.atomic
def _mark_cancelled(order: Order, sub: Submission, *, actor: Actor, now: datetime,
                    refused: str = "") -> bool:
    """Record the provider's answer. With `refused`: True when the submission was
    cancelled meanwhile (nothing to record), else the refusal goes on the timeline."""
    sub = Submission.objects.select_for_update(of=("self",)).get(pk=sub.pk)
    if sub.status == SubmissionStatus.CANCELLED:
        return True
    if refused:
        order_services.record_event(
            order=order, type=OrderEvents.FULFILLMENT_CANCEL_REFUSED, actor=actor,
            message=f"{sub.provider.name} did not cancel {sub.reference}: {refused}",
            data={"submission_id": sub.pk, "provider": sub.provider.code,
                  "reason": refused[:500]})
        return False
    sub.status = SubmissionStatus.CANCELLED
    sub.lease_until = None
    sub.next_poll_at = None
    sub.save(update_fields=["status", "lease_until", "next_poll_at", "updated_at"])
    order_services.record_event(
        order=order, type=OrderEvents.FULFILLMENT_CANCELLED_AT_PROVIDER, actor=actor,
        message=f"{sub.provider.name} cancelled {sub.reference} before production.",
        data={"submission_id": sub.pk, "provider": sub.provider.code})
    log.info("order %s: %s cancelled at %s", order.pk, sub.reference, sub.provider.code)
    return True


__all__ = ["CancelOffer", "CancelRefused", "ProviderUnreachable", "cancel_offer",
           "store_flag", "submission_cancel_at_provider"]
