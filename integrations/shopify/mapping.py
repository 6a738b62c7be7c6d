"""Shopify orders (webhook REST JSON or GraphQL nodes) -> orders.inputs dicts.

The dict is the one CONTRACT-12 fixes (docs/shopify.md "What is imported"):

* lines at the store's CURRENT quantity (after order edits and refunds); a line
  whose current quantity is 0 is left out; `fulfilled_quantity` says how many of
  them the store already shows fulfilled (the core makes the rest);
* money in the buyer's (presentment) currency, the shop's money beside it in
  `shop_money`; `shipping` before shipping discounts, `shipping_discount` apart;
* data problems (no address, empty e-mail, a line without SKU or product) are
  passed as they came: the core holds such an order with the reason. Only an
  order without an id cannot be mapped (the caller refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from integrations.shopify.queries import numeric_id
from podhub.core.money import quantize

MAX_PROPS = 50
# Financial statuses of an order the buyer has not (fully) paid the store for yet.
# paid, partially_refunded and refunded were paid; an unknown or missing status
# does not block the order.
UNPAID_STATUSES = frozenset({"pending", "authorized", "unpaid", "partially_paid", "voided",
                             "expired"})
ZERO = Decimal("0")
_url = URLValidator(schemes=["http", "https"])


@dataclass
class StoreFacts:
    """What the store says about an order beyond the order itself."""

    external_id: str
    updated_at: str
    financial_status: str  # lower-case REST names: paid, pending, authorized, ...
    fulfilled: bool  # fully fulfilled: never imported
    cancelled: bool
    closed: bool  # archived
    partially_fulfilled: bool = False
    # The store still has the order but wants nothing made: every line removed,
    # refunded (restocked or not) or already fulfilled, or the whole order refunded.
    nothing_left: bool = False
    test: bool = False  # a Shopify test order / test notification

    @property
    def paid(self) -> bool:
        return self.financial_status in ("paid", "partially_refunded")

    @property
    def store_paid(self) -> bool:
        """Order.store_paid: has the buyer paid the store (paid, partially_refunded,
        refunded), or not yet (pending, authorized, unpaid, ...)?"""
        return self.financial_status not in UNPAID_STATUSES

    @property
    def importable(self) -> bool:
        """An order that may enter PodHub for the first time."""
        return not (self.fulfilled or self.cancelled or self.closed)


@dataclass(frozen=True)
class Pair:
    """One amount in the buyer's (presentment) money and in the shop's money."""

    buyer: Decimal = ZERO
    shop: Decimal = ZERO

    def __add__(self, other: Pair) -> Pair:
        return Pair(self.buyer + other.buyer, self.shop + other.shop)

    def __sub__(self, other: Pair) -> Pair:
        return Pair(self.buyer - other.buyer, self.shop - other.shop)

    def times(self, n: int) -> Pair:
        return Pair(self.buyer * n, self.shop * n)

    def share(self, part: int, whole: int, currencies: tuple[str, str]) -> Pair:
        """This amount for `part` of `whole` units, rounded to each currency's cents."""
        if whole <= 0 or part >= whole:
            return self
        return Pair(quantize(self.buyer * part / whole, currencies[0]),
                    quantize(self.shop * part / whole, currencies[1]))

    def floor0(self) -> Pair:
        return Pair(max(self.buyer, ZERO), max(self.shop, ZERO))


def _str(amount: Decimal) -> str:
    """A decimal string; zero is "0" whichever way the store wrote it."""
    return str(amount) if amount else "0"


def _dec(value) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else ZERO
    except (InvalidOperation, ValueError):
        return ZERO


def _is_number(value, *, whole: bool = False) -> bool:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return False
    return number.is_finite() and (not whole or number == number.to_integral_value())


def _money_amount(money) -> Decimal | None:
    if isinstance(money, dict) and money.get("amount") not in (None, ""):
        return _dec(money.get("amount"))
    return None


