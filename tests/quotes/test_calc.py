"""The arithmetic of prices (no database): tiers, shipping, exchange rates.

Worked examples are docs/pricing.md's; properties are checked with hypothesis.
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podhub.core.exceptions import ValidationFailed
from quotes import calc
from quotes.calc import Tier

D = Decimal
MUG_TIERS = calc.parse_tiers("10-49: 7.00 mini-bulk; 50+: 6.00 bulk")


def test_tiers_read_from_text_and_back():
    expected = [Tier(10, 49, D("7.00"), "mini-bulk"), Tier(50, None, D("6.00"), "bulk")]
    assert expected == MUG_TIERS
    assert calc.tiers_to_text(MUG_TIERS) == "10-49: 7.00 mini-bulk; 50+: 6.00 bulk"
    assert calc.tiers_from_json(calc.tiers_to_json(MUG_TIERS)) == MUG_TIERS


@pytest.mark.parametrize(("quantity", "unit", "tier"), [
    (1, "8.00", None), (9, "8.00", None), (10, "7.00", "10-49"), (49, "7.00", "10-49"),
    (50, "6.00", "50+"), (5000, "6.00", "50+"),
])
def test_unit_price_by_quantity_tier(quantity, unit, tier):
    price, chosen = calc.unit_price_for(D("8.00"), MUG_TIERS, quantity)
    assert price == D(unit)
    assert (chosen.range_text() if chosen else None) == tier


def test_a_gap_between_tiers_keeps_the_tier_already_reached():
    tiers = calc.parse_tiers("10-19: 7.00; 50+: 6.00")
    assert calc.unit_price_for(D("8.00"), tiers, 30) == (D("7.00"), tiers[0])


@pytest.mark.parametrize(("items", "amount"), [(0, "0"), (1, "5.00"), (2, "7.00"), (12, "27.00")])
def test_shipping_is_first_item_plus_each_additional(items, amount):
    assert calc.shipping_for(D("5.00"), D("2.00"), items) == D(amount)


@pytest.mark.parametrize(("text", "message"), [
    ("10-49: 7.00; 40+: 6.00", "tiers 10-49 and 40+ overlap"),
    ("10+: 7.00; 50+: 6.00", "tiers 10+ and 50+ overlap"),
    ("1-9: 7.00", "must start at 2 items or more"),
    ("20-10: 7.00", "ends before it starts"),
    ("10-49: 0", "must have a unit price above 0"),
    ("10-49: -1.00", "must have a unit price above 0"),
    ("10-49: 9.00", "more than the unit price 8.00"),
    ("10-49: 6.00; 50+: 7.00", "costs more per item (7.00) than tier 10-49 (6.00)"),
])
def test_bad_tiers_are_refused_with_a_clear_message(text, message):
    with pytest.raises(ValidationFailed, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")):
        calc.validate_tiers(calc.parse_tiers(text), base_price=D("8.00"))


def test_unreadable_tiers_say_how_to_write_them():
    with pytest.raises(ValidationFailed, match="write tiers as '10-49: 8.00 mini-bulk"):
        calc.parse_tiers("ten or more: cheap")


def test_exchange_rates_direct_and_inverse():
    rates = {("EUR", "USD"): D("1.25")}
    assert calc.rate_between(rates, "EUR", "USD") == D("1.25")
    assert calc.rate_between(rates, "USD", "EUR") == D("0.8")
    assert calc.rate_between(rates, "USD", "USD") == 1
    with pytest.raises(calc.MissingRate, match="No exchange rate GBP→USD"):
        calc.rate_between(rates, "GBP", "USD")


# --- properties -------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False,
                    allow_infinity=False)
items = st.integers(min_value=0, max_value=10_000)


@given(first=money, additional=money, n=items, more=st.integers(min_value=1, max_value=500))
def test_more_items_never_cost_less_shipping(first, additional, n, more):
    assert calc.shipping_for(first, additional, n + more) >= calc.shipping_for(
        first, additional, n)


@given(first=money, additional=money, n=st.integers(min_value=1, max_value=10_000))
def test_shipping_is_never_negative_and_one_item_costs_the_first_item_rate(
        first, additional, n):
    assert calc.shipping_for(first, additional, n) >= 0
    assert calc.shipping_for(first, additional, 1) == first


@st.composite
def valid_tiers(draw):
    """A base price and tiers that validate_tiers accepts: ascending, disjoint ranges,
    prices not above the base and never rising with quantity."""
    base = draw(st.decimals(min_value=D("0.50"), max_value=500, places=2))
    count = draw(st.integers(min_value=0, max_value=5))
    tiers, start, price = [], draw(st.integers(min_value=2, max_value=20)), base
    for i in range(count):
        price = draw(st.decimals(min_value=D("0.01"), max_value=price, places=2))
        last = i == count - 1
        end = None if last and draw(st.booleans()) else start + draw(
            st.integers(min_value=0, max_value=100))
        tiers.append(Tier(start, end, price, ""))
        if end is None:
            break
        start = end + 1 + draw(st.integers(min_value=0, max_value=10))
    return base, tiers


@given(case=valid_tiers(), q=st.integers(min_value=1, max_value=5000),
       more=st.integers(min_value=1, max_value=500))
def test_tier_unit_price_never_rises_with_quantity(case, q, more):
    base, tiers = case
    calc.validate_tiers(tiers, base_price=base)  # the generator only makes valid tiers
    low, _ = calc.unit_price_for(base, tiers, q)
    high, _ = calc.unit_price_for(base, tiers, q + more)
    assert high <= low <= base
    assert high > 0


@given(case=valid_tiers())
def test_tiers_survive_the_text_form(case):
    _, tiers = case
    assert calc.parse_tiers(calc.tiers_to_text(tiers)) == tiers


@given(base=st.decimals(min_value=1, max_value=100, places=2),
       a=st.tuples(st.integers(2, 100), st.integers(0, 100)),
       b=st.tuples(st.integers(2, 100), st.integers(0, 100)))
def test_overlapping_ranges_are_always_refused(base, a, b):
    first = Tier(a[0], a[0] + a[1], base, "")
    second = Tier(b[0], b[0] + b[1], base, "")
    overlap = first.min_quantity <= second.max_quantity and \
        second.min_quantity <= first.max_quantity
    if overlap:
        with pytest.raises(ValidationFailed, match="overlap"):
            calc.validate_tiers([first, second], base_price=base)
    else:
        calc.validate_tiers([first, second], base_price=base)
