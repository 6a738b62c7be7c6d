"""Issue 7's "done when", end to end in a real headless Chromium.

An order placed in the sandbox Shopify store (real HTTP server, free port) arrives by
signed webhook, is priced through the demo catalog's SKU rules, is paid by the seller
on its order page, shows its countdown, is submitted by the sweep to the sandbox
factory (real HTTP server, free port), which receives signed print-file links that
work without a session (the test fetches them as a factory would), and calls back signed webhooks
for TWO parcels with their own tracking numbers. The order page shows each parcel's
tracking (first "1 of 2 parcels shipped", then both) and the timeline; the sandbox
store has one fulfillment per parcel with its own tracking number; both delivered, the
order is completed.

Nothing waits on a worker: the test's thread does what the beat sweeps and tasks would
(inbox drain, renders, submit sweep with `now` past submit_at, outbox), by calling the
same services. The balance is credited through the ledger service: the Stripe top-up
itself is browser-tested in tests/billing/test_browser.py.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.core.cache import cache
from django_scopes import scope, scopes_disabled

from fulfillment import submission
from fulfillment.models import Adapter, ProviderConnection, Render, RenderStatus, Shipment
from fulfillment.printfiles import services as printfiles
from integrations.management.commands.load_demo import Command as LoadDemo
from integrations.models import OutboxStatus
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import (
    order_event_handle,
    order_events_missing,
    outbox_deliver,
    outbox_due,
)
from integrations.shopify import connect as shopify_connect
from orders.models import Order
from sandboxes.factory.factory import Config, SandboxFactory
from sandboxes.factory.server import SandboxFactoryServer
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP = "journey-sandbox.myshopify.com"
SHOP_TOKEN = "shpat_journey"
SHOP_SECRET = "whsec_journey"
FACTORY_KEY = "journey-factory-key"
FACTORY_SECRET = "journey-factory-secret"
ADDRESS = {"first_name": "Ana", "last_name": "Buyer", "name": "Ana Buyer",
           "address1": "1 Main Street", "city": "Springfield", "province": "Illinois",
           "province_code": "IL", "zip": "62701", "country": "United States",
           "country_code": "US"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def shop(live_server):
    """The sandbox Shopify store; its webhooks go over HTTP to the live server when the
    test calls `deliver_due()` (no background sender: the test decides when)."""
    store = SandboxShop(shop_domain=SHOP, access_token=SHOP_TOKEN,
                        settings=Settings(bucket_max=1000, restore_rate=500))
    store.subscribe(url=live_server.url + "/webhooks/shopify/", secret=SHOP_SECRET)
    server = SandboxServer(store)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    shopify_connect._CACHE.clear()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    shopify_connect._CACHE.clear()


class Relay:
    """The factory's webhook sender: over HTTP to the live server, except that while
    `holding`, the shipment callbacks are kept so the test can deliver them one by one."""

    def __init__(self):
        self.holding = False
        self.held: list[tuple[str, bytes, dict]] = []

    def __call__(self, url: str, body: bytes, headers: dict) -> int:
        if self.holding:
            self.held.append((url, body, headers))
            return 200
        return self.send(url, body, headers)

    @staticmethod
    def send(url: str, body: bytes, headers: dict) -> int:
        return httpx.post(url, content=body, headers=headers, timeout=30).status_code


@pytest.fixture
def factory(live_server):
    """The sandbox factory, splitting every order into one parcel per item (its own
    `split_parcels` option), calling back signed webhooks to the live server."""
    relay = Relay()
    sandbox = SandboxFactory(api_key=FACTORY_KEY, webhook_secret=FACTORY_SECRET,
                             callback_url=live_server.url + "/webhooks/providers/sandbox-factory/",
                             config=Config(step_seconds=3600, split_parcels=True), sender=relay)
    server = SandboxFactoryServer(sandbox).start()
    server.relay = relay
    yield server
    server.stop()


def _demo_catalog_routed_to(factory_url: str, workspace) -> None:
    """The demo loader's catalog and SKU rules, with the sandbox factory as every
    variant's first choice (what `run_sandbox_factory --connect --route-catalog` does)."""
    from quotes.models import Provider, ProviderKind, Variant, VariantProvider

    LoadDemo()._demo_data(workspace)
    with scopes_disabled():
        provider = Provider.objects.create(code="sandbox-factory", name="Sandbox factory",
                                           kind=ProviderKind.API)
        ProviderConnection.objects.create(provider=provider, adapter=Adapter.SANDBOX,
                                          api_base=factory_url, api_key=FACTORY_KEY,
                                          webhook_secret=FACTORY_SECRET)
        for variant in Variant.objects.filter(is_active=True):
            first = variant.providers.order_by("priority").first()
            VariantProvider.objects.create(variant=variant, provider=provider,
                                           provider_sku=variant.sku, priority=0,
                                           base_cost_amount=first.base_cost_amount,
                                           currency=first.currency)


