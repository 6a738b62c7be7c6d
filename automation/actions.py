"""Rule actions: one registry, name -> how its value is checked and what it does.

Every action changes an order through the same service a person uses (orders.services,
billing.payments, fulfillment.submission), with `Actor.rule("Auto: rule <name>")`, so
its change is on the timeline like any other. `run(ctx)` returns one sentence saying
what changed (or why nothing did); with `ctx.dry` it only says what it would do.
Adding an action is one `register` (the seller webhook was added that way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from automation import conditions
from automation.models import OrderChoice, OrderTag
from orders.events import Actor, OrderEvents
from orders.models import CancelReason, HoldReason, LineItem, Order, OrderState
from podhub.core.exceptions import ValidationFailed
from podhub.core.money import format_money

S = OrderState


@dataclass
class Context:
    rule: object  # automation.models.Rule
    order: Order
    actor: Actor
    now: datetime
    dry: bool = False
    applying: bool = False  # "apply to existing orders", not an event


@dataclass(frozen=True)
class Action:
    label: str
    value: str  # "none", "text", "id", "money", "choice"
    run: Callable[[Context, object], str]
    check: Callable | None = None  # (value, workspace, where) -> stored value
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    refers_to: str = ""  # a deleted provider disables the rule


REGISTRY: dict[str, Action] = {}


def register(name: str, action: Action) -> None:
    REGISTRY[name] = action


# --- validation ------------------------------------------------------------------------------


def validate(actions, *, workspace, at: str = "actions") -> list[dict]:
    if not isinstance(actions, list) or not actions or len(actions) > 20:
        raise ValidationFailed(f"{at}: send a list of 1 to 20 actions.",
                               fields={at: "Give at least one action (at most 20)."})
    return [validate_one(a, workspace=workspace, at=f"{at}[{i}]")
            for i, a in enumerate(actions)]


def validate_one(act, *, workspace, at: str) -> dict:
    if not isinstance(act, dict):
        raise ValidationFailed(f"{at}: send an object with type and value.",
                               fields={at: "Send an object with type and value."})
    name = act.get("type")
    action = REGISTRY.get(name) if isinstance(name, str) else None
    if action is None:
        raise ValidationFailed(f"{at}.type: unknown action {name!r}.",
                               fields={f"{at}.type": "Choose one of: " + ", ".join(REGISTRY)
                                       + "."})
    where = f"{at}.value"
    raw = act.get("value")
    if action.value == "none":
        value = None
    elif action.value == "text":
        value = raw.strip() if isinstance(raw, str) else ""
        if not value or len(value) > 500:
            raise ValidationFailed(f"{where}: enter some text (at most 500 characters).",
                                   fields={where: "Enter some text (at most 500 characters)."})
    elif action.value == "choice":
        value = raw if raw not in (None, "") else action.choices[0][0]
        if value not in dict(action.choices):
            raise ValidationFailed(f"{where}: choose one of "
                                   + ", ".join(dict(action.choices)) + ".",
                                   fields={where: "Choose one of: "
                                           + ", ".join(dict(action.choices)) + "."})
    else:
        value = raw
    if action.check is not None:
        value = action.check(value, workspace, where)
    return {"type": name, "value": value}


def describe(act: dict) -> str:
    action = REGISTRY.get(act.get("type"))
    if action is None:
        return str(act)
    value = act.get("value")
    return action.label if value in (None, "") else f"{action.label}: {value}"


# --- helpers -------------------------------------------------------------------------------------


def _services():
    from orders import services

    return services


def _effective(order: Order) -> str:
    return order.return_state if order.state == S.ON_HOLD else order.state


def _target_lines(ctx: Context) -> list[LineItem]:
    """The items a rule's SKU/product conditions pick (every item when it has none)."""
    lines = list(LineItem.objects.filter(order=ctx.order).order_by("pk"))
    picks = [c for c in ctx.rule.conditions or [] if conditions.KINDS[c["field"]].line_level]
    if not picks:
        return lines
    return [ln for ln in lines
            if any(conditions.line_holds(c, _fact_line(ln)) for c in picks)]


