"""Money in: Stripe Checkout top-ups, the saved card, auto-recharge; staff adjustments.

Stripe is called outside every transaction (no HTTP while a row is locked).
Credits happen only from verified webhook events (billing/stripe_events.py),
keyed by our TopUp, so a top-up is credited once whatever Stripe sends.
"""

import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from billing import invoices, ledger, stripe_gateway
from billing.models import (
    Account,
    EntryKind,
    Invoice,
    LedgerEntry,
    PaymentProfile,
    TopUp,
    TopUpKind,
    TopUpStatus,
)
from podhub.core import mail
from podhub.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from podhub.core.money import format_money, quantize
from podhub.workspaces.models import MANAGING_ROLES

log = logging.getLogger(__name__)

# A recharge row still pending without a PaymentIntent this long after it was made is
# retried (same Idempotency-Key); younger ones belong to a worker calling Stripe now.
RECHARGE_RETRY_AFTER = timedelta(minutes=2)
DAY = timedelta(days=1)


def top_up_min() -> Decimal:
    return settings.BILLING_TOP_UP_MIN


def top_up_max() -> Decimal:
    return settings.BILLING_TOP_UP_MAX


def require_money_role(membership, *,
                       what: str = "top up, save a card or change auto-recharge") -> None:
    """Money coming in from a card (top-ups, the saved card, auto-recharge) is the
    owner's and admins' decision; members pay orders from the balance but never
    charge the card (docs/security.md "Money actions and caps"). So is a cancel at the
    provider, which refunds the order (fulfillment/provider_cancel.py)."""
    if membership is None or membership.role not in MANAGING_ROLES:
        raise PermissionDenied(f"Only the owner or an admin can {what}.")


def _check_top_up_amount(amount: Decimal, currency: str, *, field: str, what: str) -> None:
    low, high = top_up_min(), top_up_max()
    if amount < low or amount > high:
        raise ValidationFailed(f"{what} between {format_money(low, currency)} and "
                               f"{format_money(high, currency)}.", field=field)


class PaymentServiceError(Conflict):
    """The payment service could not be reached; nothing was charged. Try again."""

    code = "payment_service_unavailable"
    status = 503


