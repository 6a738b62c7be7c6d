"""Billing: the per-workspace balance, its append-only ledger, holds, Stripe top-ups,
order payments, shipment groups and invoices.

Invariants (enforced by billing/ledger.py, which is the only writer of
Account, LedgerEntry and Hold, and checked by the database where it can):

- `Account.balance_amount == sum(LedgerEntry.balance_delta)` and
  `Account.held_amount == sum(LedgerEntry.held_delta) == sum(open Hold remainders)`;
- available = balance − held, and never below zero (CHECK constraint);
- every entry has a unique idempotency key, so a retried write is a no-op.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_scopes import ScopedManager

from podhub.core.models import WorkspaceModel
from podhub.core.money import amount_field, format_money


class Account(WorkspaceModel):
    """The workspace's balance row. Every ledger write locks it (select_for_update)
    and updates these cached totals in the same transaction."""

    currency = models.CharField(max_length=3, default="USD")
    balance_amount = amount_field()
    held_amount = amount_field()
    # Stripe reversals (refunds, disputes) larger than what was available: the
    # next credits pay this first, so available never goes below zero.
    debt_amount = amount_field()
    invoice_seq = models.PositiveIntegerField(default=0)
    # Copy of the auto-recharge threshold (None: off), so that the ledger can ring
    # the recharge doorbell without another query on its hot path.
    recharge_below_amount = amount_field(null=True, blank=True, default=None)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="billing_account_one_per_ws"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="billing_held_gte_0"),
            models.CheckConstraint(condition=Q(balance_amount__gte=F("held_amount")),
                                   name="billing_available_gte_0"),
            models.CheckConstraint(condition=Q(debt_amount__gte=0), name="billing_debt_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: {format_money(self.balance_amount, self.currency)}"

    @property
    def available_amount(self) -> Decimal:
        return self.balance_amount - self.held_amount


class EntryKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    HOLD = "hold", "Hold"
    CAPTURE = "capture", "Capture"
    RELEASE = "release", "Release"
    REFUND = "refund", "Refund to balance"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Top-up reversed (refund or dispute)"


class HoldPurpose(models.TextChoices):
    PRODUCT = "product", "Product cost"
    SHIPPING = "shipping", "Shipping"
    OTHER = "other", "Other"


class TopUpKind(models.TextChoices):
    CHECKOUT = "checkout", "Card (Stripe Checkout)"
    AUTO_RECHARGE = "auto_recharge", "Auto-recharge"


class TopUpStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class TopUp(WorkspaceModel):
    """Money coming in through Stripe: a Checkout Session or an off-session charge."""

    kind = models.CharField(max_length=16, choices=TopUpKind.choices)
    status = models.CharField(max_length=12, choices=TopUpStatus.choices,
                              default=TopUpStatus.PENDING)
    amount = amount_field()
    currency = models.CharField(max_length=3, default="USD")
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True,
                                                unique=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    refunded_amount = amount_field()  # refunded at Stripe, taken back from the balance
    disputed_amount = amount_field()  # disputed at Stripe (net of disputes won)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            # at most one auto-recharge in flight per workspace
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(kind="auto_recharge", status="pending"),
                name="billing_one_pending_recharge"),
        ]

    def __str__(self) -> str:
        return f"Top-up {self.pk} {format_money(self.amount, self.currency)} ({self.status})"


class Payment(WorkspaceModel):
    """One confirmation by the seller (a single order or a bulk approve)."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    currency = models.CharField(max_length=3, default="USD")
    product_amount = amount_field()
    shipping_amount = amount_field()
    total_amount = amount_field()
    auto = models.BooleanField(default=False, help_text="paid by the store's auto-pay")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"Payment {self.pk}: {format_money(self.total_amount, self.currency)}"


class Hold(WorkspaceModel):
    """Funds reserved on the balance; captured (spent) or released in parts."""

    purpose = models.CharField(max_length=12, choices=HoldPurpose.choices,
                               default=HoldPurpose.OTHER)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="holds")
    currency = models.CharField(max_length=3, default="USD")
    amount = amount_field()
    captured_amount = amount_field()
    released_amount = amount_field()
    is_open = models.BooleanField(default=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0, released_amount__gte=0)
                & Q(amount__gte=F("captured_amount") + F("released_amount")),
                name="billing_hold_within_amount"),
        ]
        indexes = [models.Index(fields=["workspace", "is_open"], name="billing_hold_open")]

    def __str__(self) -> str:
        return (f"Hold {self.pk} {format_money(self.remaining_amount, self.currency)} of "
                f"{format_money(self.amount, self.currency)}")

    @property
    def remaining_amount(self) -> Decimal:
        return self.amount - self.captured_amount - self.released_amount


class ShipmentGroup(WorkspaceModel):
    """Paid orders to one address shipped together for one consolidated fee."""

    address = models.JSONField(default=dict)
    address_key = models.CharField(max_length=64, db_index=True)
    shipping_method = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    item_count = models.PositiveIntegerField(default=0)
    fee_amount = amount_field()
    separate_amount = amount_field(help_text="what the orders' shipping cost separately")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return (f"Group {self.pk} ({self.item_count} items, "
                f"{format_money(self.fee_amount, self.currency)})")

    @property
    def saved_amount(self) -> Decimal:
        return self.separate_amount - self.fee_amount


