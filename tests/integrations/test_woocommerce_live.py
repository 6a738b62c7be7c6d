"""The whole WooCommerce path over real HTTP both ways: PodHub (live server) <-> sandbox.

Connecting from the dashboard registers the webhooks through the REST API; creating each
makes the store ping PodHub's webhook URL (an unsigned form body) over HTTP; the
store's signed deliveries then reach PodHub over HTTP too.
"""

import pytest
from django_scopes import scope

from integrations.models import ImportJob, InboundWebhook, OutboxKind, OutboxMessage, OutboxStatus
from integrations.sandbox_woo.server import WooSandboxServer
from integrations.sandbox_woo.store import WooStore
from integrations.services.imports import import_job_run
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import outbox_deliver
from orders.models import Order

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
