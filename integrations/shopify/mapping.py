"""Shopify orders (webhook REST JSON or GraphQL nodes) -> orders.inputs dicts.

The mapping never drops an order for a detail: over-long texts are cut to the
limits orders.inputs accepts, personalisation beyond its limit is dropped with
a note. Shipping address and e-mail are passed as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from integrations.shopify.queries import numeric_id

MAX_PROPS = 50
# Financial statuses of an order the buyer has not (fully) paid the store for yet.
# paid, partially_refunded and refunded were paid; an unknown or missing status
# does not block the order.
UNPAID_STATUSES = frozenset({"pending", "authorized", "unpaid", "partially_paid", "voided",
                             "expired"})
_url = URLValidator(schemes=["http", "https"])


@dataclass
class StoreFacts:
    """What the store says about an order beyond the order itself."""

    external_id: str
    updated_at: str
    financial_status: str  # lower-case REST names: paid, pending, authorized, ...
    fulfilled: bool  # fully fulfilled (or restocked): never imported
    cancelled: bool
    closed: bool  # archived
    partially_fulfilled: bool = False

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


def _dec(value) -> Decimal:
    if isinstance(value, dict):  # money set {shop_money|shopMoney: {amount}}
        value = (value.get("shop_money") or value.get("shopMoney") or {}).get("amount")
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except (InvalidOperation, ValueError):
        return Decimal("0")


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


def _cut(value, n: int) -> str:
    return "" if value is None else str(value)[:n]


def _properties(props) -> tuple[list[dict], list[dict]]:
    """Line item properties -> (personalisation fields, images)."""
    fields: list[dict] = []
    images: list[dict] = []
    for prop in props or []:
        if not isinstance(prop, dict):
            continue
        key = prop.get("name", prop.get("key"))
        value = prop.get("value")
        key = _cut(key, 100).strip()
        if not key:
            continue
        text = "" if value is None else str(value)
        if text.startswith(("http://", "https://")) and len(text) <= 2000:
            try:
                _url(text.strip())
                images.append({"key": key, "url": text.strip()})
                continue
            except ValidationError:
                pass
        fields.append({"key": key, "value": text[:2000]})
    return fields[:MAX_PROPS], images[:20]


def _address(raw: dict | None, *, fallback_name: str = "") -> dict:
    raw = raw or {}
    name = raw.get("name") or " ".join(
        p for p in (raw.get("first_name") or raw.get("firstName"),
                    raw.get("last_name") or raw.get("lastName")) if p
    ) or fallback_name
    return {
        "name": _cut(name, 200),
        "company": _cut(raw.get("company"), 200),
        "address1": _cut(raw.get("address1"), 200),
        "address2": _cut(raw.get("address2"), 200),
        "city": _cut(raw.get("city"), 100),
        "province": _cut(raw.get("province_code") or raw.get("provinceCode")
                         or raw.get("province"), 100),
        "zip": _cut(raw.get("zip"), 20),
        "country_code": _cut(raw.get("country_code") or raw.get("countryCodeV2")
                             or raw.get("countryCode"), 2),
        "phone": _cut(raw.get("phone"), 40),
    }


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


# --- webhook bodies (REST resource JSON) ---------------------------------------------


def from_rest(order: dict) -> tuple[dict, StoreFacts]:
    external_id = numeric_id(order.get("id"))
    lines = []
    for item in order.get("line_items") or []:
        disc = sum((_dec(a.get("amount")) for a in item.get("discount_allocations") or []),
                   Decimal("0")) or _dec(item.get("total_discount"))
        lines.append(_line(
            external_id=numeric_id(item.get("id")),
            product_id=numeric_id(item.get("product_id")) if item.get("product_id") else "",
            variant_id=numeric_id(item.get("variant_id")) if item.get("variant_id") else "",
            sku=item.get("sku"), title=item.get("title") or item.get("name"),
            variant_title=item.get("variant_title"), quantity=item.get("quantity"),
            price=_dec(item.get("price")), discount=disc, props=item.get("properties"),
        ))
    customer = order.get("customer") or {}
    fallback = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p)
    shipping = order.get("total_shipping_price_set")
    if shipping is None:
        shipping = sum((_dec(s.get("price")) for s in order.get("shipping_lines") or []),
                       Decimal("0"))
    data = _order_dict(
        external_id=external_id, number=order.get("name") or order.get("order_number"),
        email=order.get("email") or order.get("contact_email"),
        placed_at=order.get("created_at"), updated_at=order.get("updated_at"),
        currency=order.get("currency") or order.get("presentment_currency"),
        address=_address(order.get("shipping_address"), fallback_name=fallback),
        lines=lines, discount_total=_dec(order.get("total_discounts")),
        shipping=_dec(shipping), tax=_dec(order.get("total_tax")),
        total=_dec(order.get("total_price")),
    )
    status = (order.get("fulfillment_status") or "").lower()
    facts = StoreFacts(
        external_id=external_id, updated_at=order.get("updated_at") or "",
        financial_status=(order.get("financial_status") or "").lower(),
        fulfilled=status in ("fulfilled", "restocked"),
        partially_fulfilled=status == "partial",
        cancelled=bool(order.get("cancelled_at")), closed=bool(order.get("closed_at")),
    )
    return data, facts


# --- GraphQL nodes -------------------------------------------------------------------------


def from_graphql(node: dict) -> tuple[dict, StoreFacts]:
    external_id = numeric_id(node.get("id"))
    lines = []
    for item in ((node.get("lineItems") or {}).get("nodes") or []):
        disc = sum((_dec(a.get("allocatedAmountSet")) for a in
                    item.get("discountAllocations") or []), Decimal("0"))
        lines.append(_line(
            external_id=numeric_id(item.get("id")),
            product_id=numeric_id((item.get("product") or {}).get("id")) if item.get(
                "product") else "",
            variant_id=numeric_id((item.get("variant") or {}).get("id")) if item.get(
                "variant") else "",
            sku=item.get("sku"), title=item.get("title"),
            variant_title=item.get("variantTitle"), quantity=item.get("quantity"),
            price=_dec(item.get("originalUnitPriceSet")), discount=disc,
            props=item.get("customAttributes"),
        ))
    data = _order_dict(
        external_id=external_id, number=node.get("name"), email=node.get("email"),
        placed_at=node.get("createdAt"), updated_at=node.get("updatedAt"),
        currency=node.get("currencyCode"), address=_address(node.get("shippingAddress")),
        lines=lines, discount_total=_dec(node.get("totalDiscountsSet")),
        shipping=_dec(node.get("totalShippingPriceSet")), tax=_dec(node.get("totalTaxSet")),
        total=_dec(node.get("totalPriceSet")),
    )
    fstatus = (node.get("displayFulfillmentStatus") or "").upper()
    facts = StoreFacts(
        external_id=external_id, updated_at=node.get("updatedAt") or "",
        financial_status=(node.get("displayFinancialStatus") or "").lower(),
        fulfilled=fstatus in ("FULFILLED", "RESTOCKED"),
        partially_fulfilled=fstatus == "PARTIALLY_FULFILLED",
        cancelled=bool(node.get("cancelledAt")), closed=bool(node.get("closed")),
    )
    return data, facts
