"""Money: Decimal amounts with a currency. Rounding and display happen only here.

Display is Babel's `format_currency` (CLDR data: the locale's symbol, its placement,
grouping and signs) with the currency's minor units from this module's table, so a
shown amount is always the amount the ledger holds: "$12.00", "¥1,500", "12,00 €",
"KWD 1.500" (docs/money.md). The locale is the request's (`MoneyLocaleMiddleware`, from
Accept-Language), else settings.LANGUAGE_CODE.
"""

import copy
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_compact_currency,
    format_currency,
    get_currency_symbol,
    get_minus_sign_symbol,
    get_plus_sign_symbol,
)
from django.conf import settings
from django.db import models
from django.utils.translation.trans_real import parse_accept_lang_header

# Minor-unit exponents for currencies that do not use two decimals. The ledger rounds
# with these (and Stripe's minor units agree), so display uses them too, not CLDR's
# own digits (CLDR gives HUF 0 where the ledger and Stripe keep 2).
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
FALLBACK_LOCALE = "en_US"


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


# --- the locale amounts are shown in ------------------------------------------------------

_request_locale: ContextVar[str | None] = ContextVar("money_locale", default=None)


def money_locale() -> str:
    """The request's locale (MoneyLocaleMiddleware), else settings.LANGUAGE_CODE."""
    return _request_locale.get() or settings.LANGUAGE_CODE


@contextmanager
def using_locale(name: str | None) -> Iterator[None]:
    """Show amounts in `name` (a CLDR locale, "de_DE") inside the block; None keeps
    settings.LANGUAGE_CODE."""
    token = _request_locale.set(name)
    try:
        yield
    finally:
        _request_locale.reset(token)


@lru_cache(maxsize=256)
def locale_from_accept_language(header: str) -> str | None:
    """The first language of an Accept-Language header that CLDR knows ("de-DE" ->
    "de_DE"), by the client's order of preference; None if there is none. Django parses
    the header (and refuses an oversized one)."""
    for tag, _q in parse_accept_lang_header(header or ""):
        if tag == "*":
            continue
        try:
            return str(Locale.parse(tag, sep="-"))
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return None


class MoneyLocaleMiddleware:
    """Amounts in each request's pages, messages and errors are shown in the locale the
    browser asks for (the page's words stay as they are: this is number format only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Accept-Language", "")
        with using_locale(locale_from_accept_language(header)):
            return self.get_response(request)


@lru_cache(maxsize=32)
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


# --- display ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _pattern(locale: Locale, digits: int):
    """The locale's currency pattern with the currency's own number of decimals (the
    ledger's, see _EXPONENTS)."""
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
    """An amount as a person reads it, in the currency's own minor units and the
    locale's format (`locale`, else money_locale()).

    JPY 1500 -> "¥1,500"; EUR 1234.5 in de -> "1.234,50 €"; USD -12 in en_US ->
    "-$12.00"; KWD 1.5 -> "KWD 1.500". `sign=True` is for ledger movements: "+$5.00" /
    "-$5.00". `compact=True` is for chart axes, whose ticks are round numbers, not
    amounts: "$1.5K", "¥2M". Rounds half up (quantize) before Babel sees the number,
    so Babel never rounds. None or "" -> "—".
    """
    value = _decimal(amount)
    if value is None:
        return "—" if amount is None or amount == "" else str(amount)
    return _format(value, (currency or "").upper(), locale or money_locale(), sign, compact)


# Pages show the same amounts many times (prices, balances, ledger rows) and Babel takes
# about 0.15 ms per amount; equal Decimals ("12.00", "12.000") format alike.
@lru_cache(maxsize=4096)
def _format(value: Decimal, currency: str, locale_name: str, sign: bool,
            compact: bool) -> str:
    loc = _locale(locale_name)
    if compact:
        text = format_compact_currency(value, currency, locale=loc,
                                       fraction_digits=exponent(currency))
        return _spaced(text, _symbol(loc, currency))
    value = quantize(value, currency)
    if not value:
        value = abs(value)  # never "-$0.00"
    text = format_currency(abs(value) if sign else value, currency, locale=loc,
                           format=_pattern(loc, exponent(currency)), currency_digits=False)
    text = _spaced(text, _symbol(loc, currency))
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
