"""Template helpers for the catalog and quote pages: tiers, the quote notice (money is
the builtin `money` filter, podhub/core/templatetags/money.py)."""

from django import template
from django.template.loader import render_to_string

from orders import notices
from quotes import calc

register = template.Library()


@register.filter
def tiers_text(tiers) -> str:
    """Stored tiers (JSON) or Tier objects -> '10-49: 8.00 mini-bulk; 50+: 6.50 bulk'."""
    if not tiers:
        return ""
    if isinstance(tiers[0], dict):
        tiers = calc.tiers_from_json(tiers)
    return calc.tiers_to_text(tiers)


@register.simple_tag(takes_context=True)
def quote_notice(context) -> str:
    """Dashboard notice: quotes PodHub sent that wait for the seller's answer.

    Read with the other site-wide notices in one query (orders.notices).
    """
    request = context.get("request")
    rows = notices.for_request(request).get("quotes.open") if request else None
    count = rows[0].n if rows else 0
    if not count:
        return ""
    return render_to_string("quotes/_quote_notice.html", {"count": count})
