""""Try a sandbox store" (issue 18, item 2): in the embedded default a seller with no store
gets a sandbox Shopify or WooCommerce store of the workspace's own, connected through the
platform's `connect` and sending orders.

Real HTTP both ways: PodHub is the live server, each sandbox runs on a free port, PodHub
asks the sandbox for a new store over HTTP (its `/_sandbox/shops` or `/_sandbox/stores`
control endpoint) and the sandbox sends its webhooks to PodHub over HTTP.
"""

import json
import subprocess
import sys

import pytest
from django_scopes import scope, scopes_disabled

from integrations.models import (
    ConnectionStatus,
    ImportJob,
    InboundWebhook,
    JobStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.services.imports import import_job_run
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import outbox_deliver
from orders.models import Order
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore
from tests.live import wait_for
from tests.security.test_production_settings import COMPLETE, ROOT


@pytest.fixture
def woo_sandbox(settings):
    server = WooSandboxServer(WooStore(consumer_key="ck_demo", consumer_secret="cs_demo"))
    server.start()
    settings.PODHUB_SANDBOX_STORES = {"woocommerce": server.url}
    yield server
    server.stop()


@pytest.fixture
def shopify_sandbox(settings):
    server = SandboxServer(SandboxShop(settings=Settings(restore_rate=5000))).start()
    settings.PODHUB_SANDBOX_STORES = {"shopify": server.url}
    yield server
    server.stop()


def _try(client, platform: str) -> StoreConnection:
    page = client.get("/stores/").content.decode()
    assert "Try a sandbox store" in page
    response = client.post(f"/stores/sandbox/{platform}/")
    assert response.status_code == 302, response.content
    store_id = int(response["Location"].strip("/").rsplit("/", 1)[-1])
    with scopes_disabled():
        return StoreConnection.objects.get(store_id=store_id)


def _arrived(workspace, conn, external_id: str) -> Order | None:
    """Process what the sandbox delivered (no worker here) and find the order."""
    with scope(workspace=workspace):
        if InboundWebhook.objects.filter(connection=conn).exists():
            inbox_drain(connection_id=conn.pk)
        return Order.objects.filter(store_id=conn.store_id, external_id=external_id).first()


@pytest.mark.django_db(transaction=True)
def test_a_workspace_tries_a_sandbox_woocommerce_store_and_its_orders_arrive(
        live_server, settings, workspace, owner, other_owner, client_for, woo_sandbox):
    settings.PUBLIC_BASE_URL = live_server.url
    c = client_for(owner)
    with scope(workspace=workspace):
        conn = _try(c, "woocommerce")
        assert conn.status == ConnectionStatus.ACTIVE
        assert conn.api_base.startswith(f"{woo_sandbox.url}/stores/")
        # connected like a seller's store: webhooks registered through the REST API ...
        msg = outbox_deliver(message_id=OutboxMessage.objects.get(
            kind=OutboxKind.WEBHOOKS_REGISTER).pk)
        assert msg.status == OutboxStatus.DONE, msg.last_error
        # ... and the orders waiting in the new store imported
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 3)
    sandbox_store = woo_sandbox.stores[conn.api_base.rsplit("/", 1)[-1]]
    assert {h["delivery_url"] for h in sandbox_store.list_webhooks()} == {
        f"{live_server.url}/webhooks/woocommerce/{conn.store_id}/"}
    assert woo_sandbox.store.list_webhooks() == []  # the demo's store is untouched

    page = c.get("/stores/").content.decode()
    assert f'action="/stores/{conn.store_id}/sandbox/order/"' in page
    sent = c.post(f"/stores/{conn.store_id}/sandbox/order/")
    assert sent.status_code == 302
    created = max(sandbox_store.orders)
    order = wait_for(lambda: _arrived(workspace, conn, str(created)),
                     what="the test order to arrive by webhook")
    with scope(workspace=workspace):
        assert order.line_items.get().sku == "MUG-11-WHITE"

    # a second workspace gets a store of its own, never "already connected"
    other = _try(client_for(other_owner), "woocommerce")
    assert other.api_base != conn.api_base
    assert other.workspace_id == other_owner.workspace_id
    assert len(woo_sandbox.stores) == 2


