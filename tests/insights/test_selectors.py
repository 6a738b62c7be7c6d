"""Profit and production figures against hand-computed examples (see conftest.py)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django_scopes import scope

from insights import selectors
from insights.selectors import Period
from tests.factories import OrderFactory
from tests.insights.conftest import NOVEMBER, NOW

pytestmark = pytest.mark.django_db


def _report(ws, period=NOVEMBER):
    with scope(workspace=ws):
        return selectors.profit_report(workspace=ws, period=period)


def test_totals_per_currency_never_summed(owner, profit_data):
    # when
    report = _report(owner.workspace)
    # then: USD = #1 + #2 + #3 (cancelled #4, #6 outside the period, unpaid #7 left out)
    by = {c.currency: c for c in report.currencies}
    assert set(by) == {"USD", "EUR"}
    usd = by["USD"].total
    # cost = held - released - refunded: 22 (#1) + 21 (#2) + 8 held for #3 = 51
    assert (usd.revenue, usd.cost, usd.profit) == (D("91.00"), D("51.00"), D("40.00"))
    assert (usd.orders, usd.uncharged) == (3, 1)  # #3 is held, not charged yet
    # EUR: sold in EUR, billed in USD: shown apart, profit not computed
    eur = by["EUR"].total
    assert (eur.revenue, eur.currency, eur.cost, eur.cost_currency) == (
        D("18.00"), "EUR", D("14.00"), "USD")
    assert eur.profit is None
    assert eur.to_json()["profit"] is None


def test_per_day(owner, profit_data):
    usd = {c.currency: c for c in _report(owner.workspace).currencies}["USD"]
    assert len(usd.days) == 30  # every day of the period, empty ones as zero
    days = {f.key: f for f in usd.days}
    d1, d2 = days[date(2026, 11, 10)], days[date(2026, 11, 11)]
    assert (d1.revenue, d1.cost, d1.profit, d1.orders) == (D("71.00"), D("43.00"), D("28.00"), 2)
    assert (d2.revenue, d2.cost, d2.profit, d2.orders) == (D("20.00"), D("8.00"), D("12.00"), 1)
    assert days[date(2026, 11, 12)].orders == 0
    assert days[date(2026, 11, 12)].profit == 0


def test_per_store_with_a_refund(owner, profit_data):
    usd = {c.currency: c for c in _report(owner.workspace).currencies}["USD"]
    rows = [(f.label, f.revenue, f.cost, f.profit) for f in usd.stores]
    # South: 36.00 - (20 + 6 captured - 5 refunded) = 15.00
    # North: #1 (35 - 22) and #3 (20 - 8 held)
    assert rows == [("North", D("55.00"), D("30.00"), D("25.00")),
                    ("South", D("36.00"), D("21.00"), D("15.00"))]


def test_per_product(owner, profit_data):
    by = {c.currency: c for c in _report(owner.workspace).currencies}
    rows = [(f.label, f.revenue, f.cost, f.profit, f.orders) for f in by["USD"].products]
    # Mug: lines of #1 (2 x 15) and #3 (1 x 20) against 16 + 8 frozen; Shirt: 40 against 20
    assert rows == [("Mug", D("50.00"), D("24.00"), D("26.00"), 2),
                    ("Shirt", D("40.00"), D("20.00"), D("20.00"), 1)]
    eur = by["EUR"].products
    assert [(f.label, f.revenue, f.cost, f.cost_currency, f.profit) for f in eur] == [
        ("Mug", D("18.00"), D("8.00"), "USD", None)]


def test_least_profitable_orders(owner, profit_data):
    report = _report(owner.workspace)
    # paid USD orders: #3 (20 - 8 held = 12), #1 (35 - 22 = 13), #2 (36 - 21 = 15)
    assert [(w.number, w.profit) for w in report.worst] == [
        ("#3", D("12.00")), ("#1", D("13.00")), ("#2", D("15.00"))]


def test_store_and_currency_filters(owner, profit_data):
    ws = owner.workspace
    south = Period(start=NOVEMBER.start, end=NOVEMBER.end, store_id=profit_data["south"].pk)
    report = _report(ws, south)
    assert [(c.currency, c.total.revenue, c.total.cost) for c in report.currencies] == [
        ("USD", D("36.00"), D("21.00"))]
    eur_only = Period(start=NOVEMBER.start, end=NOVEMBER.end, currency="EUR")
    report = _report(ws, eur_only)
    assert [c.currency for c in report.currencies] == ["EUR"]
    assert report.worst == []


def test_query_count_does_not_grow_with_orders(owner, profit_data, catalog,
                                               django_assert_max_num_queries):
    ws = owner.workspace
    with django_assert_max_num_queries(9):
        _report(ws)
    with scope(workspace=ws):  # ten more paid orders
        for i in range(10):
            OrderFactory(workspace=ws, store=profit_data["north"], number=f"#x{i}",
                         state="shipped", paid_at=datetime(2026, 11, 20, tzinfo=UTC))
    with django_assert_max_num_queries(9):
        _report(ws)


def test_period_from_query():
    today = date(2026, 11, 22)
    period, errors = Period.from_query({}, today=today)
    assert (period.start, period.end, errors) == (date(2026, 10, 24), today, {})
    period, errors = Period.from_query({"from": "2026-11-30", "to": "2026-11-01",
                                        "store": "x", "currency": "EURO"}, today=today)
    assert set(errors) == {"to", "store", "currency"}
    assert (period.start, period.end) == (date(2026, 10, 24), today)


# --- production times ---------------------------------------------------------------


def test_production_stats_per_provider(owner, production_data):
    ws = owner.workspace
    with scope(workspace=ws):
        report = selectors.production_report(workspace=ws, period=NOVEMBER, now=NOW)
    rows = {p.name: p for p in report.providers}
    fast, slow = rows["Fast Prints"], rows["Slow Prints"]
    assert (fast.count, fast.target_hours, fast.over_target) == (3, 48, 1)  # 60 h > 48 h
    assert fast.median_hours == pytest.approx(36.0)
    assert fast.p90_hours == pytest.approx(55.2)  # 36 + 0.8 x (60 - 36)
    assert fast.over_share == pytest.approx(1 / 3)
    assert (slow.count, slow.target_hours, slow.over_target) == (1, 72, 1)
    assert slow.median_hours == pytest.approx(80.0)
    hist = dict(report.histogram)
    assert (hist["24-36 h"], hist["36-48 h"], hist["60-72 h"], hist["72-84 h"]) == (1, 1, 1, 1)
    assert sum(hist.values()) == 4


def test_late_in_production_uses_the_given_now(owner, production_data):
    ws = owner.workspace
    with scope(workspace=ws):
        report = selectors.production_report(workspace=ws, period=NOVEMBER, now=NOW)
        later = selectors.production_report(workspace=ws, period=NOVEMBER,
                                            now=NOW + timedelta(hours=40))
    assert [(s.reference, s.number, round(s.hours_late, 1)) for s in report.late] == [
        ("L1", "#late", 5.0)]
    assert report.late_count == 1
    assert [s.reference for s in later.late] == ["L1", "L2"]


def test_percentile_matches_postgres_definition():
    assert selectors.percentile([24.0, 36.0, 60.0], 0.9) == pytest.approx(55.2)
    assert selectors.percentile([], 0.5) is None


def test_production_query_budget(owner, production_data, django_assert_max_num_queries):
    ws = owner.workspace
    with scope(workspace=ws), django_assert_max_num_queries(4):
        selectors.production_report(workspace=ws, period=NOVEMBER, now=NOW)