class OrderCharge(WorkspaceModel):
    """What one order costs the seller, and the holds that reserve it."""

    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="charges")
    currency = models.CharField(max_length=3, default="USD")
    shipping_method = models.CharField(max_length=64, blank=True)
    shipping_label = models.CharField(max_length=120, blank=True)
    item_count = models.PositiveIntegerField(default=1)
    product_amount = amount_field()  # items + one-time setup fees
    shipping_amount = amount_field()  # shipping + handling
    handling_amount = amount_field()  # the handling part of shipping_amount
    # consolidated shipping rates of the method, for group shipping
    shipping_first_amount = amount_field()
    shipping_additional_amount = amount_field()
    lines = models.JSONField(default=list, blank=True)  # itemised, frozen at payment
    product_hold = models.OneToOneField(Hold, on_delete=models.PROTECT, null=True,
                                        related_name="+")
    shipping_hold = models.OneToOneField(Hold, on_delete=models.PROTECT, null=True,
                                         related_name="+")
    group = models.ForeignKey(ShipmentGroup, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="charges")

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"Charge for order {self.order_id}"

    @property
    def total_amount(self) -> Decimal:
        return self.product_amount + self.shipping_amount


class StoreShippingDefault(WorkspaceModel):
    """The shipping method a store's orders are paid with unless the seller picks another."""

    store = models.OneToOneField("orders.Store", on_delete=models.CASCADE, related_name="+")
    shipping_method = models.CharField(max_length=64)

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"{self.store_id}: {self.shipping_method}"


class LedgerEntry(WorkspaceModel):
    """Append-only: one movement of money. Never updated, never deleted."""

    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    currency = models.CharField(max_length=3, default="USD")
    amount = amount_field()  # the magnitude; the deltas say what it did
    balance_delta = amount_field()
    held_delta = amount_field()
    balance_after = amount_field()
    held_after = amount_field()
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True, help_text="staff adjustments and refunds say why")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="entries")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="entries")
    top_up = models.ForeignKey(TopUp, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="entries")
    group = models.ForeignKey(ShipmentGroup, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="billing_entry_ws_time"),
            models.Index(fields=["workspace", "kind", "-created_at"], name="billing_entry_ws_kind"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {format_money(self.amount, self.currency)}"

    @property
    def available_after(self) -> Decimal:
        return self.balance_after - self.held_after

    @property
    def signed_amount(self) -> Decimal:
        """The amount with the sign of its effect on the balance (holds and releases,
        which move only what is held, stay unsigned): the ledger table's column."""
        if self.balance_delta < 0:
            return -self.amount
        return self.amount

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")


class PaymentProfile(WorkspaceModel):
    """The saved card and the auto-recharge settings of a workspace."""

    stripe_customer_id = models.CharField(max_length=255, blank=True)
    payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    setup_session_id = models.CharField(max_length=255, blank=True)
    auto_recharge = models.BooleanField(default=False)
    recharge_threshold_amount = amount_field()
    recharge_amount = amount_field()
    # set when a recharge failed; cleared by a new card or new settings
    recharge_failed_at = models.DateTimeField(null=True, blank=True)
    recharge_failure = models.CharField(max_length=500, blank=True)
    # Daily caps on automatic charges set by staff for this workspace (None: the
    # BILLING_RECHARGE_MAX_* settings); when the last check hit a cap (shown, e-mailed once).
    recharge_max_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="automatic charges in any 24 hours (empty: default)")
    recharge_max_amount_per_day = amount_field(
        null=True, blank=True, default=None,
        help_text="total of automatic charges in any 24 hours (empty: default)")
    recharge_capped_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="billing_profile_one_per_ws"),
            # A recharge must lift available above the threshold, or every credit
            # would start the next charge (docs/billing.md "Limits").
            models.CheckConstraint(
                condition=Q(auto_recharge=False) | Q(
                    recharge_threshold_amount__gt=0,
                    recharge_threshold_amount__lt=F("recharge_amount")),
                name="billing_recharge_threshold_below_amount"),
        ]

    def __str__(self) -> str:
        return f"Payment profile of {self.workspace_id}"

    @property
    def has_card(self) -> bool:
        return bool(self.payment_method_id)


class InvoiceKind(models.TextChoices):
    PAYMENT = "payment", "Order payment"
    GROUP = "group", "Group shipment"
    TOP_UP = "top_up", "Top-up receipt"
    ADJUSTMENT = "adjustment", "Order adjustment"


class Invoice(WorkspaceModel):
    """A frozen document: its lines never change after issue."""

    number = models.CharField(max_length=32)
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices)
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="invoice")
    group = models.OneToOneField(ShipmentGroup, on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="invoice")
    top_up = models.OneToOneField(TopUp, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="invoice")
    bill_to = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    # [{"description", "quantity", "unit_amount", "amount", "order"}]
    lines = models.JSONField(default=list)
    total_amount = amount_field()
    note = models.TextField(blank=True)
    issued_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="billing_invoice_number"),
        ]

    def __str__(self) -> str:
        return self.number


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (no effect)"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed, will retry"


class StripeEvent(models.Model):
    """An inbound Stripe event, stored (signature verified) before it is acknowledged.

    Not workspace-scoped at receipt: the workspace is found while processing,
    from our own TopUp/PaymentProfile rows, never from the event's metadata alone.
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    livemode = models.BooleanField(default=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    status = models.CharField(max_length=12, choices=StripeEventStatus.choices,
                              default=StripeEventStatus.RECEIVED)
    note = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"], name="billing_stripe_evt_todo")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
