"""Issue 15 in a real headless Chromium: a seller builds "hold every order to Brazil over
200 USD" in the Rules editor (a condition row added with htmx), dry-runs it, applies it
to existing orders and watches the job's progress, and sees the firing on the order's
timeline; the next Brazilian order is held the moment it is imported."""

import pytest
from django.core.cache import cache
from django_scopes import scope

from automation import services
from automation.models import Rule
from orders import services as order_services
from orders.models import Order, OrderState
from tests.quotes.conftest import STORE_ACTOR, order_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = OrderState


def _import(workspace, store, *, country, price="250.00"):
    with scope(workspace=workspace):  # a real commit: pricing, then the rules, run after it
        order, _ = order_services.order_import(
            workspace=workspace, store=store, actor=STORE_ACTOR,
            data=order_data({"sku": "MUG11-WHITE", "quantity": 1, "unit_price": price},
                            country=country))
        order.refresh_from_db()
    return order


def test_build_dry_run_and_apply_a_rule_in_the_dashboard(page, login, owner, store, catalog):
    cache.clear()  # login rate limits
    ws = owner.workspace
    brazil = _import(ws, store, country="BR")
    _import(ws, store, country="US")
    assert brazil.state == S.TO_ORDER

    login(owner)
    page.goto("/rules/")
    page.click("[data-testid=new-rule]")
    page.fill("[data-testid=rule-name]", "Brazil over 200 USD")
    page.select_option("[data-testid=rule-trigger]", "imported")
    page.select_option("[data-testid=c-0-field]", "country")
    page.select_option("[data-testid=c-0-op]", "in")
    page.fill("[data-testid=c-0-value]", "BR")
    page.click("[data-testid=add-condition]")  # htmx brings row 1
    page.select_option("[data-testid=c-1-field]", "total")
    page.select_option("[data-testid=c-1-op]", "gt")
    page.fill("[data-testid=c-1-value]", "200")
    page.select_option("[data-testid=a-0-type]", "hold")
    page.fill("[data-testid=a-0-value]", "Check high-value orders to Brazil.")
    page.click("[data-testid=save-rule]")
    page.wait_for_url("**/rules/*/")

    page.click("[data-testid=dry-run]")
    result = page.locator("[data-testid=dry-run-result]")
    assert result.locator("[data-testid=dry-run-count]").inner_text() == "1"
    assert brazil.number in result.inner_text()
    assert "Would hold the order: Check high-value orders to Brazil." in result.inner_text()
    with scope(workspace=ws):
        assert Order.objects.get(pk=brazil.pk).state == S.TO_ORDER  # a dry run changes nothing

    page.click("[data-testid=apply]")
    job_box = page.locator("[data-testid=apply-job]")
    assert job_box.get_attribute("data-status") == "pending"
    with scope(workspace=ws):  # the worker's part (no worker runs in this test)
        job = Rule.objects.get().jobs.get()
        services.apply_process(job_id=job.pk)
    page.wait_for_selector("[data-testid=apply-job][data-status=done]")  # htmx polling
    assert page.locator("[data-testid=apply-matched]").inner_text() == "1"

    page.goto(f"/orders/{brazil.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "On hold"
    assert "Auto: rule Brazil over 200 USD" in page.content()

    later = _import(ws, store, country="BR")
    assert later.state == S.ON_HOLD and later.hold_reason == "rule"
    page.goto("/rules/")
    assert later.number in page.locator("[data-testid=firings]").inner_text()
