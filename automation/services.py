"""Rules: create, edit, order, enable; "apply to existing orders" as a job (docs/rules.md).

Only owners and admins change rules (`_require_manager`): a rule may pay orders from the
balance. Every input is checked by automation/conditions.py and automation/actions.py;
a wrong one is a ValidationFailed naming the field (400 in the API, the form's errors in
the dashboard).

Apply to existing orders: `apply_start` writes an ApplyJob row (the orders of one tab,
or all) and rings the task; `apply_process` works through the orders by id in chunks,
each chunk's firings and the job's cursor committing together, so a killed worker
resumes after the last committed chunk; `apply_sweep` (beat) re-rings lost jobs.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from automation import actions, conditions, engine, facts
from automation.models import ApplyJob, ApplyStatus, Match, Rule, Trigger
from orders.models import Order, OrderState
from podhub.core.exceptions import NotFound, ValidationFailed
from podhub.workspaces.services import require_manager

log = logging.getLogger(__name__)

CHUNK = 50
TASK_BUDGET_SECONDS = 60.0
STALE_AFTER = timedelta(minutes=3)
PENDING_GRACE = timedelta(seconds=60)


def _require_manager(membership) -> None:
    require_manager(membership, message="Only owners and admins can change rules.")


def clean(*, workspace, data: dict, partial_of: Rule | None = None) -> dict:
    """The rule's fields from `data`, checked; ValidationFailed names the first bad one."""
    if not isinstance(data, dict):
        raise ValidationFailed("Send the rule as an object.")
    out = {}
    base = partial_of

    def given(name):
        return name in data or base is None

    if given("name"):
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 120:
            raise ValidationFailed("name: give the rule a name (at most 120 characters).",
                                   fields={"name": "Give the rule a name (at most 120 "
                                           "characters)."})
        out["name"] = name.strip()
    if given("trigger"):
        if data.get("trigger") not in Trigger.values:
            raise ValidationFailed("trigger: choose when the rule runs.",
                                   fields={"trigger": "Choose one of: "
                                           + ", ".join(Trigger.values) + "."})
        out["trigger"] = data["trigger"]
    if "match" in data or base is None:
        match = data.get("match") or Match.ALL
        if match not in Match.values:
            raise ValidationFailed("match: all or any.", fields={"match": "Choose all or any."})
        out["match"] = match
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValidationFailed("enabled: true or false.",
                                   fields={"enabled": "Send true or false."})
        out["enabled"] = data["enabled"]
    if given("conditions"):
        out["conditions"] = conditions.validate(data.get("conditions"), workspace=workspace)
    if given("actions"):
        out["actions"] = actions.validate(data.get("actions"), workspace=workspace)
    trigger = out.get("trigger") or (base.trigger if base else None)
    acts = out.get("actions") if "actions" in out else (base.actions if base else [])
    if any(a["type"] == "skip_import" for a in acts) and trigger != Trigger.IMPORTED:
        raise ValidationFailed("actions: skip import only works on “Order imported”.",
                               fields={"trigger": "Skip import needs the trigger “Order "
                                       "imported”."})
    return out


@transaction.atomic
def rule_create(*, workspace, membership, data: dict) -> Rule:
    _require_manager(membership)
    fields = clean(workspace=workspace, data=data)
    last = Rule.objects.filter(workspace=workspace).aggregate(m=Max("position"))["m"]
    return Rule.objects.create(workspace=workspace, created_by=membership.user,
                               position=0 if last is None else last + 1, **fields)


@transaction.atomic
def rule_update(*, workspace, membership, rule_id: int, data: dict) -> Rule:
    """Change what `data` gives; enabling again clears the reason PodHub disabled it."""
    _require_manager(membership)
    rule = _get(workspace, rule_id, lock=True)
    fields = clean(workspace=workspace, data=data, partial_of=rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    if fields.get("enabled"):
        broken = engine.disable_broken([rule], workspace=workspace)
        if not broken:
            raise ValidationFailed(rule.disabled_reason,
                                   fields={"enabled": rule.disabled_reason})
        rule.disabled_reason = ""
    rule.save()
    return rule


@transaction.atomic
def rule_delete(*, workspace, membership, rule_id: int) -> None:
    _require_manager(membership)
    _get(workspace, rule_id, lock=True).delete()
    engine.positions_normalise(workspace=workspace)


@transaction.atomic
def rule_move(*, workspace, membership, rule_id: int, direction: str) -> Rule:
    """Swap with the rule above ("up") or below ("down")."""
    _require_manager(membership)
    if direction not in ("up", "down"):
        raise ValidationFailed("direction: up or down.", fields={"direction": "up or down"})
    engine.positions_normalise(workspace=workspace)
    rules = list(Rule.objects.select_for_update().filter(workspace=workspace)
                 .order_by("position", "pk"))
    index = next((i for i, r in enumerate(rules) if r.pk == rule_id), None)
    if index is None:
        raise NotFound("No such rule.")
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rules):
        a, b = rules[index], rules[other]
        a.position, b.position = b.position, a.position
        a.save(update_fields=["position", "updated_at"])
        b.save(update_fields=["position", "updated_at"])
    return rules[index]


