"""Template helpers for the order dashboard: labels, the timeline, the attention banner."""

from django import template
from django.utils import timezone

from orders import selectors
from orders.models import ActorType, CancelReason, HoldReason, OrderState

register = template.Library()

EVENT_LABELS = {
    "order.created": "Order created",
    "order.imported": "Imported from the store",
    "order.priced": "Priced",
    "order.paid": "Paid",
    "order.submitted": "Submitted to production",
    "order.cancelled": "Cancelled",
    "order.released": "Hold released",
    "order.edited": "Edited",
    "order.info_requested": "Information requested",
    "order.store_cancel_after_submission": "Cancelled in the store after submission",
}


def _choice(choices, value: str) -> str:
    try:
        return choices(value).label
    except ValueError:
        return value.replace("_", " ")


@register.filter
def state_label(value: str) -> str:
    return _choice(OrderState, value) if value else ""


@register.filter
def event_label(event) -> str:
    """What happened, in words: known types by name, held.<reason> by its reason."""
    if event.type in EVENT_LABELS:
        return EVENT_LABELS[event.type]
    if event.type.startswith("order.held."):
        return "On hold: " + _choice(HoldReason, event.type.rsplit(".", 1)[1]).lower()
    if event.type.startswith("order.") and event.to_state and event.type == \
            f"order.{event.to_state}":
        return "Moved to " + state_label(event.to_state).lower()
    return event.type.removeprefix("order.").replace(".", " · ").replace("_", " ").capitalize()


@register.filter
def actor_text(event) -> str:
    """Who: the seller's or staff member's e-mail, the store, the provider, a rule."""
    kind = _choice(ActorType, event.actor_type)
    who = ""
    if event.actor_user_id and event.actor_user is not None:
        who = event.actor_user.email
    who = who or event.actor_label
    return f"{kind} · {who}" if who and who.lower() != kind.lower() else kind


@register.filter
def cancel_reason_label(value: str) -> str:
    return _choice(CancelReason, value) if value else ""


@register.filter
def hold_reason_label(value: str) -> str:
    return _choice(HoldReason, value) if value else ""


@register.inclusion_tag("orders/_attention_banner.html", takes_context=True)
def attention_banner(context):
    """Site-wide: orders on hold because staff asked the seller for information."""
    request = context.get("request")
    workspace = getattr(request, "workspace", None)
    if workspace is None or not request.user.is_authenticated:
        return {"orders": []}
    return {"orders": selectors.attention_orders(workspace=workspace)}


@register.filter
def submit_countdown(at) -> str:
    """'submits in 5 h 12 min' until the store's submit time, then 'submitting now'."""
    if at is None:
        return "submit by hand"
    seconds = int((at - timezone.now()).total_seconds())
    if seconds <= 0:
        return "submitting now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not (days or hours) else rest // 60
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    if not days:
        parts.append(f"{minutes} min")
    return "submits in " + " ".join(parts)


@register.filter
def http_url(value) -> str:
    """Only http(s) and site-relative URLs reach an href or src; anything else is dropped."""
    text = str(value or "").strip()
    if text.startswith(("https://", "http://")) or (text.startswith("/") and
                                                     not text.startswith("//")):
        return text
    return ""
