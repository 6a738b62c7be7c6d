"""Fulfillment (issue 7): provider connections, submissions, shipments, provider
webhooks and after-sales claims. Imported at the end of fulfillment/models.py.

- ProviderConnection (catalog level, staff): how PodHub talks to a catalog
  Provider (adapter, base URL, keys, destinations it serves, production target).
- FulfillmentSettings (per workspace): the maximum extra cost a fallback may add.
- Submission: one factory order = the items of one order routed to one provider.
  `reference` is our idempotency key and the provider's external id for it.
- Shipment / ShipmentEvent: a parcel with its own carrier, number, URL and
  history; status only moves forward (SHIPMENT_RANK).
- ProviderWebhook: every verified provider delivery, stored before the 200.
- Claim / ClaimMessage: after-sales claims and their thread.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from fulfillment.providers.registry import adapter_choices
from podhub.core.crypto import EncryptedTextField
from podhub.core.models import WorkspaceModel
from podhub.core.money import amount_field
from podhub.core.uploads import generated_name, stored_ext

__all__ = [
    "SHIPMENT_RANK", "SHIPPED_OR_LATER", "Adapter", "Claim", "ClaimKind", "ClaimMessage",
    "ClaimStatus", "FulfillmentSettings", "HoldStatus", "ProviderConnection", "ProviderHold",
    "ProviderWebhook", "Shipment",
    "ShipmentEvent", "ShipmentStatus", "Submission", "SubmissionStatus", "WebhookResult",
]


class Adapter:
    """Adapter codes the code names: the two local flows, and those tests and benches
    connect to. The full list, with labels, is the provider registry
    (fulfillment/providers/registry.py, settings.PODHUB_PROVIDERS): the fields below
    take their choices from it, and a new provider needs nothing here."""

    OWN = "own"
    MANUAL = "manual"
    SANDBOX = "sandbox"
    PRINTFUL = "printful"
    CUSTOMCAT = "customcat"
    GELATO = "gelato"


class ProviderConnection(models.Model):
    """How to reach one catalog provider. Without one, an `own` provider uses the
    production board and a `manual` provider the seller's hands."""

    provider = models.OneToOneField("quotes.Provider", on_delete=models.CASCADE,
                                    related_name="connection")
    adapter = models.CharField(max_length=16, choices=adapter_choices)
    api_base = models.URLField(max_length=300, blank=True)
    api_key = EncryptedTextField(blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    destinations = models.TextField(
        blank=True, help_text="Two-letter country codes it ships to, e.g. 'US CA'. "
        "Empty: everywhere.")
    production_hours = models.PositiveIntegerField(
        default=72, help_text="Production target shown on the board; later is flagged late.")
    is_enabled = models.BooleanField(default=True)
    # The provider refused the key (401/403): shown to staff; no calls go out until a
    # save clears it (fulfillment.providers.client_for).
    problem = models.CharField(max_length=255, blank=True)
    problem_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider} ({self.get_adapter_display()})"

    @property
    def destination_list(self) -> list[str]:
        return [c for c in self.destinations.replace(",", " ").upper().split() if c]

    def serves(self, country: str) -> bool:
        dests = self.destination_list
        return not dests or (country or "").upper() in dests


class FulfillmentSettings(WorkspaceModel):
    """Per workspace: how much more a fallback provider may cost than the first choice."""

    max_extra_cost_amount = amount_field(
        help_text="Per item, in the catalog currency. 0: never fall back to a dearer provider.")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace"],
                                               name="fulfillmentsettings_one")]


class SubmissionStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Sending"
    ACCEPTED = "accepted", "Accepted by the provider"
    IN_PRODUCTION = "in_production", "In production"
    SHIPPED = "shipped", "Shipped"
    FAILED = "failed", "Refused (rerouted)"
    CANCELLED = "cancelled", "Cancelled"


class Submission(WorkspaceModel):
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE,
                              related_name="submissions")
    provider = models.ForeignKey("quotes.Provider", on_delete=models.PROTECT, related_name="+")
    adapter = models.CharField(max_length=16, choices=adapter_choices)
    reference = models.CharField(max_length=64, unique=True,
                                 help_text="Our id, sent as the idempotency key.")
    status = models.CharField(max_length=16, choices=SubmissionStatus.choices,
                              default=SubmissionStatus.PENDING)
    # [{"line_item_id", "quantity", "variant_id", "provider_sku", "cost"}]
    items = models.JSONField(default=list)
    cost_amount = amount_field()
    currency = models.CharField(max_length=3, default="USD")
    external_id = models.CharField(max_length=128, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    first_failure_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    production_started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # the poll sweep (fulfillment/polling.py): when to ask the provider next, when we last did
    next_poll_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="submission_to_send",
                         condition=models.Q(status__in=["pending", "sending"])),
            models.Index(fields=["next_poll_at", "sent_at"], name="submission_to_poll",
                         condition=models.Q(status__in=["accepted", "in_production"])),
            models.Index(fields=["provider", "external_id"], name="submission_provider_ext"),
            # Home's "late" count (fulfillment.selectors.home_figures)
            models.Index(fields=["workspace", "due_at"], name="submission_ws_open_due",
                         condition=models.Q(status__in=["accepted", "in_production"])),
        ]

    def __str__(self) -> str:
        return f"{self.reference} → {self.provider_id} ({self.status})"

    @property
    def is_late(self) -> bool:
        return (self.due_at is not None and self.status in (
            SubmissionStatus.ACCEPTED, SubmissionStatus.IN_PRODUCTION)
            and timezone.now() > self.due_at)


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Not shipped yet"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"


