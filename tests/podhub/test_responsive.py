"""Every main page at phone (390x844) and laptop (1366x768) sizes, in headless Chromium:
no sideways scrolling, every section and Sign out reachable (behind the menu button on
the phone), order rows as cards on the phone. Screenshots: <artifacts>/responsive-*.png.
"""

import pytest
from django.utils import timezone
from django_scopes import scope

from orders.models import HoldReason
from tests.factories import LineItemFactory, OrderFactory, QuoteFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
NAV = ["Home", "Orders", "Quotes", "Stores", "Catalog", "Balance", "Insights", "Rules",
       "Settings", "Webhooks"]
PAGES = {"home": "/", "orders": "/orders/", "order": None, "stores": "/stores/",
         "balance": "/balance/", "insights": "/insights/", "settings": "/settings/",
         "rules": "/rules/", "webhooks": "/settings/webhooks/", "quotes": "/quotes/"}


@pytest.fixture
def seller(workspace, owner):
    """A workspace with a store, orders (long names, a hold) and a quote."""
    with scope(workspace=workspace):
        store = StoreFactory(workspace=workspace, name="A rather long store name for phones")
        for state in ["in_quotation", "to_order", "awaiting_submission", "shipped"]:
            order = OrderFactory(workspace=workspace, store=store, state=state,
                                 buyer_email="someone.with.a.long.address@example-buyer.test",
                                 paid_at=timezone.now() if state != "in_quotation" else None)
            LineItemFactory(order=order, sku="MUG-11OZ-WHITE-GLOSSY-XL", quantity=2)
        held = OrderFactory(workspace=workspace, store=store, state="on_hold",
                            return_state="to_order", hold_reason=HoldReason.INFO_REQUESTED,
                            hold_message="Which colour should the mug be?",
                            info_due_at=timezone.now() + timezone.timedelta(hours=30))
        QuoteFactory(workspace=workspace, store=store, status="sent", lines=1)
    owner.user.set_password("correct horse battery")
    owner.user.save()
    return held


def _fits(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_every_main_page_fits_a_phone_and_a_laptop(page, login, owner, seller, artifacts_dir):
    login(owner)
    pages = {**PAGES, "order": f"/orders/{seller.pk}/"}
    for size_name, size in [("phone", PHONE), ("laptop", LAPTOP)]:
        page.set_viewport_size(size)
        for name, url in pages.items():
            page.goto(url)
            width, inner = _fits(page)
            assert width <= inner, f"{url} at {size_name} is {width} px wide in {inner} px"
            menu = page.locator("[data-menu-toggle]")
            if size is PHONE:
                assert menu.is_visible()
                assert not page.locator(".mainnav").is_visible()  # folded until asked
                page.screenshot(path=f"{artifacts_dir}/responsive-{size_name}-{name}.png",
                                full_page=True)
                menu.click()
                assert menu.get_attribute("aria-expanded") == "true"
            else:
                assert not menu.is_visible()
            for label in NAV:
                link = page.locator(".mainnav a", has_text=label).first
                assert link.is_visible(), f"{label} is not reachable on {url} ({size_name})"
            assert page.get_by_role("button", name="Sign out").is_visible()
            width, inner = _fits(page)  # the open menu does not widen the page either
            assert width <= inner, f"{url} with the menu open at {size_name}: {width} px"
            if size is LAPTOP or name == "orders":
                page.screenshot(path=f"{artifacts_dir}/responsive-{size_name}-{name}"
                                f"{'-menu' if size is PHONE else ''}.png", full_page=True)


def test_order_rows_are_cards_on_a_phone_and_a_table_on_a_laptop(page, login, owner, seller):
    login(owner)
    row = "[data-testid=order-table] tbody tr"
    page.set_viewport_size(PHONE)
    page.goto("/orders/")
    assert page.locator(row).first.evaluate("r => getComputedStyle(r).display") == "grid"
    head = page.locator("[data-testid=order-table] thead")
    assert head.bounding_box()["height"] <= 1  # kept for screen readers only
    page.set_viewport_size(LAPTOP)
    page.goto("/orders/")
    assert page.locator(row).first.evaluate("r => getComputedStyle(r).display") == "table-row"
    assert page.locator("[data-testid=order-table] thead").bounding_box()["height"] > 10