def _run_renders(workspace, order) -> None:
    """What render_task does for each pending render (no worker in tests)."""
    with scope(workspace=workspace):
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            printfiles.render_run(render_id=job.pk)


def _drain_outbox(workspace) -> None:
    """What integrations_sweep_task's doorbells lead to: every shipped parcel without an
    outbox message gets one (order_event_task), every due message is pushed."""
    with scopes_disabled():
        missing = order_events_missing()
    with scope(workspace=workspace):
        for _, event_id in missing:
            order_event_handle(event_id=event_id)
    with scopes_disabled():
        due = outbox_due()
    with scope(workspace=workspace):
        for _, message_id in due:
            assert outbox_deliver(message_id=message_id).status == OutboxStatus.DONE


def test_shopify_order_to_two_tracked_parcels(page, login, owner, workspace, shop, factory,
                                              live_server, settings, artifacts_dir):
    settings.PUBLIC_BASE_URL = live_server.url  # where providers fetch print files
    cache.clear()  # login rate limits
    _demo_catalog_routed_to(factory.url, workspace)
    with scope(workspace=workspace):
        conn = shopify_connect.store_connect_shopify(
            workspace=workspace, shop_domain=SHOP, access_token=SHOP_TOKEN,
            webhook_secret=SHOP_SECRET, api_base=shop.url, name="Sandbox Shopify store",
            start_import=False)
    from billing import ledger
    from billing.models import EntryKind

    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100.00"), key="journey-top-up",
                      memo="Top-up (credited by the test)")

    # 1. the buyer orders a mug and a T-shirt with their name in the Shopify store
    placed = shop.shop.create_order({
        "line_items": [
            {"title": "Name mug", "sku": "MUG-11-WHITE", "price": "19.00", "quantity": 1,
             "properties": [{"name": "Name", "value": "Ana"}]},
            {"title": "Name T-shirt", "sku": "TEE-NAME-M", "price": "29.00", "quantity": 1,
             "properties": [{"name": "Name", "value": "Ana"}]}],
        "shipping_address": ADDRESS, "email": "ana@example.com"})
    # 2. signed webhooks over HTTP into the inbox, processed as the drain task would
    assert shop.shop.deliver_due() == 2
    assert [w["status"] for w in shop.shop.webhook_log()] == ["delivered", "delivered"]
    with scope(workspace=workspace):
        assert inbox_drain(connection_id=conn.pk) == 2
        order = Order.objects.get(store__workspace=workspace, external_id=str(placed["id"]))
        # 3. priced through the demo's SKU rules (MUG-11-WHITE -> MUG11-WHITE, ...)
        assert order.state == "to_order", order.line_items.values("sku", "unmapped_reason")
        lines = list(order.line_items.order_by("pk"))
    assert all(ln.catalog_variant_id for ln in lines)
    _run_renders(workspace, order)

    # 4. the seller pays it from the order page
    login(owner)
    page.goto(f"/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "To order"
    page.click("[data-testid=actions] [data-testid=next-pay]")  # the order's next step
    page.wait_for_url("**/pay/?orders=**")
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url(f"**/orders/{order.pk}/")  # back where paying started
    assert "Paid 1 order" in page.locator("ul.messages").inner_text()

    # 5. the countdown to production is on the order page, and "Submit now" is the next step
    assert page.locator("[data-testid=order-state]").inner_text() == "Awaiting submission"
    assert page.locator("[data-testid=actions] [data-testid=next-submit]").is_visible()
    countdown = page.locator("[data-testid=fulfillment] [data-testid=countdown]")
    countdown.wait_for()
    assert "Goes to production automatically" in countdown.inner_text()
    assert countdown.locator(".countdown").get_attribute("data-deadline")
    page.screenshot(path=f"{artifacts_dir}/journey-countdown.png", full_page=True)

    # 6. the submit sweep, with `now` past submit_at, sends it to the factory
    with scopes_disabled():
        order.refresh_from_db()
        assert order.submit_at is not None
        assert submission.submit_sweep(now=order.submit_at + timedelta(minutes=1)) == 1
        order.refresh_from_db()
        sub = order.submissions.get()
    assert order.state == "in_production" and sub.status == "accepted"
    made = factory.factory.orders[factory.factory.by_external[sub.reference]]
    assert sorted(i["external_line_id"] for i in made.items) == [ln.pk for ln in lines]
    # the print files travel as signed links that work without a session
    links = [f["url"] for i in made.items for f in i["files"]]
    assert len(links) == 2 and all(u.startswith(live_server.url + "/files/print/")
                                   for u in links)
    for link in links:
        fetched = httpx.get(link, timeout=30)
        assert fetched.status_code == 200 and fetched.content.startswith(PNG_MAGIC)
    assert httpx.get(links[0][:-3] + "xx/", timeout=30).status_code == 403

    # 7. the factory makes it and ships two parcels; their callbacks arrive one by one
    factory.factory.advance(made.id, to="in_production")
    factory.relay.holding = True
    factory.factory.advance(made.id, to="shipped")
    held = factory.relay.held
    factory.relay.holding, factory.relay.held = False, []
    assert len(held) == 2
    assert Relay.send(*held[0]) == 200
    page.goto(f"/orders/{order.pk}/")
    panel = page.locator("[data-testid=fulfillment]")
    panel.locator("[data-testid=parcels-progress]").wait_for()
    assert "1 of 2 parcels shipped" in panel.locator("[data-testid=parcels-progress]").inner_text()
    assert page.locator("[data-testid=order-state]").inner_text() == "In production"
    page.screenshot(path=f"{artifacts_dir}/journey-one-parcel.png", full_page=True)
    assert Relay.send(*held[1]) == 200

    # 8. shipped: each parcel's tracking on the order page and in the timeline
    with scope(workspace=workspace):
        parcels = list(Shipment.objects.filter(order=order).order_by("pk"))
    numbers = [p.tracking_number for p in parcels]
    assert len(parcels) == 2 and len(set(numbers)) == 2 and all(numbers)
    page.goto(f"/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Shipped"
    panel.locator("[data-testid=parcels-progress]").wait_for()
    assert "All 2 parcels shipped" in panel.locator("[data-testid=parcels-progress]").inner_text()
    shown = panel.locator("[data-testid=shipment] [data-testid=tracking-number]").all_inner_texts()
    assert shown == numbers
    timeline = page.locator("[data-testid=timeline]").inner_text()
    for p in parcels:
        assert f"Shipped with {p.carrier}: {p.tracking_number}." in timeline
    page.screenshot(path=f"{artifacts_dir}/journey-shipped.png", full_page=True)

    # 9. the store: one fulfillment per parcel, each with its own tracking and item
    _drain_outbox(workspace)
    fulfillments = shop.shop.fulfillments(placed["id"])
    assert sorted(f["tracking_number"] for f in fulfillments) == sorted(numbers)
    by_number = {f["tracking_number"]: f for f in fulfillments}
    store_line = {ln.pk: int(ln.external_id) for ln in lines}
    for p in parcels:
        f = by_number[p.tracking_number]
        assert f["tracking_company"] == p.carrier
        assert [i["line_item_id"] for i in f["line_items"]] == [
            store_line[i["line_item_id"]] for i in p.items]
    assert shop.shop.order(placed["id"])["fulfillment_status"] == "fulfilled"

    # 10. both parcels delivered: the order is completed
    factory.factory.advance(made.id, to="delivered")
    page.goto(f"/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Completed"
    delivered = panel.locator("[data-testid=shipment] [data-testid=shipment-status]")
    delivered.first.wait_for()
    assert delivered.all_inner_texts() == ["Delivered", "Delivered"]

    # 11. something is wrong: "Open a claim" is the next step; the form opens in place,
    # and the whole page confirms it
    page.click("[data-testid=actions] [data-testid=next-claim]")
    form = page.locator("[data-testid=claim-open] form")
    assert form.is_visible()
    form.locator("select[name=kind]").select_option("damaged")
    form.locator("textarea[name=message]").fill("One mug arrived broken")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Claim opened: staff will answer here." in page.locator("ul.messages").inner_text()
    page.locator("[data-testid=claim]").wait_for()
    assert "One mug arrived broken" in page.locator("[data-testid=claim]").inner_text()
