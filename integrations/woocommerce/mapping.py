"""A WooCommerce REST v3 order (webhook body or GET /orders) -> orders.inputs dict + facts.

The dict is the one CONTRACT-12 fixes for every platform (docs/woocommerce.md, "Mapping"):

* only what the store still wants: a line's quantity is its `quantity` less what the
  order's refunds took back (`GET /orders/<id>/refunds`: a refund's `line_items[]` carry a
  negative `quantity` and `_refunded_item_id`, the order's line id); a line with nothing
  left is left out, and `nothing_left` says when no line is left at all;
* HTML entities decoded in every text: WooCommerce sends names, meta and addresses as
  WordPress stored them (`Ship Your Idea &ndash; Color: Black`, `O&#8217;Conner`);
* `line_items[].meta_data` -> personalisation, `display_key`/`display_value` preferred, a
  value of any JSON type passed as that JSON value; hidden keys (starting with `_`) left
  out; a value that is an http(s) URL -> an image; variation attributes (`pa_*`) -> the
  variant title;
* the shipping address; the billing one only when the shipping address is entirely
  empty; `{}` when both are (the core holds the order and says why);
* data problems are passed as the store sent them (empty e-mail, no SKU, a fractional
  quantity): the core holds such an order with the reason, the mapping never refuses one.

Facts (INTEGRATIONS.md §2.4): `date_paid(_gmt)` set, or status processing/completed ->
paid; `pending`, `on-hold` without `date_paid` and `failed` -> unpaid; `completed` ->
fulfilled (never imported); `cancelled`, `refunded`, `trash` -> the store's cancel rules;
`failed`, `checkout-draft` -> never imported. WooCommerce sends no test orders (its only
test delivery is the ping, answered by the webhook view), so `test` is always False.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from integrations.shopify.mapping import StoreFacts, _cut, _email
from orders.inputs import ADDRESS_FIELDS, MAX_IMAGES, MAX_PERSONALIZATION
from podhub.core.money import quantize

PAID_STATUSES = frozenset({"processing", "completed"})
CANCEL_STATUSES = frozenset({"cancelled", "refunded", "trash"})
NEVER_IMPORTED = frozenset({"failed", "checkout-draft", "draft", "auto-draft"})
# The parts that make an address (a name, e-mail or phone alone is not one).
ADDRESS_PARTS = ("address_1", "address_2", "city", "state", "postcode", "country")
_url = URLValidator(schemes=["http", "https"])


@dataclass
class WooFacts(StoreFacts):
    paid_flag: bool = False
    # CONTRACT-12: the store still has the order but wants nothing made.
    nothing_left: bool = False
    test: bool = False

    @property
    def paid(self) -> bool:
        return self.paid_flag

    @property
    def store_paid(self) -> bool:
        return self.paid_flag


# --- values ------------------------------------------------------------------------------


def text(value) -> str:
    """A WooCommerce text with its HTML entities decoded (`&ndash;` -> `–`)."""
    if value is None:
        return ""
    return html.unescape(str(value)).strip()


def json_value(value):
    """A meta value as JSON: text decoded, objects and lists kept (their texts decoded),
    numbers, booleans and nulls inside them as they are; no value at all is ""."""
    return "" if value is None else _decoded(value)


def _decoded(value):
    if isinstance(value, str):
        return text(value)[:2000]
    if isinstance(value, dict):
        return {text(k): _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _money(value, currency: str, default: Decimal = Decimal("0")) -> Decimal:
    number = _number(value)
    return quantize(default if number is None else number, currency)


def gmt(value) -> str:
    """WooCommerce's `*_gmt` fields carry no zone ("2026-11-22T10:00:00"): add it."""
    raw = str(value or "").strip()
    if not raw:
        return ""
    if raw.endswith("Z") or "+" in raw[10:] or raw[10:].count("-") > 0:
        return raw
    return raw + "Z"


def _meta_value(meta_data, key: str):
    for m in meta_data or []:
        if isinstance(m, dict) and m.get("key") == key:
            return m.get("value")
    return None


def _image_url(value) -> str:
    if not isinstance(value, str):
        return ""
    url = text(value)
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        return ""
    try:
        _url(url)
    except ValidationError:
        return ""
    return url


# --- refunds -------------------------------------------------------------------------------