def parse_amount(value, currency: str, *, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Enter an amount such as 100 or 49.90.", field=field) from None
    if not amount.is_finite() or amount != quantize(amount, currency):
        raise ValidationFailed(f"Enter an amount in {currency} with at most the currency's "
                               "decimals.", field=field)
    return amount


def profile_for(workspace_id: int) -> PaymentProfile:
    profile = PaymentProfile.objects.filter(workspace_id=workspace_id).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            return PaymentProfile.objects.create(workspace_id=workspace_id)
    except IntegrityError:
        return PaymentProfile.objects.get(workspace_id=workspace_id)


# --- Checkout top-ups ------------------------------------------------------------------


def top_up_start(*, workspace, by, amount, success_url: str, cancel_url: str) -> TopUp:
    """Create a pending top-up and its Checkout Session; the seller pays on Stripe's page.

    `by` is the membership acting (owner or admin)."""
    require_money_role(by)
    acct = ledger.ensure_account(workspace.pk, workspace.billing_currency)
    amount = parse_amount(amount, acct.currency)
    _check_top_up_amount(amount, acct.currency, field="amount", what="Top up")
    top_up = TopUp.objects.create(workspace=workspace, kind=TopUpKind.CHECKOUT, amount=amount,
                                  currency=acct.currency, created_by=by.user)
    profile = PaymentProfile.objects.filter(workspace=workspace).first()
    try:
        session = stripe_gateway.create_top_up_session(
            top_up=top_up, success_url=success_url.replace("TOPUP_ID", str(top_up.pk)),
            cancel_url=cancel_url.replace("TOPUP_ID", str(top_up.pk)),
            customer=profile.stripe_customer_id if profile else "")
    except stripe.StripeError as exc:
        log.warning("top-up %s: Checkout Session failed: %s", top_up.pk, exc)
        TopUp.objects.filter(pk=top_up.pk).update(
            status=TopUpStatus.FAILED, failure_message=str(exc)[:500])
        raise PaymentServiceError() from exc
    TopUp.objects.filter(pk=top_up.pk).update(stripe_session_id=session.id,
                                              checkout_url=session.url or "")
    top_up.stripe_session_id, top_up.checkout_url = session.id, session.url or ""
    return top_up


def top_up_abandon(*, workspace, top_up_id: int) -> TopUp | None:
    """The seller left Stripe's checkout ("Cancel", the cancel URL): the session is expired
    at Stripe so it can no longer be paid, and the top-up shows as expired instead of
    pending until Stripe's own 24 h expiry. When Stripe refuses (the session was paid in
    the meantime) it stays pending and the webhook settles it. None: no such pending
    top-up of this workspace."""
    top_up = TopUp.objects.filter(workspace=workspace, pk=top_up_id, kind=TopUpKind.CHECKOUT,
                                  status=TopUpStatus.PENDING).first()
    if top_up is None or not top_up.stripe_session_id:
        return None
    try:
        stripe_gateway.expire_session(top_up.stripe_session_id)
    except stripe.StripeError as exc:
        log.info("top-up %s: the session was not expired (%s); the webhook settles it",
                 top_up.pk, exc)
        return top_up
    top_up_mark(top_up=top_up, status=TopUpStatus.EXPIRED,
                message="You left Stripe's checkout: nothing was charged.")
    top_up.refresh_from_db()
    return top_up


def top_up_credit(*, top_up_id: int, workspace_id: int, payment_intent_id: str = "",
                  memo: str = "") -> LedgerEntry:
    """Credit a paid top-up once (key `topup:<id>`), whichever event says it first."""
    key = f"topup:{top_up_id}"
    with ledger.locked(workspace_id, key) as book:
        top_up = TopUp.objects.select_for_update().get(pk=top_up_id, workspace_id=workspace_id)
        entry = book.replayed(kind=EntryKind.TOP_UP, amount=top_up.amount)
        if entry is None:
            label = "Auto-recharge" if top_up.kind == TopUpKind.AUTO_RECHARGE else "Card top-up"
            entry = book.credit(EntryKind.TOP_UP, top_up.amount, key=key, top_up=top_up,
                                memo=memo or f"{label} (Stripe)")
        top_up.status = TopUpStatus.PAID
        top_up.credited_at = top_up.credited_at or timezone.now()
        top_up.failure_message = ""
        if payment_intent_id and not top_up.stripe_payment_intent_id:
            top_up.stripe_payment_intent_id = payment_intent_id
        top_up.save()
        if not Invoice.objects.filter(top_up=top_up).exists():
            invoices.issue_for_top_up(book, top_up=top_up)
    from billing.tasks import auto_pay_task

    auto_pay_task.delay(workspace_id=workspace_id)  # waiting auto-pay orders
    return entry


def top_up_mark(*, top_up: TopUp, status: str, message: str = "") -> None:
    """Failed or expired — only while nothing was credited."""
    TopUp.objects.filter(pk=top_up.pk, status=TopUpStatus.PENDING).update(
        status=status, failure_message=message[:500], updated_at=timezone.now())


def top_up_reverse_refunds(*, top_up_id: int, workspace_id: int, refunded: Decimal,
                           charge_id: str) -> LedgerEntry | None:
    """Stripe refunded `refunded` (cumulative) of this top-up: take back what is new."""
    key = f"stripe-refund:{top_up_id}:{charge_id}:{refunded}"
    with ledger.locked(workspace_id, key) as book:
        top_up = TopUp.objects.select_for_update().get(pk=top_up_id, workspace_id=workspace_id)
        delta = refunded - top_up.refunded_amount
        if book.existing_id is not None or delta <= 0:
            return None
        entry = book.reverse(delta, key=key, top_up=top_up,
                             memo=f"Top-up refunded at Stripe ({charge_id})")
        top_up.refunded_amount = refunded
        top_up.save(update_fields=["refunded_amount", "updated_at"])
        return entry


def top_up_dispute(*, top_up_id: int, workspace_id: int, dispute_id: str, amount: Decimal,
                   won: bool = False) -> LedgerEntry | None:
    """A dispute takes the money back at once; a dispute won gives it back."""
    key = f"stripe-dispute:{dispute_id}" + (":won" if won else "")
    with ledger.locked(workspace_id, key) as book:
        top_up = TopUp.objects.select_for_update().get(pk=top_up_id, workspace_id=workspace_id)
        if book.existing_id is not None:
            return None
        if won:
            if book.key_used(f"stripe-dispute:{dispute_id}") is None:
                return None  # never debited, so nothing to give back
            entry = book.credit(EntryKind.TOP_UP, amount, key=key, top_up=top_up,
                                memo=f"Dispute {dispute_id} won: funds reinstated")
            top_up.disputed_amount -= amount
        else:
            entry = book.reverse(amount, key=key, top_up=top_up,
                                 memo=f"Top-up disputed at Stripe ({dispute_id})")
            top_up.disputed_amount += amount
        top_up.save(update_fields=["disputed_amount", "updated_at"])
        return entry


# --- the saved card and auto-recharge ----------------------------------------------------


def card_setup_start(*, workspace, by, success_url: str, cancel_url: str) -> str:
    """A Checkout Session in setup mode; returns the URL where the seller enters the card."""
    require_money_role(by)
    profile = profile_for(workspace.pk)
    try:
        if not profile.stripe_customer_id:
            customer = stripe_gateway.create_customer(
                email=by.user.email, workspace_id=workspace.pk,
                idempotency_key=f"podhub-customer-{workspace.pk}")
            PaymentProfile.objects.filter(pk=profile.pk).update(stripe_customer_id=customer.id)
            profile.stripe_customer_id = customer.id
        session = stripe_gateway.create_setup_session(
            workspace_id=workspace.pk, customer=profile.stripe_customer_id,
            success_url=success_url, cancel_url=cancel_url,
            idempotency_key=f"podhub-setup-{workspace.pk}-{timezone.now().timestamp()}")
    except stripe.StripeError as exc:
        raise PaymentServiceError() from exc
    PaymentProfile.objects.filter(pk=profile.pk).update(setup_session_id=session.id)
    return session.url


def card_saved(*, profile_id: int, payment_method: dict) -> None:
    card = payment_method.get("card") or {}
    PaymentProfile.objects.filter(pk=profile_id).update(
        payment_method_id=payment_method["id"], card_brand=str(card.get("brand", ""))[:32],
        card_last4=str(card.get("last4", ""))[:4], recharge_failed_at=None,
        recharge_failure="", updated_at=timezone.now())


def _sync_threshold(profile: PaymentProfile) -> None:
    """The Account keeps a copy of the threshold for the ledger's hot path."""
    on = profile.auto_recharge and profile.has_card and profile.recharge_failed_at is None
    Account.objects.filter(workspace_id=profile.workspace_id).update(
        recharge_below_amount=profile.recharge_threshold_amount if on else None)


def auto_recharge_configure(*, workspace, by, enabled: bool, threshold,
                            amount) -> PaymentProfile:
    """Auto-recharge on or off (owner or admin). On, the threshold is above 0, at most
    BILLING_RECHARGE_THRESHOLD_MAX and below the recharge amount, so that a recharge
    lifts available above the threshold instead of starting the next charge; the amount
    is a valid top-up (docs/billing.md "Limits")."""
    require_money_role(by)
    acct = ledger.ensure_account(workspace.pk, workspace.billing_currency)
    profile = profile_for(workspace.pk)
    threshold = parse_amount(threshold or "0", acct.currency, field="threshold")
    amount = parse_amount(amount or "0", acct.currency, field="recharge_amount")
    if threshold < 0 or amount < 0:
        raise ValidationFailed("Amounts cannot be negative.",
                               field="threshold" if threshold < 0 else "recharge_amount")
    if enabled:
        if not profile.has_card:
            raise Conflict("Save a card first: auto-recharge charges the saved card.")
        if threshold <= 0:
            raise ValidationFailed("Set the threshold above 0.", field="threshold")
        _check_top_up_amount(amount, acct.currency, field="recharge_amount", what="Recharge")
        highest = settings.BILLING_RECHARGE_THRESHOLD_MAX
        if threshold > highest:
            raise ValidationFailed(
                f"Set the threshold at most {format_money(highest, acct.currency)}.",
                field="threshold")
        if threshold >= amount:
            raise ValidationFailed(
                "Set the threshold below the recharge amount: a recharge of "
                f"{format_money(amount, acct.currency)} must lift available above "
                f"{format_money(threshold, acct.currency)}.",
                field="threshold")
    with transaction.atomic():
        profile = PaymentProfile.objects.select_for_update().get(pk=profile.pk)
        profile.auto_recharge = enabled
        profile.recharge_threshold_amount = threshold
        profile.recharge_amount = amount
        profile.recharge_failed_at = None  # new settings: try again
        profile.recharge_failure = ""
        profile.save()
        _sync_threshold(profile)
        if enabled:
            from billing.tasks import auto_recharge_task

            auto_recharge_task.delay(workspace_id=workspace.pk)
    return profile


def recharge_caps(profile: PaymentProfile) -> tuple[int, Decimal]:
    """(charges, total amount) allowed in any 24 hours: staff's per-workspace caps, else
    the BILLING_RECHARGE_MAX_PER_DAY / _MAX_AMOUNT_PER_DAY settings."""
    count = profile.recharge_max_per_day
    total = profile.recharge_max_amount_per_day
    return (settings.BILLING_RECHARGE_MAX_PER_DAY if count is None else count,
            settings.BILLING_RECHARGE_MAX_AMOUNT_PER_DAY if total is None else total)


def recharges_in_last_day(*, workspace_id: int, now) -> tuple[int, Decimal]:
    """Automatic charges started in the 24 hours before `now` (declined ones charged
    nothing and do not count): how many, and their total."""
    found = TopUp.objects.filter(
        workspace_id=workspace_id, kind=TopUpKind.AUTO_RECHARGE, created_at__gt=now - DAY,
        created_at__lte=now).exclude(status=TopUpStatus.FAILED).aggregate(
        n=Count("pk"), total=Sum("amount"))
    return found["n"], found["total"] or Decimal(0)


def _recharge_capped(profile: PaymentProfile, *, currency: str, now) -> bool:
    """True when one more charge would pass a daily cap; the owners are told once a day."""
    max_count, max_total = recharge_caps(profile)
    count, total = recharges_in_last_day(workspace_id=profile.workspace_id, now=now)
    if count < max_count and total + profile.recharge_amount <= max_total:
        return False
    log.warning("auto-recharge of workspace %s paused: %s charges, %s in 24 h (caps %s, %s)",
                profile.workspace_id, count, total, max_count, max_total)
    if profile.recharge_capped_at is None or profile.recharge_capped_at <= now - DAY:
        profile.recharge_capped_at = now
        profile.save(update_fields=["recharge_capped_at", "updated_at"])
        _email_owners(profile.workspace_id, subject="Auto-recharge paused for today",
                      body=f"Your saved card was charged automatically {count} time(s) for "
                      f"{format_money(total, currency)} in the last 24 hours; one "
                      f"more would pass the daily cap ({max_count} charges, "
                      f"{format_money(max_total, currency)} in all). Auto-recharge "
                      "resumes by itself; top up by hand if orders are waiting.")
    return True


def recharge_caps_set(*, profile_id: int, max_per_day: int | None,
                      max_amount_per_day: Decimal | None) -> None:
    """Staff: this workspace's own daily caps (None: the settings' defaults)."""
    if (max_per_day is not None and max_per_day < 0) or (
            max_amount_per_day is not None and max_amount_per_day < 0):
        raise ValidationFailed("A cap cannot be negative.")
    PaymentProfile.objects.filter(pk=profile_id).update(
        recharge_max_per_day=max_per_day, recharge_max_amount_per_day=max_amount_per_day,
        updated_at=timezone.now())


@transaction.atomic
def _recharge_claim(*, workspace_id: int, now) -> tuple[TopUp | None, bool]:
    """Decide under the lock of the workspace's PaymentProfile row: (the recharge in
    flight or just created, whether to call Stripe for it now)."""
    profile = (PaymentProfile.objects.select_for_update()
               .filter(workspace_id=workspace_id).first())
    if profile is None or not profile.auto_recharge or not profile.has_card:
        return None, False
    if profile.recharge_failed_at is not None:
        return None, False  # shown and e-mailed; waits for a new card or new settings
    unsettled = TopUp.objects.filter(workspace_id=workspace_id, kind=TopUpKind.AUTO_RECHARGE,
                                     status=TopUpStatus.PENDING).first()
    if unsettled is not None:
        # Charged and not yet confirmed (or still "processing" at Stripe): nothing new
        # starts. Never charged because the Stripe call was lost: retry it, same key.
        lost = (not unsettled.stripe_payment_intent_id
                and unsettled.created_at <= now - RECHARGE_RETRY_AFTER)
        return unsettled, lost
    acct = Account.objects.filter(workspace_id=workspace_id).first()
    if acct is None or acct.available_amount >= profile.recharge_threshold_amount:
        return None, False
    if _recharge_capped(profile, currency=acct.currency, now=now):
        return None, False
    try:
        with transaction.atomic():  # the partial unique constraint is the last guard
            top_up = TopUp.objects.create(
                workspace_id=workspace_id, kind=TopUpKind.AUTO_RECHARGE,
                amount=profile.recharge_amount, currency=acct.currency, created_at=now)
    except IntegrityError:
        return None, False
    return top_up, True


def auto_recharge_check(*, workspace_id: int, now=None) -> TopUp | None:
    """Available below the threshold: charge the saved card off-session.

    At most one automatic charge is in flight per workspace and none starts while the
    last one is unsettled; the daily caps hold (docs/billing.md "Limits"). The TopUp row
    exists (committed) before Stripe is called, with its own idempotency key, so a retry
    after a crash charges at most once."""
    now = now or timezone.now()
    top_up, charge = _recharge_claim(workspace_id=workspace_id, now=now)
    if top_up is None or not charge:
        return top_up
    profile = PaymentProfile.objects.get(workspace_id=workspace_id)
    try:
        intent = stripe_gateway.charge_off_session(
            top_up=top_up, customer=profile.stripe_customer_id,
            payment_method=profile.payment_method_id)
    except stripe.CardError as exc:
        recharge_failed(top_up_id=top_up.pk, workspace_id=workspace_id,
                        message=exc.user_message or str(exc))
        return top_up
    except stripe.StripeError as exc:
        log.warning("auto-recharge %s: Stripe unavailable (%s); the sweep retries", top_up.pk,
                    exc)
        return top_up
    TopUp.objects.filter(pk=top_up.pk, stripe_payment_intent_id__isnull=True).update(
        stripe_payment_intent_id=intent.id)
    return top_up


def recharge_failed(*, top_up_id: int, workspace_id: int, message: str) -> None:
    """Shown on the Balance page and e-mailed to owners and admins, once per attempt."""
    with transaction.atomic():
        # Lock order as in _recharge_claim: the profile first, then the top-up.
        profile = PaymentProfile.objects.select_for_update().get(workspace_id=workspace_id)
        changed = TopUp.objects.filter(pk=top_up_id, status=TopUpStatus.PENDING).update(
            status=TopUpStatus.FAILED, failure_message=message[:500], updated_at=timezone.now())
        if not changed:
            return
        profile.recharge_failed_at = timezone.now()
        profile.recharge_failure = message[:500]
        profile.save(update_fields=["recharge_failed_at", "recharge_failure", "updated_at"])
        _sync_threshold(profile)
        _email_owners(workspace_id, subject="Auto-recharge failed",
                      body=f"We tried to recharge your PodHub balance from your saved card "
                      f"and it failed: {message}\n\nUpdate the card or top up by hand so that "
                      "your orders keep going to production.")


def _email_owners(workspace_id: int, *, subject: str, body: str) -> None:
    from podhub.workspaces.models import Membership, Role

    recipients = list(Membership.objects.filter(
        workspace_id=workspace_id, role__in=[Role.OWNER, Role.ADMIN]).values_list(
        "user__email", flat=True))
    if recipients:
        url = f"{settings.PUBLIC_BASE_URL}/balance/"
        mail.send(to=recipients, subject=f"[PodHub] {subject}", body=body, link=url,
                  link_label="Open your balance", workspace_id=workspace_id)


# --- staff -----------------------------------------------------------------------------


def balance_adjust(*, workspace_id: int, amount, reason: str, staff_user,
                   key: str) -> LedgerEntry:
    """A staff correction, positive or negative, always with a reason in the ledger."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the balance is adjusted.", field="reason")
    acct = ledger.ensure_account(workspace_id)
    amount = parse_amount(amount, acct.currency)
    if amount == 0:
        raise ValidationFailed("An adjustment cannot be 0.", field="amount")
    op = ledger.credit if amount > 0 else ledger.debit
    return op(workspace_id=workspace_id, kind=EntryKind.ADJUSTMENT, amount=abs(amount), key=key,
              memo=f"Adjustment by staff: {reason}"[:255], reason=reason, actor=staff_user)
