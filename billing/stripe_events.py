"""Stripe webhooks: verify, store, acknowledge; then apply, idempotently.

The event body is only a trigger. Processing re-reads the object from Stripe's
API and finds the workspace from our own rows (TopUp, PaymentProfile), never
from the event's metadata alone; a session, payment or charge that is not ours,
or that names another workspace, credits nothing. Replays and out-of-order
events are harmless: credits and debits are keyed by our TopUp and Stripe's
object ids, and amounts are taken from the current state of the object.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import stripe_gateway, topups
from billing.models import (
    PaymentProfile,
    StripeEvent,
    StripeEventStatus,
    TopUp,
    TopUpKind,
    TopUpStatus,
)
from podhub.core.money import format_money

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


@dataclass
class Outcome:
    status: str
    note: str = ""
    workspace_id: int | None = None


def stripe_event_receive(*, payload: bytes, sig_header: str) -> tuple[StripeEvent, bool]:
    """Verify the signature (raises), store the event, ring the doorbell on commit."""
    stripe_gateway.construct_event(payload, sig_header)
    data = json.loads(payload)
    with transaction.atomic():
        row, created = StripeEvent.objects.get_or_create(
            event_id=str(data["id"]),
            defaults={"type": str(data.get("type", ""))[:100], "payload": data,
                      "livemode": bool(data.get("livemode"))})
        if created:
            from billing.tasks import stripe_event_process_task

            stripe_event_process_task.delay(stripe_event_id=row.pk)
    return row, created


def stripe_event_reprocess(*, stripe_event_id: int) -> StripeEvent:
    """Staff: process a stored event again. A processed one stays as it is (idempotent); a
    failed, ignored or rejected one is processed afresh, its attempts reset."""
    StripeEvent.objects.filter(pk=stripe_event_id).exclude(
        status=StripeEventStatus.PROCESSED).update(status=StripeEventStatus.FAILED, attempts=0)
    return stripe_event_process(stripe_event_id=stripe_event_id)


def stripe_event_process(*, stripe_event_id: int) -> StripeEvent:
    row = StripeEvent.objects.get(pk=stripe_event_id)
    if row.status in (StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED,
                      StripeEventStatus.REJECTED):
        return row
    StripeEvent.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
    try:
        outcome = apply(row.type, (row.payload.get("data") or {}).get("object") or {})
    except Exception as exc:  # stored, retried by the sweep, visible in the admin
        log.exception("Stripe event %s (%s) failed", row.event_id, row.type)
        outcome = Outcome(StripeEventStatus.FAILED, f"{exc.__class__.__name__}: {exc}")
    row.status = outcome.status
    row.note = outcome.note[:500]
    row.workspace_id = outcome.workspace_id or row.workspace_id
    row.processed_at = timezone.now()
    row.save(update_fields=["status", "note", "workspace", "processed_at"])
    return row


def apply(type: str, obj: dict) -> Outcome:
    if type.startswith("checkout.session."):
        return _checkout_session(type, obj)
    if type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return _payment_intent(type, obj)
    if type == "charge.refunded":
        return _charge_refunded(obj)
    if type in ("charge.dispute.created", "charge.dispute.closed"):
        return _dispute(type, obj)
    return Outcome(StripeEventStatus.IGNORED, f"{type} is not used by PodHub.")


# --- Checkout ----------------------------------------------------------------------------


def _session_problem(session: dict, top_up: TopUp) -> str:
    meta = session.get("metadata") or {}
    if str(meta.get("workspace_id")) != str(top_up.workspace_id) or str(
            meta.get("top_up_id")) != str(top_up.pk):
        return "The session's metadata does not match our top-up."
    if session.get("mode") != "payment":
        return "Not a payment session."
    if (session.get("currency") or "").upper() != top_up.currency:
        return f"Session currency {session.get('currency')} is not {top_up.currency}."
    if session.get("amount_total") != stripe_gateway.to_minor(top_up.amount, top_up.currency):
        return f"Session amount {session.get('amount_total')} does not match the top-up."
    return ""


def _checkout_session(type: str, obj: dict) -> Outcome:
    sid = str(obj.get("id", ""))
    top_up = TopUp.objects.filter(stripe_session_id=sid).first() if sid else None
    if top_up is None:
        profile = PaymentProfile.objects.filter(setup_session_id=sid).first() if sid else None
        if profile is not None:
            return _card_setup(type, sid, profile)
        return Outcome(StripeEventStatus.REJECTED,
                       "No top-up of ours has this Checkout Session: nothing credited.")
    claimed = (obj.get("metadata") or {}).get("workspace_id")
    if claimed is not None and str(claimed) != str(top_up.workspace_id):
        return Outcome(StripeEventStatus.REJECTED,
                       f"The event names workspace {claimed} but the session belongs to "
                       f"workspace {top_up.workspace_id}: nothing credited.",
                       top_up.workspace_id)
    session = stripe_gateway.retrieve_session(sid)  # the current state, not the event body
    problem = _session_problem(session, top_up)
    if problem:
        return Outcome(StripeEventStatus.REJECTED, problem + " Nothing credited.",
                       top_up.workspace_id)
    return _settle_session(type, top_up, session)


def _settle_session(type: str, top_up: TopUp, session: dict) -> Outcome:
    if session.get("payment_status") == "paid":
        entry = topups.top_up_credit(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                                     payment_intent_id=session.get("payment_intent") or "")
        return Outcome(StripeEventStatus.PROCESSED,
                       f"Top-up {top_up.pk} credited "
                       f"({format_money(entry.amount, entry.currency)}, entry {entry.pk}).",
                       top_up.workspace_id)
    if type == "checkout.session.async_payment_failed":
        topups.top_up_mark(top_up=top_up, status=TopUpStatus.FAILED,
                           message="The payment failed at the bank.")
        return Outcome(StripeEventStatus.PROCESSED, "Delayed payment failed: nothing credited.",
                       top_up.workspace_id)
    if session.get("status") == "expired":
        topups.top_up_mark(top_up=top_up, status=TopUpStatus.EXPIRED,
                           message="The checkout expired before payment.")
        return Outcome(StripeEventStatus.PROCESSED, "Session expired: nothing credited.",
                       top_up.workspace_id)
    return Outcome(StripeEventStatus.IGNORED,
                   f"Session is {session.get('payment_status')}: credited when paid.",
                   top_up.workspace_id)


def _card_setup(type: str, sid: str, profile: PaymentProfile) -> Outcome:
    if type != "checkout.session.completed":
        return Outcome(StripeEventStatus.IGNORED, f"{type} for a card set-up.",
                       profile.workspace_id)
    session = stripe_gateway.retrieve_session(sid)
    meta = session.get("metadata") or {}
    if (session.get("mode") != "setup" or str(meta.get("workspace_id")) != str(
            profile.workspace_id) or session.get("customer") != profile.stripe_customer_id):
        return Outcome(StripeEventStatus.REJECTED, "The set-up session is not this "
                       "workspace's.", profile.workspace_id)
    setup = stripe_gateway.retrieve_setup_intent(session["setup_intent"])
    if setup.get("status") != "succeeded":
        return Outcome(StripeEventStatus.IGNORED, "Card set-up not finished.",
                       profile.workspace_id)
    method = stripe_gateway.retrieve_payment_method(setup["payment_method"])
    topups.card_saved(profile_id=profile.pk, payment_method=method)
    profile.refresh_from_db()
    topups._sync_threshold(profile)
    return Outcome(StripeEventStatus.PROCESSED, "Card saved.", profile.workspace_id)


# --- auto-recharge (off-session PaymentIntents) --------------------------------------------


def _our_top_up(meta: dict) -> TopUp | None:
    top_up_id = str((meta or {}).get("top_up_id", ""))
    if not top_up_id.isdigit():
        return None
    return TopUp.objects.filter(pk=int(top_up_id)).first()


def _payment_intent(type: str, obj: dict) -> Outcome:
    top_up = _our_top_up(obj.get("metadata"))
    if top_up is None or top_up.kind != TopUpKind.AUTO_RECHARGE:
        # Checkout top-ups are credited from the session events only (one source of truth).
        return Outcome(StripeEventStatus.IGNORED, "Not an auto-recharge of ours.")
    if str((obj.get("metadata") or {}).get("workspace_id")) != str(top_up.workspace_id):
        return Outcome(StripeEventStatus.REJECTED, "The payment names another workspace: "
                       "nothing credited.", top_up.workspace_id)
    intent = stripe_gateway.retrieve_payment_intent(str(obj.get("id", "")))
    profile = PaymentProfile.objects.filter(workspace_id=top_up.workspace_id).first()
    if (str((intent.get("metadata") or {}).get("top_up_id")) != str(top_up.pk)
            or intent.get("amount") != stripe_gateway.to_minor(top_up.amount, top_up.currency)
            or (intent.get("currency") or "").upper() != top_up.currency
            or profile is None or intent.get("customer") != profile.stripe_customer_id
            or (top_up.stripe_payment_intent_id
                and top_up.stripe_payment_intent_id != intent.get("id"))):
        return Outcome(StripeEventStatus.REJECTED, "The payment does not match our "
                       "auto-recharge: nothing credited.", top_up.workspace_id)
    if intent.get("status") == "succeeded":
        entry = topups.top_up_credit(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                                     payment_intent_id=intent["id"])
        return Outcome(StripeEventStatus.PROCESSED, f"Auto-recharge credited (entry "
                       f"{entry.pk}).", top_up.workspace_id)
    if intent.get("status") in ("requires_payment_method", "canceled"):
        error = intent.get("last_payment_error") or {}
        topups.recharge_failed(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                               message=error.get("message") or "The card was declined.")
        return Outcome(StripeEventStatus.PROCESSED, "Auto-recharge failed.",
                       top_up.workspace_id)
    return Outcome(StripeEventStatus.IGNORED, f"Payment is {intent.get('status')}.",
                   top_up.workspace_id)


# --- money going back: refunds and disputes -------------------------------------------------


def _top_up_for_intent(payment_intent_id: str) -> TopUp | None:
    if not payment_intent_id:
        return None
    top_up = TopUp.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if top_up is not None:
        return top_up
    intent = stripe_gateway.retrieve_payment_intent(payment_intent_id)
    top_up = _our_top_up(intent.get("metadata"))
    if top_up is None or str((intent.get("metadata") or {}).get("workspace_id")) != str(
            top_up.workspace_id):
        return None
    return top_up


def _ensure_credited(top_up: TopUp) -> None:
    """A refund or dispute may arrive before the payment's own event: apply that first."""
    if top_up.status == TopUpStatus.PAID:
        return
    if top_up.kind == TopUpKind.CHECKOUT and top_up.stripe_session_id:
        session = stripe_gateway.retrieve_session(top_up.stripe_session_id)
        if not _session_problem(session, top_up):
            _settle_session("checkout.session.completed", top_up, session)
    elif top_up.stripe_payment_intent_id:
        _payment_intent("payment_intent.succeeded", {
            "id": top_up.stripe_payment_intent_id,
            "metadata": {"top_up_id": str(top_up.pk), "workspace_id": str(top_up.workspace_id)},
        })


