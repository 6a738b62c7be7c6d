"""Template helpers for the catalog and quote pages: money, tiers, the quote notice."""

from decimal import Decimal, InvalidOperation

from django import template

from podhub.core.money import quantize
from quotes import calc, selectors

register = template.Library()


@register.filter
def money(amount, currency: str = "USD") -> str:
    """12.5 'USD' -> '12.50 USD' (rounded the way money.quantize rounds)."""
    if amount in (None, ""):
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return f"{quantize(value, currency or 'USD')} {currency}".strip()


@register.filter
def tiers_text(tiers) -> str:
    """Stored tiers (JSON) or Tier objects -> '10-49: 8.00 mini-bulk; 50+: 6.50 bulk'."""
    if not tiers:
        return ""
    if isinstance(tiers[0], dict):
        tiers = calc.tiers_from_json(tiers)
    return calc.tiers_to_text(tiers)


@register.inclusion_tag("quotes/_quote_notice.html", takes_context=True)
def quote_notice(context):
    """Dashboard notice: quotes PodHub sent that wait for the seller's answer."""
    request = context.get("request")
    workspace = getattr(request, "workspace", None)
    if workspace is None or not request.user.is_authenticated:
        return {"count": 0}
    return {"count": selectors.open_quote_count(workspace=workspace)}
