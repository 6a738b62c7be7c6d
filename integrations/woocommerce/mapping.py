"""A WooCommerce REST v3 order (webhook body or GET /orders) -> orders.inputs dict + facts.

The same facts the Shopify mapping produces (`StoreFacts`), read the WooCommerce way
(INTEGRATIONS.md §2.4):

* payment: `date_paid(_gmt)` set, or status processing/completed -> paid. `pending`
  (awaiting payment), `on-hold` without `date_paid` (awaiting confirmation, e.g. a bank
  transfer) and `failed` are unpaid: the order may be imported but not paid in PodHub.
* `completed` -> fulfilled (never imported); `cancelled`, `refunded`, `trash` -> the
  store's cancel rules; `failed`, `checkout-draft` -> never imported (an order already
  here is left as it is).
* `line_items[].meta_data` -> personalisation (hidden keys starting with `_` skipped,
  `display_key`/`display_value` preferred); URL values -> images; variation attributes
  (`pa_*`) -> the variant title.
* the shipping address, or the billing one when the order has no shipping address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from integrations.shopify.mapping import StoreFacts, _address, _line, _order_dict

PAID_STATUSES = frozenset({"processing", "completed"})
CANCEL_STATUSES = frozenset({"cancelled", "refunded", "trash"})
NEVER_IMPORTED = frozenset({"failed", "checkout-draft", "draft", "auto-draft"})


@dataclass
class WooFacts(StoreFacts):
    paid_flag: bool = False

    @property
    def paid(self) -> bool:
        return self.paid_flag

    @property
    def store_paid(self) -> bool:
        return self.paid_flag


def _dec(value) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except (InvalidOperation, ValueError):
        return Decimal("0")


def gmt(value) -> str:
    """WooCommerce's `*_gmt` fields carry no zone ("2026-11-22T10:00:00"): add it."""
    text = str(value or "").strip()
    if not text:
        return ""
    if text.endswith("Z") or "+" in text[10:] or text[10:].count("-") > 0:
        return text
    return text + "Z"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _meta(meta_data) -> tuple[list[dict], list[str]]:
    """(personalisation properties, variation attribute values)."""
    props, variant = [], []
    for m in meta_data or []:
        if not isinstance(m, dict):
            continue
        key = str(m.get("key") or "")
        if not key or key.startswith("_"):
            continue
        value = m.get("display_value", m.get("value"))
        if key.startswith("pa_"):
            variant.append(_text(value))
            continue
        props.append({"name": str(m.get("display_key") or key), "value": _text(value)})
    return props, variant


def _addr(raw: dict | None) -> dict:
    raw = raw or {}
    return {"first_name": raw.get("first_name"), "last_name": raw.get("last_name"),
            "company": raw.get("company"), "address1": raw.get("address_1"),
            "address2": raw.get("address_2"), "city": raw.get("city"),
            "province": raw.get("state"), "zip": raw.get("postcode"),
            "country_code": raw.get("country"), "phone": raw.get("phone")}


def facts_of(order: dict) -> WooFacts:
    status = str(order.get("status") or "").lower()
    paid = bool(order.get("date_paid_gmt") or order.get("date_paid")) or status in PAID_STATUSES
    return WooFacts(
        external_id=str(order.get("id") or ""),
        updated_at=gmt(order.get("date_modified_gmt")),
        financial_status="paid" if paid else (status or "pending"),
        fulfilled=status == "completed", cancelled=status in CANCEL_STATUSES,
        closed=status in NEVER_IMPORTED, paid_flag=paid)


def from_order(order: dict) -> tuple[dict, WooFacts]:
    lines = []
    for item in order.get("line_items") or []:
        quantity = max(int(item.get("quantity") or 0), 1)
        subtotal = _dec(item.get("subtotal"))
        unit = (subtotal / quantity).quantize(Decimal("0.01")) if subtotal else _dec(
            item.get("price"))
        total = _dec(item.get("total")) if item.get("total") not in (None, "") else unit * quantity
        props, variant = _meta(item.get("meta_data"))
        lines.append(_line(
            external_id=str(item.get("id") or ""),
            product_id=str(item.get("product_id") or "") if item.get("product_id") else "",
            variant_id=str(item.get("variation_id") or "") if item.get("variation_id") else "",
            sku=item.get("sku"), title=item.get("name"), variant_title=" / ".join(variant),
            quantity=quantity, price=unit, discount=max(unit * quantity - total, Decimal("0")),
            props=props))
    shipping = order.get("shipping") or {}
    billing = order.get("billing") or {}
    raw = shipping if shipping.get("address_1") else billing
    address = _address(_addr(raw))
    if not address["phone"]:
        address["phone"] = str(billing.get("phone") or "")[:40]
    data = _order_dict(
        external_id=str(order.get("id") or ""),
        number=str(order.get("number") or order.get("id") or ""),
        email=billing.get("email"),
        placed_at=gmt(order.get("date_created_gmt")) or None,
        updated_at=gmt(order.get("date_modified_gmt")) or None,
        currency=order.get("currency"), address=address, lines=lines,
        discount_total=_dec(order.get("discount_total")),
        shipping=_dec(order.get("shipping_total")), tax=_dec(order.get("total_tax")),
        total=_dec(order.get("total")),
    )
    return data, facts_of(order)


def deleted_facts(order_id) -> tuple[dict, WooFacts]:
    """order.deleted carries only {id}: the order went to the trash (a store cancel)."""
    ext = str(order_id or "")
    return {"external_id": ext}, WooFacts(external_id=ext, updated_at="", financial_status="",
                                          fulfilled=False, cancelled=True, closed=False)
