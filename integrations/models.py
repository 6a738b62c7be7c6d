"""Store connections, the inbox, the outbox, import jobs.

Every row is tenant-owned (`workspace`) and uses django-scopes. The inbox and
the outbox are the ledger of all traffic with a store: a Celery task only
says "look now"; beat sweeps pick up what a lost task left behind.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from integrations.conf import shopify_api_base
from podhub.core.crypto import EncryptedTextField
from podhub.core.models import WorkspaceModel


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    UNINSTALLED = "uninstalled", "App uninstalled in the store"
    REDACTED = "redacted", "Store data removed (shop/redact)"


class ConnectionKind(models.TextChoices):
    OAUTH = "oauth", "Public app (OAuth)"
    CUSTOM = "custom", "Custom app (pasted token)"


class StoreConnection(WorkspaceModel):
    """How PodHub talks to one store: credentials (encrypted), scopes, sync marks."""

    store = models.OneToOneField("orders.Store", on_delete=models.CASCADE,
                                 related_name="connection")
    platform = models.CharField(max_length=16)
    kind = models.CharField(max_length=8, choices=ConnectionKind.choices,
                            default=ConnectionKind.CUSTOM)
    shop_domain = models.CharField(max_length=255, db_index=True)
    # Shopify: empty (the operator's SHOPIFY_API_BASES, else https://{shop_domain}) or set
    # by the operator's `connect_store --api-base`, never by a seller. WooCommerce: the
    # store URL the seller gave, checked by the outbound HTTP policy.
    api_base = models.CharField(max_length=255, blank=True)
    access_token = EncryptedTextField(blank=True, default="")  # WooCommerce: consumer key
    # WooCommerce only: the REST API consumer secret (the key is in access_token).
    consumer_secret = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    webhook_secret = EncryptedTextField(blank=True, default="")
    scopes = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices,
                              default=ConnectionStatus.ACTIVE)
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_webhook_at = models.DateTimeField(null=True, blank=True)
    last_sweep_at = models.DateTimeField(null=True, blank=True)
    # The newest store `updated_at` the sweep has seen: the next sweep reads from here.
    sweep_high_water = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # What the platform's last answer said of its rate limits (Etsy: per second, per
    # day, remaining of each, when): sync health shows the remaining budget.
    api_budget = models.JSONField(default=dict, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            # One live connection per shop across all workspaces: a webhook names
            # the shop only, so the shop must identify one tenant.
            models.UniqueConstraint(
                fields=["platform", "shop_domain"],
                condition=models.Q(status="active"),
                name="storeconn_one_active_shop",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.shop_domain} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE

    @property
    def base_url(self) -> str:
        return (self.api_base or shopify_api_base(self.shop_domain)).rstrip("/")


class OAuthState(WorkspaceModel):
    """The `state` nonce of one OAuth install, bound to the member who started it."""

    nonce = models.CharField(max_length=64, unique=True)
    shop_domain = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    used_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"oauth {self.shop_domain}"


class InboxStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class InboundWebhook(WorkspaceModel):
    """One delivery exactly as it arrived (raw body), stored before the 200.

    Unique per (connection, event id): Shopify repeats `X-Shopify-Event-Id`
    across duplicate deliveries of one event, so a duplicate is a no-op insert.
    """

    # The hot table: every index costs on each delivery, so only those queries need.
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.PROTECT,
                                  related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)
    connection = models.ForeignKey(StoreConnection, on_delete=models.CASCADE,
                                   related_name="inbox", db_index=False)  # see the constraint
    event_id = models.CharField(max_length=128)
    webhook_id = models.CharField(max_length=128, blank=True)
    topic = models.CharField(max_length=64)
    # The order (or customer) id the body is about, for ordering and redaction.
    resource_id = models.CharField(max_length=64, blank=True)
    api_version = models.CharField(max_length=16, blank=True)
    triggered_at = models.CharField(max_length=64, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=12, choices=InboxStatus.choices,
                              default=InboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_id"],
                                    name="inbox_conn_event_uniq"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="inbox_pending",
                         condition=models.Q(status="pending")),
            # /metrics counts failed deliveries (ops/metrics.py); few rows, small index
            models.Index(fields=["created_at"], name="inbox_failed",
                         condition=models.Q(status="failed")),
            models.Index(fields=["connection", "-created_at"], name="inbox_conn_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.event_id} ({self.status})"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Stopped"


class ImportMethod(models.TextChoices):
    PAGES = "pages", "Page by page"
    BULK = "bulk", "Bulk operation"


class ImportJob(WorkspaceModel):
    """The initial import of a store's open, unfulfilled, paid orders.

    Resumable: `cursor` is the last page done; a sweep restarts a job whose
    worker died (its `heartbeat_at` went stale).
    """

    connection = models.ForeignKey(StoreConnection, on_delete=models.CASCADE,
                                   related_name="imports")
    status = models.CharField(max_length=12, choices=JobStatus.choices,
                              default=JobStatus.PENDING)
    total = models.PositiveIntegerField(null=True, blank=True)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cursor = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # How the orders are read (docs/shopify.md "Large stores: the bulk import"): "" until
    # the first run counts the store's orders, then "pages" or "bulk".
    method = models.CharField(max_length=8, choices=ImportMethod.choices, blank=True)
    # bulk: Shopify's BulkOperation (gid), its status and object count as last read, how
    # many operations were started, when the poll next asks; `cursor` is then the byte
    # offset in the operation's JSONL file of the first order not yet applied.
    bulk_operation_id = models.CharField(max_length=100, blank=True)
    bulk_status = models.CharField(max_length=16, blank=True)
    bulk_objects = models.PositiveIntegerField(default=0)
    bulk_attempts = models.PositiveSmallIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    # lines of the file PodHub could not read, with the reason (at most PROBLEMS_KEPT)
    problems = models.JSONField(default=list, blank=True)

    PROBLEMS_KEPT = 20

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["status"], name="importjob_open",
                                condition=models.Q(status__in=["pending", "running"]))]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"

    @property
    def seen(self) -> int:
        return self.imported + self.skipped + self.failed


class OutboxKind(models.TextChoices):
    FULFILLMENT_CREATE = "fulfillment_create", "Push shipment (fulfillment)"
    ORDER_CANCEL = "order_cancel", "Cancel order in the store"
    REFUND_CREATE = "refund_create", "Refund in the store"
    PRODUCT_CREATE = "product_create", "Publish product"
    ORDER_COMPLETE = "order_complete", "Mark the order completed in the store"
    WEBHOOKS_REGISTER = "webhooks_register", "Register the store's webhooks"
    ORDER_NOTE = "order_note", "Add a note to the store's order"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    DONE = "done", "Done"
    FAILED = "failed", "Failed for good"
    CANCELLED = "cancelled", "Cancelled"


class OutboxMessage(WorkspaceModel):
    """One outbound call to a store (any platform), retried until it succeeds.

    `key` makes a push idempotent (e.g. one fulfillment per shipment).
    """

    store = models.ForeignKey("orders.Store", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    kind = models.CharField(max_length=24, choices=OutboxKind.choices)
    key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=OutboxStatus.choices,
                              default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="outbox_store_key_uniq"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="outbox_due",
                         condition=models.Q(status="pending")),
            models.Index(fields=["created_at"], name="outbox_failed",
                         condition=models.Q(status="failed")),  # /metrics (ops/metrics.py)
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"


class StoreOrderRecord(WorkspaceModel):
    """The store's own view of one of its orders, seen by webhook, import or sweep.

    Kept even for orders PodHub never imports (fulfilled, cancelled before we saw
    them): it is the tombstone that stops a late, older delivery from creating
    or changing an order, and it tells whether the store has been paid.
    """

    connection = models.ForeignKey(StoreConnection, on_delete=models.CASCADE,
                                   related_name="order_records")
    external_id = models.CharField(max_length=128)
    order = models.OneToOneField("orders.Order", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="store_record")
    store_updated_at = models.DateTimeField(null=True, blank=True)
    financial_status = models.CharField(max_length=32, blank=True)
    fulfilled = models.BooleanField(default=False)
    cancelled = models.BooleanField(default=False)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"],
                                    name="storeorder_conn_ext_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.financial_status})"

    @property
    def awaiting_payment(self) -> bool:
        return self.paid_at is None and not self.cancelled