def _pair(money_set, plain=None) -> Pair:
    """A money set ({shop_money, presentment_money} in REST, {shopMoney,
    presentmentMoney} in GraphQL) or a plain shop-money amount -> Pair."""
    money_set = money_set if isinstance(money_set, dict) else {}
    shop = _money_amount(money_set.get("shop_money") or money_set.get("shopMoney"))
    buyer = _money_amount(money_set.get("presentment_money")
                          or money_set.get("presentmentMoney"))
    if shop is None:
        shop = _dec(plain) if plain not in (None, "") else (buyer or ZERO)
    return Pair(buyer if buyer is not None else shop, shop)


def _sum(pairs) -> Pair:
    total = Pair()
    for p in pairs:
        total = total + p
    return total


def _int(value, default: int = 0) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


def _cut(value, n: int) -> str:
    return "" if value is None else str(value)[:n]


def _properties(props) -> tuple[list[dict], list[dict]]:
    """Line item properties -> (personalisation fields, images).

    Text stays text (an http(s) URL becomes an image); an object, list, number or
    boolean is passed as that JSON value for the core to store as JSON."""
    fields: list[dict] = []
    images: list[dict] = []
    for prop in props or []:
        if not isinstance(prop, dict):
            continue
        key = _cut(prop.get("name", prop.get("key")), 100).strip()
        if not key:
            continue
        value = prop.get("value")
        if value is None:
            value = ""
        if isinstance(value, str):
            if value.startswith(("http://", "https://")) and len(value) <= 2000:
                try:
                    _url(value.strip())
                    images.append({"key": key, "url": value.strip()})
                    continue
                except ValidationError:
                    pass
            value = value[:2000]
        fields.append({"key": key, "value": value})
    return fields[:MAX_PROPS], images[:20]


def _ship_to(raw) -> dict:
    """The shipping address as the store sent it; no address -> {}."""
    if not isinstance(raw, dict) or not any(v for v in raw.values()):
        return {}
    name = raw.get("name") or " ".join(
        p for p in (raw.get("first_name") or raw.get("firstName"),
                    raw.get("last_name") or raw.get("lastName")) if p)
    return {
        "name": _cut(name, 200),
        "company": _cut(raw.get("company"), 200),
        "address1": _cut(raw.get("address1"), 200),
        "address2": _cut(raw.get("address2"), 200),
        "city": _cut(raw.get("city"), 100),
        "province": _cut(raw.get("province_code") or raw.get("provinceCode")
                         or raw.get("province"), 100),
        "zip": _cut(raw.get("zip"), 20),
        # An unknown or missing code is passed as given (the country's name at worst):
        # the core holds the order with the reason rather than guessing.
        "country_code": _cut(raw.get("country_code") or raw.get("countryCodeV2")
                             or raw.get("countryCode") or raw.get("country"), 60),
        "phone": _cut(raw.get("phone"), 40),
    }


def _person(raw) -> str:
    raw = raw if isinstance(raw, dict) else {}
    return " ".join(p for p in (raw.get("first_name") or raw.get("firstName"),
                                raw.get("last_name") or raw.get("lastName")) if p)


@dataclass
class _Line:
    external_id: str
    product_id: str
    variant_id: str
    sku: str
    title: str
    variant_title: str
    ordered: int  # as ordered (or raised by an edit)
    current: int  # after edits and refunds
    fulfilled: int  # of the current ones, already fulfilled in the store
    unit: Pair
    discount: Pair  # allocated to the ordered quantity
    props: list
    currencies: tuple[str, str]  # (buyer's, shop's)
    # What the store sent where it was not a number: passed on as it came, so the core
    # holds the order saying which field is wrong (never a silent 0 or a dropped line).
    unreadable: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        fields, images = _properties(self.props)
        gross = self.unit.times(self.current)
        discount = self.current_discount
        return {**self._as_dict(fields, images, gross, discount), **self.unreadable}

    def _as_dict(self, fields, images, gross, discount) -> dict:
        return {
            "external_id": self.external_id,
            "store_product_id": self.product_id,
            "store_variant_id": self.variant_id,
            "sku": _cut(self.sku, 128),
            "title": _cut(self.title, 255) or _cut(self.sku, 128) or "Item",
            "variant_title": _cut(self.variant_title, 255),
            "quantity": self.current,
            "fulfilled_quantity": self.fulfilled,
            "unit_price": _str(self.unit.buyer),
            "discount": _str(min(discount.buyer, gross.buyer)),
            "personalization": fields,
            "images": images,
        }

    @property
    def current_discount(self) -> Pair:
        """The line's discount for its current quantity (a removed or refunded unit
        takes its share of the allocation with it)."""
        return self.discount.share(self.current, self.ordered, self.currencies)

    @property
    def current_net(self) -> Pair:
        return (self.unit.times(self.current) - self.current_discount).floor0()


