"""Shared model bases, and the worker heartbeat that /healthz reads."""

from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager


class WorkspaceModel(models.Model):
    """Every tenant-owned row carries its own workspace, so scoping is one filter.

    Concrete subclasses declare ``objects = ScopedManager(workspace="workspace")``:
    a query on them outside ``scope(workspace=...)`` raises ScopeError.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """One row per background process kind, touched by a periodic task."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutgoingEmail(models.Model):
    """An e-mail PodHub sends: a row first, sent by a task after commit, retried by the
    sweep (podhub/core/mail.py). The same row is what a development outbox shows."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE,
                                  null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    to = models.JSONField(default=list)  # addresses
    subject = models.CharField(max_length=255)
    body = models.TextField()
    html = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=EmailStatus.choices,
                              default=EmailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at"], name="email_due",
                                condition=models.Q(status="pending"))]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)} ({self.status})"


class SweepRun(models.Model):
    """One row per beat sweep: who runs it now (a lease) and when it last ran.

    podhub/core/sweeps.py takes the lease before a sweep runs, so a second beat
    (or a sweep rung while beat's runs) never runs the same sweep twice at once;
    /metrics reads the ages (docs/operations.md).
    """

    name = models.CharField(max_length=100, unique=True)  # the beat schedule's entry
    holder = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # the last run that succeeded
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    runs = models.PositiveBigIntegerField(default=0)
    skipped = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} (runs {self.runs}, skipped {self.skipped})"


class IdempotencyKey(WorkspaceModel):
    """A seller API request sent with an `Idempotency-Key` header, and its first answer
    (podhub/core/idempotency.py, docs/api.md "Idempotency"). One row per workspace and
    key; `status_code` empty while the first request is still running."""

    key = models.CharField(max_length=255)
    user_id = models.BigIntegerField(null=True, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"],
                                               name="idempotency_key_once")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
