"""The one price service: what an order costs the seller, itemised.

`price_order(order=...)` returns a `Breakdown` in the workspace's billing
currency:

* each line: unit price by quantity tier (the tier quantity is the order's
  total of that catalog product, all variants together) × quantity;
* setup fees: once per workspace and product, on the first paid order
  (`SetupFeeCharge`), so a later order shows it as already paid;
* shipping: the chosen method (default: the cheapest for the destination), the
  destination zone from the shipping address, first item + each additional
  item over every item of the order;
* handling: the method's fee, once per order;
* currency: amounts in another currency are converted at the staff-kept
  exchange rate, listed in the breakdown; so is the buyer's selling price when
  the store sells in a currency other than the billing currency.

`loss_verdict(order)` is registered as the orders loss guard. The frozen copy
made at payment is `quotes.services.snapshot_order_price`. See docs/pricing.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from orders.hooks import LossVerdict
from orders.models import LineItem, Order
from podhub.core.money import format_money, quantize
from quotes import calc
from quotes.mapping import PriceSource, price_sources
from quotes.models import (
    ExchangeRate,
    SetupFeeCharge,
    ShippingRate,
    ShippingZone,
    Stamps,
    StampsChoice,
    Variant,
)

ZERO = Decimal("0")


def _s(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


@dataclass
class LinePrice:
    line_id: int
    title: str
    variant_title: str
    sku: str
    quantity: int
    catalog_variant_id: int | None
    catalog_name: str = ""
    product_id: int | None = None
    source: str = ""  # "catalog", "quote #12"
    tier_quantity: int = 0
    tier: str = ""  # "10-49 mini-bulk"
    source_currency: str = ""
    source_unit_price: Decimal = ZERO
    unit_price: Decimal = ZERO  # billing currency, rounded
    total: Decimal = ZERO
    production_days: int = 0
    unpriced_reason: str = ""

    @property
    def is_priced(self) -> bool:
        return not self.unpriced_reason


@dataclass
class SetupFee:
    product_id: int
    product_name: str
    amount: Decimal  # what this order pays (0 when already paid)
    full_amount: Decimal
    paid_with_order_id: int | None = None
    paid_with_order_number: str = ""
    unlabeled: bool = False  # the seller chose no stamps: no fee (StampsChoice)


@dataclass
class ShippingOption:
    method_code: str
    method_name: str
    zone: str
    country: str
    items: int
    first_item: Decimal
    additional_item: Decimal
    amount: Decimal
    handling: Decimal
    delivery_days_min: int
    delivery_days_max: int

    @property
    def total(self) -> Decimal:
        return self.amount + self.handling


@dataclass
class Conversion:
    from_currency: str
    to_currency: str
    rate: Decimal


@dataclass
class Breakdown:
    order_id: int
    currency: str
    lines: list[LinePrice]
    setup_fees: list[SetupFee] = field(default_factory=list)
    shipping: ShippingOption | None = None
    shipping_options: list[ShippingOption] = field(default_factory=list)
    shipping_problem: str = ""
    conversions: list[Conversion] = field(default_factory=list)
    store_currency: str = ""
    selling_store_amount: Decimal = ZERO  # goods after discounts + buyer shipping, store cur.
    selling_amount: Decimal | None = None  # in the billing currency (None: no rate)
    problems: list[str] = field(default_factory=list)  # order-wide reasons it can't be priced

    @property
    def items_total(self) -> Decimal:
        return sum((ln.total for ln in self.lines), ZERO)

    @property
    def setup_total(self) -> Decimal:
        return sum((f.amount for f in self.setup_fees), ZERO)

    @property
    def shipping_total(self) -> Decimal:
        return self.shipping.amount if self.shipping else ZERO

    @property
    def handling_total(self) -> Decimal:
        return self.shipping.handling if self.shipping else ZERO

    @property
    def total(self) -> Decimal:
        return self.items_total + self.setup_total + self.shipping_total + self.handling_total

    @property
    def cost_for_loss_guard(self) -> Decimal:
        """Base cost + shipping + handling (the one-time setup fee is not a per-order cost)."""
        return self.items_total + self.shipping_total + self.handling_total

    @property
    def profit(self) -> Decimal | None:
        if self.selling_amount is None:
            return None
        return self.selling_amount - self.cost_for_loss_guard

    @property
    def unpriced(self) -> list[LinePrice]:
        return [ln for ln in self.lines if not ln.is_priced]

    @property
    def items_priced(self) -> bool:
        """Every line has a price and nothing order-wide blocks pricing."""
        return not self.unpriced and not self.problems and bool(self.lines)

    @property
    def is_complete(self) -> bool:
        """Priced and shippable: what payment needs."""
        return self.items_priced and self.shipping is not None

    @property
    def production_days(self) -> int:
        return max((ln.production_days for ln in self.lines), default=0)

    def to_json(self) -> dict:
        def conv(value):
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, list):
                return [conv(v) for v in value]
            return value

        data = conv(asdict(self))
        data.update({
            "items_total": str(self.items_total), "setup_total": str(self.setup_total),
            "shipping_total": str(self.shipping_total),
            "handling_total": str(self.handling_total), "total": str(self.total),
            "cost_for_loss_guard": str(self.cost_for_loss_guard),
            "profit": _s(self.profit), "production_days": self.production_days,
            "is_complete": self.is_complete,
        })
        return data


# --- look-ups ---------------------------------------------------------------------------


def exchange_rates() -> dict[tuple[str, str], Decimal]:
    return {(r.from_currency.upper(), r.to_currency.upper()): r.rate
            for r in ExchangeRate.objects.all()}


def zone_for(country: str) -> ShippingZone | None:
    """The zone listing the country, else the rest-of-world zone, else None."""
    country = (country or "").upper()
    zones = list(ShippingZone.objects.order_by("pk"))
    for z in zones:
        if country and country in z.country_list:
            return z
    return next((z for z in zones if z.is_rest_of_world), None)


def shipping_options(*, country: str, items: int, currency: str, rates: dict | None = None,
                     used: dict | None = None) -> tuple[list[ShippingOption], str]:
    """Every active method that ships to `country`, cheapest first, in `currency`;
    with a reason when there is none. Conversions applied are added to `used`."""
    rates = exchange_rates() if rates is None else rates
    used = {} if used is None else used
    zone = zone_for(country)
    if zone is None:
        return [], f"No shipping zone covers {country or 'this address'}."
    options = []
    for rate in ShippingRate.objects.filter(zone=zone, method__is_active=True).select_related(
            "method").order_by("method__sort_order", "method_id"):
        try:
            fx = calc.rate_between(rates, rate.currency.upper(), currency)
            hfx = calc.rate_between(rates, rate.method.currency.upper(), currency)
        except calc.MissingRate:
            continue
        for cur, r in ((rate.currency.upper(), fx), (rate.method.currency.upper(), hfx)):
            if cur != currency:
                used[(cur, currency)] = r
        first = quantize(rate.first_item_amount * fx, currency)
        additional = quantize(rate.additional_item_amount * fx, currency)
        options.append(ShippingOption(
            method_code=rate.method.code, method_name=rate.method.name, zone=zone.name,
            country=country, items=items, first_item=first, additional_item=additional,
            amount=calc.shipping_for(first, additional, items),
            handling=quantize(rate.method.handling_amount * hfx, currency),
            delivery_days_min=rate.delivery_days_min, delivery_days_max=rate.delivery_days_max,
        ))
    options.sort(key=lambda o: (o.total, o.method_code))
    if not options:
        return [], f"No shipping method ships to the {zone.name} zone yet."
    return options, ""


def _workspace_currency(order: Order) -> str:
    return (order.workspace.billing_currency or "USD").upper()


# --- the service --------------------------------------------------------------------------


def price_order(*, order: Order, shipping_method: str | None = None,
                lines: list[LineItem] | None = None,
                sources: dict[int, PriceSource] | None = None,
                stamps: dict[int, str] | None = None) -> Breakdown:
    """The itemised price of `order` now (reads only; `snapshot_order_price` freezes it).

    `shipping_method`: a method code; default the cheapest that ships there.
    `lines`/`sources` let the mapping service pass what it already loaded.
    `stamps`: product id -> Stamps choice not saved yet (the catalog checkout's draft);
    saved choices (StampsChoice) apply otherwise.
    """
    currency = _workspace_currency(order)
    rates = exchange_rates()
    if lines is None:
        lines = list(LineItem.objects.filter(order=order).order_by("pk"))
    if sources is None:
        variant_ids = {ln.catalog_variant_id for ln in lines if ln.catalog_variant_id}
        variants = Variant.objects.filter(pk__in=variant_ids).select_related("product")
        sources = price_sources(workspace=order.workspace, variants=variants)
    used: dict[tuple[str, str], Decimal] = {}

    def convert(amount: Decimal, from_currency: str) -> Decimal:
        rate = calc.rate_between(rates, from_currency.upper(), currency)
        if from_currency.upper() != currency:
            used[(from_currency.upper(), currency)] = rate
        return amount * rate

    bd = Breakdown(order_id=order.pk, currency=currency, lines=[],
                   store_currency=order.currency.upper())
    # tier quantity: every item of the same catalog product in this order
    per_product: dict[int, int] = defaultdict(int)
    for ln in lines:
        src = sources.get(ln.catalog_variant_id) if ln.catalog_variant_id else None
        if src is not None:
            per_product[src.product_id] += ln.quantity
    fees: dict[int, tuple[Decimal, str]] = {}
    for ln in lines:
        lp = LinePrice(line_id=ln.pk, title=ln.title, variant_title=ln.variant_title,
                       sku=ln.sku, quantity=ln.quantity, catalog_variant_id=ln.catalog_variant_id)
        bd.lines.append(lp)
        src = sources.get(ln.catalog_variant_id) if ln.catalog_variant_id else None
        if src is None:
            lp.unpriced_reason = ln.unmapped_reason or "Not connected to a priced catalog product."
            continue
        lp.catalog_name = str(src.variant)
        lp.product_id = src.product_id
        lp.source = src.origin
        lp.production_days = src.production_days
        lp.tier_quantity = per_product[src.product_id]
        unit, tier = calc.unit_price_for(src.unit_price, src.tiers, lp.tier_quantity)
        lp.tier = f"{tier.range_text()} {tier.label}".strip() if tier else ""
        lp.source_currency = src.currency.upper()
        lp.source_unit_price = unit
        try:
            lp.unit_price = quantize(convert(unit, src.currency), currency)
            fee = quantize(convert(src.setup_fee, src.currency), currency)
        except calc.MissingRate as exc:
            lp.unpriced_reason = (f"Priced in {exc.from_currency}, billed in {currency}: no "
                                  f"exchange rate {exc.from_currency}→{currency} yet.")
            continue
        lp.total = lp.unit_price * ln.quantity
        if fee > 0 and fee > fees.get(src.product_id, (ZERO, ""))[0]:
            fees[src.product_id] = (fee, src.variant.product.name)
    _setup_fees(bd, order, fees, stamps or {})
    # shipping over every item of the order
    items = sum(ln.quantity for ln in lines)
    country = (order.shipping_address or {}).get("country_code", "")
    bd.shipping_options, bd.shipping_problem = shipping_options(
        country=country, items=items, currency=currency, rates=rates, used=used)
    if shipping_method:
        bd.shipping = next((o for o in bd.shipping_options if o.method_code == shipping_method),
                           None)
        if bd.shipping is None and not bd.shipping_problem:
            bd.shipping_problem = f"Shipping method {shipping_method!r} does not ship to " \
                f"{country or 'this address'}."
    elif bd.shipping_options:
        bd.shipping = bd.shipping_options[0]
    # the buyer's selling price: goods after discounts + the shipping the buyer paid
    bd.selling_store_amount = quantize(max(
        order.subtotal_amount - order.discount_amount + order.shipping_amount
        - order.shipping_discount_amount, ZERO),
        bd.store_currency)
    try:
        bd.selling_amount = quantize(convert(bd.selling_store_amount, bd.store_currency),
                                     currency)
    except calc.MissingRate as exc:
        bd.problems.append(
            f"Your store sells in {exc.from_currency} and you are billed in {currency}: PodHub "
            f"staff need to set an exchange rate {exc.from_currency}→{currency} first.")
    bd.conversions = [Conversion(f, t, r) for (f, t), r in sorted(used.items())]
    return bd


def _setup_fees(bd: Breakdown, order: Order, fees: dict[int, tuple[Decimal, str]],
                stamps: dict[int, str]) -> None:
    if not fees:
        return
    paid = {c.product_id: c for c in SetupFeeCharge.objects.filter(
        workspace_id=order.workspace_id, product_id__in=list(fees)).select_related("order")}
    chosen = dict(StampsChoice.objects.filter(
        workspace_id=order.workspace_id, product_id__in=list(fees))
        .values_list("product_id", "choice"))
    for product_id, (fee, name) in sorted(fees.items()):
        charge = paid.get(product_id)
        choice = stamps.get(product_id) or chosen.get(product_id)
        if choice == Stamps.UNLABELED and (charge is None or charge.order_id != order.pk):
            bd.setup_fees.append(SetupFee(product_id, name, ZERO, fee, unlabeled=True))
        elif charge is not None and charge.order_id != order.pk:
            bd.setup_fees.append(SetupFee(product_id, name, ZERO, fee, charge.order_id,
                                          charge.order.number))
        else:
            bd.setup_fees.append(SetupFee(product_id, name, fee, fee))


# --- the loss guard (registered into orders.hooks in quotes/apps.py) -------------------------


def loss_verdict(order: Order) -> LossVerdict | None:
    """Selling price after discounts vs base cost + shipping + handling, in the billing
    currency; None while the order cannot be fully costed."""
    bd = price_order(order=order)
    if not bd.items_priced or bd.selling_amount is None:
        return None
    parts = [f"items {format_money(bd.items_total, bd.currency)}",
             f"shipping {format_money(bd.shipping_total, bd.currency)}",
             f"handling {format_money(bd.handling_total, bd.currency)}"]
    detail = "Cost: " + " + ".join(parts) + "."
    if bd.shipping is None:
        detail += f" Shipping not included: {bd.shipping_problem}"
    if bd.store_currency != bd.currency:
        rate = calc.rate_between(exchange_rates(), bd.store_currency, bd.currency)
        detail += (f" Selling {format_money(bd.selling_store_amount, bd.store_currency)} at "
                   f"1 {bd.store_currency} = {rate.normalize()} {bd.currency}.")
    return LossVerdict(selling_amount=bd.selling_amount, cost_amount=bd.cost_for_loss_guard,
                       currency=bd.currency, detail=detail)
