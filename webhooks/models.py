"""Endpoints, deliveries and their attempts (docs/webhooks.md).

A delivery is the outbox row: written when the event happens, with its body built then,
and sent by a task that only wakes a worker; the sweep sends what a lost task left.
Its `msg_id` is the `webhook-id` header, the same on every attempt and replay.
"""

import base64
import secrets
import uuid

from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from podhub.core.crypto import EncryptedTextField
from podhub.core.models import WorkspaceModel

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(WorkspaceModel):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="the event types sent here")
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret = EncryptedTextField()
    # after a rotation the old secret keeps signing until it expires (both signatures)
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # the failure streak: reset by any 2xx; a long one disables the endpoint
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    def wants(self, type: str) -> bool:
        return type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(WorkspaceModel):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    msg_id = models.CharField(max_length=40, unique=True, default=new_msg_id)
    event_type = models.CharField(max_length=64)
    # the order event it carries (None for a test event or a published one): one
    # delivery per endpoint and event, however often the event's task runs
    order_event_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField(help_text="the JSON sent, byte for byte on every attempt")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    replay_pending = models.BooleanField(default=False)  # the next attempt is a replay

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "order_event_id"],
                                    condition=models.Q(order_event_id__isnull=False),
                                    name="webhook_delivery_event_uniq"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due",
                         condition=models.Q(status="pending")),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.msg_id} {self.event_type} ({self.status})"


class AttemptTrigger(models.TextChoices):
    AUTO = "auto", "Automatic"
    REPLAY = "replay", "Replay"


class WebhookAttempt(WorkspaceModel):
    """One request of a delivery: what was sent (headers without any secret; the body
    is the delivery's), what came back (truncated), how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    trigger = models.CharField(max_length=8, choices=AttemptTrigger.choices,
                               default=AttemptTrigger.AUTO)
    url = models.URLField(max_length=500)
    request_headers = models.JSONField(default=dict)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.response_status or self.error}"

    @property
    def ok(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