def _get(workspace, rule_id: int, *, lock: bool = False) -> Rule:
    qs = Rule.objects.filter(workspace=workspace)
    if lock:
        qs = qs.select_for_update()
    rule = qs.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.")
    return rule


def dry_run(*, workspace, rule_id: int, limit: int = 50) -> list[dict]:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
        raise ValidationFailed("limit: 1 to 500 orders.", fields={"limit": "1 to 500."})
    return engine.dry_run(_get(workspace, rule_id), workspace=workspace, limit=limit)


# --- apply to existing orders -------------------------------------------------------------------


def _orders(job: ApplyJob):
    qs = Order.objects.filter(workspace_id=job.workspace_id)
    return qs.filter(state=job.state) if job.state else qs


def apply_start(*, workspace, membership, rule_id: int, state: str = "") -> ApplyJob:
    """Queue the rule over the workspace's orders of `state` ("": all); one open job per
    rule (asking again returns it)."""
    from automation.tasks import apply_process_task

    _require_manager(membership)
    if state and state not in OrderState.values:
        raise ValidationFailed("state: not an order state.",
                               fields={"state": "Choose one of: " + ", ".join(OrderState.values)
                                       + " (or nothing for every order)."})
    with transaction.atomic():
        rule = _get(workspace, rule_id, lock=True)
        if not rule.enabled:
            raise ValidationFailed("The rule is disabled: enable it first.",
                                   fields={"rule": rule.disabled_reason or "Disabled."})
        open_job = ApplyJob.objects.filter(rule=rule, status__in=[ApplyStatus.PENDING,
                                                                  ApplyStatus.RUNNING]).first()
        if open_job is not None:
            return open_job
        job = ApplyJob(workspace=workspace, rule=rule, state=state,
                       created_by=getattr(membership, "user", None))
        job.total = _orders(job).count()
        job.save()
        apply_process_task.delay(workspace_id=workspace.pk, job_id=job.pk)
    return job


def apply_process(*, job_id: int, budget_seconds: float = TASK_BUDGET_SECONDS,
                  now: datetime | None = None) -> ApplyJob:
    """Work through the job's orders (by id) until done or the budget is spent."""
    from automation.tasks import apply_process_task

    started = time.monotonic()
    while True:
        with transaction.atomic():
            job = ApplyJob.objects.select_for_update().select_related("rule").get(pk=job_id)
            if not job.is_open:
                return job
            rule = job.rule
            if not rule.enabled or not engine.disable_broken([rule], workspace=job.workspace):
                job.status, job.error = ApplyStatus.FAILED, (
                    f"The rule was disabled: {rule.disabled_reason or 'by a seller'}.")
                job.finished_at = timezone.now()
                job.save()
                return job
            job.status = ApplyStatus.RUNNING
            ids = list(_orders(job).filter(pk__gt=job.next_after).order_by("pk")
                       .values_list("pk", flat=True)[:CHUNK])
            for order in Order.objects.filter(pk__in=ids).select_related("store").order_by("pk"):
                held = conditions.matches(rule, facts.for_order(order))
                if held is not None:
                    engine.fire(rule, order, event="apply", matched=held, now=now, job=job)
                    job.matched += 1
            job.done += len(ids)
            if ids:
                job.next_after = ids[-1]
            if len(ids) < CHUNK:
                job.status, job.finished_at = ApplyStatus.DONE, timezone.now()
                job.done = max(job.done, job.total)
            job.save()
            if job.status == ApplyStatus.DONE:
                return job
        if time.monotonic() - started > budget_seconds:
            apply_process_task.delay(workspace_id=job.workspace_id, job_id=job.pk)
            return job


def apply_sweep(*, now: datetime | None = None, limit: int = 100) -> int:
    """Beat: ring again for jobs nobody started or that stopped moving (scopes disabled)."""
    from automation.tasks import apply_process_task

    now = now or timezone.now()
    stale = (ApplyJob.objects.filter(status=ApplyStatus.PENDING,
                                     created_at__lt=now - PENDING_GRACE)
             | ApplyJob.objects.filter(status=ApplyStatus.RUNNING,
                                       updated_at__lt=now - STALE_AFTER))
    jobs = list(stale.order_by("pk").only("pk", "workspace_id")[:limit])
    for job in jobs:
        apply_process_task.delay(workspace_id=job.workspace_id, job_id=job.pk)
    return len(jobs)
