"""Money shown by currency (docs/money.md): format_money, the template filters, the
request's locale, and a guard over every template against hand-made money."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.template import Context, Template
from django.test import RequestFactory

from podhub.core.money import (
    MoneyLocaleMiddleware,
    format_money,
    locale_from_accept_language,
    money_locale,
    plain,
    using_locale,
)

D = Decimal
NBSP = "\u00a0"


@pytest.mark.parametrize(("amount", "currency", "locale", "shown"), [
    # JPY has no minor unit: no decimals, rounded half up like the ledger
    ("1500", "JPY", "en_US", "¥1,500"),
    ("1234.5", "JPY", "en_US", "¥1,235"),
    ("1500", "JPY", "ja_JP", "￥1,500"),
    ("1500", "JPY", "de_DE", f"1.500{NBSP}¥"),
    # EUR in German: comma decimals, dot grouping, the symbol after
    ("1234.5", "EUR", "de", f"1.234,50{NBSP}€"),
    ("1234.5", "EUR", "de_DE", f"1.234,50{NBSP}€"),
    ("1234.5", "EUR", "en_US", "€1,234.50"),
    ("1234.5", "EUR", "fr_FR", f"1\u202f234,50{NBSP}€"),
    # USD and GBP in English
    ("12", "USD", "en_US", "$12.00"),
    ("12", "USD", "en", "$12.00"),
    ("12", "USD", "en_GB", "US$12.00"),
    ("12.345", "GBP", "en_GB", "£12.35"),
    # three-decimal currencies keep their third decimal; a letter symbol is spaced
    ("1.5", "KWD", "en_US", f"KWD{NBSP}1.500"),
    # negatives: the locale places the sign
    ("-12", "USD", "en_US", "-$12.00"),
    ("-1234.5", "EUR", "de_DE", f"-1.234,50{NBSP}€"),
    ("-500", "JPY", "en_US", "-¥500"),
    # zero, and a negative that rounds to zero, are never "-0"
    ("0", "USD", "en_US", "$0.00"),
    ("0", "JPY", "en_US", "¥0"),
    ("-0.001", "EUR", "de_DE", f"0,00{NBSP}€"),
])
def test_format_money_by_currency_and_locale(amount, currency, locale, shown):
    assert format_money(D(amount), currency, locale=locale) == shown


def test_format_money_signs_compacts_and_refuses_float():
    assert format_money(D("5"), "USD", locale="en_US", sign=True) == "+$5.00"
    assert format_money(D("-5"), "USD", locale="en_US", sign=True) == "-$5.00"
    assert format_money(D("0"), "USD", locale="en_US", sign=True) == "$0.00"
    assert format_money(D("1500"), "USD", locale="en_US", compact=True) == "$1.5K"
    assert format_money(D("2000000"), "JPY", locale="en_US", compact=True) == "¥2M"
    assert format_money(None, "USD") == "—"
    assert format_money("12.5", "usd", locale="en_US") == "$12.50"  # JSON strings too
    with pytest.raises(TypeError):
        format_money(12.5, "USD")


def test_plain_amounts_stay_machine_readable():
    assert plain(D("12.5"), "USD") == "12.50"
    assert plain(D("1500.4"), "JPY") == "1500"
    assert plain(D("-0.001"), "EUR") == "0.00"
    assert plain(None, "USD") == ""


def test_the_locale_is_the_requests_else_language_code(settings):
    settings.LANGUAGE_CODE = "en-us"
    assert money_locale() == "en-us"
    assert format_money(D("12"), "EUR") == "€12.00"
    with using_locale("de_DE"):
        assert format_money(D("12"), "EUR") == f"12,00{NBSP}€"
    assert format_money(D("12"), "EUR") == "€12.00"
    settings.LANGUAGE_CODE = "de"
    assert format_money(D("12"), "EUR") == f"12,00{NBSP}€"


@pytest.mark.parametrize(("header", "locale"), [
    ("de-DE,de;q=0.9,en;q=0.8", "de_DE"),
    ("en-GB", "en_GB"),
    ("xx-YY, fr;q=0.5", "fr"),  # the first one CLDR knows
    ("*", None),
    ("", None),
    ("de;q=garbage", None),  # Django refuses a malformed header
    ("a" * 2000, None),
])
def test_accept_language_picks_the_money_locale(header, locale):
    assert locale_from_accept_language(header) == locale


def test_the_middleware_formats_in_the_browsers_locale_for_that_request_only():
    seen = []

    def view(request):
        seen.append(format_money(D("1234.5"), "EUR"))
        return HttpResponse()

    middleware = MoneyLocaleMiddleware(view)
    middleware(RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9"))
    middleware(RequestFactory().get("/"))
    assert seen == [f"1.234,50{NBSP}€", "€1,234.50"]
    assert format_money(D("1234.5"), "EUR") == "€1,234.50"  # reset after the request


def test_template_filters_are_builtins():
    html = Template(
        "{{ a|money:'JPY' }} | {{ b|money:c }} | {{ d|money_signed:c }} | "
        "{{ b|money_plain:c }} | {{ none|money:c }}"
    ).render(Context({"a": D("1500"), "b": D("-12.5"), "c": "EUR", "d": D("3"),
                      "none": None}))
    assert html == "¥1,500 | -€12.50 | +€3.00 | -12.50 | —"


# --- the guard: no hand-made money in a template --------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
# A money variable: an amount, a total, a price, a fee, a balance...
MONEY_NAME = (r"[\w.]*(amount|total|price|fee|balance|available|held|debt|missing|refund"
              r"|saving|separate|cost|revenue|profit|subtotal|shipping|handling)[\w.]*")
DOLLAR_BEFORE_VARIABLE = re.compile(r"[$€£¥]\s*\{\{")
FLOATFORMAT_ON_MONEY = re.compile(r"\{\{\s*" + MONEY_NAME + r"\s*\|[^}]*floatformat")
CURRENCY_AFTER_AMOUNT = re.compile(
    r"\{\{\s*" + MONEY_NAME + r"\s*\}\}\s*\{\{\s*[\w.]*currency\s*\}\}")


def _templates():
    for d in TEMPLATE_DIRS:
        for path in sorted(d.rglob("*")):
            if path.suffix in (".html", ".txt", ".xml") and path.is_file():
                yield path


def test_templates_show_money_only_through_the_money_filter():
    problems = []
    for path in _templates():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for rule, pattern in (("a currency sign before a variable", DOLLAR_BEFORE_VARIABLE),
                                  ("floatformat on money", FLOATFORMAT_ON_MONEY),
                                  ("an amount then its currency code", CURRENCY_AFTER_AMOUNT)):
                if pattern.search(line):
                    problems.append(f"{path.relative_to(ROOT)}:{n}: {rule}")
    assert problems == [], "use {{ amount|money:currency }} (docs/money.md):\n" + "\n".join(
        problems)


@pytest.mark.parametrize("line", [
    "<td>${{ order.total_amount }}</td>",
    "{{ order.total_amount|floatformat:2 }}",
    "{{ h.remaining_amount|default:0|floatformat:2 }}",
    "{{ invoice.total_amount }} {{ invoice.currency }}",
])
def test_the_guard_catches_hand_made_money(line):
    assert any(p.search(line) for p in (DOLLAR_BEFORE_VARIABLE, FLOATFORMAT_ON_MONEY,
                                        CURRENCY_AFTER_AMOUNT))


def test_the_guard_lets_rates_and_the_money_filter_be():
    for line in ('{{ c.rate|floatformat:"-6" }}', "{{ order.total_amount|money:order.currency }}",
                 "{{ job.lag_seconds|floatformat:0 }}"):
        assert not any(p.search(line) for p in (DOLLAR_BEFORE_VARIABLE, FLOATFORMAT_ON_MONEY,
                                                CURRENCY_AFTER_AMOUNT))
