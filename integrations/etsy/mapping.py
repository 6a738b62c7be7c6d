"""An Etsy ShopReceipt -> (data for orders.services.order_import, StoreFacts).

The shapes are Open API v3's ShopReceipt, ShopReceiptTransaction, TransactionVariations
and Money (https://developers.etsy.com/documentation/reference#tag/Shop-Receipt).
Personalisation is what Etsy documents in "Reading transaction personalization data"
(the personalization migration guide on developers.etsy.com): entries of the
transaction's `variations` with property_id 54 — possibly several, their
formatted_name possibly the seller's own, a file upload's formatted_value a URL (kept as
an image). The other variations (colour, size) are the line's variant title.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from integrations.shopify.mapping import StoreFacts, _address, _email, _properties

PERSONALIZATION_PROPERTY = 54
CANCELLED = frozenset({"canceled", "cancelled", "fully refunded"})


def iso(timestamp) -> str:
    """Epoch seconds (Etsy's timestamps) as ISO 8601 UTC; "" when not a number."""
    try:
        return datetime.fromtimestamp(int(timestamp), UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def money(value):
    """A Money object {amount, divisor, currency_code} as a Decimal string; anything else
    is passed on as it came, so the core holds the order saying which field is wrong."""
    if not isinstance(value, dict):
        return value
    try:
        divisor = Decimal(int(value.get("divisor") or 1))
        return str(Decimal(int(value["amount"])) / divisor)
    except (KeyError, TypeError, ValueError, InvalidOperation, ZeroDivisionError):
        return value


def _currency(receipt: dict) -> str:
    for key in ("grandtotal", "total_price", "subtotal"):
        value = receipt.get(key)
        if isinstance(value, dict) and value.get("currency_code"):
            return str(value["currency_code"]).upper()[:3]
    return ""


def _line(tx: dict) -> dict:
    variations = [v for v in tx.get("variations") or [] if isinstance(v, dict)]
    personal = [{"name": v.get("formatted_name") or "Personalization",
                 "value": v.get("formatted_value") or ""}
                for v in variations if v.get("property_id") == PERSONALIZATION_PROPERTY]
    if not personal and tx.get("personalization"):
        personal = [{"name": "Personalization", "value": tx["personalization"]}]
    fields, images = _properties(personal)
    variant = " / ".join(str(v.get("formatted_value") or "") for v in variations
                         if v.get("property_id") != PERSONALIZATION_PROPERTY
                         and v.get("formatted_value"))
    sku = str(tx.get("sku") or "")[:128]
    return {
        "external_id": str(tx.get("transaction_id") or ""),
        "store_product_id": str(tx.get("listing_id") or ""),
        "store_variant_id": str(tx.get("product_id") or ""),
        "sku": sku,
        "title": str(tx.get("title") or "")[:255] or sku or "Item",
        "variant_title": variant[:255],
        "quantity": tx.get("quantity"),
        "fulfilled_quantity": 0,
        "unit_price": money(tx.get("price")),
        "discount": "0",
        "personalization": fields,
        "images": images,
    }


def facts_of(receipt: dict) -> StoreFacts:
    status = str(receipt.get("status") or "").strip().lower()
    paid = bool(receipt.get("is_paid"))
    return StoreFacts(
        external_id=str(receipt.get("receipt_id") or ""),
        updated_at=iso(receipt.get("updated_timestamp") or receipt.get("update_timestamp")),
        financial_status=("partially_refunded" if status == "partially refunded"
                          else "refunded" if status == "fully refunded"
                          else "paid" if paid else "pending"),
        fulfilled=bool(receipt.get("is_shipped")) or status == "completed",
        cancelled=status in CANCELLED, closed=False)


def check_receipt(receipt) -> dict:
    """The receipt, or UnreadableOrder with the reason when nothing could be imported
    from it: not a JSON object, no receipt_id, transactions not a list of objects (a
    wrong value in a field PodHub can show is the core's to hold, with its reason)."""
    from integrations.platforms.base import UnreadableOrder

    if not isinstance(receipt, dict):
        raise UnreadableOrder(f"the receipt is not a JSON object ({type(receipt).__name__}: "
                              f"{str(receipt)[:80]})")
    receipt_id = receipt.get("receipt_id")
    if isinstance(receipt_id, bool) or not str(receipt_id or "").isdigit():
        raise UnreadableOrder(f"receipt_id is missing or not a number ({receipt_id!r})")
    transactions = receipt.get("transactions")
    if not isinstance(transactions, list) or not all(isinstance(t, dict)
                                                     for t in transactions):
        raise UnreadableOrder(f"receipt {receipt_id}: transactions is not a list of objects")
    return receipt


def from_receipt(receipt: dict) -> tuple[dict, StoreFacts]:
    lines = [_line(tx) if isinstance(tx, dict) else tx
             for tx in receipt.get("transactions") or []]
    name = str(receipt.get("name") or "")
    address = _address({"name": name, "address1": receipt.get("first_line"),
                        "address2": receipt.get("second_line"), "city": receipt.get("city"),
                        "province": receipt.get("state"), "zip": receipt.get("zip"),
                        "country_code": receipt.get("country_iso")}, fallback_name=name)
    tax = money(receipt.get("total_tax_cost"))
    data = {
        "external_id": str(receipt.get("receipt_id") or ""),
        "number": str(receipt.get("receipt_id") or ""),
        "placed_at": iso(receipt.get("created_timestamp") or receipt.get("create_timestamp"))
        or None,
        "updated_at": iso(receipt.get("updated_timestamp") or receipt.get("update_timestamp"))
        or None,
        "buyer_name": name[:200],
        "buyer_email": _email(receipt.get("buyer_email")),
        "shipping_address": address,
        "currency": _currency(receipt),
        "subtotal": money(receipt.get("subtotal")),
        "discount": money(receipt.get("discount_amt")) or "0",
        "shipping": money(receipt.get("total_shipping_cost")) or "0",
        "shipping_discount": "0",
        "tax": tax or "0",
        "total": money(receipt.get("grandtotal")),
        "line_items": lines,
    }
    return data, facts_of(receipt)


def shipped_with(receipt: dict, tracking_code: str) -> bool:
    """Has the receipt a shipment with this tracking code (a push whose answer was lost)?"""
    return any(isinstance(s, dict) and s.get("tracking_code") == tracking_code
               for s in receipt.get("shipments") or [])
