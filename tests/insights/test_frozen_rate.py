"""Orders sold in EUR and billed in USD: profit at the rate frozen when they were paid
(figures worked out in conftest.py, #8), never today's rate."""

from decimal import Decimal as D

import pytest
from django_scopes import scope

from insights import selectors
from podhub.core.money import format_money
from quotes.models import OrderPrice
from tests.insights.conftest import D2, NOVEMBER, build_frozen_eur_order, charge, make_order

pytestmark = pytest.mark.django_db

NOV = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def frozen(owner, profit_data):
    return build_frozen_eur_order(owner.workspace, euro_store=profit_data["euro"])


def _blocks(ws):
    with scope(workspace=ws):
        report = selectors.profit_report(workspace=ws, period=NOVEMBER)
    return report, {(c.currency, c.converted): c for c in report.currencies}


def test_the_snapshot_froze_the_conversion(owner, frozen):
    bd = frozen["snapshot"].breakdown
    assert (bd["store_currency"], bd["currency"]) == ("EUR", "USD")
    assert (bd["selling_store_amount"], bd["selling_amount"]) == ("45.00", "49.50")
    assert {"from_currency": "EUR", "to_currency": "USD", "rate": "1.10000000"} in bd[
        "conversions"]
    assert frozen["snapshot"].total_amount == D("24.00")


def test_eur_order_profit_at_the_rate_frozen_at_payment_not_todays(owner, frozen):
    ws = owner.workspace

    def figures():
        report, by = _blocks(ws)
        eur = by[("EUR", True)]
        day = next(f for f in eur.days if f.orders)
        store = eur.stores[0]
        product = eur.products[0]
        worst = [(w.number, w.revenue, w.revenue_billing, w.cost, w.profit)
                 for w in report.worst]
        return (
            (eur.total.revenue, eur.total.revenue_billing, eur.total.cost, eur.total.profit,
             eur.total.orders),
            (day.label, day.revenue_billing, day.profit),
            (store.label, store.revenue, store.revenue_billing, store.cost, store.profit),
            (product.label, product.revenue, product.revenue_billing, product.cost,
             product.profit),
            worst, selectors.profit_json(report))

    before = figures()
    total, day, store, product, worst, _ = before
    assert total == (D("45.00"), D("49.50"), D("24.00"), D("25.50"), 1)
    assert day == ("2026-11-11", D("49.50"), D("25.50"))
    assert store == ("Euro", D("45.00"), D("49.50"), D("24.00"), D("25.50"))
    # goods only: 2 x 20 EUR x 1.10 = 44.00 USD against the frozen item cost 16.00
    assert product == ("Priced mug", D("40.00"), D("44.0000"), D("16.00"), D("28.0000"))
    # least profitable: #3 12.00 (held), #1 13.00, #2 15.00, then #8 25.50 (in USD)
    assert worst == [("#3", D("20.00"), D("20.00"), D("8.00"), D("12.00")),
                     ("#1", D("35.00"), D("35.00"), D("22.00"), D("13.00")),
                     ("#2", D("36.00"), D("36.00"), D("21.00"), D("15.00")),
                     ("#8", D("45.00"), D("49.50"), D("24.00"), D("25.50"))]
    # the USD block did not change, #5 (no snapshot) stays apart, without profit
    _, by = _blocks(ws)
    assert by[("USD", True)].total.profit == D("40.00")
    no_rate = by[("EUR", False)].total
    assert (no_rate.revenue, no_rate.cost, no_rate.profit, no_rate.orders) == (
        D("18.00"), D("14.00"), None, 1)
    # when: staff change the rate after payment
    frozen["rate"].rate = D("1.30")
    frozen["rate"].save()
    # then: nothing moves
    assert figures() == before


