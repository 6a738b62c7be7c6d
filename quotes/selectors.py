"""Reads for the seller's catalog and quote pages and the API (explicit workspace filters)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from orders.models import LineItem, Order
from quotes import calc, mapping
from quotes.models import (
    LinkSource,
    OrderPrice,
    Product,
    ProductLink,
    Quote,
    QuoteLine,
    QuoteStatus,
    ShippingMethod,
    ShippingRate,
    ShippingZone,
    SkuRule,
    Variant,
)
from quotes.services import waiting_q

QUOTE_TABS = [
    ("pending", "Pending", (QuoteStatus.SENT, QuoteStatus.REQUESTED)),
    ("answered", "Answered", (QuoteStatus.ACCEPTED, QuoteStatus.LINKED)),
    ("declined", "Declined", (QuoteStatus.DECLINED,)),
]


# --- catalog ------------------------------------------------------------------------------


CATALOG_ORDER = ("category", "name", "id")


def catalog_products(*, q: str = "") -> QuerySet[Product]:
    """Public, published products with their active variants (the seller catalog)."""
    qs = Product.objects.filter(made_for_workspace__isnull=True, is_published=True)
    qs = qs.prefetch_related(Prefetch(
        "variants", queryset=Variant.objects.filter(is_active=True).order_by("pk"),
    )).order_by(*CATALOG_ORDER)
    if q:
        qs = qs.filter(name__icontains=q)
    return qs


@dataclass
class ZoneRates:
    zone: ShippingZone
    rates: list[ShippingRate]


def shipping_table() -> tuple[list[ShippingMethod], list[ZoneRates]]:
    """Every active method × zone with its first/additional item rate and delivery days."""
    methods = list(ShippingMethod.objects.filter(is_active=True).order_by("sort_order", "pk"))
    rates = defaultdict(dict)
    for r in ShippingRate.objects.filter(method__is_active=True).select_related("method", "zone"):
        rates[r.zone_id][r.method_id] = r
    zones = []
    for z in ShippingZone.objects.order_by("is_rest_of_world", "name"):
        zones.append(ZoneRates(z, [rates[z.pk].get(m.pk) for m in methods]))
    return methods, zones


def shipping_rates() -> QuerySet[ShippingRate]:
    """The rates of active methods, for `paginate` in the table's order: zones by name (the
    rest of the world last), each zone's methods in their order."""
    return ShippingRate.objects.filter(method__is_active=True).select_related("method", "zone")


# A rate is unique per zone and method: the last two name it.
SHIPPING_RATE_ORDER = ("zone__is_rest_of_world", "zone__name", "method__sort_order",
                       "method__id")


def variant_choices(*, workspace) -> list[tuple[str, list[tuple[int, str]]]]:
    """Catalog variants a seller may link or write rules to, grouped by product."""
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for v in mapping.usable_variants(workspace).filter(
            product__is_published=True).order_by("product__name", "pk"):
        groups[v.product.name].append((v.pk, f"{v.label} · {v.sku}"))
    return sorted(groups.items())


def variant_tiers(variant: Variant) -> list[calc.Tier]:
    return calc.tiers_from_json(variant.tiers)


# --- SKU rules --------------------------------------------------------------------------


def store_product_links(*, workspace, store_id: int) -> list[ProductLink]:
    """The store's product links (store product/variant ↔ catalog variant), by product."""
    return list(ProductLink.objects.filter(workspace=workspace, store_id=store_id)
                .select_related("variant__product").order_by("product_key", "variant_key")[:500])


def published_variants(*, workspace, store_id: int, variant_ids) -> dict[int, tuple[str, str]]:
    """Catalog variant id -> (store product id, store variant id) it was published as."""
    out = {}
    for link in ProductLink.objects.filter(workspace=workspace, store_id=store_id,
                                           source=LinkSource.PUBLISHED,
                                           variant_id__in=list(variant_ids)).order_by("pk"):
        kind, _, product = link.product_key.partition(":")
        vkind, _, variant = link.variant_key.partition(":")
        if (kind, vkind) == ("p", "v"):
            out[link.variant_id] = (product, variant)
    return out


