"""Publishing a catalog product to a WooCommerce store that refuses some of its variations,
in a real browser at desktop and phone sizes: what the seller sees on the store page and
what they do (docs/woocommerce.md "Publishing catalog products": a push done in part,
`PartlyDone`).

The store is the WooCommerce sandbox over HTTP; it refuses a variation whose SKU another
product has with WooCommerce's own `product_invalid_sku` "Invalid or duplicated SKU."
(`WC_Product::set_sku`), in the refused item's place of a 200 batch answer
(`WC_REST_Controller::batch_items`). The outbox worker's part (outbox_deliver) runs in the
test's thread, between the seller's clicks. Screenshots: <artifacts>/publish-refused-*.png.
"""

import pytest
from django_scopes import scope

from integrations.models import OutboxMessage, OutboxStatus
from integrations.services.outbox import outbox_deliver
from quotes.models import ProductLink
from tests.integrations.test_woocommerce import (  # noqa: F401 - fixtures
    webhook_client,
    woo_conn,
    woo_store,
)
from tests.quotes.conftest import catalog  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _deliver(workspace) -> OutboxMessage:
    """What the outbox worker does with the newest publish push."""
    with scope(workspace=workspace):
        msg = OutboxMessage.objects.filter(kind="product_create").latest("pk")
        return outbox_deliver(message_id=msg.pk)


def _fits(page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the store page is {width} px wide in a {inner} px window"


@pytest.mark.parametrize("size", list(SIZES))
def test_the_seller_sees_the_refused_variations_and_publishes_them_after_fixing_the_store(
        size, page, login, owner, workspace, woo_conn, woo_store, catalog,  # noqa: F811
        artifacts_dir):
    page.set_viewport_size(SIZES[size])
    # another product of the store already has the black mug's SKU
    other = woo_store.store.create_product({"name": "Someone's mug", "sku": "MUG11-BLACK"})
    login(owner)
    page.goto(f"/stores/{woo_conn.store_id}/")

    # the seller publishes the mug from the store page
    publish = page.locator("[data-testid=publish]")
    publish.get_by_label("Product").select_option(label=catalog.mug.name)
    publish.get_by_role("button", name="Publish", exact=True).click()
    page.wait_for_url(f"**/stores/{woo_conn.store_id}/")
    assert "Publishing the product to the store" in page.inner_text("body")
    msg = _deliver(workspace)
    assert msg.status == OutboxStatus.FAILED

    # what they see: the push failed, which variation the store refused and why in
    # WooCommerce's words, what was made and linked anyway, and a way to try again
    page.reload()
    pushes = page.locator("[data-testid=outbox]")
    row = pushes.locator("tr", has=page.locator("[data-testid=refused-items]"))
    refused = row.locator("[data-testid=refused-items] li")
    assert refused.all_inner_texts() == [
        "MUG11-BLACK: Invalid or duplicated SKU. (product_invalid_sku)"]
    row_text = row.inner_text()
    assert "Failed" in row_text
    assert "1 made and linked; trying again makes only the refused ones." in row_text
    links = page.locator("[data-testid=links]")
    assert "MUG11-WHITE" in links.inner_text() and "MUG11-BLACK" not in links.inner_text()
    # on a phone each push is a card (no table to scroll sideways to find the reason)
    assert row.evaluate("r => getComputedStyle(r).display") == (
        "block" if size == "phone" else "table-row")
    retry = row.locator("[data-testid=retry-push]")
    retry.scroll_into_view_if_needed()
    for shown in (refused.first, retry):
        assert shown.is_visible()
        box = shown.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size]["width"], (
            f"{shown} runs off a {size} screen: {box}")
    _fits(page)
    page.screenshot(path=f"{artifacts_dir}/publish-refused-{size}.png", full_page=True)

    # the seller frees the SKU in their store, then tries again: only the missing one is
    # made, both are linked, nothing refused is shown any more
    woo_store.store.products.pop(other["id"])
    retry.click()
    page.wait_for_url(f"**/stores/{woo_conn.store_id}/")
    assert "Trying 1 push again now." in page.inner_text("body")
    msg = _deliver(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    page.reload()
    assert page.locator("[data-testid=refused-items]").count() == 0
    assert page.locator("[data-testid=retry-push]").count() == 0
    links_text = page.locator("[data-testid=links]").inner_text()
    assert "MUG11-WHITE" in links_text and "MUG11-BLACK" in links_text
    _fits(page)
    page.screenshot(path=f"{artifacts_dir}/publish-refused-{size}-fixed.png", full_page=True)
    products = woo_store.store.list_products({})
    assert len(products) == 1  # one product in the store, not a second one
    assert sorted(v["sku"] for v in woo_store.store.list_variations(products[0]["id"])) == [
        "MUG11-BLACK", "MUG11-WHITE"]
    with scope(workspace=workspace):
        assert ProductLink.objects.filter(store_id=woo_conn.store_id).count() == 2
