"""Billing's services, one module per topic:

- billing/ledger.py     the ledger: locked account, entries, holds (the only writer)
- billing/topups.py     Stripe Checkout top-ups, saved card, auto-recharge, staff adjustments
- billing/stripe_events.py  verified, stored, idempotent Stripe webhooks
- billing/payments.py   paying orders, capture/release with the order, auto-pay, groups
- billing/invoices.py   invoices and their PDF

This module re-exports what tasks, views and other apps call.
"""

from billing.payments import (
    auto_pay_for_event,
    auto_pay_sweep,
    group_create,
    group_suggestions,
    order_charge_sweep,
    order_charge_sync,
    order_charge_sync_for_event,
    order_refund,
    order_refund_captured,
    orders_pay,
    selection_price,
)
from billing.stripe_events import stripe_event_sweep
from billing.topups import (
    auto_recharge_check,
    auto_recharge_configure,
    balance_adjust,
    card_setup_start,
    top_up_start,
)

__all__ = [
    "auto_pay_for_event", "auto_pay_sweep", "auto_recharge_check", "auto_recharge_configure",
    "balance_adjust", "billing_sweep", "card_setup_start", "group_create", "group_suggestions",
    "order_charge_sweep", "order_charge_sync", "order_charge_sync_for_event", "order_refund",
    "order_refund_captured", "orders_pay", "selection_price", "top_up_start",
]


def billing_sweep() -> dict:
    """Beat's safety net (scopes disabled): whatever a lost task left behind."""
    from django.db.models import F

    from billing.models import Account, PaymentProfile, TopUp, TopUpKind, TopUpStatus

    events = stripe_event_sweep()
    charges = order_charge_sweep()
    auto_paid = auto_pay_sweep()
    recharges = 0
    below = Account.objects.filter(recharge_below_amount__isnull=False,
                                   balance_amount__lt=F("held_amount") +
                                   F("recharge_below_amount")).values_list("workspace_id",
                                                                            flat=True)
    stuck = TopUp.objects.filter(kind=TopUpKind.AUTO_RECHARGE, status=TopUpStatus.PENDING,
                                 stripe_payment_intent_id__isnull=True).values_list(
        "workspace_id", flat=True)
    for workspace_id in sorted(set(below) | set(stuck)):
        if PaymentProfile.objects.filter(workspace_id=workspace_id, auto_recharge=True).exists():
            auto_recharge_check(workspace_id=workspace_id)
            recharges += 1
    return {"stripe_events": events, "order_charges": charges, "auto_paid": auto_paid,
            "recharges": recharges}