def _build(*, external_id: str, number, email, placed_at, updated_at, currency: str,
           shop_currency: str, address: dict, buyer_name: str, lines: list[_Line],
           total_discounts: Pair, shipping: Pair, shipping_discount: Pair, tax: Pair,
           total: Pair) -> dict:
    kept = [ln for ln in lines if ln.current > 0]
    subtotal = _sum(ln.current_net for ln in kept)
    # Shopify allocates every discount to lines or shipping lines; what is left is an
    # order-level discount nobody allocated (rare), counted once here.
    discount = (total_discounts - _sum(ln.discount for ln in lines)
                - shipping_discount).floor0()
    shipping_discount = Pair(min(shipping_discount.buyer, shipping.buyer),
                             min(shipping_discount.shop, shipping.shop))
    return {
        "external_id": external_id,
        "number": _cut(number, 64) or external_id,
        "placed_at": placed_at,
        "updated_at": updated_at,
        "buyer_name": _cut(buyer_name or address.get("name", ""), 200),
        "buyer_email": "" if email is None else str(email).strip(),
        "shipping_address": address,
        "currency": currency,
        "subtotal": _str(subtotal.buyer),
        "discount": _str(discount.buyer),
        "shipping": _str(shipping.buyer),
        "shipping_discount": _str(shipping_discount.buyer),
        "tax": _str(tax.buyer),
        "total": _str(total.buyer),
        "shop_money": {
            "currency": shop_currency,
            "subtotal": _str(subtotal.shop),
            "discount": _str(discount.shop),
            "shipping": _str(shipping.shop),
            "shipping_discount": _str(shipping_discount.shop),
            "tax": _str(tax.shop),
            "total": _str(total.shop),
        },
        "line_items": [ln.as_dict() for ln in kept],
    }


def _nothing_left(lines: list[_Line], *, financial_status: str, restocked: bool) -> bool:
    if restocked or financial_status == "refunded":
        return True
    return not any(ln.current - ln.fulfilled > 0 for ln in lines)


# --- webhook bodies (REST resource JSON) ---------------------------------------------


def _rest_refunded(order: dict) -> dict[str, int]:
    """Units refunded per line item (for payloads older than `current_quantity`)."""
    out: dict[str, int] = {}
    for refund in order.get("refunds") or []:
        for rli in (refund or {}).get("refund_line_items") or []:
            lid = numeric_id(rli.get("line_item_id"))
            out[lid] = out.get(lid, 0) + _int(rli.get("quantity"))
    return out


def _rest_fulfilled(order: dict) -> dict[str, int]:
    """Units in successful fulfillments per line item."""
    out: dict[str, int] = {}
    for f in order.get("fulfillments") or []:
        if (f or {}).get("status") not in (None, "success"):
            continue
        for item in f.get("line_items") or []:
            lid = numeric_id(item.get("id"))
            out[lid] = out.get(lid, 0) + _int(item.get("quantity"))
    return out