SKU_RULE_ORDER = ("kind", "pattern", "id")


def sku_rule_list(*, workspace) -> QuerySet[SkuRule]:
    return SkuRule.objects.filter(workspace=workspace).select_related(
        "variant__product", "store").order_by(*SKU_RULE_ORDER)


# --- quotes ---------------------------------------------------------------------------------


def quote_tab_counts(*, workspace) -> dict[str, int]:
    counts = defaultdict(int)
    for status in Quote.objects.filter(workspace=workspace).values_list("status", flat=True):
        for key, _, statuses in QUOTE_TABS:
            if status in statuses:
                counts[key] += 1
    return counts


def quote_rows(*, workspace, status: str | None = None) -> QuerySet[Quote]:
    """The workspace's quotes (of one status) with their store and lines, unordered."""
    qs = Quote.objects.filter(workspace=workspace).select_related("store").prefetch_related(
        Prefetch("lines", queryset=QuoteLine.objects.select_related(
            "catalog_variant").order_by("pk")))
    return qs.filter(status=status) if status else qs


def quote_list(*, workspace, tab: str = "pending") -> QuerySet[Quote]:
    """One tab of the quotes page."""
    statuses = {k: s for k, _, s in QUOTE_TABS}.get(tab, QUOTE_TABS[0][2])
    qs = quote_rows(workspace=workspace).filter(status__in=statuses)
    # the ones waiting for the seller first, then the oldest requests
    return qs.order_by("-status", "requested_at", "pk") if tab == "pending" \
        else qs.order_by("-answered_at", "-requested_at", "pk")


def quote_get(*, workspace, quote_id: int) -> Quote | None:
    return quote_rows(workspace=workspace).filter(pk=quote_id).first()


def waiting_orders(*, workspace, quotes) -> dict[int, list[int]]:
    """Per quote, the ids of its product's orders still waiting for prices (one query)."""
    quotes = list(quotes)
    if not quotes:
        return {}
    rows = LineItem.objects.filter(workspace=workspace).filter(waiting_q("order__")).filter(
        order__store_id__in={q.store_id for q in quotes}
    ).values_list("order_id", "order__store_id", "store_product_id", "title")
    by_key: dict[tuple[int, str], set[int]] = defaultdict(set)
    for order_id, store_id, store_product_id, title in rows:
        line = LineItem(store_product_id=store_product_id, title=title)
        by_key[(store_id, mapping.product_key(line))].add(order_id)
    return {q.pk: sorted(by_key.get((q.store_id, q.product_key), ())) for q in quotes}


def open_quote_count(*, workspace) -> int:
    """Quotes waiting for the seller's answer (the dashboard notice)."""
    return Quote.objects.filter(workspace=workspace, status=QuoteStatus.SENT).count()


# The same count as a site-wide notice (orders.notices reads every page's notices in one
# query): one row, n = the count.
OPEN_QUOTES_NOTICE_SQL = (
    "SELECT COUNT(*) AS n, CAST(NULL AS text) AS s1, CAST(NULL AS text) AS s2, "
    f"CAST(NULL AS timestamp) AS t FROM {Quote._meta.db_table} "  # noqa: S608
    f"WHERE workspace_id = %s AND status = '{QuoteStatus.SENT.value}'"
)


# --- an order's price -------------------------------------------------------------------------


def order_for_price(*, workspace, order_id: int) -> Order | None:
    return Order.objects.filter(workspace=workspace, pk=order_id).select_related(
        "workspace", "store").first()


def order_price_snapshot(*, workspace, order: Order) -> OrderPrice | None:
    return OrderPrice.objects.filter(workspace=workspace, order=order).first()
