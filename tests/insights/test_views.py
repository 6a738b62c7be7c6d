"""The Insights page and API: same numbers, htmx partial, OpenAPI, tenancy."""

import re

import pytest

from podhub.core.money import format_money
from tests.insights.conftest import build_profit_data
from tests.tenancy import MARKER

pytestmark = pytest.mark.django_db

NOV = "from=2026-11-01&to=2026-11-30"


def _testid(html: str, testid: str, within: str = "") -> list[str]:
    if within:
        html = html[html.index(f'data-testid="{within}"'):]
    return [re.sub(r"\s+", " ", m).strip()
            for m in re.findall(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)]


def test_page_shows_the_api_figures(owner, profit_data, client_for, api_client_for):
    # given
    api = api_client_for(owner).get(f"/api/v1/insights/profit/?{NOV}").json()
    # when
    page = client_for(owner).get(f"/insights/?{NOV}")
    # then
    assert page.status_code == 200
    html = page.content.decode()
    by = {c["currency"]: c for c in api["currencies"]}
    assert (by["USD"]["revenue"], by["USD"]["cost"], by["USD"]["profit"]) == (
        "91.00", "51.00", "40.00")
    assert (by["EUR"]["revenue"], by["EUR"]["cost"], by["EUR"]["profit"]) == (
        "18.00", "14.00", None)
    assert _testid(html, "revenue", "currency-USD")[0] == "$91.00"
    assert _testid(html, "cost", "currency-USD")[0] == "$51.00"
    assert _testid(html, "profit-total", "currency-USD")[0] == "$40.00"
    assert _testid(html, "revenue", "currency-EUR")[0] == "€18.00"
    assert _testid(html, "cost", "currency-EUR")[0] == "$14.00"
    stores = html[html.index('data-testid="stores-USD"'):]
    for s in by["USD"]["stores"]:
        usd = [format_money(s[k], "USD") for k in ("revenue", "cost", "profit")]
        assert f">{s['store']}</a></td><td>{s['orders']}</td><td>{usd[0]}</td>" \
               f"<td>{usd[1]}</td><td>{usd[2]}</td>" in stores
    worst = html[html.index('data-testid="worst-orders"'):]
    for w in api["least_profitable_orders"]:
        assert f'href="/orders/{w["order_id"]}/">{w["number"]}</a>' in worst
        assert f"<td>{format_money(w['profit'], 'USD')}</td>" in worst
    # one bar per day of the period in the USD profit chart, its title the API's profit
    chart = html[html.index('data-chart="profit-USD"'):html.index("</figure>",
                                                                 html.index("profit-USD"))]
    assert chart.count('<rect class="bar') == 30
    day = next(d for d in by["USD"]["days"] if d["date"] == "2026-11-10")
    assert f"<title>2026-11-10: {format_money(day['profit'], 'USD')}</title>" in chart


def test_htmx_swaps_only_the_area(owner, profit_data, client_for):
    resp = client_for(owner).get("/insights/?from=2026-11-10&to=2026-11-11",
                                 HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert "<html" not in html and 'data-testid="insights-filters"' not in html
    chart = html[html.index('data-chart="profit-USD"'):]
    assert chart[:chart.index("</figure>")].count('<rect class="bar') == 2


def test_bad_filter_is_named_not_a_crash(owner, client_for, api_client_for):
    page = client_for(owner).get("/insights/?from=yesterday")
    assert page.status_code == 200
    assert "from: Not a date" in page.content.decode()
    resp = api_client_for(owner).get("/api/v1/insights/profit/?from=yesterday")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid"
    assert "from" in resp.json()["error"]["fields"]


def test_production_api(owner, client_for, api_client_for):
    resp = api_client_for(owner).get(f"/api/v1/insights/production/?{NOV}")
    assert resp.status_code == 200
    data = resp.json()
    assert data["date_basis"] == "first_parcel_shipped_at"
    assert len(data["histogram"]) == 15 and data["providers"] == [] and data["late"] == []


def test_openapi_documents_both(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/insights/profit/" in schema and "/api/v1/insights/production/" in schema
    assert "insights_profit" in schema and "least_profitable_orders" in schema


def test_page_needs_a_login(client):
    assert client.get("/insights/").status_code == 302
    assert client.get("/api/v1/insights/profit/").status_code in (401, 403)


def test_other_workspace_sees_none_of_a(owner, other_owner, catalog, client_for,
                                        api_client_for):
    # given: A's figures, every store name carrying the marker
    data = build_profit_data(owner.workspace, owner.user, catalog, prefix=MARKER)
    a_store = data["north"].pk
    b_page, b_api = client_for(other_owner), api_client_for(other_owner)
    # when / then
    for url in (f"/insights/?{NOV}", f"/insights/?{NOV}&store={a_store}",
                f"/api/v1/insights/profit/?{NOV}", f"/api/v1/insights/production/?{NOV}"):
        resp = (b_api if url.startswith("/api/") else b_page).get(url)
        body = resp.content.decode()
        assert MARKER not in body, url
        assert "91.00" not in body, url
    assert b_api.get(f"/api/v1/insights/profit/?{NOV}").json()["currencies"] == []
    resp = b_api.get(f"/api/v1/insights/profit/?{NOV}&store={a_store}")
    assert resp.status_code == 400
    assert "store" in resp.json()["error"]["fields"]
    # and A sees its own
    assert MARKER in client_for(owner).get(f"/insights/?{NOV}").content.decode()


def test_production_page_and_api_agree(owner, production_data, client_for, api_client_for):
    # given: real now is after the fixture's NOW, so L2 (due NOW + 38 h) may be late too
    api = api_client_for(owner).get(f"/api/v1/insights/production/?{NOV}").json()
    html = client_for(owner).get(f"/insights/?{NOV}").content.decode()
    # then
    fast = next(p for p in api["providers"] if p["provider"] == "Fast Prints")
    assert (fast["count"], fast["median_hours"], fast["p90_hours"], fast["over_target"]) == (
        3, 36.0, 55.2, 1)
    providers = html[html.index('data-testid="providers"'):]
    assert "<td>Fast Prints</td><td>3</td><td>36.0</td><td>55.2</td><td>48</td>" \
           "<td>1 (33%)</td>" in providers
    hist = html[html.index('data-chart="production-histogram"'):]
    hist = hist[:hist.index("</figure>")]
    assert hist.count('<rect class="bar') == len(api["histogram"]) == 15
    assert "<title>24-36 h: 1 submissions</title>" in hist
    late = html[html.index('data-testid="late"'):]
    for s in api["late"]:
        assert f'href="/orders/{s["order_id"]}/">{s["number"]}</a></td><td>{s["reference"]}' \
               in late
    assert _testid(html, "late-count")[0] == str(api["late_count"])