def _rest_line(item: dict, *, refunded: dict, shipped: dict, cancelled: bool,
               currencies: tuple[str, str]) -> _Line:
    lid = numeric_id(item.get("id"))
    ordered = _int(item.get("quantity"))
    if item.get("current_quantity") is not None:
        current = _int(item.get("current_quantity"))
    else:
        current = max(ordered - refunded.get(lid, 0), 0)
    fulfillable = item.get("fulfillable_quantity")
    if fulfillable is not None and not cancelled:
        # A cancelled order's lines are not fulfillable any more without being shipped.
        fulfilled = current - _int(fulfillable)
    else:
        fulfilled = shipped.get(lid, 0)
    allocations = item.get("discount_allocations") or []
    discount = _sum(_pair(a.get("amount_set"), a.get("amount")) for a in allocations)
    if not allocations:
        applied = item.get("applied_discount") or {}  # draft orders
        discount = _pair(item.get("total_discount_set"), item.get("total_discount")
                         or applied.get("amount"))
    unreadable = {}
    if not _is_number(item.get("price")) and not (item.get("price_set") or {}):
        unreadable["unit_price"] = _cut(item.get("price"), 40)
    if not _is_number(item.get("quantity"), whole=True):
        unreadable["quantity"] = _cut(item.get("quantity"), 40)
        current = max(current, 1)
    return _Line(
        unreadable=unreadable, external_id=lid,
        product_id=numeric_id(item["product_id"]) if item.get("product_id") else "",
        variant_id=numeric_id(item["variant_id"]) if item.get("variant_id") else "",
        sku=item.get("sku") or "", title=item.get("title") or item.get("name") or "",
        variant_title=item.get("variant_title") or "", ordered=ordered, current=current,
        fulfilled=min(max(fulfilled, 0), current), unit=_pair(item.get("price_set"),
                                                              item.get("price")),
        discount=discount, props=item.get("properties") or [], currencies=currencies,
    )


def from_rest(order: dict) -> tuple[dict, StoreFacts]:
    """An order as REST JSON (webhook body, REST resource, draft order) -> (data, facts)."""
    external_id = numeric_id(order.get("id")) if order.get("id") not in (None, "") else ""
    cancelled = bool(order.get("cancelled_at"))
    shop_currency = order.get("currency") or ""
    currency = order.get("presentment_currency") or shop_currency
    refunded, shipped = _rest_refunded(order), _rest_fulfilled(order)
    items = order.get("line_items") if isinstance(order.get("line_items"), list) else []
    lines = [_rest_line(item, refunded=refunded, shipped=shipped, cancelled=cancelled,
                        currencies=(currency, shop_currency))
             for item in items if isinstance(item, dict)]
    shipping_lines = [s for s in order.get("shipping_lines") or []
                      if isinstance(s, dict) and not s.get("is_removed")]
    if "shipping_lines" in order:
        shipping = _sum(_pair(s.get("price_set"), s.get("price")) for s in shipping_lines)
    else:  # a draft order's one shipping_line, or only the total
        draft = order.get("shipping_line") or {}
        shipping = _pair(order.get("total_shipping_price_set"), draft.get("price"))
    shipping_discount = _sum(_pair(a.get("amount_set"), a.get("amount"))
                             for s in shipping_lines for a in s.get("discount_allocations")
                             or [])
    if order.get("total_discounts_set") or order.get("total_discounts") not in (None, ""):
        total_discounts = _pair(order.get("total_discounts_set"), order.get("total_discounts"))
    else:  # a draft order: line discounts + its order-level applied discount
        total_discounts = _sum(ln.discount for ln in lines) + _pair(
            None, (order.get("applied_discount") or {}).get("amount"))
    tax = (_pair(order["current_total_tax_set"], order.get("current_total_tax"))
           if order.get("current_total_tax_set") else
           _pair(order.get("total_tax_set"), order.get("total_tax")))
    total = (_pair(order["current_total_price_set"], order.get("current_total_price"))
             if order.get("current_total_price_set") else
             _pair(order.get("total_price_set"), order.get("total_price")))
    address = _ship_to(order.get("shipping_address"))
    data = _build(
        external_id=external_id, number=order.get("name") or order.get("order_number"),
        email=order.get("email") or order.get("contact_email"),
        placed_at=order.get("created_at"), updated_at=order.get("updated_at"),
        currency=currency, shop_currency=shop_currency, address=address,
        buyer_name=address.get("name") or _person(order.get("customer"))
        or _person(order.get("billing_address")),
        lines=lines, total_discounts=total_discounts, shipping=shipping,
        shipping_discount=shipping_discount, tax=tax, total=total,
    )
    # a line that is not an object: the core holds the order naming it
    data["line_items"] += [_cut(item, 80) for item in items if not isinstance(item, dict)]
    status = (order.get("fulfillment_status") or "").lower()
    financial = (order.get("financial_status") or "").lower()
    facts = StoreFacts(
        external_id=external_id, updated_at=order.get("updated_at") or "",
        financial_status=financial, fulfilled=status == "fulfilled",
        partially_fulfilled=status == "partial", cancelled=cancelled,
        closed=bool(order.get("closed_at")), test=order.get("test") is True,
        nothing_left=_nothing_left(lines, financial_status=financial,
                                   restocked=status == "restocked"),
    )
    return data, facts


