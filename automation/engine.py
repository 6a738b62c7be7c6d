"""Running rules: on an order event, before an import, over existing orders, as a dry run.

Each trigger is a set of order events (TRIGGER_EVENTS); automation.apps subscribes one
task per trigger (orders.events.subscribe). For an event, the workspace's enabled rules
of that trigger are evaluated in order against the order's facts, read once; each rule
that matches runs its actions through the services people use, acting as
`Actor.rule("Auto: rule <name>")`, in its own transaction, and leaves a RuleFiring plus
an `order.rule_fired` timeline entry saying what each action changed.

Loops cannot happen: an event a rule caused never triggers that same rule, and a chain
of rule firings on one order stops at MAX_DEPTH (the stop is recorded as a firing with
its error). A rule naming a store, provider or product that no longer exists is
disabled with the reason and skipped: intake never fails because of a rule.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from automation import actions, conditions, facts, selectors
from automation.models import OrderChoice, Rule, RuleFiring, Trigger
from orders.events import Actor, OrderEvents
from orders.models import ActorType, HoldReason, Order, OrderEvent

log = logging.getLogger(__name__)
E = OrderEvents
MAX_DEPTH = 5

TRIGGER_EVENTS: dict[str, tuple[OrderEvents, ...]] = {
    Trigger.IMPORTED: (E.IMPORTED, E.CREATED),
    Trigger.PRICED: (E.PRICED,),
    Trigger.PAID: (E.PAID,),
    Trigger.HELD: tuple(E.held(r) for r in HoldReason.values),
    Trigger.RELEASED: (E.RELEASED,),
    Trigger.SUBMITTED: (E.SUBMITTED,),
    Trigger.PARCEL_SHIPPED: (E.SHIPMENT_SHIPPED,),
    Trigger.DELIVERED: (E.SHIPMENT_DELIVERED,),
    Trigger.CANCELLED: (E.CANCELLED,),
    Trigger.CLAIM_OPENED: (E.CLAIM_OPENED,),
}
TRIGGER_OF: dict[str, str] = {ev.value: trig for trig, evs in TRIGGER_EVENTS.items()
                              for ev in evs}


# --- references that may disappear -------------------------------------------------------


def _references(rule: Rule) -> dict[str, set[int]]:
    refs: dict[str, set[int]] = {}
    for c in rule.conditions or []:
        kind = conditions.KINDS.get(c.get("field"))
        if kind and kind.refers_to:
            refs.setdefault(kind.refers_to, set()).add(c["value"])
    for a in rule.actions or []:
        act = actions.REGISTRY.get(a.get("type"))
        if act and act.refers_to:
            refs.setdefault(act.refers_to, set()).add(a["value"])
    return refs


def disable_broken(rules: list[Rule], *, workspace) -> list[Rule]:
    """The rules whose references all exist; the others are disabled with the reason
    (one query per kind of reference for all the rules)."""
    wanted: dict[str, set[int]] = {}
    per_rule = {r.pk: _references(r) for r in rules}
    for refs in per_rule.values():
        for kind, ids in refs.items():
            wanted.setdefault(kind, set()).update(ids)
    if not wanted:
        return rules
    there = {kind: conditions.existing(kind, ids, workspace=workspace)
             for kind, ids in wanted.items()}
    ok = []
    for rule in rules:
        gone = [f"{kind} {pk}" for kind, ids in per_rule[rule.pk].items()
                for pk in sorted(ids - there[kind])]
        if gone:
            rule_disable(rule, reason="It names something that was deleted: "
                         + ", ".join(gone) + ". Edit the rule, then enable it again.")
        else:
            ok.append(rule)
    return ok


def reference_deleted(sender, instance, **kwargs) -> None:
    """post_delete of a store, provider, catalog product or webhook endpoint: the rules
    naming it are disabled with the reason at once (a firing would find it gone too)."""
    from django_scopes import scopes_disabled

    kind = {"Store": "store", "Provider": "provider", "Product": "product",
            "WebhookEndpoint": "endpoint"}[sender.__name__]
    with scopes_disabled():
        rules = Rule.objects.filter(enabled=True)
        if kind in ("store", "endpoint"):
            rules = rules.filter(workspace_id=instance.workspace_id)
        for rule in rules.only("pk", "conditions", "actions"):
            if instance.pk in _references(rule).get(kind, ()):
                rule_disable(rule, reason=f"It names a {kind} that was deleted ({kind} "
                             f"{instance.pk}). Edit the rule, then enable it again.")


def rule_disable(rule: Rule, *, reason: str) -> None:
    Rule.objects.filter(pk=rule.pk).update(enabled=False, disabled_reason=reason[:300],
                                           updated_at=timezone.now())
    rule.enabled, rule.disabled_reason = False, reason[:300]
    log.info("rule %s disabled: %s", rule.pk, reason)


# --- on an order event -----------------------------------------------------------------------


def wants_event(workspace_id: int, type: str) -> bool:
    """orders.events `when`: ring the rules task only in a workspace with an enabled
    rule of the event's trigger (a task per event was, at 100 events/s, as much work
    for the workers as the events' outbound webhooks; docs/benchmarks.md)."""
    trigger = TRIGGER_OF.get(type)
    return trigger is not None and selectors.has_rules(workspace_id, trigger)


