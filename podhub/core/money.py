"""Money: Decimal amounts with a currency. Rounding happens only here."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import models

# Minor-unit exponents for currencies that do not use two decimals.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def amount_field(**kwargs) -> models.DecimalField:
    """The one column type for money (3 decimals so 3-decimal currencies fit)."""
    kwargs.setdefault("max_digits", 20)
    kwargs.setdefault("decimal_places", 3)
    kwargs.setdefault("default", Decimal("0"))
    return models.DecimalField(**kwargs)


def quantize(amount: Decimal, currency: str) -> Decimal:
    exp = _EXPONENTS.get(currency.upper(), 2)
    return Decimal(amount).quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        if isinstance(self.amount, float):
            raise TypeError("Money takes Decimal, never float")
        object.__setattr__(self, "amount", Decimal(self.amount))
        object.__setattr__(self, "currency", self.currency.upper())

    def _same(self, other: "Money") -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> "Money":
        return Money(self.amount * Decimal(factor), self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount < other.amount

    def rounded(self) -> "Money":
        return Money(quantize(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{quantize(self.amount, self.currency)} {self.currency}"