# --- GraphQL nodes -------------------------------------------------------------------------


def _gql_line(item: dict, remaining: dict[str, int] | None,
              currencies: tuple[str, str]) -> _Line:
    ordered = _int(item.get("quantity"))
    current = ordered if item.get("currentQuantity") is None else _int(item["currentQuantity"])
    unfulfilled = item.get("unfulfilledQuantity")
    left = current if unfulfilled is None else _int(unfulfilled)
    if remaining is not None and item.get("id") in remaining:
        # Fulfillment orders say exactly what is still to ship (partially fulfilled).
        left = remaining[item["id"]]
    product = item.get("product") or {}
    variant = item.get("variant") or {}
    return _Line(
        external_id=numeric_id(item.get("id")),
        product_id=numeric_id(product["id"]) if product.get("id") else "",
        variant_id=numeric_id(variant["id"]) if variant.get("id") else "",
        sku=item.get("sku") or "", title=item.get("title") or item.get("name") or "",
        variant_title=item.get("variantTitle") or "", ordered=ordered, current=current,
        fulfilled=min(max(current - left, 0), current),
        unit=_pair(item.get("originalUnitPriceSet")),
        discount=_sum(_pair(a.get("allocatedAmountSet"))
                      for a in item.get("discountAllocations") or []),
        props=item.get("customAttributes") or [], currencies=currencies,
    )


def remaining_by_line(fulfillment_orders: list[dict]) -> dict[str, int]:
    """FulfillmentOrder nodes -> {line item gid: units still to fulfil}."""
    out: dict[str, int] = {}
    for fo in fulfillment_orders or []:
        for fol in ((fo or {}).get("lineItems") or {}).get("nodes") or []:
            gid = ((fol or {}).get("lineItem") or {}).get("id")
            if gid:
                out[gid] = out.get(gid, 0) + _int(fol.get("remainingQuantity"))
    return out