def _fact_line(line: LineItem) -> conditions.Line:
    from automation.facts import product_ids

    return conditions.Line(sku=line.sku, quantity=line.quantity,
                           product_id=product_ids([line.catalog_variant_id]).get(
                               line.catalog_variant_id))


# --- the actions -----------------------------------------------------------------------------


def hold(ctx: Context, value) -> str:
    order = ctx.order
    if order.state == S.ON_HOLD:
        return f"Already on hold ({order.get_hold_reason_display()}): nothing changed."
    if order.state in (S.SHIPPED, S.COMPLETED, S.CANCELLED):
        return f"Not held: the order is {order.get_state_display().lower()}."
    message = value or f"Held by rule {ctx.rule.name}."
    if ctx.dry:
        return f"Would hold the order: {message}"
    _services().order_hold(order_id=order.pk, reason=HoldReason.RULE, message=message,
                           actor=ctx.actor, now=ctx.now)
    return f"Held: {message}"


def release(ctx: Context, value) -> str:
    order = ctx.order
    if order.state != S.ON_HOLD:
        return "Not on hold: nothing to release."
    was = order.get_hold_reason_display()
    if ctx.dry:
        return f"Would release the hold ({was})."
    _services().order_release_hold(order_id=order.pk, actor=ctx.actor, now=ctx.now,
                                   message=f"Released by rule {ctx.rule.name}.")
    return f"Released the hold ({was})."


def _tag_name(value, workspace, where) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 60:
        raise ValidationFailed(f"{where}: enter a tag (at most 60 characters).",
                               fields={where: "Enter a tag (at most 60 characters)."})
    return value.strip().lower()


def tag(ctx: Context, value) -> str:
    if OrderTag.objects.filter(order=ctx.order, name=value).exists():
        return f"Already tagged {value}."
    if ctx.dry:
        return f"Would tag {value}."
    OrderTag.objects.get_or_create(workspace_id=ctx.order.workspace_id, order=ctx.order,
                                   name=value)
    return f"Tagged {value}."


def untag(ctx: Context, value) -> str:
    qs = OrderTag.objects.filter(order=ctx.order, name=value)
    if not qs.exists():
        return f"Not tagged {value}: nothing to remove."
    if ctx.dry:
        return f"Would remove the tag {value}."
    qs.delete()
    return f"Removed the tag {value}."


def _shipping_method(value, workspace, where) -> str:
    from quotes.models import ShippingMethod

    code = value.strip() if isinstance(value, str) else ""
    if not code or not ShippingMethod.objects.filter(code=code, is_active=True).exists():
        raise ValidationFailed(f"{where}: no active shipping method {code!r}.",
                               fields={where: "Choose an active shipping method (its code)."})
    return code


def set_shipping_method(ctx: Context, value) -> str:
    if _effective(ctx.order) not in (S.IN_QUOTATION, S.TO_ORDER):
        return "Not changed: the order is already paid (its shipping is frozen)."
    if ctx.dry:
        return f"Would ship it by {value} when it is paid."
    OrderChoice.objects.update_or_create(
        workspace_id=ctx.order.workspace_id, order=ctx.order, line=None,
        defaults={"shipping_method": value, "rule": ctx.rule})
    return f"Shipping method {value} chosen for when it is paid."


def _reference(kind: str, what: str):
    """A check of an id the action names: it must exist (for this workspace)."""

    def check(value, workspace, where) -> int:
        from podhub.core.api import parse_id

        pk = parse_id(value, field=where, what=what)
        if not conditions.existing(kind, {pk}, workspace=workspace):
            raise ValidationFailed(f"{where}: no such {what}.",
                                   fields={where: f"No such {what}."})
        return pk

    return check


_provider = _reference("provider", "provider")