def _charge_refunded(obj: dict) -> Outcome:
    charge = stripe_gateway.retrieve_charge(str(obj.get("id", "")))
    top_up = _top_up_for_intent(charge.get("payment_intent") or "")
    if top_up is None:
        return Outcome(StripeEventStatus.IGNORED, "Not a top-up of ours.")
    _ensure_credited(top_up)
    refunded = stripe_gateway.from_minor(charge.get("amount_refunded") or 0, top_up.currency)
    entry = topups.top_up_reverse_refunds(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                                          refunded=refunded, charge_id=charge["id"])
    note = f"Refunded {format_money(refunded, top_up.currency)} in all" + (
        f"; entry {entry.pk}." if entry else "; nothing new.")
    return Outcome(StripeEventStatus.PROCESSED, note, top_up.workspace_id)


def _dispute(type: str, obj: dict) -> Outcome:
    dispute = stripe_gateway.retrieve_dispute(str(obj.get("id", "")))
    top_up = _top_up_for_intent(dispute.get("payment_intent") or "")
    if top_up is None:
        return Outcome(StripeEventStatus.IGNORED, "Not a top-up of ours.")
    _ensure_credited(top_up)
    amount = stripe_gateway.from_minor(dispute.get("amount") or 0, top_up.currency)
    # Funds are withdrawn when a dispute opens, whichever event we see first.
    topups.top_up_dispute(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                          dispute_id=dispute["id"], amount=amount)
    if dispute.get("status") == "won":
        topups.top_up_dispute(top_up_id=top_up.pk, workspace_id=top_up.workspace_id,
                              dispute_id=dispute["id"], amount=amount, won=True)
    return Outcome(StripeEventStatus.PROCESSED, f"Dispute {dispute['id']} is "
                   f"{dispute.get('status')}.", top_up.workspace_id)


def stripe_event_sweep(*, older_than_seconds: int = 30, limit: int = 200) -> int:
    """Events whose processing task was lost, or that failed and may succeed now."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    todo = list(StripeEvent.objects.filter(
        status__in=[StripeEventStatus.RECEIVED, StripeEventStatus.FAILED],
        received_at__lte=cutoff, attempts__lt=MAX_ATTEMPTS).order_by("received_at")
        .values_list("pk", flat=True)[:limit])
    for pk in todo:
        stripe_event_process(stripe_event_id=pk)
    return len(todo)
