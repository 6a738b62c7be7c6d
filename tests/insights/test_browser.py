"""Insights in a real headless Chromium: the chart is there, the date range changes it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope
from playwright.sync_api import expect

from billing import ledger
from billing.models import EntryKind
from tests.factories import StoreFactory
from tests.insights.conftest import charge, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_open_insights_see_the_chart_and_change_the_range(page, login, owner, catalog,
                                                          artifacts_dir):
    # given: one order paid yesterday, one eleven days ago (billed in USD)
    ws, now = owner.workspace, timezone.now()
    with scope(workspace=ws):
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=100, key="b:topup")
        store = StoreFactory(workspace=ws, name="Browser shop")
        recent = make_order(ws, store, number="#B1", paid_at=now - timedelta(days=1),
                            state="shipped", subtotal="30", shipping="5",
                            lines=[(catalog["mug"], 1, "30", "12.00")])
        charge(ws, recent, "12.00", "6.00")
        older = make_order(ws, store, number="#B2", paid_at=now - timedelta(days=11),
                           state="shipped", subtotal="20",
                           lines=[(catalog["mug"], 1, "20", "12.00")])
        charge(ws, older, "12.00")
    # when
    login(owner)
    page.click("nav.mainnav >> text=Insights")
    page.wait_for_url("**/insights/")
    expect(page.locator("nav.mainnav a[aria-current=page]")).to_have_text("Insights")
    # then: the default range is the last 30 days, one bar per day
    chart = page.locator("svg#profit-USD")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(30)
    expect(page.locator("[data-testid=currency-USD] [data-testid=revenue]")).to_have_text(
        "$55.00")
    expect(page.locator("[data-testid=currency-USD] [data-testid=profit-total]")).to_have_text(
        "$25.00")  # 35 - 18 + 20 - 12
    page.screenshot(path=f"{artifacts_dir}/insights-30-days.png", full_page=True)

    # when: the last 7 days only (htmx swaps the chart area, the URL follows)
    start = (now - timedelta(days=6)).date().isoformat()
    page.fill("[data-testid=from]", start)
    page.click("[data-testid=insights-filters] button[type=submit]")
    # then
    expect(chart.locator("rect.bar")).to_have_count(7)
    expect(page.locator("[data-testid=currency-USD] [data-testid=revenue]")).to_have_text(
        "$35.00")
    expect(page.locator("[data-testid=currency-USD] [data-testid=profit-total]")).to_have_text(
        "$17.00")
    assert f"from={start}" in page.url
    expect(page.locator("[data-testid=worst-orders] a", has_text="#B1")).to_have_attribute(
        "href", f"/orders/{recent.pk}/")
    page.screenshot(path=f"{artifacts_dir}/insights-7-days.png", full_page=True)
