"""Template helpers for the order dashboard: labels, the timeline, the attention banner."""

import html

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import mark_safe

from orders import notices, selectors
from orders.inputs import display_value
from orders.models import ActorType, CancelReason, HoldReason, OrderState
from orders.urlcache import const_url, id_url
from podhub.core.money import format_money

register = template.Library()

EVENT_LABELS = {
    "order.created": "Order created",
    "order.imported": "Imported from the store",
    "order.priced": "Priced",
    "order.paid": "Paid",
    "order.store_paid": "Paid in the store",
    "order.buyer_data_redacted": "Buyer data erased",
    "order.submitted": "Submitted to production",
    "order.cancelled": "Cancelled",
    "order.released": "Hold released",
    "order.edited": "Edited",
    "order.info_requested": "Information requested",
    "order.store_cancel_after_submission": "Cancelled in the store after submission",
    "order.updated": "Changed in the store",
    "order.store_change_after_submission": "Changed in the store after submission",
    "order.repriced": "Priced again after the store's change",
    "order.unpaid": "Back to “To order”: the balance does not cover the change",
    "order.unpriced": "Back to quotation: an item is no longer priced",
    "order.store_cancel_confirmed": "Cancelled in the store",
    "order.store_cancel_failed": "Not cancelled in the store",
    "fulfillment.cancelled_at_provider": "Cancelled at the provider",
    "fulfillment.cancel_refused": "The provider did not cancel",
    "fulfillment.held": "Sent on hold to the provider",
    "fulfillment.hold_updated": "Held order updated at the provider",
    "fulfillment.hold_cancelled": "Held order cancelled at the provider",
    "fulfillment.hold_refused": "The provider did not hold the order",
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


@register.simple_tag
def curl(name: str) -> str:
    """{% url %} for a URL without arguments, reversed once per process (orders.urlcache)."""
    return const_url(name)


BANNER_SHOWN = 3
BANNER_MESSAGE_CHARS = 200


@register.simple_tag(takes_context=True)
def attention_banner(context) -> str:
    """Site-wide: orders on hold because staff asked the seller for information.

    Shown on every page: its rows come with the other site-wide notices in one
    query (orders.notices), at most BANNER_SHOWN + 1 of them; nothing to show
    renders nothing.
    """
    request = context.get("request")
    rows = notices.for_request(request).get("orders.info_requested") if request else None
    if not rows:
        return ""
    orders = [selectors.AttentionOrder(r.n, r.s1, r.s2 or "", r.t) for r in rows]
    detail, edit = id_url("orders:detail", "order_id"), id_url("orders:edit", "order_id")
    for order in orders:
        order.detail_url, order.edit_url = detail.format(order.id), edit.format(order.id)
        order.due_text = f"{timezone.localtime(order.info_due_at):%Y-%m-%d %H:%M}" \
            if order.info_due_at else ""
        if len(order.hold_message) > BANNER_MESSAGE_CHARS:  # what truncatechars does
            order.hold_message = order.hold_message[:BANNER_MESSAGE_CHARS - 1] + "…"
    return render_to_string("orders/_attention_banner.html", {
        "orders": orders, "shown": orders[:BANNER_SHOWN], "more": len(orders) > BANNER_SHOWN,
        "on_hold_url": const_url("orders:list") + f"?state={OrderState.ON_HOLD}",
    })


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


# --- the list's rows, rendered in Python ----------------------------------------------------
# The order list is the dashboard's hot path (bench/orders_list.py: p95 < 100 ms, the
# view at >= 0.3x the rate of its own SQL in pgbench). The template engine costs about
# 200 us per row; this about 15 us, for the same markup. Every value goes through
# html.escape (what django.utils.html.escape does, without its lazy-string wrapper).


def _row_html(row, tz, e=html.escape) -> str:
    extra = ""
    if row.state == OrderState.AWAITING_SUBMISSION:
        if row.submit_at:
            extra = (f'<br><span class="countdown" data-deadline="{row.submit_at.isoformat()}" '
                     f'title="{row.submit_at:%Y-%m-%d %H:%M} UTC">'
                     f"{submit_countdown(row.submit_at)}</span>")
        else:
            extra = '<br><span class="muted">submit by hand</span>'
    elif row.state == OrderState.ON_HOLD and row.hold_reason:
        extra = f'<br><span class="muted">{e(row.hold_reason_label)}</span>'
    elif row.state == OrderState.CANCELLED and row.cancel_reason:
        extra = f'<br><span class="muted">{e(row.cancel_reason_label)}</span>'
    if row.needs_attention:
        extra += f'<br><span class="danger">{e(row.needs_attention)}</span>'
    number = e(row.number)
    channel = f' <span class="muted">{e(row.channel)}</span>' if row.channel else ""
    more = f" +{row.more_skus} more" if row.more_skus else ""
    items = f"{row.line_count} item{'' if row.line_count == 1 else 's'}"
    return (
        f'<tr data-order-id="{row.id}" data-number="{number}">'
        f'<td><input type="checkbox" name="order_ids" value="{row.id}" '
        f'aria-label="Select {number}"></td>'
        f'<td><a href="{e(row.url)}">{number}</a>{channel}</td>'
        f"<td>{row.placed_at.astimezone(tz).isoformat(' ')[:16]}</td>"  # %Y-%m-%d %H:%M
        f"<td>{e(row.store_name)}</td>"
        f'<td>{e(row.buyer_name)}<br><span class="muted">{e(row.buyer_email)}</span></td>'
        f'<td>{items}<br><span class="muted">{e(", ".join(row.first_skus) + more)}</span></td>'
        f"<td>{e(format_money(row.total_amount, row.currency))}</td>"
        f'<td><span class="state state-{e(row.state)}">{e(row.state_label)}</span>{extra}</td>'
        "</tr>\n"
    )


@register.simple_tag
def order_rows(rows) -> str:
    """The <tr>s of the order list (selectors.OrderRow, with .url set by the view)."""
    tz = timezone.get_current_timezone()  # once, not per row (timezone.localtime)
    return mark_safe("".join(_row_html(row, tz) for row in rows))  # noqa: S308 - all escaped


def _tab_html(tab: dict, e=html.escape) -> str:
    url, key = e(tab["url"]), e(str(tab["key"]))
    current = ' aria-current="page"' if tab["active"] else ""
    return (f'<a href="{url}" hx-get="{url}" hx-target="#order-list" hx-swap="innerHTML" '
            f'hx-push-url="true"\n     data-tab="{key}"{current}>{e(str(tab["label"]))}'
            f'<span class="count" data-count="{key}">{e(str(tab["count"]))}</span></a>')


@register.simple_tag
def tab_links(tabs) -> str:
    """The state tabs' links (built in Python like the rows: the list's hot path)."""
    return mark_safe("".join(_tab_html(tab) for tab in tabs))  # noqa: S308 - all escaped


# --- the page shell, rendered once per process for the same inputs -------------------------
# The header (sections, workspace switcher, user menu) is the same on every page a user
# opens in a section. {% memo "name" value ... %}...{% endmemo %} renders its body once per
# distinct set of values (and script prefix) and then reuses the HTML; nothing can go
# stale, because everything the body reads must be one of the values (a list keys by its
# items; a model instance by its class, pk and str()). The CSRF token is never kept: the
# body renders with a placeholder that each response replaces with its own masked token.

MEMO_MAX = 2048
_CSRF_PLACEHOLDER = "podhubcsrfplaceholder0c7e5d"
_memo: dict[tuple, str] = {}


def _keyable(value):
    if isinstance(value, list | tuple):
        return tuple(_keyable(v) for v in value)
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return (value._meta.label, value.pk, str(value))
    if value is None or isinstance(value, str | int | bool | float):
        return value
    return (type(value).__name__, str(value))


class MemoNode(template.Node):
    def __init__(self, nodelist, values):
        self.nodelist = nodelist
        self.values = values

    def render(self, context):
        key = (tuple(_keyable(v.resolve(context)) for v in self.values),
               get_script_prefix(), id(self))
        html_out = _memo.get(key)
        if html_out is None:
            with context.push(csrf_token=_CSRF_PLACEHOLDER):
                html_out = self.nodelist.render(context)
            if len(_memo) >= MEMO_MAX:
                _memo.clear()
            _memo[key] = html_out
        if _CSRF_PLACEHOLDER in html_out:
            html_out = html_out.replace(_CSRF_PLACEHOLDER, str(context.get("csrf_token", "")))
        return mark_safe(html_out)  # noqa: S308 - rendered by the template engine


@register.tag
def memo(parser, token):
    values = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, values)


@register.filter
def personal_value(value) -> str:
    """A personalisation value as a person reads it (objects as "key: value; …")."""
    return display_value(value)
