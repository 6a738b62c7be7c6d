"""The Rules pages: the list in the order rules run, the editor with condition and action
rows (htmx adds a row), dry run, apply to existing orders with progress, recent firings.

Everyone in the workspace sees rules; owners and admins change them (automation.services
refuses the others). No inline script (the CSP): htmx attributes only.
"""

from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from automation import actions, conditions, services
from automation.models import ApplyJob, Match, Rule, RuleFiring, Trigger
from orders.models import OrderState, Store
from podhub.core.exceptions import ValidationFailed
from podhub.core.views import workspace_view

EXTRA_ROWS = 1  # blank rows under the rule's own; "Add a condition" brings more
MAX_ROWS = 50


def _can_manage(request) -> bool:
    return request.membership is not None and request.membership.can_manage


def _rows(items: list[dict], keys: tuple[str, ...]) -> list[dict]:
    rows = [{"i": i, **{k: item.get(k, "") for k in keys}} for i, item in enumerate(items)]
    for _ in range(EXTRA_ROWS):
        rows.append({"i": len(rows), **dict.fromkeys(keys, "")})
    for row in rows:
        value = row.get("value")
        if isinstance(value, list):
            row["value"] = ", ".join(value)
        elif value is None:
            row["value"] = ""
    return rows


def _choices(request) -> dict:
    return {
        "triggers": Trigger.choices, "matches": Match.choices,
        "kinds": [(k, v.label) for k, v in conditions.KINDS.items()],
        "ops": sorted({(op, label) for v in conditions.KINDS.values()
                       for op, label in v.ops.items()}, key=lambda p: p[1]),
        "action_types": [(k, v.label) for k, v in actions.REGISTRY.items()],
        "states": OrderState.choices,
        "stores": list(Store.objects.filter(workspace=request.workspace)
                       .values_list("pk", "name")),
    }


def _from_post(post) -> tuple[dict, dict[str, int], dict[str, int]]:
    """The rule's data from the form, and which form row each kept row came from."""
    conds, acts, cond_rows, act_rows = [], [], {}, {}
    for i in range(MAX_ROWS):
        name = post.get(f"c-{i}-field", "")
        if name:
            cond_rows[str(len(conds))] = i
            conds.append({"field": name, "op": post.get(f"c-{i}-op", ""),
                          "value": post.get(f"c-{i}-value", "")})
        kind = post.get(f"a-{i}-type", "")
        if kind:
            act_rows[str(len(acts))] = i
            acts.append({"type": kind, "value": post.get(f"a-{i}-value", "")})
    data = {"name": post.get("name", ""), "trigger": post.get("trigger", ""),
            "match": post.get("match", "all"), "enabled": post.get("enabled") == "on",
            "conditions": conds, "actions": acts}
    return data, cond_rows, act_rows


def _errors(exc: ValidationFailed, cond_rows, act_rows) -> dict[str, str]:
    """`conditions[0].value` -> the form row's key `c-3`; others keep their name."""
    out = {}
    for key, message in (exc.detail.get("fields") or {"form": exc.message}).items():
        if key.startswith(("conditions[", "actions[")):
            which, _, rest = key.partition("[")
            index, _, _ = rest.partition("]")
            rows = cond_rows if which == "conditions" else act_rows
            key = f"{which[0]}-{rows.get(index, index)}"
        out[key] = str(message)
    return out


@workspace_view
@require_GET
def rule_list(request):
    ws = request.workspace
    rules = list(Rule.objects.filter(workspace=ws).order_by("position", "pk"))
    firings = (RuleFiring.objects.filter(workspace=ws).select_related("rule", "order")
               .order_by("-created_at", "-pk")[:20])
    return render(request, "automation/list.html", {
        "section": "rules", "firings": firings, "can_manage": _can_manage(request),
        "rows": [{"rule": r, "first": i == 0, "last": i == len(rules) - 1,
                  "conditions": [conditions.describe(c) for c in r.conditions or []],
                  "actions": [actions.describe(a) for a in r.actions or []]}
                 for i, r in enumerate(rules)],
    })