SHIPMENT_RANK = {ShipmentStatus.PENDING: 0, ShipmentStatus.SHIPPED: 1,
                 ShipmentStatus.IN_TRANSIT: 2, ShipmentStatus.DELIVERED: 3}
SHIPPED_OR_LATER = [ShipmentStatus.SHIPPED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED]


class Shipment(WorkspaceModel):
    """One parcel: its own carrier, number, URL and events (never another's)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="shipments")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="shipments")
    external_id = models.CharField(max_length=128, blank=True,
                                   help_text="The provider's shipment id.")
    status = models.CharField(max_length=16, choices=ShipmentStatus.choices,
                              default=ShipmentStatus.PENDING)
    carrier = models.CharField(max_length=80, blank=True)
    tracking_number = models.CharField(max_length=128, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    # [{"line_item_id", "quantity"}]
    items = models.JSONField(default=list)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "external_id"],
                                    condition=~models.Q(external_id=""),
                                    name="shipment_submission_ext"),
        ]

    def __str__(self) -> str:
        return f"shipment {self.pk} of order {self.order_id} ({self.status})"

    @property
    def is_shipped(self) -> bool:
        return self.status in SHIPPED_OR_LATER


class ShipmentEvent(WorkspaceModel):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=ShipmentStatus.choices)
    message = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=32, blank=True)  # provider code, "seller", "staff"

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["occurred_at", "pk"]


class WebhookResult(models.TextChoices):
    PENDING = "pending", "Not processed yet"
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed (retried by the sweep)"
    REFUSED = "refused", "Refused (unreadable)"


class ProviderWebhook(models.Model):
    """A verified provider delivery, stored raw before the 200 (not tenant data until
    parsed: the workspace is found through the submission it names)."""

    provider_code = models.CharField(max_length=40)
    event_key = models.CharField(max_length=200)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=8, choices=WebhookResult.choices,
                              default=WebhookResult.PENDING)
    reason = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    workspace_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider_code", "event_key"],
                                               name="providerwebhook_dedupe")]
        indexes = [models.Index(fields=["received_at"], name="providerwebhook_pending",
                                condition=models.Q(result__in=["pending", "failed"]))]

    def __str__(self) -> str:
        return f"{self.provider_code}:{self.event_key} ({self.result})"


class ClaimKind(models.TextChoices):
    MISPRINT = "misprint", "Misprint"
    DAMAGED = "damaged", "Damaged in transit"
    LOST = "lost", "Lost parcel"
    WRONG_ITEM = "wrong_item", "Wrong item"


class ClaimStatus(models.TextChoices):
    OPEN = "open", "Open"
    REPRINTED = "reprinted", "Answered: reprint"
    REFUNDED = "refunded", "Answered: refund to the balance"
    REJECTED = "rejected", "Rejected"


class Claim(WorkspaceModel):
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="claims")
    kind = models.CharField(max_length=16, choices=ClaimKind.choices)
    status = models.CharField(max_length=16, choices=ClaimStatus.choices,
                              default=ClaimStatus.OPEN)
    # [{"line_item_id", "quantity"}]; empty = the whole order
    items = models.JSONField(default=list, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")
    reprint_order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="+")
    refund_amount = amount_field()
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="claim_status_time")]

    def __str__(self) -> str:
        return f"claim {self.pk} ({self.get_kind_display()}) on order {self.order_id}"


def _claim_photo_path(instance: "ClaimMessage", filename: str) -> str:
    # A name we make, never the client's (podhub/core/uploads.py).
    return (f"claims/ws{instance.workspace_id}/claim{instance.claim_id}/"
            f"{generated_name(stored_ext(filename) or 'bin')}")


class ClaimMessage(WorkspaceModel):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+")
    from_staff = models.BooleanField(default=False)
    body = models.TextField(blank=True)
    photo = models.ImageField(upload_to=_claim_photo_path, max_length=300, blank=True)
    photo_name = models.CharField(max_length=100, blank=True,
                                  help_text="The uploaded file's name, as display text only.")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["created_at", "pk"]


class HoldStatus(models.TextChoices):
    NEW = "new", "Not at the provider yet"
    HELD = "held", "On hold at the provider (countdown)"
    SUBMITTED = "submitted", "Released by the submission"
    CANCELLED = "cancelled", "Cancelled at the provider"
    REFUSED = "refused", "Refused by the provider"


class ProviderHold(WorkspaceModel):
    """An order sent on hold to a provider whose client `holds_during_countdown`
    (ShineOn) while its submit countdown runs, so the provider has it early and buyer
    changes are applied to it; the submission at the countdown's end takes its
    reference and releases it (fulfillment/holds.py, docs/fulfillment.md "Holds")."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE,
                              related_name="provider_holds")
    provider = models.ForeignKey("quotes.Provider", on_delete=models.PROTECT, related_name="+")
    adapter = models.CharField(max_length=16, choices=adapter_choices)
    reference = models.CharField(max_length=64, unique=True,
                                 help_text="Our id (the provider's idempotency key); the "
                                 "submission takes it over.")
    status = models.CharField(max_length=16, choices=HoldStatus.choices,
                              default=HoldStatus.NEW)
    # [{"line_item_id", "quantity", "provider_sku"}]
    items = models.JSONField(default=list)
    external_id = models.CharField(max_length=128, blank=True)
    #: digest of what the provider last took (address, lines, personalisation, files)
    synced = models.CharField(max_length=64, blank=True)
    #: a change is waiting to be sent (the sweep sends it once the lease is over)
    dirty = models.BooleanField(default=False)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["order", "status"], name="providerhold_order")]

    def __str__(self) -> str:
        return f"{self.reference} → {self.provider_id} ({self.status})"