def active_rules(*, workspace, trigger: str) -> list[Rule]:
    return list(Rule.objects.filter(workspace=workspace, trigger=trigger, enabled=True)
                .order_by("position", "pk"))


def _depth(actor_type: str, order_id: int) -> int:
    """Rule firings in the chain that led to this event (0: not caused by a rule)."""
    if actor_type != ActorType.RULE:
        return 0
    # the firing that made it is the newest on the order (it commits with the event)
    cause = (RuleFiring.objects.filter(order_id=order_id)
             .order_by("-created_at", "-pk").values_list("depth", flat=True).first())
    return (cause or 0) + 1


def run_for_event(*, workspace, event_id: int, type: str | None = None,
                  now: datetime | None = None) -> int:
    """Evaluate the rules of this event's trigger on its order; the number that fired.

    One query reads the event, its order and lines and the workspace's rules version
    (and the order's tags and notes, when the trigger's rules have such conditions);
    the trigger's rules come from this process's cache unless that version changed
    (automation/selectors.py); a model is loaded only for a rule that matches."""
    if type is None:
        type = (OrderEvent.objects.filter(workspace=workspace, pk=event_id)
                .values_list("type", flat=True).first())
    trigger = TRIGGER_OF.get(type or "")
    if trigger is None:
        return 0
    ev = selectors.event_for_rules(workspace.pk, event_id,
                                   extra=selectors.wants_extra(workspace.pk, trigger))
    if ev is None:
        return 0
    rules = selectors.cached_rules(workspace.pk, trigger, ev.rules_version)
    if not rules:
        return 0
    if trigger == Trigger.IMPORTED and any(a.get("type") == "skip_import"
                                           for r in rules for a in r.actions):
        _attach_skips(Order.objects.get(pk=ev.order_id, workspace=workspace))
    order_facts = facts.build(
        order_id=ev.order_id, workspace_id=workspace.pk, store_id=ev.store_id,
        address=ev.address, currency=ev.currency, total=ev.total,
        buyer_email=ev.buyer_email, hold_message=ev.hold_message,
        cancel_note=ev.cancel_note, lines=ev.lines, tags=ev.tags, notes=ev.notes)
    by_rule = ev.actor_type == ActorType.RULE
    depth = None
    fired = 0
    for row in rules:
        if by_rule and ev.actor_label == row.actor_label:
            continue  # its own change: never re-triggers it
        held = conditions.matches(row, order_facts)
        if held is None:
            continue
        rule = Rule.objects.filter(workspace=workspace, pk=row.pk, enabled=True).first()
        if rule is None or not disable_broken([rule], workspace=workspace):
            continue
        order = Order.objects.select_related("store").get(pk=ev.order_id)
        if depth is None:
            depth = _depth(ev.actor_type, ev.order_id)
        if depth >= MAX_DEPTH:
            RuleFiring.objects.create(
                workspace=workspace, rule=rule, order=order, event=type, matched=held,
                depth=depth, error=f"Stopped: {depth} rule firings in a row on this order "
                f"(the limit is {MAX_DEPTH}); nothing done.")
            continue
        fire(rule, order, event=type, matched=held, depth=depth, now=now)
        fired += 1
        order.refresh_from_db()
        order_facts = facts.for_order(order)  # the next rule sees what this one changed
    return fired


