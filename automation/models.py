"""Rules: when an order event happens, if the conditions hold, do the actions (docs/rules.md).

A rule's conditions and actions are JSON lists checked by automation/conditions.py and
automation/actions.py (a ValidationFailed naming the field when one is wrong). Every
evaluation that matched, or that failed, leaves a RuleFiring: "why did this fire".
Orders themselves are only ever changed through orders' services (the single writer);
the few facts rules add to an order that orders does not keep (tags, a provider chosen
for some items, a shipping method) live here.
"""

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from podhub.core.models import WorkspaceModel


class Trigger(models.TextChoices):
    """When a rule is evaluated; each is one or more orders.events.OrderEvents members
    (automation/engine.py TRIGGER_EVENTS)."""

    IMPORTED = "imported", "Order imported"
    PRICED = "priced", "Order priced"
    PAID = "paid", "Order paid"
    HELD = "held", "Order held"
    RELEASED = "released", "Order released"
    SUBMITTED = "submitted", "Order submitted"
    PARCEL_SHIPPED = "parcel_shipped", "Parcel shipped"
    DELIVERED = "delivered", "Parcel delivered"
    CANCELLED = "cancelled", "Order cancelled"
    CLAIM_OPENED = "claim_opened", "Claim opened"


class Match(models.TextChoices):
    ALL = "all", "All conditions"
    ANY = "any", "Any condition"


class Rule(WorkspaceModel):
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)  # evaluated lowest first
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    # [{"field": "country", "op": "in", "value": ["BR"]}, ...] (automation/conditions.py)
    conditions = models.JSONField(default=list, blank=True)
    # [{"type": "hold", "value": "Check the address"}, ...] (automation/actions.py)
    actions = models.JSONField(default=list)
    # Why PodHub turned it off (a store, provider or product it names was deleted).
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["workspace", "trigger", "enabled", "position"],
                                name="rule_ws_trigger")]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_label(self) -> str:
        """Who the timeline says acted: "Auto: rule <name>" (orders.events.Actor.rule)."""
        return f"Auto: rule {self.name}"[:120]


class RuleFiring(WorkspaceModel):
    """One evaluation of a rule that matched (or failed): what it did and why."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+")
    # A skipped import has no order: the store's reference says which one it was.
    store = models.ForeignKey("orders.Store", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+")
    external_id = models.CharField(max_length=128, blank=True)
    event = models.CharField(max_length=64, blank=True)  # the OrderEvents value, or "apply"
    matched = models.JSONField(default=list, blank=True)  # the conditions that held
    changes = models.JSONField(default=list, blank=True)  # per action: what it changed
    error = models.TextField(blank=True)
    depth = models.PositiveSmallIntegerField(default=0)  # rule firings in the chain before
    job = models.ForeignKey("ApplyJob", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="rulefiring_recent"),
                   models.Index(fields=["order", "-created_at"], name="rulefiring_order")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.order_id or self.external_id}"


class OrderTag(WorkspaceModel):
    """A tag on an order (rules add and remove them; conditions read them)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "name"],
                                               name="ordertag_order_name")]

    def __str__(self) -> str:
        return self.name


class OrderChoice(WorkspaceModel):
    """What a rule chose for an order that its services take as input: the shipping
    method it is paid with (auto-pay) and the provider some items go to (routing)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    line = models.ForeignKey("orders.LineItem", on_delete=models.CASCADE, null=True,
                             blank=True, related_name="+")
    shipping_method = models.CharField(max_length=64, blank=True)
    provider = models.ForeignKey("quotes.Provider", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=models.Q(line__isnull=True),
                                    name="orderchoice_one_per_order"),
            models.UniqueConstraint(fields=["line"], condition=models.Q(line__isnull=False),
                                    name="orderchoice_one_per_line"),
        ]

    def __str__(self) -> str:
        return f"choice for order {self.order_id}"


class ApplyStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ApplyJob(WorkspaceModel):
    """"Apply to existing orders": one rule over a chosen set, in chunks (a row first,
    then a task; `next_after` is the last order id done, so a killed worker resumes)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=24, blank=True)  # the orders tab; "" = every order
    status = models.CharField(max_length=12, choices=ApplyStatus.choices,
                              default=ApplyStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    next_after = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [models.Index(fields=["status"], name="applyjob_open",
                                condition=models.Q(status__in=["pending", "running"]))]

    def __str__(self) -> str:
        return f"apply rule {self.rule_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (ApplyStatus.PENDING, ApplyStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == ApplyStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