def test_eur_figures_in_json(owner, frozen):
    report, _ = _blocks(owner.workspace)
    data = selectors.profit_json(report)
    eur = next(c for c in data["currencies"]
               if c["currency"] == "EUR" and c["converted_at_payment_rate"])
    assert (eur["revenue"], eur["revenue_billing"], eur["cost"], eur["cost_currency"],
            eur["profit"], eur["no_profit_reason"]) == (
        "45.00", "49.50", "24.00", "USD", "25.50", "")
    assert eur["products"][0]["revenue_billing"] == "44.00"
    no_rate = next(c for c in data["currencies"]
                   if c["currency"] == "EUR" and not c["converted_at_payment_rate"])
    assert (no_rate["revenue_billing"], no_rate["profit"]) == (None, None)
    assert "no EUR→USD rate was frozen" in no_rate["no_profit_reason"]
    usd = next(c for c in data["currencies"] if c["currency"] == "USD")
    assert (usd["revenue_billing"], usd["converted_at_payment_rate"]) == ("91.00", False)
    w8 = data["least_profitable_orders"][3]
    assert (w8["number"], w8["currency"], w8["revenue"], w8["revenue_billing"],
            w8["cost_currency"], w8["cost"], w8["profit"]) == (
        "#8", "EUR", "45.00", "49.50", "USD", "24.00", "25.50")


def test_snapshot_without_a_rate_at_payment_has_no_profit(owner, profit_data):
    """A snapshot whose selling price could not be converted (`selling_amount` null: the
    shape of a breakdown priced without a rate; today's payment refuses to freeze such a
    price, older snapshots may hold it) is no conversion: shown without profit."""
    ws = owner.workspace
    with scope(workspace=ws):
        order = make_order(ws, profit_data["euro"], number="#9", paid_at=D2,
                           state="in_production", subtotal="30", currency="EUR")
        charge(ws, order, "12.00")
        OrderPrice.objects.create(
            workspace=ws, order=order, currency="USD", total_amount=D("12.00"),
            breakdown={"currency": "USD", "store_currency": "EUR",
                       "selling_store_amount": "30.00", "selling_amount": None,
                       "conversions": [{"from_currency": "EUR", "to_currency": "USD",
                                        "rate": "1.10"}]})
    report, by = _blocks(ws)
    assert set(by) == {("USD", True), ("EUR", False)}
    eur = by[("EUR", False)].total
    # #5 (no snapshot at all) and #9 (no rate at payment)
    assert (eur.revenue, eur.cost, eur.profit, eur.orders) == (
        D("48.00"), D("26.00"), None, 2)
    assert eur.no_profit_reason.startswith("Sold in EUR, billed in USD, and no EUR→USD rate")
    assert [w.number for w in report.worst] == ["#3", "#1", "#2"]
    assert all(p.profit is None for p in by[("EUR", False)].products)


def test_page_shows_the_api_figures_for_the_converted_block(owner, frozen, client_for,
                                                            api_client_for):
    api = api_client_for(owner).get(f"/api/v1/insights/profit/?{NOV}").json()
    html = client_for(owner).get(f"/insights/?{NOV}").content.decode()
    eur = next(c for c in api["currencies"]
               if c["currency"] == "EUR" and c["converted_at_payment_rate"])
    block = html[html.index('data-testid="currency-EUR-USD"'):]
    block = block[:block.index('class="insights-currency"')] \
        if 'class="insights-currency"' in block else block
    def eur_(v):
        return format_money(v, "EUR")

    def usd(v):
        return format_money(v, "USD")

    assert f'data-testid="revenue">{eur_(eur["revenue"])}<' in block
    assert f'data-testid="revenue-billing">= {usd(eur["revenue_billing"])}<' in block
    assert f'data-testid="cost">{usd(eur["cost"])}<' in block
    assert f'data-testid="profit-total">{usd(eur["profit"])}<' in block
    assert "converted at the exchange rate frozen when each order was paid" in block
    s = eur["stores"][0]
    assert (f">{s['store']}</a></td><td>{s['orders']}</td><td>{eur_(s['revenue'])}</td>"
            f"<td>{usd(s['revenue_billing'])}</td><td>{usd(s['cost'])}</td>"
            f"<td>{usd(s['profit'])}</td>") in block
    # the chart of the converted block draws the API's USD profit per day
    assert 'data-chart="profit-EUR-USD"' in block
    day = next(d for d in eur["days"] if d["date"] == "2026-11-11")
    assert f"<title>2026-11-11: {usd(day['profit'])}</title>" in block
    # the block without a rate says why it has no profit
    assert eur["no_profit_reason"] == ""
    no_rate = next(c for c in api["currencies"]
                   if c["currency"] == "EUR" and not c["converted_at_payment_rate"])
    assert no_rate["no_profit_reason"] in html.replace("&gt;", ">")
    worst = html[html.index('data-testid="worst-orders"'):]
    w8 = next(w for w in api["least_profitable_orders"] if w["number"] == "#8")
    assert (f"<td>{eur_(w8['revenue'])} = {usd(w8['revenue_billing'])}</td>"
            f"<td>{usd(w8['cost'])}</td><td>{usd(w8['profit'])}</td>") in worst