def fire(rule: Rule, order: Order, *, event: str, matched: list[dict], depth: int = 0,
         now: datetime | None = None, job=None) -> RuleFiring:
    """Run the rule's actions on the order (each through its service) and record it.

    Each action runs in its own savepoint: one that fails (the order moved meanwhile,
    the balance is short) is recorded with its error and the others still run."""
    now = now or timezone.now()
    actor = Actor.rule(rule.actor_label)
    changes, errors = [], []
    with transaction.atomic():
        for act in rule.actions or []:
            action = actions.REGISTRY.get(act.get("type"))
            if action is None:
                errors.append(f"Unknown action {act.get('type')!r}.")
                continue
            fresh = Order.objects.select_related("store", "workspace").get(pk=order.pk)
            ctx = actions.Context(rule=rule, order=fresh, actor=actor, now=now,
                                  applying=job is not None)
            try:
                with transaction.atomic():
                    said = action.run(ctx, act.get("value"))
            except actions.RuleReferenceGone as exc:
                rule_disable(rule, reason=str(exc))
                errors.append(str(exc))
                break
            except Exception as exc:  # recorded on the firing; the next action still runs
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                log.info("rule %s action %s on order %s failed: %s", rule.pk, act["type"],
                         order.pk, message)
                errors.append(f"{action.label}: {message}")
                said = f"Failed: {message}"
            changes.append({"action": act["type"], "said": said})
        firing = RuleFiring.objects.create(
            workspace_id=order.workspace_id, rule=rule, order=order, event=event,
            matched=matched, changes=changes, error="\n".join(errors), depth=depth, job=job)
        _timeline(order, rule=rule, actor=actor, firing=firing, matched=matched)
    return firing


def _timeline(order: Order, *, rule: Rule, actor: Actor, firing: RuleFiring,
              matched: list[dict]) -> None:
    from orders import services

    why = "; ".join(conditions.describe(c) for c in matched) or "every order"
    did = " ".join(c["said"] for c in firing.changes) or "Nothing to do."
    services.record_event(
        order=order, type=OrderEvents.RULE_FIRED, actor=actor,
        message=f"Rule {rule.name} fired ({why}). {did}"
        + (f" Errors: {firing.error}" if firing.error else ""),
        data={"rule_id": rule.pk, "firing_id": firing.pk, "changes": firing.changes})


# --- before an import: "skip import" ------------------------------------------------------------


def import_filter(store, inp):
    """orders.hooks import filter: the enabled "order imported" rules with a skip-import
    action that match the new order drop it (or only the items their SKU/product
    conditions pick). Each skip is a RuleFiring (no order yet: the store and external id);
    the order's timeline says so if the rest of it is imported."""
    try:
        with transaction.atomic():  # a failure here leaves the caller's transaction usable
            return _import_filter(store, inp)
    except Exception:  # a rule never stops intake
        log.exception("import filter failed for %s/%s; importing as is", store.pk,
                      getattr(inp, "external_id", "?"))
        return inp, ""


def import_filter_many(store, inps: list) -> list[tuple]:
    """import_filter for a batch of new orders of one store (orders_import): the
    workspace's skip-import rules are read once; with none, every order is kept as it
    is (the common case: no query per order); with some, each order is filtered as
    import_filter does."""
    try:
        with transaction.atomic():
            rules = _skip_rules(store)
    except Exception:  # a rule never stops intake
        log.exception("import filter failed for %s; importing as is", store.pk)
        return [(inp, "") for inp in inps]
    if not rules:
        return [(inp, "") for inp in inps]
    return [import_filter(store, inp) for inp in inps]


def _skip_rules(store) -> list[Rule]:
    return [r for r in active_rules(workspace=store.workspace, trigger=Trigger.IMPORTED)
            if any(a.get("type") == "skip_import" for a in r.actions or [])]


