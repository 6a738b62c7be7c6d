"""The order dashboard in a real headless Chromium: list, filter, bulk cancel, order page."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_scopes import scope

from orders import services
from orders.events import Actor
from orders.models import Order, OrderState
from tests.orders.dashboard_data import make_order, make_store

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = OrderState


@pytest.fixture
def shop(owner):
    ws = owner.workspace
    main = make_store(ws, name="Main Shopify")
    etsy = make_store(ws, name="Etsy corner", platform="manual")
    now = timezone.now()
    orders = {
        "q1": make_order(ws, main, number="#2001", state=S.TO_ORDER, buyer_name="Ana Lima",
                         skus=("MUG-11", "TEE-L"), placed_at=now - timedelta(hours=5)),
        "q2": make_order(ws, main, number="#2002", state=S.IN_PRODUCTION,
                         buyer_name="Bruno Diaz", placed_at=now - timedelta(hours=4)),
        "e1": make_order(ws, etsy, number="#3001", state=S.TO_ORDER, buyer_name="Chen Wu",
                         placed_at=now - timedelta(hours=3),
                         personalization=[{"key": "Name", "value": "Chen"}]),
        "e2": make_order(ws, etsy, number="#3002", state=S.IN_PRODUCTION,
                         buyer_name="Dana Berg", placed_at=now - timedelta(hours=2)),
        "e3": make_order(ws, etsy, number="#3003", state=S.AWAITING_SUBMISSION,
                         buyer_name="Eli Stone", placed_at=now - timedelta(hours=1),
                         submit_at=now + timedelta(hours=2, minutes=30)),
    }
    return {"main": main, "etsy": etsy, **orders}


def test_list_filter_bulk_cancel_and_order_page(page, login, owner, shop, artifacts_dir):
    cache.clear()  # login rate limits
    login(owner)
    page.on("dialog", lambda dialog: dialog.accept())

    # the list: tabs with counts, newest first, the submit countdown
    page.click("nav.mainnav >> text=Orders")
    page.wait_for_url("**/orders/")
    assert page.locator("[data-count=all]").inner_text() == "5"
    assert page.locator("[data-count=to_order]").inner_text() == "2"
    numbers = page.locator("[data-testid=order-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.number)")
    assert numbers == ["#3003", "#3002", "#3001", "#2002", "#2001"]
    assert "submits in 2 h" in page.locator(".countdown").inner_text()

    # a filter: the store select swaps only the list (htmx) and pushes the URL
    page.select_option("select[name=store]", str(shop["etsy"].pk))
    page.wait_for_url(f"**/orders/?store={shop['etsy'].pk}")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=order-table] tbody tr').length === 3")
    assert "#2001" not in page.locator("#order-list").inner_text()

    # a search within it
    page.fill("input[name=q]", "chen")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=order-table] tbody tr').length === 1")
    page.fill("input[name=q]", "")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=order-table] tbody tr').length === 3")

    # the bulk actions appear once something is selected
    assert not page.locator("[data-testid=bulk-cancel]").is_visible()
    assert "Select orders" in page.locator("[data-testid=selected-count]").inner_text()
    # bulk cancel: one cancellable, one in production, one awaiting submission
    for key in ("e1", "e2", "e3"):
        page.check(f"tr[data-order-id='{shop[key].pk}'] input[name=order_ids]")
    assert page.locator("[data-testid=selected-count]").inner_text() == "3 selected"
    assert page.locator("[data-testid=bulk-cancel]").is_visible()
    page.fill("#bulk-note", "Sold out")
    page.click("[data-testid=bulk-cancel]")
    result = page.locator("[data-testid=bulk-result]")
    result.wait_for()
    assert "Cancelled 2 orders" in result.inner_text()
    assert "#3002" in page.locator("[data-testid=bulk-failed]").inner_text()
    assert "production" in page.locator("[data-testid=bulk-failed]").inner_text()
    # the list and the counts refresh themselves
    page.wait_for_function(
        "() => document.querySelector('[data-count=cancelled]').textContent === '2'")
    with scope(workspace=owner.workspace):
        states = dict(Order.objects.values_list("number", "state"))
    assert states["#3001"] == S.CANCELLED and states["#3003"] == S.CANCELLED
    assert states["#3002"] == S.IN_PRODUCTION
    page.screenshot(path=f"{artifacts_dir}/orders-list-bulk-cancel.png", full_page=True)

    # the order page, from the list
    page.click("[data-tab=cancelled]")
    page.wait_for_url("**state=cancelled**")
    page.click("a:text('#3001')")
    page.wait_for_url(f"**/orders/{shop['e1'].pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Cancelled"
    assert "Sold out" in page.locator("[data-testid=status]").inner_text()
    lines = page.locator("[data-testid=lines]").inner_text()
    assert "Name" in lines and "Chen" in lines
    timeline = page.locator("[data-testid=timeline]").inner_text()
    assert "Cancelled" in timeline and "To order → Cancelled" in timeline
    assert owner.user.email in timeline and "Sold out" in timeline
    # each app's panel replaced its placeholder (loaded with htmx from its own app)
    page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
    for testid in ("price-breakdown", "billing-panel", "fulfillment", "store-sync-panel"):
        assert page.locator(f"[data-testid={testid}]").is_visible(), testid
    assert page.locator("#print-files h2").inner_text() == "Print files"
    page.screenshot(path=f"{artifacts_dir}/order-page.png", full_page=True)


def test_info_request_banner_and_answer_by_editing(page, login, owner, shop, artifacts_dir):
    cache.clear()
    with scope(workspace=owner.workspace):
        services.order_request_info(order_id=shop["q1"].pk, message="Which mug colour?",
                                    actor=Actor.system("Staff"))
    login(owner)
    page.goto("/")
    banner = page.locator("[data-testid=attention-banner]")
    assert "Which mug colour?" in banner.inner_text()
    assert "answer before" in banner.inner_text()
    banner.locator("text=Edit order").click()
    page.wait_for_url(f"**/orders/{shop['q1'].pk}/edit/")
    line_id = page.locator("fieldset[data-line-id]").first.get_attribute("data-line-id")
    page.fill(f"input[name='p-{line_id}-0-key']", "Colour")
    page.fill(f"input[name='p-{line_id}-0-value']", "Blue")
    page.click("[data-testid=edit-form] button[type=submit]")
    page.wait_for_url(f"**/orders/{shop['q1'].pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "To order"
    assert page.locator("[data-testid=attention-banner]").count() == 0
    assert "Colour" in page.locator("[data-testid=lines]").inner_text()
    page.screenshot(path=f"{artifacts_dir}/order-answered.png", full_page=True)