def refunded_quantities(refunds, *, only: set[str] | None = None) -> dict[str, Decimal]:
    """{order line item id: quantity refunded} from `GET /orders/<id>/refunds`.

    Each refund line carries a negative `quantity` and the order's line id in its
    `_refunded_item_id` meta. `only`: the refund ids the order itself lists (its
    `refunds[]`), so a refund made after this version of the order was built is not
    subtracted from it."""
    out: dict[str, Decimal] = {}
    for refund in refunds or []:
        if not isinstance(refund, dict):
            continue
        if only is not None and str(refund.get("id")) not in only:
            continue
        for item in refund.get("line_items") or []:
            if not isinstance(item, dict):
                continue
            line_id = _meta_value(item.get("meta_data"), "_refunded_item_id")
            quantity = _number(item.get("quantity"))
            if line_id in (None, "") or not quantity:
                continue
            out[str(line_id)] = out.get(str(line_id), Decimal(0)) + abs(quantity)
    return out


def _refunded_tax(refunds, only: set[str] | None) -> Decimal:
    total = Decimal(0)
    for refund in refunds or []:
        if isinstance(refund, dict) and (only is None or str(refund.get("id")) in only):
            for item in refund.get("line_items") or []:
                if isinstance(item, dict):
                    total += abs(_number(item.get("total_tax")) or 0)
    return total


def refunded_total(order: dict) -> Decimal:
    """What the order's refunds gave back so far (its `refunds[].total` are negative)."""
    return sum((abs(_number(r.get("total")) or 0) for r in order.get("refunds") or []
                if isinstance(r, dict)), Decimal(0))


# --- lines -----------------------------------------------------------------------------------


def _meta(meta_data) -> tuple[list[dict], list[dict], list[str]]:
    """(personalisation fields, images, variation attribute values) of a line."""
    fields: list[dict] = []
    images: list[dict] = []
    variant: list[str] = []
    for m in meta_data or []:
        if not isinstance(m, dict):
            continue
        key = str(m.get("key") or "")
        if not key or key.startswith("_"):  # hidden: _reduced_stock, _pao_ids, ...
            continue
        raw = m.get("value")
        shown = m.get("display_value", raw)
        label = _cut(text(m.get("display_key") or key), 100)
        if key.startswith("pa_"):
            variant.append(text(shown))
            continue
        url = _image_url(raw)  # a file add-on: the URL in `value`, its name on display
        if url:
            images.append({"key": label, "url": url})
            continue
        fields.append({"key": label, "value": json_value(shown)})
    return fields[:MAX_PERSONALIZATION], images[:MAX_IMAGES], variant


def _net(line: dict) -> Decimal:
    unit, quantity = _number(line.get("unit_price")), _number(line.get("quantity"))
    if unit is None or quantity is None:
        return Decimal(0)
    return unit * quantity - Decimal(line["discount"])


def _line(item: dict, refunded: Decimal, currency: str) -> dict | None:
    """The line as the store still wants it, or None when nothing of it is left."""
    ordered = _number(item.get("quantity"))
    if ordered is None:  # not a number: passed as sent, the core holds the order
        left, quantity = None, item.get("quantity")
    else:
        left = ordered - refunded
        if left <= 0:
            return None
        # A fraction (a plugin's measured quantity) is passed as sent: PodHub makes whole
        # items, so the core holds the order with the reason.
        quantity = int(left) if left == int(left) else str(left)
    subtotal = _number(item.get("subtotal"))
    total = _number(item.get("total"))
    if subtotal is not None and ordered:
        unit = quantize(subtotal / ordered, currency)
    elif _number(item.get("price")) is not None:
        unit = quantize(_number(item.get("price")), currency)
    else:
        unit = None
    discount = Decimal(0)
    if subtotal is not None and total is not None and ordered and left is not None:
        discount = quantize(max(subtotal - total, Decimal(0)) * left / ordered, currency)
        discount = min(discount, unit * left) if unit is not None else discount
    fields, images, variant = _meta(item.get("meta_data"))
    sku = _cut(text(item.get("sku")), 128)
    return {
        "external_id": str(item.get("id") or ""),
        "store_product_id": str(item.get("product_id") or "") if item.get("product_id") else "",
        "store_variant_id": str(item.get("variation_id") or "")
        if item.get("variation_id") else "",
        "sku": sku,
        "title": _cut(text(item.get("name")), 255) or sku or "Item",
        "variant_title": _cut(" / ".join(v for v in variant if v), 255),
        "quantity": quantity,
        "fulfilled_quantity": 0,  # WooCommerce has no partial fulfilment
        "unit_price": str(unit) if unit is not None else item.get("subtotal"),
        "discount": str(discount),
        "personalization": fields,
        "images": images,
    }


# --- addresses --------------------------------------------------------------------------------


def _has_address(raw) -> bool:
    return isinstance(raw, dict) and any(str(raw.get(k) or "").strip() for k in ADDRESS_PARTS)


def _name(raw) -> str:
    raw = raw if isinstance(raw, dict) else {}
    return " ".join(p for p in (text(raw.get("first_name")), text(raw.get("last_name"))) if p)


