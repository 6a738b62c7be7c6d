"""A sandbox store made by "Try a sandbox store" outlives a `make run` restart (issue 18,
item 2): each sandbox keeps its stores and their credentials under a state directory
(sandboxes/state.py; scripts/run.sh passes var/sandboxes/), and a sandbox started again
on the same port answers the connection PodHub already holds — orders kept, keys and
tokens still good, webhooks still sent, new ids never reusing old ones.

Real HTTP both ways, as in test_sandbox_stores.py.
"""

import httpx
import pytest
from django_scopes import scope, scopes_disabled

from integrations.models import ImportJob, JobStatus, OutboxKind, OutboxMessage, OutboxStatus
from integrations.services.imports import import_job_run, reconcile_store
from integrations.services.outbox import outbox_deliver
from orders.models import Order
from sandboxes.etsy.server import EtsySandboxServer
from sandboxes.etsy.shop import EtsySandbox
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore
from tests.integrations.test_sandbox_stores import _arrived, _try
from tests.live import wait_for


def _port(server) -> int:
    return server.httpd.server_port


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_shopify_store_outlives_a_restart(live_server, settings, tmp_path, workspace,
                                                    owner, client_for):
    settings.PUBLIC_BASE_URL = live_server.url

    def start(port=0):
        return SandboxServer(SandboxShop(settings=Settings(restore_rate=5000)), port=port,
                             state_dir=tmp_path).start()

    server = start()
    settings.PODHUB_SANDBOX_STORES = {"shopify": server.url}
    c = client_for(owner)
    with scope(workspace=workspace):
        conn = _try(c, "shopify")
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 3)
    before = {o["id"] for o in server.shops[conn.shop_domain].search(None, first=250)[0]}
    server.stop()

    server = start(_port(server))
    try:
        shop = server.shops[conn.shop_domain]
        assert {o["id"] for o in shop.search(None, first=250)[0]} == before
        with scope(workspace=workspace):
            stats = reconcile_store(connection_id=conn.pk)  # the token PodHub holds works
        assert "error" not in stats and stats["unchanged"] == 3
        assert c.post(f"/stores/{conn.store_id}/sandbox/order/").status_code == 302
        created = max(o["id"] for o in shop.search(None, first=250)[0])
        assert created not in before
        order = wait_for(lambda: _arrived(workspace, conn, str(created)),
                         what="the test order to arrive by webhook after the restart")
        assert order.store_id == conn.store_id
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_woocommerce_store_outlives_a_restart(live_server, settings, tmp_path,
                                                        workspace, owner, client_for):
    settings.PUBLIC_BASE_URL = live_server.url

    def start(port=0):
        return WooSandboxServer(WooStore(consumer_key="ck_demo", consumer_secret="cs_demo"),
                                port=port, state_dir=tmp_path).start()

    server = start()
    settings.PODHUB_SANDBOX_STORES = {"woocommerce": server.url}
    c = client_for(owner)
    with scope(workspace=workspace):
        conn = _try(c, "woocommerce")
        msg = outbox_deliver(message_id=OutboxMessage.objects.get(
            kind=OutboxKind.WEBHOOKS_REGISTER).pk)
        assert msg.status == OutboxStatus.DONE, msg.last_error
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 3)
    slug = conn.api_base.rsplit("/", 1)[-1]
    before = set(server.stores[slug].orders)
    hooks = server.stores[slug].list_webhooks()
    server.stop()

    server = start(_port(server))
    try:
        store = server.stores[slug]
        assert set(store.orders) == before
        assert store.list_webhooks() == hooks
        with scope(workspace=workspace):
            stats = reconcile_store(connection_id=conn.pk)  # the REST keys PodHub holds work
        assert "error" not in stats and stats["unchanged"] == 3
        assert c.post(f"/stores/{conn.store_id}/sandbox/order/").status_code == 302
        created = max(store.orders)
        assert created not in before and created > max(before)
        order = wait_for(lambda: _arrived(workspace, conn, str(created)),
                         what="the test order to arrive by webhook after the restart")
        with scope(workspace=workspace):
            assert order.line_items.get().sku == "MUG-11-WHITE"
    finally:
        server.stop()


@pytest.mark.django_db
def test_a_sandbox_etsy_shop_outlives_a_restart(settings, tmp_path, workspace, owner,
                                                client_for):
    state_file = tmp_path / "etsy.json"

    def start(port=0):
        server = EtsySandboxServer(EtsySandbox(), port=port, state_file=state_file).start()
        settings.ETSY_API_KEY = "podhub-sandbox-keystring"
        settings.ETSY_SHARED_SECRET = "podhub-sandbox-secret"
        settings.ETSY_API_BASE = f"{server.url}/v3"
        settings.ETSY_CONNECT_URL = f"{server.url}/oauth/connect"
        settings.PODHUB_SANDBOX_STORES = {"etsy": server.url}
        return server

    server = start()
    c = client_for(owner)
    assert c.post("/stores/sandbox/etsy/").status_code == 302
    with scopes_disabled():
        from integrations.models import StoreConnection

        conn = StoreConnection.objects.get(platform="etsy")
    with scope(workspace=workspace):
        assert import_job_run(job_id=ImportJob.objects.get(connection=conn).pk).imported == 3
    server.stop()

    server = start(_port(server))
    try:
        httpx.post(f"{server.url}/_sandbox/expire").raise_for_status()
        assert c.post(f"/stores/{conn.store_id}/sandbox/order/").status_code == 302
        with scope(workspace=workspace):
            # the refresh token PodHub holds is still the sandbox's: a new access token,
            # the receipt made after the restart read, the three before it unchanged
            stats = reconcile_store(connection_id=conn.pk)
            assert "error" not in stats and stats["created"] == 1
            receipts = {o.external_id for o in Order.objects.filter(store=conn.store)}
        assert len(receipts) == 4
    finally:
        server.stop()
