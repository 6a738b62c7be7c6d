"""Money: Decimal amounts with a currency. Rounding and display happen only here.

Display goes through Babel (CLDR data: the locale's symbol placement, grouping and
signs) with the currency's minor units from this module's table, so a shown amount
is always the amount the ledger holds: "$12.00", "¥1,500", "KWD 1.500" (docs/money.md).
"""

import copy
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_compact_currency,
    get_currency_symbol,
    get_minus_sign_symbol,
    get_plus_sign_symbol,
)
from django.conf import settings
from django.db import models

# Minor-unit exponents for currencies that do not use two decimals.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
DEFAULT_LOCALE = "en_US"


def amount_field(**kwargs) -> models.DecimalField:
    """The one column type for money (3 decimals so 3-decimal currencies fit)."""
    kwargs.setdefault("max_digits", 20)
    kwargs.setdefault("decimal_places", 3)
    kwargs.setdefault("default", Decimal("0"))
    return models.DecimalField(**kwargs)


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (JPY 0, USD 2, KWD 3)."""
    return _EXPONENTS.get((currency or "").upper(), 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    exp = exponent(currency)
    return Decimal(amount).quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP)


def plain(amount, currency: str) -> str:
    """An amount as a plain decimal in the currency's minor units ("12.50", "1500"):
    for input fields, CSV columns and APIs, which are data, not display ("" for none)."""
    value = _decimal(amount)
    if value is None:
        return ""
    value = quantize(value, currency)
    return str(value or abs(value))  # never "-0.00"


def money_locale() -> str:
    """PODHUB_MONEY_LOCALE, else LANGUAGE_CODE ("en-us" -> en_US), else en_US."""
    return getattr(settings, "PODHUB_MONEY_LOCALE", "") or settings.LANGUAGE_CODE


@lru_cache(maxsize=32)
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=64)
def _pattern(locale: Locale, digits: int):
    """The locale's currency pattern with the currency's own number of decimals."""
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern


@lru_cache(maxsize=256)
def _symbol(locale: Locale, currency: str) -> str:
    return get_currency_symbol(currency, locale) if currency else ""


def _decimal(amount) -> Decimal | None:
    if amount is None or amount == "":
        return None
    if isinstance(amount, float):
        raise TypeError("money is Decimal, never float")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _spaced(text: str, symbol: str) -> str:
    """CLDR's currencySpacing, which Babel does not apply: a symbol that ends (or
    starts) with a letter gets a no-break space next to the digits, "KWD 1.500",
    while "$1.00" and "CA$1.00" stay as they are."""
    at = text.find(symbol) if symbol else -1
    if at < 0:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and not _is_symbol(symbol[-1]):
        text = text[:end] + "\u00a0" + text[end:]
    if at > 0 and text[at - 1].isdigit() and not _is_symbol(symbol[0]):
        text = text[:at] + "\u00a0" + text[at:]
    return text


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char).startswith("S")


def format_money(amount, currency: str, *, locale: str | None = None,
                 sign: bool = False, compact: bool = False) -> str:
    """An amount as a person reads it, in the currency's own minor units.

    `format_money(Decimal("1500"), "JPY")` -> "¥1,500"; KWD 1.5 -> "KWD 1.500";
    USD -12 -> "-$12.00". `sign=True` is for ledger deltas: "+$5.00" / "-$5.00".
    `compact=True` is for chart axes, whose ticks are round numbers, not amounts:
    "$1.5K", "¥2M".
    Rounds half up (quantize) before Babel sees the number, so Babel never rounds.
    None or "" -> "—".
    """
    value = _decimal(amount)
    if value is None:
        return "—" if amount is None or amount == "" else str(amount)
    currency = (currency or "").upper()
    loc = _locale(locale or money_locale())
    symbol = _symbol(loc, currency)
    if compact:
        return _spaced(format_compact_currency(value, currency, locale=loc,
                                               fraction_digits=exponent(currency)), symbol)
    value = quantize(value, currency)
    if not value:
        value = abs(value)  # never "-$0.00"
    # The symbol goes in after: Babel's own substitution also works out the currency's
    # plural name each time, a third of the cost (the order list formats every row).
    text = _pattern(loc, exponent(currency)).apply(abs(value) if sign else value, loc)
    text = _spaced(text.replace("¤", symbol), symbol)
    if sign and value > 0:
        return get_plus_sign_symbol(loc) + text
    if sign and value < 0:
        return get_minus_sign_symbol(loc) + text
    return text


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
        return format_money(self.amount, self.currency)