def route(ctx: Context, value) -> str:
    from quotes.models import Provider, VariantProvider

    provider = Provider.objects.filter(pk=value).first()
    if provider is None:
        raise RuleReferenceGone("The provider it routes to was deleted.")
    if ctx.order.is_locked:
        return f"Not routed: order {ctx.order.number} was already submitted."
    lines = _target_lines(ctx)
    if not lines:
        return "No item to route."
    makes = set(VariantProvider.objects.filter(
        provider=provider, is_active=True,
        variant_id__in=[ln.catalog_variant_id for ln in lines if ln.catalog_variant_id])
        .values_list("variant_id", flat=True))
    said = ", ".join(ln.sku or ln.title for ln in lines)
    cannot = [ln.sku or ln.title for ln in lines
              if ln.catalog_variant_id and ln.catalog_variant_id not in makes]
    note = (f" ({provider.name} does not make {', '.join(cannot)}: those go as usual)"
            if cannot else "")
    if ctx.dry:
        return f"Would route {said} to {provider.name}{note}."
    for ln in lines:
        OrderChoice.objects.update_or_create(
            workspace_id=ctx.order.workspace_id, order=ctx.order, line=ln,
            defaults={"provider": provider, "rule": ctx.rule})
    return f"Routed {said} to {provider.name}{note}."


def _cap(value, workspace, where) -> str:
    return conditions._number(value, where, whole=False)


def auto_pay(ctx: Context, value) -> str:
    """Pay from the balance (billing.payments.orders_pay, as the seller's Pay button),
    at most `value` (the rule's cap, in the billing currency)."""
    from billing import payments
    from billing.ledger import InsufficientFunds

    order = ctx.order
    if order.state != S.TO_ORDER:
        return f"Not paid: the order is {order.get_state_display().lower()}, not “To order”."
    # a "set shipping method" rule's choice applies (automation.engine.shipping_choice)
    sel = payments.selection_price(workspace=order.workspace, order_ids=[order.pk])
    if sel.problems:
        return "Not paid: " + " ".join(sel.problems.values())
    cap = Decimal(str(value))
    if sel.total > cap:
        return (f"Not paid: {format_money(sel.total, sel.currency)} is above the rule's cap "
                f"of {format_money(cap, sel.currency)}.")
    if ctx.dry:
        return f"Would pay {format_money(sel.total, sel.currency)} from the balance."
    try:
        payments.orders_pay(workspace=order.workspace, order_ids=[order.pk],
                            shipping_methods=None, key=f"rule:{ctx.rule.pk}:{order.pk}",
                            expected_total=sel.total, auto=True)
    except InsufficientFunds as exc:
        return f"Not paid: {exc.message}"
    return f"Paid {format_money(sel.total, sel.currency)} from the balance."


def submit_now(ctx: Context, value) -> str:
    from fulfillment import submission

    order = ctx.order
    if order.state != S.AWAITING_SUBMISSION:
        return (f"Not submitted: the order is {order.get_state_display().lower()}, not "
                "waiting for submission.")
    if ctx.dry:
        return "Would submit it to production now."
    submission.order_submit_now(workspace=order.workspace, order_id=order.pk,
                                actor=ctx.actor, now=ctx.now)
    return "Submitted to production."


def skip_import(ctx: Context, value) -> str:
    """At import the order (or the matching items) is never created (automation.engine's
    import filter). On an order already here, when applied to existing orders: one
    nobody has paid for yet is cancelled, never pushed to the store."""
    if not ctx.applying:
        return "Acts when an order is imported: this one was already here."
    order = ctx.order
    if _effective(order) not in (S.IN_QUOTATION, S.TO_ORDER) or order.state == S.CANCELLED:
        return f"Not skipped: the order is {order.get_state_display().lower()}."
    if value == "items":
        lines = list(LineItem.objects.filter(order=order))
        if len(_target_lines(ctx)) < len(lines):
            return "Not skipped: the order has other items (items are not removed from an " \
                   "order already imported)."
    if ctx.dry:
        return "Would cancel it (skipped: imported before the rule)."
    _services().order_cancel(order_id=order.pk, reason=CancelReason.SELLER, actor=ctx.actor,
                             note=f"Skipped by rule {ctx.rule.name} (imported before it).",
                             now=ctx.now, workspace=order.workspace)
    return "Cancelled (skipped: imported before the rule); not cancelled in the store."


