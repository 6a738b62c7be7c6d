"""Issue 4 end to end in a real headless Chromium, through the admin and the dashboard.

An order for a product PodHub has no price for waits in quotation with the reason;
staff price and send the quote from the admin; the seller accepts it in the
dashboard; that order and its sibling move to to_order with the itemised price;
the next order of that product is priced the moment it is imported.
"""

import pytest
from django.core.cache import cache
from django_scopes import scope

from orders import services as order_services
from orders.models import Order, OrderState
from tests.quotes.conftest import STORE_ACTOR, order_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = OrderState


def plaque(**extra):
    return {"sku": "PLQ-S", "title": "Oak plaque", "variant_title": "Small",
            "store_product_id": "900", "store_variant_id": "901", "quantity": 1,
            "unit_price": "30.00", "images": ["https://img.test/plaque.png"],
            "personalization": [{"key": "Name", "value": "Ana"}], **extra}


def _import(workspace, store, *lines):
    with scope(workspace=workspace):  # a real commit: the quotes subscriber runs after it
        order, _ = order_services.order_import(workspace=workspace, store=store,
                                               data=order_data(*lines), actor=STORE_ACTOR)
        order.refresh_from_db()
    return order




def _state(workspace, order):
    with scope(workspace=workspace):
        return Order.objects.get(pk=order.pk).state


def test_quote_sent_from_the_admin_accepted_in_the_dashboard_prices_the_orders(
    page, login, owner, store, staff, catalog, live_server, artifacts_dir
):
    cache.clear()  # login rate limits
    ws = owner.workspace
    first = _import(ws, store, plaque())
    sibling = _import(ws, store, plaque(), ("MUG11-WHITE", 1))
    assert (first.state, sibling.state) == (S.IN_QUOTATION, S.IN_QUOTATION)

    # the seller sees why the order waits: on the order page and in its price panel
    login(owner)
    page.goto(f"/orders/{first.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "In quotation"
    assert "SKU PLQ-S matches no catalog product" in page.locator(
        "[data-testid=lines]").inner_text()
    page.goto(f"/orders/{first.pk}/price/")
    reason = page.locator("[data-testid=unmapped-reason]").inner_text()
    assert "PodHub staff are preparing a quote" in reason
    page.goto("/quotes/")
    assert "Oak plaque" in page.locator("[data-testid=quote]").inner_text()
    assert page.locator("[data-testid=quote-status]").inner_text() == "Waiting for PodHub"

    # staff price the product in the admin queue and send the quote
    staff_ctx = page.context.browser.new_context(base_url=live_server.url,
                                                 viewport={"width": 1366, "height": 768})
    admin = staff_ctx.new_page()
    admin.set_default_timeout(10_000)
    admin.goto("/admin/login/?next=/admin/quotes/quote/")
    admin.fill("input[name=username]", staff.email)
    admin.fill("input[name=password]", "correct horse battery")
    admin.click("input[type=submit]")
    admin.wait_for_url("**/admin/quotes/quote/")
    row = admin.locator("#result_list tbody tr", has_text="Oak plaque")
    assert "h for us" in row.inner_text()
    row.locator("th a").click()
    # the price table fits a laptop screen: no sideways scrolling
    admin.wait_for_selector("input[name=lines-0-unit_price_amount]")
    width = admin.evaluate("[document.documentElement.scrollWidth, window.innerWidth, "
                           "document.querySelector('.inline-group table').scrollWidth]")
    assert max(width[0], width[2]) <= width[1], f"the quote form is {width} px wide"
    admin.fill("input[name=lines-0-unit_price_amount]", "15.00")
    admin.fill("input[name=lines-0-production_days]", "4")
    admin.fill("input[name=lines-0-tiers_text]", "10-49: 12.00 mini-bulk")
    admin.fill("textarea[name=staff_notes]", "Solid oak, laser engraved.")
    admin.click("[data-testid=send-quote]")
    admin.wait_for_url("**/admin/quotes/quote/")
    assert "Quote for Oak plaque sent to the seller." in admin.locator(".messagelist").inner_text()
    admin.screenshot(path=f"{artifacts_dir}/quotes-admin-queue.png", full_page=True)
    staff_ctx.close()

    # the seller accepts in the dashboard
    page.goto("/quotes/")
    assert "waits for your answer" in page.locator("[data-testid=quote-notice]").inner_text()
    card = page.locator("[data-testid=quote]", has_text="Oak plaque")
    assert card.locator("[data-testid=quote-price]").inner_text() == "$15.00"
    assert "Solid oak, laser engraved." in card.inner_text()
    assert "2 orders waiting" in card.inner_text()
    page.screenshot(path=f"{artifacts_dir}/quotes-seller-pending.png", full_page=True)
    card.locator("[data-testid=accept]").click()
    page.wait_for_url("**/quotes/?tab=answered")
    assert "accepted" in page.locator("ul.messages").inner_text()

    # the order and its sibling are priced, itemised
    assert (_state(ws, first), _state(ws, sibling)) == (S.TO_ORDER, S.TO_ORDER)
    page.goto(f"/orders/{sibling.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "To order"
    # the price panel loads into the order page shell with htmx
    page.wait_for_selector("[data-testid=price-breakdown]")
    panel = page.locator("[data-testid=price-breakdown]")
    text = panel.inner_text()
    assert "Oak plaque" in text and "quote #" in text and "Mug 11 oz · White" in text
    assert panel.locator("[data-testid=price-shipping]").inner_text() == "$7.00"
    assert panel.locator("[data-testid=price-total]").inner_text() == "$31.00"  # 15+8+7+1
    page.screenshot(path=f"{artifacts_dir}/quotes-order-price.png", full_page=True)
    # choosing express re-prices the panel in place: 15 + 8 + (12 + 3) + 1
    panel.locator("select[name=shipping_method]").select_option("express")
    page.wait_for_function("() => document.querySelector('[data-testid=price-total]')"
                           ".textContent === '$39.00'")

    # the next order of that product is priced at import
    nxt = _import(ws, store, plaque())
    assert nxt.state == S.TO_ORDER
    page.goto(f"/orders/{nxt.pk}/price/")
    assert page.locator("[data-testid=price-total]").inner_text() == "$21.00"  # 15+5+1
