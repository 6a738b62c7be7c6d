"""The order list's bulk actions "Pay selected" and "Submit now", in a real headless
Chromium."""

import pytest
from django.core.cache import cache
from django_scopes import scopes_disabled

from orders.models import Order
from tests.fulfillment.fulfillment_support import (
    factory_server,  # noqa: F401 - fixtures
    make_order,
    make_variant,
    sandbox_provider,  # noqa: F401
    webhook_client,  # noqa: F401
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_submit_selected_orders_from_the_list(page, login, owner, sandbox_provider,  # noqa: F811
                                              artifacts_dir):
    ws = owner.workspace
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    paid = make_order(ws, [variant])
    unpaid = make_order(ws, [variant], state="to_order")
    cache.clear()  # login rate limits
    login(owner)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/orders/")
    for order in (paid, unpaid):
        page.check(f"tr[data-order-id='{order.pk}'] input[name=order_ids]")
    page.click("[data-testid=bulk-submit]")
    result = page.locator("[data-testid=bulk-result]")
    result.wait_for()
    assert "Submitted 1 order" in result.inner_text()
    assert unpaid.number in page.locator("[data-testid=bulk-failed]").inner_text()
    # the list refreshes itself: the paid order now shows as in production
    page.wait_for_function(
        f"() => document.querySelector(\"tr[data-order-id='{paid.pk}']\").innerText"
        ".includes('In production')")
    page.screenshot(path=f"{artifacts_dir}/orders-list-bulk-submit.png", full_page=True)
    with scopes_disabled():
        assert Order.objects.get(pk=paid.pk).state == "in_production"
        assert Order.objects.get(pk=unpaid.pk).state == "to_order"


def test_pay_selected_opens_the_review_of_those_orders(page, login, owner,
                                                       sandbox_provider):  # noqa: F811
    ws = owner.workspace
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    one, two = (make_order(ws, [variant], state="to_order") for _ in range(2))
    cache.clear()
    login(owner)
    page.goto("/orders/")
    for order in (one, two):
        page.check(f"tr[data-order-id='{order.pk}'] input[name=order_ids]")
    page.click("[data-testid=bulk-pay]")  # no confirmation: nothing is paid yet
    page.wait_for_url("**/pay/?orders=*")
    from urllib.parse import parse_qs, urlparse

    assert sorted(parse_qs(urlparse(page.url).query)["orders"]) == sorted(
        [str(one.pk), str(two.pk)])
    review = page.locator("[data-testid=pay-review]").inner_text()
    assert one.number in review and two.number in review
