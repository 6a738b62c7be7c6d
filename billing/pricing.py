"""Billing's one door into the quotes price service. Billing never computes a price:
it reads `quotes.pricing.price_order` to show the seller what an order will
cost, and freezes it with `quotes.services.snapshot_order_price` when paying."""

from dataclasses import dataclass, field
from decimal import Decimal

from orders.models import Order
from quotes.pricing import price_order
from quotes.services import snapshot_order_price

ZERO = Decimal("0")


def _d(value) -> Decimal:
    return ZERO if value in (None, "") else Decimal(str(value))


@dataclass
class ShippingChoice:
    code: str
    label: str
    total: Decimal  # shipping + handling for this order


@dataclass
class OrderPrice:
    """What one order costs the seller, split the way billing holds and captures it."""

    order_id: int
    currency: str
    product_amount: Decimal = ZERO  # items + setup fees: captured at production
    shipping_amount: Decimal = ZERO  # shipping + handling: captured at shipment
    handling_amount: Decimal = ZERO
    shipping_method: str = ""
    shipping_label: str = ""
    first_item: Decimal = ZERO
    additional_item: Decimal = ZERO
    items: int = 0
    lines: list[dict] = field(default_factory=list)  # itemised, for the page and invoice
    choices: list[ShippingChoice] = field(default_factory=list)
    problem: str = ""  # why it cannot be paid now

    @property
    def total(self) -> Decimal:
        return self.product_amount + self.shipping_amount

    @property
    def payable(self) -> bool:
        return not self.problem


def _from_breakdown(order_id: int, data: dict) -> OrderPrice:
    currency = data.get("currency", "USD")
    p = OrderPrice(order_id=order_id, currency=currency)
    for ln in data.get("lines") or []:
        name = " — ".join(x for x in (ln.get("title"), ln.get("variant_title")) if x)
        p.lines.append({"description": name or ln.get("sku") or "Item",
                        "sku": ln.get("sku", ""), "quantity": int(ln.get("quantity") or 0),
                        "unit_amount": _d(ln.get("unit_price")), "amount": _d(ln.get("total")),
                        "note": ln.get("tier") or ""})
        p.items += int(ln.get("quantity") or 0)
    for fee in data.get("setup_fees") or []:
        if _d(fee.get("amount")) > 0:
            p.lines.append({"description": f"One-time setup fee: {fee.get('product_name')}",
                            "sku": "", "quantity": 1, "unit_amount": _d(fee.get("amount")),
                            "amount": _d(fee.get("amount")), "note": ""})
    ship = data.get("shipping")
    p.product_amount = _d(data.get("items_total")) + _d(data.get("setup_total"))
    if ship:
        p.shipping_method = ship.get("method_code", "")
        p.shipping_label = ship.get("method_name", "")
        p.first_item = _d(ship.get("first_item"))
        p.additional_item = _d(ship.get("additional_item"))
        p.handling_amount = _d(ship.get("handling"))
        p.shipping_amount = _d(ship.get("amount")) + p.handling_amount
        p.lines.append({"description": f"Shipping: {p.shipping_label} ({p.items} items)",
                        "sku": "", "quantity": 1, "unit_amount": _d(ship.get("amount")),
                        "amount": _d(ship.get("amount")), "note": ""})
        if p.handling_amount:
            p.lines.append({"description": "Handling", "sku": "", "quantity": 1,
                            "unit_amount": p.handling_amount, "amount": p.handling_amount,
                            "note": ""})
    for opt in data.get("shipping_options") or []:
        p.choices.append(ShippingChoice(
            code=opt.get("method_code", ""), label=opt.get("method_name", ""),
            total=_d(opt.get("amount")) + _d(opt.get("handling"))))
    unpriced = [ln for ln in data.get("lines") or [] if ln.get("unpriced_reason")]
    if unpriced:
        p.problem = f"{unpriced[0].get('title')}: {unpriced[0].get('unpriced_reason')}"
    elif data.get("problems"):
        p.problem = "; ".join(data["problems"])
    elif not data.get("lines"):
        p.problem = "The order has no items."
    elif not ship:
        p.problem = data.get("shipping_problem") or "No shipping method ships there."
    return p


def quote(order: Order, shipping_method: str | None = None) -> OrderPrice:
    """The price now (reads only)."""
    return _from_breakdown(order.pk, price_order(order=order, shipping_method=shipping_method or
                                                 None).to_json())


def freeze(workspace, order_id: int, shipping_method: str | None) -> OrderPrice:
    """Freeze the price into the order (idempotent in quotes) and return it."""
    frozen = snapshot_order_price(workspace=workspace, order_id=order_id,
                                  shipping_method=shipping_method or None)
    return _from_breakdown(order_id, frozen.breakdown)