def test_query_count_does_not_grow_with_converted_orders(owner, profit_data, frozen, catalog,
                                                         django_assert_max_num_queries):
    ws = owner.workspace
    with scope(workspace=ws), django_assert_max_num_queries(9):
        selectors.profit_report(workspace=ws, period=NOVEMBER)
    with scope(workspace=ws):  # ten more EUR orders with a frozen conversion and lines
        for i in range(10):
            order = make_order(ws, profit_data["euro"], number=f"#e{i}", paid_at=D2,
                               state="shipped", subtotal="20", currency="EUR",
                               lines=[(catalog["mug"], 1, "20", "8.00")])
            OrderPrice.objects.create(workspace=ws, order=order, currency="USD",
                                      total_amount=D("8.00"),
                                      breakdown=frozen["snapshot"].breakdown)
    with scope(workspace=ws), django_assert_max_num_queries(9):
        report = selectors.profit_report(workspace=ws, period=NOVEMBER)
    eur = {(c.currency, c.converted): c for c in report.currencies}[("EUR", True)]
    assert eur.total.orders == 11


def test_openapi_documents_the_frozen_conversion(owner, frozen, client, api_client_for):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    parts = schema["components"]["schemas"]
    api = api_client_for(owner).get(f"/api/v1/insights/profit/?{NOV}").json()
    # every key the API returns is documented
    assert set(api["currencies"][0]) == set(parts["InsightsCurrency"]["properties"])
    assert set(api["currencies"][0]["days"][0]) == set(parts["InsightsDay"]["properties"])
    assert set(api["currencies"][0]["stores"][0]) == set(parts["InsightsStore"]["properties"])
    assert set(api["currencies"][0]["products"][0]) == set(
        parts["InsightsProduct"]["properties"])
    assert set(api["least_profitable_orders"][0]) == set(
        parts["InsightsWorstOrder"]["properties"])
    assert set(api["overall"]) == set(parts["InsightsOverall"]["properties"])
    assert "frozen" in parts["InsightsCurrency"]["properties"]["revenue_billing"]["description"]


def test_overall_profit_in_the_billing_currency(owner, frozen, client_for, api_client_for):
    # USD block 91.00 - 51.00 = 40.00 plus #8 49.50 - 24.00 = 25.50; #5 (no rate) left out
    report, _ = _blocks(owner.workspace)
    overall = report.overall
    assert (overall.revenue, overall.cost, overall.profit, overall.orders) == (
        D("140.50"), D("75.00"), D("65.50"), 4)
    assert report.orders_without_profit == 1
    api = api_client_for(owner).get(f"/api/v1/insights/profit/?{NOV}").json()
    assert api["overall"] == {"revenue": "140.50", "currency": "USD", "cost": "75.00",
                              "profit": "65.50", "orders": 4, "not_charged_yet": 1,
                              "orders_without_profit": 1}
    html = client_for(owner).get(f"/insights/?{NOV}").content.decode()
    assert 'data-testid="overall-profit">$65.50<' in html
    assert "1 order without a rate at payment not included" in html
