"""The whole path in a real browser: connect the sandbox store, see its orders arrive with
personalisation, push a parcel's tracking back, see the fulfillment in the sandbox."""


import httpx
import pytest
from django_scopes import scope

from integrations.models import OutboxStatus
from integrations.shopify import connect as shopify_connect
from orders.models import Order
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings
from tests.integrations.conftest import SHOP, TOKEN
from tests.live import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "whsec_browser"


@pytest.fixture
def live_sandbox(live_server, settings):
    shop = SandboxShop(shop_domain=SHOP, access_token=TOKEN,
                       settings=Settings(bucket_max=1000, restore_rate=50))
    shop.subscribe(url=live_server.url + "/webhooks/shopify/", secret=SECRET)
    server = SandboxServer(shop).start()
    settings.SHOPIFY_API_BASES = {SHOP: server.url}  # the operator's setting, not a form field
    yield server
    server.stop()


def test_connect_sandbox_store_orders_arrive_and_tracking_goes_back(
        page, login, owner, workspace, live_sandbox, worker, artifacts_dir):
    shopify_connect._CACHE.clear()
    shop = live_sandbox.shop
    # the store already has orders: paid (imported), fulfilled and unpaid (not imported)
    first = shop.create_order({"line_items": [
        {"title": "Engraved necklace", "sku": "NECK-ENG-GOLD", "price": "39.00", "quantity": 1,
         "properties": [{"name": "Engraving", "value": "Für Zoë ❤"}]}]}, webhooks=False)
    shop.create_order({"fulfillment_status": "fulfilled"}, webhooks=False)
    shop.create_order({"financial_status": "pending"}, webhooks=False)

    login(owner)
    page.goto("/stores/")
    page.locator("[data-testid=connect-choices] a[data-platform=shopify]").click()
    form = page.locator("[data-testid=connect-form]")
    form.locator("input[name=shop_domain]").fill(SHOP)
    form.locator("input[name=access_token]").fill(TOKEN)
    form.locator("input[name=webhook_secret]").fill(SECRET)
    form.locator("input[name=name]").fill("Sandbox Shopify store")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/stores/*/")
    # the import progress polls (htmx) until it is done
    page.wait_for_selector("[data-testid=import-progress][data-status=done]", timeout=30_000)
    assert "Imported 1 order" in page.locator("[data-testid=import-progress]").inner_text()

    # a new order arrives by webhook while we watch
    second = shop.create_order({"line_items": [
        {"title": "Custom mug", "sku": "MUG-11-WHITE", "price": "14.00", "quantity": 2,
         "properties": [{"name": "Name", "value": "Łukasz"}, {"name": "Font", "value": "Serif"}]}]})
    with scope(workspace=workspace):
        wait_for(lambda: Order.objects.filter(external_id=str(second["id"])).exists(),
                 what="the webhook order")
        order = Order.objects.select_related("store").get(external_id=str(second["id"]))
    page.goto("/orders/")
    assert second["name"] in page.content() and first["name"] in page.content()
    page.goto(f"/orders/{order.pk}/")
    page.wait_for_selector("dl.personalization")
    text = page.locator("dl.personalization").first.inner_text()
    assert "Łukasz" in text and "Serif" in text

    # shipments are not built yet (issue 7): the fulfillment app will call this service
    from integrations.services.outbox import push_fulfillment

    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                               carrier="UPS", number="1Z999AA10123456784",
                               url="https://www.ups.com/track?tracknum=1Z999AA10123456784")
    remote = wait_for(lambda: httpx.get(f"{live_sandbox.url}/_sandbox/orders/{second['id']}")
                      .json()["fulfillments"], what="the fulfillment in the sandbox")
    assert remote[0]["tracking_number"] == "1Z999AA10123456784"
    assert remote[0]["tracking_company"] == "UPS"
    assert remote[0]["tracking_url"].endswith("1Z999AA10123456784")
    assert remote[0]["notify_customer"] is True
    with scope(workspace=workspace):
        msg.refresh_from_db()
        wait_for(lambda: msg.__class__.objects.get(pk=msg.pk).status == OutboxStatus.DONE,
                 what="the outbox row done")
    page.goto(f"/stores/{order.store_id}/")
    outbox = page.locator("[data-testid=outbox]").inner_text()
    assert "1Z999AA10123456784" in outbox and "Done" in outbox
    assert "orders/create" in page.locator("[data-testid=inbox]").inner_text()
    page.screenshot(path=f"{artifacts_dir}/shopify-sync-health.png", full_page=True)