def from_graphql(node: dict, *, remaining: dict[str, int] | None = None
                 ) -> tuple[dict, StoreFacts]:
    """An Order node (queries.ORDER_FIELDS) -> (data, facts). `remaining`: from
    remaining_by_line() when the order's fulfillment orders were read."""
    external_id = numeric_id(node.get("id")) if node.get("id") else ""
    shop_currency = node.get("currencyCode") or ""
    currency = node.get("presentmentCurrencyCode") or shop_currency
    lines = [_gql_line(item, remaining, (currency, shop_currency)) for item in
             ((node.get("lineItems") or {}).get("nodes") or []) if isinstance(item, dict)]
    ship = node.get("shippingLine") or {}
    shipping = _pair(ship.get("originalPriceSet")) if ship else _pair(
        node.get("totalShippingPriceSet"))
    shipping_discount = _sum(_pair(a.get("allocatedAmountSet"))
                             for a in ship.get("discountAllocations") or [])
    address = _ship_to(node.get("shippingAddress"))
    data = _build(
        external_id=external_id, number=node.get("name"), email=node.get("email"),
        placed_at=node.get("createdAt"), updated_at=node.get("updatedAt"),
        currency=currency, shop_currency=shop_currency, address=address,
        buyer_name=address.get("name") or (node.get("billingAddress") or {}).get("name")
        or _person(node.get("billingAddress")),
        lines=lines, total_discounts=_pair(node.get("totalDiscountsSet")),
        shipping=shipping, shipping_discount=shipping_discount,
        tax=_pair(node.get("currentTotalTaxSet") or node.get("totalTaxSet")),
        total=_pair(node.get("currentTotalPriceSet") or node.get("totalPriceSet")),
    )
    fstatus = (node.get("displayFulfillmentStatus") or "").upper()
    financial = (node.get("displayFinancialStatus") or "").lower()
    facts = StoreFacts(
        external_id=external_id, updated_at=node.get("updatedAt") or "",
        financial_status=financial, fulfilled=fstatus == "FULFILLED",
        partially_fulfilled=fstatus == "PARTIALLY_FULFILLED",
        cancelled=bool(node.get("cancelledAt")), closed=bool(node.get("closed")),
        test=node.get("test") is True,
        nothing_left=_nothing_left(lines, financial_status=financial,
                                   restocked=fstatus == "RESTOCKED"),
    )
    return data, facts


# --- shared with integrations/woocommerce/mapping.py, as they were before CONTRACT-12 ----
# (the WooCommerce mapping moves to the contract in its own branch; these go then)


def _email(value) -> str:
    """The buyer's e-mail exactly; one PodHub cannot accept is left out, not the order."""
    text = "" if value is None else str(value).strip()
    if not text or len(text) > 254:
        return ""
    try:
        validate_email(text)
    except ValidationError:
        return ""
    return text


def _address(raw: dict | None, *, fallback_name: str = "") -> dict:
    """Every key present (empty when missing), the name falling back, a 2-letter code."""
    addr = _ship_to({**(raw or {}), "country": None}) or dict.fromkeys(
        ("name", "company", "address1", "address2", "city", "province", "zip",
         "country_code", "phone"), "")
    addr["name"] = addr["name"] or _cut(fallback_name, 200)
    addr["country_code"] = addr["country_code"][:2]
    return addr


def _order_dict(*, external_id, number, email, placed_at, updated_at, currency, address,
                lines, discount_total, shipping, tax, total) -> dict:
    line_disc = sum((ln["_disc"] for ln in lines), Decimal("0"))
    subtotal = sum((ln["_gross"] - ln["_disc"] for ln in lines), Decimal("0"))
    for ln in lines:
        ln.pop("_gross")
        ln.pop("_disc")
    return {
        "external_id": external_id,
        "number": _cut(number, 64) or external_id,
        "placed_at": placed_at,
        "updated_at": updated_at,
        "buyer_name": address.get("name", ""),
        "buyer_email": _email(email),
        "shipping_address": address,
        "currency": currency,
        "subtotal": str(max(subtotal, Decimal("0"))),
        "discount": str(max(discount_total - line_disc, Decimal("0"))),
        "shipping": str(shipping),
        "tax": str(tax),
        "total": str(total),
        "line_items": lines,
    }


def _line(*, external_id, product_id, variant_id, sku, title, variant_title, quantity, price,
          discount, props) -> dict:
    fields, images = _properties(props)
    quantity = max(int(quantity or 0), 1)
    gross = price * quantity
    discount = min(discount, gross)
    return {
        "external_id": external_id,
        "store_product_id": product_id,
        "store_variant_id": variant_id,
        "sku": _cut(sku, 128),
        "title": _cut(title, 255) or _cut(sku, 128) or "Item",
        "variant_title": _cut(variant_title, 255),
        "quantity": quantity,
        "unit_price": str(price),
        "discount": str(discount),
        "personalization": fields,
        "images": images,
        "_gross": gross,
        "_disc": discount,
    }
