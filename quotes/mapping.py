"""Which catalog variant a store line item is, and at what price for this workspace.

A line maps, in this order, by:

1. an explicit link of its store product variant (the seller chose it in the
   dashboard, it was published from the catalog, or a quote was accepted);
2. the seller's exact-SKU rule (a rule for the line's store beats one for
   every store);
3. the catalog's own SKU (a published, public variant with exactly that SKU);
4. the seller's SKU-prefix rules (the longest matching prefix wins).

A mapped variant is *priced* for a workspace by its accepted quote price, else
by the catalog list price when the product is public and published. Reads only:
the writes are in quotes/services.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from quotes.calc import Tier, tiers_from_json
from quotes.models import AcceptedPrice, ProductLink, RuleKind, SkuRule, Variant

KEY_MAX = 255


def _norm(text: str) -> str:
    return " ".join((text or "").lower().split())


def product_key(line) -> str:
    """The store product a line belongs to: its store product id, else its title."""
    if line.store_product_id:
        return f"p:{line.store_product_id}"[:KEY_MAX]
    return f"t:{_norm(line.title)}"[:KEY_MAX]


def variant_key(line) -> str:
    """The store variant within the product: its store variant id, else SKU, else title."""
    if line.store_variant_id:
        return f"v:{line.store_variant_id}"[:KEY_MAX]
    if line.sku:
        return f"s:{line.sku}"[:KEY_MAX]
    return f"t:{_norm(line.variant_title)}"[:KEY_MAX]


def product_key_q(key: str) -> Q:
    """LineItem filter for the lines of store product `key`."""
    kind, _, value = key.partition(":")
    if kind == "p":
        return Q(store_product_id=value)
    return Q(store_product_id="") & Q(title__iexact=value)


def usable_variants(workspace):
    """Catalog variants this workspace may map to: public ones and its own custom ones."""
    return Variant.objects.filter(is_active=True).filter(
        Q(product__made_for_workspace__isnull=True) | Q(product__made_for_workspace=workspace)
    ).select_related("product")


@dataclass
class Match:
    variant: Variant
    how: str  # words: "linked by you", "exact SKU rule MUG-1", ...


def resolve(*, workspace, store, lines) -> dict[int, Match | None]:
    """Map each line (by its pk) to a catalog variant, or None. A few queries in all."""
    lines = list(lines)
    result: dict[int, Match | None] = {}
    if not lines:
        return result
    usable = {v.pk: v for v in usable_variants(workspace).filter(
        Q(pk__in=_linked_ids(workspace, store, lines)) | Q(pk__in=_rule_ids(workspace, store))
        | Q(sku__in=[ln.sku for ln in lines if ln.sku], product__made_for_workspace__isnull=True,
            product__is_published=True)
        | Q(pk__in=[ln.catalog_variant_id for ln in lines if ln.catalog_variant_id])
    )}
    links = {
        (ln.product_key, ln.variant_key): ln for ln in ProductLink.objects.filter(
            workspace=workspace, store=store,
            product_key__in={product_key(x) for x in lines},
        )
    }
    rules = list(SkuRule.objects.filter(workspace=workspace).filter(
        Q(store__isnull=True) | Q(store=store)))
    exact = {}
    for r in sorted(rules, key=lambda r: r.store_id is not None):  # store-specific last wins
        if r.kind == RuleKind.EXACT:
            exact[r.pattern] = r
    prefixes = sorted((r for r in rules if r.kind == RuleKind.PREFIX),
                      key=lambda r: (len(r.pattern), r.store_id is not None), reverse=True)
    catalog_by_sku = {v.sku: v for v in usable.values()
                      if v.product.made_for_workspace_id is None and v.product.is_published}
    for line in lines:
        result[line.pk] = _one(line, usable, links, exact, prefixes, catalog_by_sku)
    return result


def _one(line, usable, links, exact, prefixes, catalog_by_sku) -> Match | None:
    link = links.get((product_key(line), variant_key(line)))
    if link is not None and link.variant_id in usable:
        return Match(usable[link.variant_id], link.get_source_display().lower())
    if line.sku:
        rule = exact.get(line.sku)
        if rule is not None and rule.variant_id in usable:
            return Match(usable[rule.variant_id], f"your exact SKU rule {rule.pattern}")
        if line.sku in catalog_by_sku:
            return Match(catalog_by_sku[line.sku], "catalog SKU")
        for rule in prefixes:
            if line.sku.startswith(rule.pattern) and rule.variant_id in usable:
                return Match(usable[rule.variant_id], f"your SKU prefix rule {rule.pattern}*")
    if line.catalog_variant_id and line.catalog_variant_id in usable:
        return Match(usable[line.catalog_variant_id], "the order's source")
    return None


def _linked_ids(workspace, store, lines):
    return ProductLink.objects.filter(
        workspace=workspace, store=store, product_key__in={product_key(x) for x in lines}
    ).values("variant_id")


def _rule_ids(workspace, store):
    return SkuRule.objects.filter(workspace=workspace).filter(
        Q(store__isnull=True) | Q(store=store)).values("variant_id")


# --- prices -----------------------------------------------------------------------------


@dataclass
class PriceSource:
    """What the workspace pays for one catalog variant, in `currency`."""

    variant: Variant
    unit_price: Decimal
    currency: str
    tiers: list[Tier]
    setup_fee: Decimal
    production_days: int
    origin: str  # "catalog" or "quote #12"

    @property
    def product_id(self) -> int:
        return self.variant.product_id


def price_sources(*, workspace, variants) -> dict[int, PriceSource]:
    """The price of each variant for this workspace; a variant with none is left out."""
    variants = {v.pk: v for v in variants}
    out: dict[int, PriceSource] = {}
    if not variants:
        return out
    accepted = AcceptedPrice.objects.filter(workspace=workspace, variant_id__in=list(variants)
                                            ).select_related("quote_line")
    for ap in accepted:
        v = variants[ap.variant_id]
        origin = f"quote #{ap.quote_line.quote_id}" if ap.quote_line_id else "agreed price"
        out[v.pk] = PriceSource(v, ap.unit_price_amount, ap.currency, tiers_from_json(ap.tiers),
                                ap.setup_fee_amount, ap.production_days, origin)
    for v in variants.values():
        if v.pk in out:
            continue
        p = v.product
        if p.made_for_workspace_id is None and p.is_published and v.is_active and \
                v.price_amount > 0:
            out[v.pk] = PriceSource(v, v.price_amount, p.currency, tiers_from_json(v.tiers),
                                    p.setup_fee_amount, v.production_days, "catalog")
    return out
