"""The whole WooCommerce path over real HTTP both ways: PodHub (live server) <-> sandbox.

Connecting from the dashboard registers the webhooks through the REST API; creating each
makes the store ping PodHub's webhook URL (an unsigned form body) over HTTP; the
store's signed deliveries then reach PodHub over HTTP too.
"""


import pytest
from django_scopes import scope

from integrations.models import ImportJob, InboundWebhook, OutboxKind, OutboxMessage, OutboxStatus
from integrations.services.imports import import_job_run
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import outbox_deliver
from orders.models import Order
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore
from tests.live import wait_for

KEY, SECRET = "ck_live_key", "cs_live_secret"


@pytest.fixture
def woo_http():
    store = WooStore(consumer_key=KEY, consumer_secret=SECRET)
    server = WooSandboxServer(store).start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_dashboard_connect_registers_webhooks_pinged_and_delivered_over_http(
        live_server, settings, workspace, owner, client_for, woo_http):
    settings.PUBLIC_BASE_URL = live_server.url
    shop = woo_http.store
    existing = shop.create_order({"status": "processing"}, webhooks=False)
    c = client_for(owner)
    resp = c.post("/stores/woocommerce/connect/", {"url": woo_http.url, "consumer_key": KEY,
                                                   "consumer_secret": SECRET,
                                                   "name": "Live Woo"})
    assert resp.status_code == 302
    with scope(workspace=workspace):
        msg = OutboxMessage.objects.get(kind=OutboxKind.WEBHOOKS_REGISTER)
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.DONE, msg.last_error
        store_id = msg.store_id
        job = import_job_run(job_id=ImportJob.objects.get().pk)
        assert (job.status, job.imported) == ("done", 1)
    hooks = shop.list_webhooks()
    url = f"{live_server.url}/webhooks/woocommerce/{store_id}/"
    assert sorted(h["topic"] for h in hooks) == ["order.created", "order.deleted",
                                                 "order.updated"]
    assert {h["delivery_url"] for h in hooks} == {url}
    assert [e["status"] for e in shop.log if "ping" in e] == [200, 200, 200]
    with scope(workspace=workspace):
        assert InboundWebhook.objects.count() == 0  # pings are not stored

    created = shop.create_order({"status": "pending"})
    shop.next_delivery(duplicate=1)
    shop.update_order(created["id"], {"status": "processing"})
    assert shop.deliver_due() == 3
    assert [e["status"] for e in shop.log if "hook_id" in e] == [200, 200, 200]
    with scope(workspace=workspace):
        conn_id = InboundWebhook.objects.values_list("connection_id", flat=True).first()
        inbox_drain(connection_id=conn_id)
        order = Order.objects.get(external_id=str(created["id"]))
        assert order.store_paid is True
        assert Order.objects.filter(external_id=str(existing["id"])).exists()
        # built at delivery time: both deliveries carry the processing version, one is a dup
        assert InboundWebhook.objects.count() == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_connect_import_webhook_and_tracking_note(
        page, login, owner, workspace, settings, live_server, woo_http, worker, artifacts_dir):
    settings.PUBLIC_BASE_URL = live_server.url
    shop = woo_http.store
    shop.auto_deliver = True  # the store sends its webhooks itself, over HTTP
    shop.create_order({"status": "processing"}, webhooks=False)
    shop.create_order({"status": "on-hold"}, webhooks=False)
    shop.create_order({"status": "completed"}, webhooks=False)  # never imported

    login(owner)
    page.goto("/stores/")
    page.locator("[data-testid=connect-choices] a[data-platform=woocommerce]").click()
    form = page.locator("[data-testid=connect-form]")
    form.locator("input[name=url]").fill(woo_http.url)
    form.locator("input[name=consumer_key]").fill(KEY)
    form.locator("input[name=consumer_secret]").fill(SECRET)
    form.locator("input[name=name]").fill("Sandbox WooCommerce store")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/stores/*/")
    page.wait_for_selector("[data-testid=import-progress][data-status=done]", timeout=30_000)
    assert "Imported 2 orders" in page.locator("[data-testid=import-progress]").inner_text()
    wait_for(lambda: len(shop.list_webhooks()) == 3, what="the webhooks registered")

    created = shop.create_order({"line_items": [
        {"name": "Custom mug", "sku": "MUG-11-WHITE", "price": "14.00", "quantity": 1,
         "meta": {"Name": "Łukasz"}}]})
    with scope(workspace=workspace):
        wait_for(lambda: Order.objects.filter(external_id=str(created["id"])).exists(),
                 what="the webhook order")
        order = Order.objects.select_related("store").get(external_id=str(created["id"]))
    page.goto(f"/orders/{order.pk}/")
    page.wait_for_selector("dl.personalization")
    assert "Łukasz" in page.locator("dl.personalization").first.inner_text()

    from integrations.services.outbox import push_fulfillment

    with scope(workspace=workspace):
        push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                         carrier="DHL", number="JD0140", url="https://dhl.example/JD0140")
    note = wait_for(lambda: [n for n in shop.list_notes(created["id"]) if n["customer_note"]],
                    what="the tracking note in the store")
    assert "JD0140" in note[0]["note"]
    with scope(workspace=workspace):
        wait_for(lambda: OutboxMessage.objects.filter(
            kind=OutboxKind.FULFILLMENT_CREATE, status=OutboxStatus.DONE).exists(),
            what="the push done")
    page.goto(f"/stores/{order.store_id}/")
    outbox = page.locator("[data-testid=outbox]").inner_text()
    assert "JD0140" in outbox and "Done" in outbox
    assert "order.created" in page.locator("[data-testid=inbox]").inner_text()
    page.screenshot(path=f"{artifacts_dir}/woocommerce-sync-health.png", full_page=True)
