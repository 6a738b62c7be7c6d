"""Orders: the store, the order, its lines, the state machine's states, the timeline.

The allowed transitions live in orders/states.py; only orders/services/
writes `Order.state`.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from orders import hooks
from podhub.core.models import WorkspaceModel
from podhub.core.money import amount_field
from podhub.core.uploads import generated_name


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    MANUAL = "manual", "Outside source (manual, CSV, API)"


class SubmitMode(models.TextChoices):
    MANUAL = "manual", "Manual: I press Submit"
    AFTER_HOURS = "after_hours", "After N hours"
    DAILY = "daily", "Once a day at a set time"


class LossPolicy(models.TextChoices):
    HOLD = "hold", "Hold the order for me"
    CANCEL = "cancel", "Cancel it and refund the buyer"


class Store(WorkspaceModel):
    """A sales channel of the workspace. Credentials live in integrations."""

    name = models.CharField(max_length=120)
    # the registered store platforms (orders.hooks.platform_choices), "manual" always
    platform = models.CharField(max_length=16, choices=hooks.platform_choices)
    currency = models.CharField(max_length=3, default="USD")
    submit_mode = models.CharField(
        max_length=16, choices=SubmitMode.choices, default=SubmitMode.AFTER_HOURS
    )
    submit_after_hours = models.PositiveIntegerField(default=6)
    submit_daily_at = models.TimeField(null=True, blank=True)
    loss_policy = models.CharField(max_length=8, choices=LossPolicy.choices,
                                   default=LossPolicy.HOLD)
    auto_pay = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    # IANA name; "once a day at a set time" is read in this zone.
    timezone = models.CharField(max_length=64, default="UTC")
    # The workspace's own "Outside orders" store that holds manual and CSV orders
    # entered without naming a store; created on first use (orders.services).
    is_outside_default = models.BooleanField(default=False, editable=False)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"], condition=models.Q(is_outside_default=True),
                name="store_one_outside_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def auto_submits(self) -> bool:
        """Outside-source orders are never auto-submitted (Dastomize)."""
        return self.platform != Platform.MANUAL and self.submit_mode != SubmitMode.MANUAL


class OrderState(models.TextChoices):
    IN_QUOTATION = "in_quotation", "In quotation"
    TO_ORDER = "to_order", "To order"
    AWAITING_SUBMISSION = "awaiting_submission", "Awaiting submission"
    IN_PRODUCTION = "in_production", "In production"
    SHIPPED = "shipped", "Shipped"
    COMPLETED = "completed", "Completed"
    ON_HOLD = "on_hold", "On hold"
    CANCELLED = "cancelled", "Cancelled"


class CancelReason(models.TextChoices):
    SELLER = "seller", "Cancelled by the seller"
    BUYER = "buyer", "Cancelled by the buyer"
    STORE = "store", "Cancelled in the store"
    LOSS_GUARD = "loss_guard", "Selling price below cost"
    COPYRIGHT = "copyright", "Copyright violation"
    NO_RESPONSE = "no_response", "No answer to a request for information"
    PROVIDER_REJECTED = "provider_rejected", "Rejected by the provider"
    STAFF = "staff", "Cancelled by staff"


class HoldReason(models.TextChoices):
    INFO_REQUESTED = "info_requested", "Information requested by staff"
    PREFLIGHT = "preflight", "Print file needs fixing"
    PROVIDER_REJECTED = "provider_rejected", "Rejected by the provider"
    ADDRESS_INVALID = "address_invalid", "Shipping address invalid"
    LOSS_GUARD = "loss_guard", "Selling price below cost"
    STORE_CHANGE = "store_change", "Changed in the store after submission"
    RULE = "rule", "Held by a rule"
    DATA_PROBLEM = "data_problem", "Order data needs fixing"


class Order(WorkspaceModel):
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=128)
    number = models.CharField(max_length=64)
    channel = models.CharField(max_length=32, blank=True, help_text="e.g. etsy, amazon")
    buyer_name = models.CharField(max_length=200, blank=True)
    buyer_email = models.CharField(max_length=254, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3)
    subtotal_amount = amount_field()
    discount_amount = amount_field()
    shipping_amount = amount_field()
    tax_amount = amount_field()
    total_amount = amount_field()
    # Discounts on shipping (shipping_amount is before them): selling price and profit
    # count them (docs/store-truth.md "Money").
    shipping_discount_amount = amount_field()
    # The same amounts in the shop's own currency when the store reports them (Shopify
    # shop money); the fields above are what the buyer paid, in `currency`.
    shop_money = models.JSONField(default=dict, blank=True)
    # Store orders imported with data to fix: {field: reason}; the order is on hold
    # (data_problem) until an edit fixes them (docs/store-truth.md "Never dropped").
    data_problems = models.JSONField(default=dict, blank=True)

    state = models.CharField(max_length=24, choices=OrderState.choices)
    return_state = models.CharField(max_length=24, choices=OrderState.choices, blank=True)
    hold_reason = models.CharField(max_length=24, choices=HoldReason.choices, blank=True)
    hold_message = models.TextField(blank=True)
    info_due_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=24, choices=CancelReason.choices, blank=True)
    cancel_note = models.TextField(blank=True)
    needs_attention = models.CharField(max_length=200, blank=True)
    auto_submit = models.BooleanField(default=True)
    # Has the buyer paid the store? A store order still pending or only authorized
    # waits for the store's "paid" before it can be paid for here. Outside-source
    # orders are paid by definition. Only moves False -> True (orders.services).
    store_paid = models.BooleanField(default=True)

    placed_at = models.DateTimeField(default=timezone.now)
    store_updated_at = models.DateTimeField(null=True, blank=True)
    priced_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    submit_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    # Lower-cased "number buyer email skus" for the dashboard's search.
    search_text = models.TextField(blank=True, default="")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="order_store_ext_uniq"),
        ]
        indexes = [
            # keyset pagination, newest first, per tab and across tabs
            models.Index(fields=["workspace", "state", "-placed_at", "-id"],
                         name="order_ws_state_placed"),
            models.Index(fields=["workspace", "-placed_at", "-id"], name="order_ws_placed"),
            models.Index(fields=["workspace", "number"], name="order_ws_number"),
            # sweeps
            models.Index(fields=["submit_at"], name="order_submit_due",
                         condition=models.Q(state="awaiting_submission")),
            models.Index(fields=["info_due_at"], name="order_info_due",
                         condition=models.Q(state="on_hold")),
            # Home's "today" counts (orders.selectors.home_figures): an index range per
            # figure, never a scan of the workspace's orders
            models.Index(fields=["workspace", "created_at"], name="order_ws_created"),
            models.Index(fields=["workspace", "paid_at"], name="order_ws_paid",
                         condition=models.Q(paid_at__isnull=False)),
            models.Index(fields=["workspace", "submitted_at"], name="order_ws_submitted",
                         condition=models.Q(submitted_at__isnull=False)),
            models.Index(fields=["workspace", "shipped_at"], name="order_ws_shipped",
                         condition=models.Q(shipped_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_state_display()})"

    @property
    def is_locked(self) -> bool:
        """Submitted to production: personalisation, address and items are frozen."""
        effective = self.return_state if self.state == OrderState.ON_HOLD else self.state
        return self.submitted_at is not None or effective in (
            OrderState.IN_PRODUCTION, OrderState.SHIPPED, OrderState.COMPLETED,
            OrderState.CANCELLED,
        )


class LineItem(WorkspaceModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="line_items")
    external_id = models.CharField(max_length=128, blank=True)
    store_product_id = models.CharField(max_length=128, blank=True)
    store_variant_id = models.CharField(max_length=128, blank=True)
    sku = models.CharField(max_length=128, blank=True, db_index=True)
    title = models.CharField(max_length=255)
    variant_title = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField(default=1)  # what PodHub makes
    # The line's current quantity in the store (after edits and refunds); more than
    # `quantity` when the store already fulfilled part of it. Null: not a store line.
    store_quantity = models.PositiveIntegerField(null=True, blank=True)
    unit_price_amount = amount_field()
    discount_amount = amount_field()
    # [{"key": "Name", "value": "Ana"}, ...] in the order the buyer entered them
    personalization = models.JSONField(default=list, blank=True)
    # [{"key": "Photo", "url": "https://..."}] images the buyer uploaded
    images = models.JSONField(default=list, blank=True)
    # Set by the catalog (quotes app) when the line maps to a priced variant.
    catalog_variant_id = models.BigIntegerField(null=True, blank=True)
    unmapped_reason = models.CharField(max_length=255, blank=True)
    # Itemised price frozen when the order is paid; later price changes never alter it.
    price_snapshot = models.JSONField(default=dict, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["workspace", "sku"], name="line_ws_sku")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"


class ActorType(models.TextChoices):
    SELLER = "seller", "Seller"
    STAFF = "staff", "Staff"
    STORE = "store", "Store"
    PROVIDER = "provider", "Provider"
    SYSTEM = "system", "System"
    RULE = "rule", "Rule"


class OrderEvent(WorkspaceModel):
    """The order's timeline: what happened, from which state to which, who, why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)  # dotted: order.cancelled, order.info_requested
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=120, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["order", "created_at"], name="orderevent_order_time")]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.type} on {self.order_id}"


class CsvImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def _csv_import_path(instance: "CsvImport", filename: str) -> str:
    # A name we make, never the client's (podhub/core/uploads.py); `filename` is display text.
    return f"orders/csv-imports/{instance.workspace_id}/{generated_name('csv')}"


class CsvImport(WorkspaceModel):
    """One uploaded CSV of outside-source orders and how far its import got.

    A row first, then a task (orders.csv_jobs): the file is kept for replay,
    `next_group` counts the orders of the file (in file order) already settled
    — advanced in the same transaction that creates them — so a killed worker
    resumes after the last committed order and never makes one twice. The
    sweep re-wakes jobs whose task was lost or whose worker died.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    file = models.FileField(upload_to=_csv_import_path, max_length=300)
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=CsvImportStatus.choices,
                              default=CsvImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    total_groups = models.PositiveIntegerField(default=0)  # orders in the file
    rows_done = models.PositiveIntegerField(default=0)
    next_group = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)  # rows
    ignored_columns = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # transactions that failed
    error = models.TextField(blank=True)  # why a failed import stopped
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="csvimport_ws_recent"),
            models.Index(fields=["status"], name="csvimport_open",
                         condition=models.Q(status__in=["pending", "running"])),
        ]

    def __str__(self) -> str:
        return f"CSV import {self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (CsvImportStatus.PENDING, CsvImportStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == CsvImportStatus.DONE:
            return 100
        return int(100 * self.rows_done / self.total_rows) if self.total_rows else 0


class CsvImportOutcome(models.TextChoices):
    CREATED = "created", "Created"
    DUPLICATE = "duplicate", "Already imported"
    REJECTED = "rejected", "Rejected"


class CsvImportLine(WorkspaceModel):
    """What became of the rows of one order (created, duplicate) or of one bad row."""

    job = models.ForeignKey(CsvImport, on_delete=models.CASCADE, related_name="lines")
    row = models.PositiveIntegerField()  # first row; the header is row 1
    rows = models.JSONField(default=list, blank=True)  # every row of the order
    outcome = models.CharField(max_length=12, choices=CsvImportOutcome.choices)
    number = models.CharField(max_length=128, blank=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    reason = models.TextField(blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["job", "outcome", "row"], name="csvimportline_job")]
        ordering = ["row", "pk"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.outcome}"