def _import_filter(store, inp):
    from dataclasses import replace

    rules = _skip_rules(store)
    if not rules:
        return inp, ""
    rules = disable_broken(rules, workspace=store.workspace)
    reasons = []
    for rule in rules:
        held = conditions.matches(rule, facts.for_input(store, inp))
        if held is None:
            continue
        scope = next(a.get("value") for a in rule.actions if a.get("type") == "skip_import")
        picks = [c for c in rule.conditions or []
                 if conditions.KINDS[c["field"]].line_level]
        facts_lines = facts.for_input(store, inp).with_products()
        if scope == "items" and picks:
            keep = [ln for ln, fl in zip(inp.lines, facts_lines, strict=True)
                    if not any(conditions.line_holds(c, fl) for c in picks)]
        else:
            keep = []
        dropped = [ln.sku or ln.title for ln in inp.lines if ln not in keep]
        inp = replace(inp, lines=keep)
        said = (f"Skipped at import: {', '.join(dropped)}" if keep
                else "Skipped at import: the whole order")
        if not RuleFiring.objects.filter(rule=rule, store=store,
                                         external_id=inp.external_id).exists():
            RuleFiring.objects.create(
                workspace_id=store.workspace_id, rule=rule, store=store,
                external_id=inp.external_id, event=E.IMPORTED, matched=held,
                changes=[{"action": "skip_import", "said": said + "."}])
        reasons.append(f"rule {rule.name}")
        if not keep:
            break
    return inp, (", ".join(reasons) and f"skipped by {', '.join(reasons)}")


def _attach_skips(order: Order) -> None:
    """Items a rule skipped at import: the order now exists, so its timeline says so."""
    from orders import services

    for firing in RuleFiring.objects.filter(store_id=order.store_id, order__isnull=True,
                                            external_id=order.external_id
                                            ).select_related("rule"):
        firing.order = order
        firing.save(update_fields=["order", "updated_at"])
        services.record_event(
            order=order, type=OrderEvents.RULE_FIRED,
            actor=Actor.rule(firing.rule.actor_label),
            message=f"Rule {firing.rule.name} fired at import. "
            + " ".join(c["said"] for c in firing.changes),
            data={"rule_id": firing.rule_id, "firing_id": firing.pk})


# --- routing: the provider a rule chose for some items ---------------------------------------


def route_preference(order, lines) -> dict[int, int]:
    """fulfillment.routing preference: line id -> the provider a rule chose for it."""
    return dict(OrderChoice.objects.filter(order_id=order.pk, line__isnull=False,
                                           provider__isnull=False)
                .values_list("line_id", "provider_id"))


def shipping_choice(workspace, order_ids) -> dict[int, str]:
    """billing.payments shipping choice: order id -> the method a rule chose for paying it
    (the seller's own pick on the Pay page still wins)."""
    return dict(OrderChoice.objects.filter(
        workspace=workspace, order_id__in=order_ids, line__isnull=True)
        .exclude(shipping_method="").values_list("order_id", "shipping_method"))


# --- dry run ---------------------------------------------------------------------------


def dry_run(rule: Rule, *, workspace, limit: int = 50, now: datetime | None = None) -> list[dict]:
    """Which of the last `limit` orders the rule matches and what each action would do;
    nothing is written (every action runs with `dry`, reading only)."""
    now = now or timezone.now()
    out = []
    actor = Actor.rule(rule.actor_label)
    recent = (Order.objects.filter(workspace=workspace).select_related("store", "workspace")
              .order_by("-placed_at", "-pk")[:limit])
    for order in recent:
        held = conditions.matches(rule, facts.for_order(order))
        if held is None:
            continue
        would = []
        for act in rule.actions or []:
            action = actions.REGISTRY.get(act.get("type"))
            ctx = actions.Context(rule=rule, order=order, actor=actor, now=now, dry=True,
                                  applying=True)
            try:
                would.append(action.run(ctx, act.get("value")))
            except Exception as exc:  # what it would say, never a 500
                would.append(f"Would fail: {getattr(exc, 'message', None) or exc}")
        out.append({"order_id": order.pk, "number": order.number, "state": order.state,
                    "matched": [conditions.describe(c) for c in held], "would": would})
    return out


def positions_normalise(*, workspace) -> None:
    for i, pk in enumerate(Rule.objects.filter(workspace=workspace)
                           .order_by("position", "pk").values_list("pk", flat=True)):
        Rule.objects.filter(pk=pk).exclude(position=i).update(position=i,
                                                              updated_at=timezone.now())

