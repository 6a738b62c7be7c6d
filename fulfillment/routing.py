"""Routing: which provider makes which item of an order.

Each catalog variant lists its providers (quotes.VariantProvider) by priority
with their base cost; fulfillment adds whether a provider can take orders at
all (a connection, or the in-house / manual flow) and the destinations it
serves (ProviderConnection.destinations). Items are routed one by one, so an
order may split into several submissions (one per provider) and as many
shipments. A fallback may cost at most the workspace's maximum extra cost per
item more than the item's first choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from fulfillment.models import FulfillmentSettings
from fulfillment.providers import adapter_for, connection_for
from orders.models import LineItem, Order
from podhub.core.money import format_money

ZERO = Decimal("0")


@dataclass
class Candidate:
    provider: object  # quotes.Provider
    adapter: str
    provider_sku: str
    cost: Decimal
    currency: str
    priority: int


@dataclass
class ItemRoute:
    line: LineItem
    candidates: list[Candidate]  # every provider that could make it, best first
    chosen: Candidate | None = None
    reason: str = ""  # why nobody could


@dataclass
class Plan:
    legs: dict[int, list[ItemRoute]] = field(default_factory=dict)  # provider id -> items
    unroutable: list[ItemRoute] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unroutable and bool(self.legs)


# A seller's choice of provider for some items (automation's "route items to a provider"
# rule action): fn(order, lines) -> {line id: provider id}. That provider is tried first
# when it makes the item; otherwise routing goes on as usual.
_preferences: list = []


def register_preference(fn) -> None:
    if fn not in _preferences:
        _preferences.append(fn)


def _preferred_first(options: list[Candidate], provider_id: int | None) -> list[Candidate]:
    if provider_id is None:
        return options
    return sorted(options, key=lambda c: c.provider.pk != provider_id)


def max_extra_cost(workspace_id: int) -> Decimal:
    value = (FulfillmentSettings.objects.filter(workspace_id=workspace_id)
             .values_list("max_extra_cost_amount", flat=True).first())
    return value if value is not None else ZERO


def candidates(lines: list[LineItem], country: str) -> dict[int, list[Candidate]]:
    """Every usable provider of each line, by priority (one query for all lines)."""
    from quotes.models import VariantProvider

    variant_ids = {line.catalog_variant_id for line in lines if line.catalog_variant_id}
    by_variant: dict[int, list[Candidate]] = {}
    rows = (VariantProvider.objects.filter(variant_id__in=variant_ids, is_active=True,
                                           provider__is_active=True)
            .select_related("provider", "provider__connection")
            .order_by("variant_id", "priority", "pk"))
    for vp in rows:
        adapter = adapter_for(vp.provider)
        if adapter is None:
            continue
        conn = connection_for(vp.provider)
        if conn is not None and not conn.serves(country):
            continue
        by_variant.setdefault(vp.variant_id, []).append(Candidate(
            provider=vp.provider, adapter=adapter, provider_sku=vp.provider_sku,
            cost=vp.base_cost_amount, currency=vp.currency, priority=vp.priority))
    return {line.pk: by_variant.get(line.catalog_variant_id, []) for line in lines}


def plan(order: Order, *, lines: list[LineItem] | None = None,
         tried: dict[int, set[int]] | None = None,
         first_cost: dict[int, Decimal] | None = None,
         options: dict[int, list[Candidate]] | None = None,
         extra: Decimal | None = None) -> Plan:
    """Route `lines` (default: all of the order's). `tried`: line id -> provider ids that
    already refused it; `first_cost`: line id -> the cost of its first choice (a
    fallback may exceed it by at most the workspace's maximum extra cost).
    `options` (`candidates()` for these lines and the order's country) and `extra`
    (`max_extra_cost()`): already read by a caller routing many orders at once."""
    if lines is None:
        lines = list(LineItem.objects.filter(order=order, workspace_id=order.workspace_id)
                     .order_by("pk"))
    tried = tried or {}
    first_cost = first_cost or {}
    country = str((order.shipping_address or {}).get("country_code") or "").upper()
    if options is None:
        options = candidates(lines, country)
    if extra is None:
        extra = max_extra_cost(order.workspace_id)
    prefer: dict[int, int] = {}
    for fn in _preferences:
        prefer.update(fn(order, lines))
    result = Plan()
    for line in lines:
        route = ItemRoute(line=line, candidates=_preferred_first(options.get(line.pk, []),
                                                                 prefer.get(line.pk)))
        if not line.catalog_variant_id:
            route.reason = "not connected to a catalog product"
        elif not route.candidates:
            route.reason = (f"no provider makes it for {country or 'this address'}")
        else:
            base = first_cost.get(line.pk, route.candidates[0].cost)
            for cand in route.candidates:
                if cand.provider.pk in tried.get(line.pk, set()):
                    continue
                if cand.cost > base + extra:
                    route.reason = (f"the next provider, {cand.provider.name}, costs "
                                    f"{format_money(cand.cost - base, cand.currency)} more "
                                    "per item than the first choice (maximum extra cost "
                                    f"{format_money(extra, cand.currency)})")
                    break
                route.chosen = cand
                break
            else:
                route.reason = "every provider that makes it refused or is down"
        if route.chosen is None:
            result.unroutable.append(route)
        else:
            result.legs.setdefault(route.chosen.provider.pk, []).append(route)
    return result