def _address(raw: dict, *, name: str, phone: str) -> dict:
    limits = ADDRESS_FIELDS
    return {
        "name": _cut(_name(raw) or name, limits["name"]),
        "company": _cut(text(raw.get("company")), limits["company"]),
        "address1": _cut(text(raw.get("address_1")), limits["address1"]),
        "address2": _cut(text(raw.get("address_2")), limits["address2"]),
        "city": _cut(text(raw.get("city")), limits["city"]),
        "province": _cut(text(raw.get("state")), limits["province"]),
        "zip": _cut(text(raw.get("postcode")), limits["zip"]),
        # An unknown country is passed as given (not cut to two letters): the core says so.
        "country_code": _cut(text(raw.get("country")), 60),
        "phone": _cut(text(raw.get("phone")) or phone, limits["phone"]),
    }


# --- the order -------------------------------------------------------------------------------


def facts_of(order: dict, *, nothing_left: bool = False) -> WooFacts:
    status = str(order.get("status") or "").lower()
    paid = bool(order.get("date_paid_gmt") or order.get("date_paid")) or status in PAID_STATUSES
    return WooFacts(
        external_id=str(order.get("id") or ""),
        updated_at=gmt(order.get("date_modified_gmt")),
        financial_status="paid" if paid else (status or "pending"),
        fulfilled=status == "completed", cancelled=status in CANCEL_STATUSES,
        closed=status in NEVER_IMPORTED, paid_flag=paid, nothing_left=nothing_left)


def from_order(order: dict, refunds: list | None = None) -> tuple[dict, WooFacts]:
    """`refunds`: `GET /orders/<id>/refunds` when the order lists refunds (None: not read,
    so no line is reduced)."""
    currency = str(order.get("currency") or "").upper()
    listed = {str(r.get("id")) for r in order.get("refunds") or [] if isinstance(r, dict)}
    taken = refunded_quantities(refunds, only=listed)
    raw_lines = order.get("line_items") or []
    lines: list = []
    ordered_discount = Decimal(0)
    for item in raw_lines:
        if not isinstance(item, dict):
            lines.append(item)  # malformed: passed on, the core holds the order with why
            continue
        gross, net = _number(item.get("subtotal")), _number(item.get("total"))
        if gross is not None and net is not None:
            ordered_discount += max(gross - net, Decimal(0))
        line = _line(item, taken.get(str(item.get("id")), Decimal(0)), currency)
        if line is not None:
            lines.append(line)
    subtotal = sum((_net(line) for line in lines if isinstance(line, dict)), Decimal(0))
    shipping, billing = order.get("shipping") or {}, order.get("billing") or {}
    shipping = shipping if isinstance(shipping, dict) else {}
    billing = billing if isinstance(billing, dict) else {}
    buyer = _name(shipping) if _has_address(shipping) else ""
    buyer = buyer or _name(billing) or _name(shipping)
    phone = text(billing.get("phone"))
    if _has_address(shipping):
        address = _address(shipping, name=buyer, phone=phone)
    elif _has_address(billing):  # no shipping address (e.g. digital checkout): billing's
        address = _address(billing, name=buyer, phone=phone)
    else:
        address = {}
    tax = max(_money(order.get("total_tax"), currency)
              - _refunded_tax(refunds, listed), Decimal(0))
    data = {
        "external_id": str(order.get("id") or ""),
        "number": _cut(text(order.get("number")), 64) or str(order.get("id") or ""),
        "placed_at": gmt(order.get("date_created_gmt")) or None,
        "updated_at": gmt(order.get("date_modified_gmt")) or None,
        "buyer_name": _cut(buyer, 200),
        "buyer_email": _email(text(billing.get("email"))),
        "shipping_address": address,
        "currency": currency,
        "subtotal": str(quantize(max(subtotal, Decimal(0)), currency)),
        # Coupons are on the lines (subtotal - total); only the rest is order-level.
        "discount": str(max(_money(order.get("discount_total"), currency) - quantize(
            ordered_discount, currency), Decimal(0))),
        "shipping": str(_money(order.get("shipping_total"), currency)),
        "shipping_discount": "0",  # WooCommerce coupons never discount shipping lines
        "tax": str(quantize(tax, currency)),
        "total": str(max(_money(order.get("total"), currency) - quantize(
            refunded_total(order), currency), Decimal(0))),
        "line_items": lines,
    }
    return data, facts_of(order, nothing_left=not lines)


def deleted_facts(order_id) -> tuple[dict, WooFacts]:
    """order.deleted carries only {id}: the order went to the trash (a store cancel)."""
    ext = str(order_id or "")
    return {"external_id": ext}, WooFacts(external_id=ext, updated_at="", financial_status="",
                                          fulfilled=False, cancelled=True, closed=False)