@pytest.mark.django_db(transaction=True)
def test_a_workspace_tries_a_sandbox_shopify_store_and_its_orders_arrive(
        live_server, settings, workspace, owner, other_owner, client_for, shopify_sandbox):
    settings.PUBLIC_BASE_URL = live_server.url
    c = client_for(owner)
    with scope(workspace=workspace):
        conn = _try(c, "shopify")
        assert conn.shop_domain.endswith(".myshopify.com")
        assert conn.shop_domain != shopify_sandbox.shop.shop_domain
        assert conn.api_base == f"{shopify_sandbox.url}/shops/{conn.shop_domain}"
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 3)
    shop = shopify_sandbox.shops[conn.shop_domain]
    assert shop.webhook_url == f"{live_server.url}/webhooks/shopify/"

    sent = c.post(f"/stores/{conn.store_id}/sandbox/order/")
    assert sent.status_code == 302
    newest, _, _ = shop.search(None, first=250)
    created = max(o["id"] for o in newest)
    order = wait_for(lambda: _arrived(workspace, conn, str(created)),
                     what="the test order to arrive by webhook")
    assert order.store_id == conn.store_id

    other = _try(client_for(other_owner), "shopify")
    assert other.shop_domain != conn.shop_domain
    assert set(shopify_sandbox.shops) == {conn.shop_domain, other.shop_domain}


@pytest.mark.django_db
def test_without_sandboxes_there_is_no_button_and_no_url(
        settings, workspace, owner, client_for):
    """Production (and any installation without PODHUB_SANDBOX_STORES)."""
    settings.PODHUB_SANDBOX_STORES = {}
    c = client_for(owner)
    assert "Try a sandbox store" not in c.get("/stores/").content.decode()
    for platform in ("shopify", "woocommerce"):
        assert c.post(f"/stores/sandbox/{platform}/").status_code == 404
    with scope(workspace=workspace):
        from integrations.services.connections import store_create_manual

        store = store_create_manual(workspace=workspace, name="Outside")
    assert c.post(f"/stores/{store.pk}/sandbox/order/").status_code == 404


@pytest.mark.django_db
def test_a_member_cannot_make_a_sandbox_store(settings, workspace, client_for):
    from podhub.workspaces.models import Role
    from tests.factories import MembershipFactory, UserFactory

    settings.PODHUB_SANDBOX_STORES = {"shopify": "http://127.0.0.1:9"}  # never reached
    member = MembershipFactory(workspace=workspace, user=UserFactory(email="m@acme.test"),
                               role=Role.MEMBER)
    c = client_for(member)
    response = c.post("/stores/sandbox/shopify/", follow=True)
    assert "Only the owner or an admin can connect a store." in response.content.decode()
    with scope(workspace=workspace):
        assert not StoreConnection.objects.exists()


@pytest.mark.django_db
def test_a_sandbox_that_is_not_running_is_a_clear_message(settings, workspace, owner,
                                                         client_for):
    settings.PODHUB_SANDBOX_STORES = {"shopify": "http://127.0.0.1:9"}  # nothing listens
    response = client_for(owner).post("/stores/sandbox/shopify/", follow=True)
    assert "The Shopify sandbox did not answer" in response.content.decode()
    assert "is it running (make run)?" in response.content.decode()
    with scope(workspace=workspace):
        assert not StoreConnection.objects.exists()


def test_production_settings_have_no_sandbox_stores(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PODHUB_VAR_DIR": str(tmp_path), **COMPLETE,
           "PODHUB_SANDBOX_SHOPIFY_URL": "http://127.0.0.1:8010"}
    code = ("import json, podhub.settings.production as s; "
            "print(json.dumps(s.PODHUB_SANDBOX_STORES))")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}