def _editor(request, rule: Rule | None):
    ws = request.workspace
    errors: dict[str, str] = {}
    if request.method == "POST":
        data, cond_rows, act_rows = _from_post(request.POST)
        try:
            if rule is None:
                rule = services.rule_create(workspace=ws, membership=request.membership,
                                            data=data)
            else:
                services.rule_update(workspace=ws, membership=request.membership,
                                     rule_id=rule.pk, data=data)
            return redirect("automation:edit", rule_id=rule.pk)
        except ValidationFailed as exc:
            errors = _errors(exc, cond_rows, act_rows)
            values = data
            status = 400
    else:
        values = {"name": rule.name, "trigger": rule.trigger, "match": rule.match,
                  "enabled": rule.enabled, "conditions": rule.conditions,
                  "actions": rule.actions} if rule else \
            {"name": "", "trigger": Trigger.IMPORTED, "match": Match.ALL, "enabled": True,
             "conditions": [], "actions": []}
        status = 200
    cond_rows = _rows(values["conditions"], ("field", "op", "value"))
    act_rows = _rows(values["actions"], ("type", "value"))
    for prefix, rows in (("c", cond_rows), ("a", act_rows)):
        for r in rows:
            r["error"] = errors.get(f"{prefix}-{r['i']}", "")
    ctx = {
        "section": "rules", "rule": rule, "values": values, "errors": errors,
        "cond_rows": cond_rows, "act_rows": act_rows,
        "can_manage": _can_manage(request), **_choices(request),
    }
    if rule is not None and rule.pk:
        ctx["jobs"] = ApplyJob.objects.filter(rule=rule).order_by("-pk")[:1]
        ctx["firings"] = (RuleFiring.objects.filter(rule=rule).select_related("order")
                          .order_by("-created_at", "-pk")[:20])
    return render(request, "automation/edit.html", ctx, status=status)


@workspace_view
def rule_new(request):
    return _editor(request, None)


@workspace_view
def rule_edit(request, rule_id: int):
    return _editor(request, get_object_or_404(Rule, workspace=request.workspace, pk=rule_id))


@workspace_view
@require_GET
def row(request):
    """One more condition or action row (htmx swaps it in for the "Add" button)."""
    kind = request.GET.get("kind", "")
    try:
        i = min(max(int(request.GET.get("i", "0")), 0), MAX_ROWS - 1)
    except ValueError:
        i = 0
    keys = ("field", "op", "value") if kind == "condition" else ("type", "value")
    if kind not in ("condition", "action"):
        raise ValidationFailed("Unknown row kind.")
    return render(request, "automation/_row.html", {
        "kind": kind, "row": {"i": i, **dict.fromkeys(keys, "")}, "next": i + 1,
        "more": i + 1 < MAX_ROWS, "errors": {}, **_choices(request)})


@workspace_view
@require_POST
def rule_move(request, rule_id: int):
    get_object_or_404(Rule, workspace=request.workspace, pk=rule_id)
    services.rule_move(workspace=request.workspace, membership=request.membership,
                       rule_id=rule_id, direction=request.POST.get("direction", ""))
    return redirect("automation:list")


@workspace_view
@require_POST
def rule_toggle(request, rule_id: int):
    rule = get_object_or_404(Rule, workspace=request.workspace, pk=rule_id)
    try:
        services.rule_update(workspace=request.workspace, membership=request.membership,
                             rule_id=rule.pk, data={"enabled": not rule.enabled})
    except ValidationFailed as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
    return redirect("automation:list")


@workspace_view
@require_POST
def rule_delete(request, rule_id: int):
    services.rule_delete(workspace=request.workspace, membership=request.membership,
                         rule_id=rule_id)
    return redirect("automation:list")


@workspace_view
@require_POST
def rule_dry_run(request, rule_id: int):
    try:
        limit = int(request.POST.get("limit") or 50)
    except ValueError:
        limit = 0
    rule = get_object_or_404(Rule, workspace=request.workspace, pk=rule_id)
    try:
        matches = services.dry_run(workspace=request.workspace, rule_id=rule.pk, limit=limit)
        error = ""
    except ValidationFailed as exc:
        matches, error = [], exc.message
    return render(request, "automation/_dry_run.html",
                  {"rule": rule, "matches": matches, "limit": limit, "error": error})


@workspace_view
@require_POST
def rule_apply(request, rule_id: int):
    rule = get_object_or_404(Rule, workspace=request.workspace, pk=rule_id)
    job = services.apply_start(workspace=request.workspace, membership=request.membership,
                               rule_id=rule.pk, state=request.POST.get("state", ""))
    if request.htmx:
        return render(request, "automation/_apply_progress.html", {"job": job, "rule": rule})
    return redirect(reverse("automation:edit", kwargs={"rule_id": rule.pk}))


@workspace_view
@require_GET
def apply_progress(request, rule_id: int, job_id: int):
    job = get_object_or_404(ApplyJob.objects.select_related("rule"),
                            workspace=request.workspace, rule_id=rule_id, pk=job_id)
    return render(request, "automation/_apply_progress.html", {"job": job, "rule": job.rule})
