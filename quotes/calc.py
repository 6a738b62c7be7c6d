"""The arithmetic of prices, with no database: tiers, shipping, currency conversion.

Everything here is a pure function of Decimals so it can be tested exhaustively
(tests/quotes/test_calc.py, hypothesis). docs/pricing.md has worked examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from podhub.core.exceptions import ValidationFailed

ZERO = Decimal("0")
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class Tier:
    """From `min_quantity` to `max_quantity` (None: no upper bound) the unit price
    is `unit_price`. Below the lowest tier the base price applies."""

    min_quantity: int
    max_quantity: int | None
    unit_price: Decimal
    label: str = ""

    def covers(self, quantity: int) -> bool:
        return quantity >= self.min_quantity and (
            self.max_quantity is None or quantity <= self.max_quantity)

    def range_text(self) -> str:
        if self.max_quantity is None:
            return f"{self.min_quantity}+"
        return f"{self.min_quantity}-{self.max_quantity}"

    def to_json(self) -> dict:
        return {"min_quantity": self.min_quantity, "max_quantity": self.max_quantity,
                "unit_price": str(self.unit_price), "label": self.label}


def tiers_from_json(data) -> list[Tier]:
    """Read stored tiers (trusted: validated when saved)."""
    out = []
    for item in data or []:
        out.append(Tier(int(item["min_quantity"]),
                        None if item.get("max_quantity") in (None, "") else
                        int(item["max_quantity"]),
                        Decimal(str(item["unit_price"])), str(item.get("label", ""))))
    return sorted(out, key=lambda t: t.min_quantity)


def tiers_to_json(tiers: list[Tier]) -> list[dict]:
    return [t.to_json() for t in sorted(tiers, key=lambda t: t.min_quantity)]


def tiers_to_text(tiers: list[Tier]) -> str:
    """The admin's text form: '10-49: 8.00 mini-bulk; 50+: 6.50 bulk'."""
    parts = []
    for t in sorted(tiers, key=lambda t: t.min_quantity):
        parts.append(f"{t.range_text()}: {t.unit_price}" + (f" {t.label}" if t.label else ""))
    return "; ".join(parts)


_TIER_RE = re.compile(
    r"^\s*(?P<min>\d+)\s*(?:(?P<plus>\+)|-\s*(?P<max>\d+))\s*:\s*(?P<price>[-+]?[0-9.]+)"
    r"\s*(?P<label>.*?)\s*$")


def parse_tiers(text: str) -> list[Tier]:
    """'10-49: 8.00 mini-bulk; 50+: 6.50 bulk' -> tiers; ValidationFailed names the bad part.

    Only the syntax is checked here; validate_tiers() checks the rules.
    """
    tiers: list[Tier] = []
    for part in re.split(r"[;\n]", text or ""):
        if not part.strip():
            continue
        m = _TIER_RE.match(part)
        if m is None:
            raise ValidationFailed(
                f"Cannot read the tier {part.strip()!r}: write tiers as "
                "'10-49: 8.00 mini-bulk; 50+: 6.50 bulk'.", field="tiers")
        try:
            price = Decimal(m["price"])
        except InvalidOperation:
            raise ValidationFailed(f"{m['price']!r} is not an amount.", field="tiers") from None
        tiers.append(Tier(int(m["min"]), None if m["plus"] else int(m["max"]), price,
                          m["label"][:40]))
    return sorted(tiers, key=lambda t: t.min_quantity)


def validate_tiers(tiers: list[Tier], *, base_price: Decimal, what: str = "") -> None:
    """Refuse tiers that cannot be priced unambiguously, with a clear message.

    Rules: a tier starts at 2 items or more; its range is not empty; tiers do not
    overlap; every tier price is above 0; and a tier for more items never costs
    more per item than one for fewer items (nor more than the base price).
    """
    prefix = f"{what}: " if what else ""
    ordered = sorted(tiers, key=lambda t: t.min_quantity)
    previous: Tier | None = None
    for t in ordered:
        name = f"tier {t.range_text()}"
        if t.min_quantity < 2:
            raise ValidationFailed(f"{prefix}{name} must start at 2 items or more; a single "
                                   "item costs the unit price.", field="tiers")
        if t.max_quantity is not None and t.max_quantity < t.min_quantity:
            raise ValidationFailed(f"{prefix}{name} ends before it starts.", field="tiers")
        if t.min_quantity > MAX_QUANTITY:
            raise ValidationFailed(f"{prefix}{name} starts above {MAX_QUANTITY} items.",
                                   field="tiers")
        if t.unit_price <= ZERO:
            raise ValidationFailed(f"{prefix}{name} must have a unit price above 0.",
                                   field="tiers")
        if t.unit_price > base_price:
            raise ValidationFailed(
                f"{prefix}{name} costs {t.unit_price} per item, more than the unit price "
                f"{base_price}: a tier is a discount for quantity.", field="tiers")
        if previous is not None:
            if previous.max_quantity is None or previous.max_quantity >= t.min_quantity:
                raise ValidationFailed(
                    f"{prefix}tiers {previous.range_text()} and {t.range_text()} overlap: "
                    "each quantity must fall in one tier only.", field="tiers")
            if t.unit_price > previous.unit_price:
                raise ValidationFailed(
                    f"{prefix}{name} costs more per item ({t.unit_price}) than tier "
                    f"{previous.range_text()} ({previous.unit_price}).", field="tiers")
        previous = t


def unit_price_for(base_price: Decimal, tiers: list[Tier], quantity: int) -> tuple[
    Decimal, Tier | None
]:
    """The unit price for `quantity` items: the tier covering it, else the best tier
    already reached (a gap between tiers never costs more), else the base price."""
    chosen: Tier | None = None
    for t in sorted(tiers, key=lambda t: t.min_quantity):
        if quantity >= t.min_quantity:
            chosen = t
    if chosen is None:
        return base_price, None
    return chosen.unit_price, chosen


def shipping_for(first_item: Decimal, additional_item: Decimal, items: int) -> Decimal:
    """First item + each additional item; nothing to ship costs nothing."""
    if items <= 0:
        return ZERO
    return first_item + additional_item * (items - 1)


class MissingRate(Exception):
    def __init__(self, from_currency: str, to_currency: str):
        super().__init__(f"No exchange rate {from_currency}→{to_currency}")
        self.from_currency = from_currency
        self.to_currency = to_currency


def rate_between(rates: dict[tuple[str, str], Decimal], from_currency: str,
                 to_currency: str) -> Decimal:
    """1 `from_currency` in `to_currency`, from staff rates (direct, else inverse)."""
    if from_currency == to_currency:
        return Decimal(1)
    if (from_currency, to_currency) in rates:
        return rates[(from_currency, to_currency)]
    if (to_currency, from_currency) in rates and rates[(to_currency, from_currency)] > 0:
        return Decimal(1) / rates[(to_currency, from_currency)]
    raise MissingRate(from_currency, to_currency)