def add_note(ctx: Context, value) -> str:
    if ctx.dry:
        return f"Would add the note: {value}"
    _services().record_event(order=ctx.order, type=OrderEvents.NOTE_ADDED, actor=ctx.actor,
                             message=value)
    return f"Note added: {value}"


def email_team(ctx: Context, value) -> str:
    from podhub.core import mail
    from podhub.workspaces.models import MANAGING_ROLES, Membership

    to = list(Membership.objects.filter(workspace_id=ctx.order.workspace_id,
                                        role__in=MANAGING_ROLES)
              .values_list("user__email", flat=True))
    if not to:
        return "No owner or admin to e-mail."
    if ctx.dry:
        return f"Would e-mail {len(to)} owner(s)/admin(s)."
    url = f"{settings.PUBLIC_BASE_URL}/orders/{ctx.order.pk}/"
    mail.send(to=to, subject=f"[PodHub] Rule {ctx.rule.name}: order {ctx.order.number}",
              body=str(value), link=url, link_label=f"Open order {ctx.order.number}",
              workspace_id=ctx.order.workspace_id)
    return f"E-mailed {len(to)} owner(s)/admin(s)."


_endpoint = _reference("endpoint", "webhook endpoint")


def send_webhook(ctx: Context, value) -> str:
    """To the one endpoint the rule names, whatever types it chose (docs/webhooks.md):
    `order.rule_fired` with the rule and the order."""
    from webhooks import services as webhooks
    from webhooks.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.filter(pk=value, workspace=ctx.order.workspace).first()
    if endpoint is None:
        raise RuleReferenceGone("The webhook endpoint it sends to was deleted.")
    if not endpoint.is_enabled:
        return f"Not sent: the webhook endpoint {endpoint.url} is disabled."
    if ctx.dry:
        return f"Would send order.rule_fired to {endpoint.url}."
    webhooks.publish(workspace=ctx.order.workspace, type=OrderEvents.RULE_FIRED.value,
                     endpoint_ids=[endpoint.pk], now=ctx.now,
                     data={"rule": {"id": ctx.rule.pk, "name": ctx.rule.name},
                           "order": webhooks.order_summary(ctx.order)})
    return f"Sent order.rule_fired to {endpoint.url}."


class RuleReferenceGone(Exception):
    """A store, provider or product the rule names no longer exists: it is disabled."""


register("hold", Action("Hold with reason", "text", hold,
                        help="The reason shown on the order."))
register("release", Action("Release the hold", "none", release))
register("tag", Action("Tag", "text", tag, check=_tag_name))
register("untag", Action("Remove tag", "text", untag, check=_tag_name))
register("set_shipping_method", Action("Set shipping method", "text", set_shipping_method,
                                       check=_shipping_method,
                                       help="The method's code (e.g. express)."))
register("route", Action("Route items to a provider", "id", route, check=_provider,
                         refers_to="provider",
                         help="The items the SKU/product conditions pick (all without)."))
register("auto_pay", Action("Pay from the balance", "money", auto_pay, check=_cap,
                            help="At most this much (billing currency) per order."))
register("submit_now", Action("Submit now", "none", submit_now))
register("skip_import", Action("Skip import", "choice", skip_import,
                               choices=(("order", "the whole order"),
                                        ("items", "only the items the SKU/product "
                                                  "conditions pick"))))
register("add_note", Action("Add a note", "text", add_note))
register("email_team", Action("E-mail the team", "text", email_team,
                              help="The message (owners and admins get it)."))
register("send_webhook", Action("Send a seller webhook", "id", send_webhook, check=_endpoint,
                                refers_to="endpoint",
                                help="The endpoint's id (Settings > Webhooks)."))
