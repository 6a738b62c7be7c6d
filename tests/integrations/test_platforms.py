"""Store platforms behind one registry (docs/architecture.md, "Adding a store platform"):
the shared import loop treats every platform's refusal the same way, a platform added in
one module and one settings line gets imports and pushes through the shared loops, and a
wrong settings line stops the start with the reason."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_scopes import scope

from integrations.models import (
    ConnectionStatus,
    ImportJob,
    InboundWebhook,
    InboxStatus,
    JobStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.platforms import registry
from integrations.services import inbox
from integrations.services.imports import import_job_run, import_job_start, reconcile_store
from integrations.services.outbox import outbox_deliver, publish_product, push_fulfillment
from integrations.shopify.connect import store_connect_shopify
from integrations.woocommerce import services as woo
from orders.models import Order, Store
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict
from tests.integrations import fake_platform
from tests.integrations.conftest import SECRET, SHOP, TOKEN
from tests.integrations.test_woocommerce import (
    KEY,
    woo_store,  # noqa: F401 - fixture
)
from tests.integrations.test_woocommerce import SECRET as WOO_SECRET

pytestmark = pytest.mark.django_db

BUILT_IN = ["integrations.platforms.shopify", "integrations.platforms.woocommerce"]
FAKE = "tests.integrations.fake_platform"


@pytest.fixture
def fake_registered(settings):
    """The third platform: one module, one line in the settings list."""
    settings.PODHUB_STORE_PLATFORMS = [*BUILT_IN, FAKE]
    fake_platform.SHOP = fake_platform.FakeShop(orders=[
        {"id": f"F{n}", "sku": "MUG-11-WHITE", "updated_at": f"2026-11-0{n}T10:00:00Z"}
        for n in range(1, 6)])
    return fake_platform.SHOP


def _fake_connection(workspace) -> StoreConnection:
    with scope(workspace=workspace):
        store = Store.objects.create(workspace=workspace, name="My fake shop",
                                     platform="fakestore")
        return StoreConnection.objects.create(workspace=workspace, store=store,
                                              platform="fakestore", shop_domain="fake.test",
                                              access_token=Secret("fake-key"),
                                              webhook_secret=Secret("fake-hook-secret"))


# --- (a) the same refusal, the same outcome -----------------------------------------------


def _shopify(workspace, request):
    sandbox = request.getfixturevalue("sandbox")
    with scope(workspace=workspace):
        return store_connect_shopify(workspace=workspace, shop_domain=SHOP, access_token=TOKEN,
                                     webhook_secret=SECRET, api_base=sandbox.url,
                                     start_import=False)


def _woocommerce(workspace, request):
    server = request.getfixturevalue("woo_store")
    with scope(workspace=workspace):
        return woo.store_connect_woocommerce(
            workspace=workspace, url=server.url, consumer_key=KEY,
            consumer_secret=WOO_SECRET, start_import=False, register_webhooks=False)


def _fake(workspace, request):
    request.getfixturevalue("fake_registered")
    return _fake_connection(workspace)


@pytest.mark.parametrize("connect", [_shopify, _woocommerce, _fake],
                         ids=["shopify", "woocommerce", "fakestore"])
def test_a_refused_token_fails_the_import_and_flags_the_store_on_every_platform(
        workspace, request, connect, django_capture_on_commit_callbacks):
    """The seller revoked PodHub's access in the store: the import stops with the store's
    reason on the job and on the store's page, for Shopify as for WooCommerce (the two
    loops had drifted: one raised, the other swallowed)."""
    conn = connect(workspace, request)
    with scope(workspace=workspace):
        conn.access_token = Secret("revoked-by-the-seller")
        conn.save()
        with django_capture_on_commit_callbacks(execute=False):
            job = import_job_start(connection=conn)
        job = import_job_run(job_id=job.pk)  # nothing raised: the job row says it
        assert job.status == JobStatus.FAILED
        assert job.error and job.finished_at is not None
        conn.refresh_from_db()
        assert conn.last_error.startswith("Import refused: ")
        assert job.error in conn.last_error
        assert conn.status == ConnectionStatus.ACTIVE  # reconnecting fixes it
        assert not Order.objects.exists()
        assert import_job_run(job_id=job.pk) is None  # a failed job is not resumed


# --- (b) a third platform: one module, one line -------------------------------------------


def test_a_platform_added_in_settings_imports_through_the_shared_loop(
        workspace, fake_registered, django_capture_on_commit_callbacks):
    conn = _fake_connection(workspace)
    with scope(workspace=workspace):
        with django_capture_on_commit_callbacks(execute=False):
            job = import_job_start(connection=conn)
        job = import_job_run(job_id=job.pk, max_pages=2)  # a worker stops after two pages
        assert (job.status, job.imported, job.total, job.cursor) == (
            JobStatus.RUNNING, 4, 5, "2")
        job = import_job_run(job_id=ImportJob.objects.get().pk)
        assert job is None  # its heartbeat is fresh: a live worker has it
        ImportJob.objects.update(heartbeat_at=None)
        job = import_job_run(job_id=ImportJob.objects.get().pk)  # resumed from the cursor
        assert (job.status, job.imported, job.failed) == (JobStatus.DONE, 5, 0)
        orders = Order.objects.filter(store_id=conn.store_id)
        assert sorted(orders.values_list("external_id", flat=True)) == [
            "F1", "F2", "F3", "F4", "F5"]
        fake_registered.orders[0] = {**fake_registered.orders[0], "cancelled": True,
                                     "updated_at": "2026-11-20T10:00:00Z"}
        stats = reconcile_store(connection_id=conn.pk)
        assert stats["cancelled"] == 1
        assert orders.get(external_id="F1").state == "cancelled"


def test_a_platform_added_in_settings_is_reconciled_by_the_sweep(workspace, fake_registered,
                                                                 monkeypatch):
    """The 10-minute reconciliation rings for every live connection of a platform that
    sends webhooks, whichever the registry lists, and leaves polled ones (Etsy) to the
    poll sweep."""
    from integrations import tasks
    from integrations.services.imports import connections_to_reconcile

    conn = _fake_connection(workspace)
    assert connections_to_reconcile() == [(workspace.pk, conn.pk)]
    rung = []
    monkeypatch.setattr(tasks.reconcile_store_task, "delay", lambda **kw: rung.append(kw))
    assert tasks.reconcile_sweep_task() == 1
    assert rung == [{"workspace_id": workspace.pk, "connection_id": conn.pk}]
    monkeypatch.setattr(type(registry.get("fakestore")), "poll_seconds", 60)
    assert connections_to_reconcile() == []
    with scope(workspace=workspace):
        StoreConnection.objects.filter(pk=conn.pk).update(status="disconnected")
    monkeypatch.setattr(type(registry.get("fakestore")), "poll_seconds", None)
    assert connections_to_reconcile() == []


def test_a_platform_added_in_settings_takes_webhooks_at_the_shared_door(
        workspace, fake_registered, client):
    conn = _fake_connection(workspace)
    url = reverse("integrations:store_webhook",
                  kwargs={"platform": "fakestore", "store_id": conn.store_id})
    body = json.dumps(fake_registered.orders[0]).encode()

    def post(data, signature):
        return client.post(url, data, content_type="application/json",
                           HTTP_X_FAKE_SIGNATURE=signature, HTTP_X_FAKE_TOPIC="order")

    signed = fake_platform.sign(body, "fake-hook-secret")
    assert post(body, "0" * 64).status_code == 401  # the platform's own signature check
    assert post(b"{", fake_platform.sign(b"{", "fake-hook-secret")).status_code == 400
    assert post(body, signed).json() == {"ok": True, "duplicate": False}
    assert post(body, signed).json() == {"ok": True, "duplicate": True}  # stored once
    with scope(workspace=workspace):
        inbox.inbox_drain(connection_id=conn.pk)
        assert Order.objects.get(store_id=conn.store_id).external_id == "F1"
    # a store id of another platform, or a platform not listed, is not authenticated
    for platform, store_id in (("woocommerce", conn.store_id), ("etsy", conn.store_id)):
        other = reverse("integrations:store_webhook",
                        kwargs={"platform": platform, "store_id": store_id})
        response = client.post(other, body, content_type="application/json")
        assert response.status_code == 401, platform
        assert response.json()["error"]["code"] == "unknown_store"


def test_a_platform_added_in_settings_pushes_through_the_shared_outbox(
        workspace, fake_registered, django_capture_on_commit_callbacks):
    conn = _fake_connection(workspace)
    with scope(workspace=workspace):
        with django_capture_on_commit_callbacks(execute=False):
            import_job_run(job_id=import_job_start(connection=conn).pk)
        order = Order.objects.get(external_id="F2")
        with django_capture_on_commit_callbacks(execute=False):
            msg = push_fulfillment(store=conn.store, order=order, shipment_ref="S1",
                                   carrier="DHL", number="JD0001")
        msg = outbox_deliver(message_id=msg.pk)
        assert (msg.status, msg.result) == (OutboxStatus.DONE, {"noted": True})
        assert fake_registered.notes == [("F2", "Shipped: DHL JD0001")]
        # what the platform does not take is refused at once, saying so
        with pytest.raises(Conflict, match="Publish product is not supported for "
                                           "Fake Store stores"):
            publish_product(store=conn.store, product_ref="p1", title="Mug",
                            variants=[{"sku": "MUG-11-WHITE", "price": "14.00"}])
        # the store refusing a push fails it for good and shows it on the connection
        with django_capture_on_commit_callbacks(execute=False):
            other = OutboxMessage.objects.create(
                workspace=workspace, store=conn.store, kind=OutboxKind.FULFILLMENT_CREATE,
                key="x", payload={"order_id": "GONE", "carrier": "DHL", "number": "1"})
        other = outbox_deliver(message_id=other.pk)
        assert other.status == OutboxStatus.FAILED
        assert other.last_error == "Refused by the store: no order GONE"
        conn.refresh_from_db()
        assert "no order GONE" in conn.last_error


# --- (b') the same platform connected from the Stores page, the CLI and the API -------


def test_a_platform_added_in_settings_is_connected_from_the_stores_page(
        workspace, owner, fake_registered, client_for):
    """The generic view renders the platform's own fields and calls its `connect`: no
    view, form or template of its own."""
    c = client_for(owner)
    page = c.get("/stores/").content.decode()
    assert 'href="/stores/connect/fakestore/"' in page and "Connect a Fake Store store" in page
    form = c.get("/stores/connect/fakestore/").content.decode()
    assert 'name="shop"' in form and 'type="password" name="api_key"' in form

    refused = c.post("/stores/connect/fakestore/", {"shop": "myshop", "api_key": "wrong-key"})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "The store refused this key (401 invalid API key)." in body
    assert "wrong-key" not in body  # a secret is never shown back
    assert 'value="myshop"' in body  # what is not secret is kept
    with scope(workspace=workspace):
        assert not StoreConnection.objects.exists()  # a refusal writes nothing

    done = c.post("/stores/connect/fakestore/", {"shop": "myshop", "api_key": "fake-key",
                                                  "name": "My fake shop"})
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get()
        assert done.status_code == 302
        assert done["Location"] == f"/stores/{conn.store_id}/"
        assert (conn.platform, conn.shop_domain, conn.store.name) == (
            "fakestore", "myshop", "My fake shop")
        assert conn.access_token.reveal() == "fake-key"
        raw = StoreConnection.objects.filter(pk=conn.pk).values_list(
            "access_token", flat=True).get()
        assert "fake-key" not in str(raw)  # encrypted at rest
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 5)
    again = c.post("/stores/connect/fakestore/", {"shop": "myshop", "api_key": "fake-key"})
    assert again.status_code == 409
    assert "myshop is already connected to this workspace." in again.content.decode()


def test_a_platform_added_in_settings_is_connected_from_the_cli(workspace, fake_registered):
    out = StringIO()
    call_command("connect_store", "fakestore", "--workspace", str(workspace.pk), "--shop",
                 "clishop", "--api-key", "fake-key", "--no-import", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["webhook_url"].endswith(f"/webhooks/fakestore/{result['store_id']}/")
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get(store_id=result["store_id"])
        assert (conn.platform, conn.shop_domain) == ("fakestore", "clishop")
        assert not ImportJob.objects.exists()
    with pytest.raises(CommandError, match="--api-key required for Fake Store"):
        call_command("connect_store", "fakestore", "--workspace", str(workspace.pk),
                     "--shop", "other")
    with pytest.raises(CommandError, match="The store refused this key"):
        call_command("connect_store", "--platform", "fakestore", "--workspace",
                     str(workspace.pk), "--shop", "other", "--api-key", "nope")
    with pytest.raises(CommandError, match="--url is not a Fake Store option"):
        call_command("connect_store", "fakestore", "--workspace", str(workspace.pk),
                     "--shop", "other", "--api-key", "fake-key", "--url", "https://x.test")


def test_a_platform_added_in_settings_is_connected_through_the_api(
        workspace, owner, fake_registered, api_client_for):
    from podhub.workspaces.models import Role
    from tests.factories import MembershipFactory, UserFactory

    api = api_client_for(owner)
    url = "/api/v1/stores/connect/fakestore/"
    missing = api.post(url, {"shop": "apishop"}, format="json")
    assert missing.status_code == 400
    assert "api_key" in missing.json()["error"]["fields"]
    refused = api.post(url, {"shop": "apishop", "api_key": "nope"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "api_key"
    assert "refused this key" in refused.json()["error"]["message"]
    made = api.post(url, {"shop": "apishop", "api_key": "fake-key", "name": "API shop"},
                    format="json")
    assert made.status_code == 201, made.json()
    store_id = made.json()["store_id"]
    assert {k: v for k, v in made.json().items() if k != "webhook_url"} == {
        "store_id": store_id, "platform": "fakestore", "name": "API shop",
        "shop_domain": "apishop", "status": "active"}
    assert made.json()["webhook_url"].endswith(f"/webhooks/fakestore/{store_id}/")
    again = api.post(url, {"shop": "apishop", "api_key": "fake-key"}, format="json")
    assert again.status_code == 409
    assert api.post("/api/v1/stores/connect/etsy/", {}, format="json").status_code == 404
    # connecting a store is a manager's: a plain member is refused
    member = MembershipFactory(workspace=workspace, user=UserFactory(email="m@acme.test"),
                               role=Role.MEMBER)
    refused = api_client_for(member).post(url, {"shop": "membershop", "api_key": "fake-key"},
                                          format="json")
    assert refused.status_code == 403


# --- (c) a wrong settings line stops the start ---------------------------------------------


@pytest.mark.parametrize(("line", "reason"), [
    ("integrations.platforms.amazon", "is not a store platform module"),
    ("integrations.models", "is not a store platform module"),
])
def test_an_unknown_platform_in_settings_fails_at_start_up(settings, line, reason):
    settings.PODHUB_STORE_PLATFORMS = [*BUILT_IN, line]
    with pytest.raises(ImproperlyConfigured, match=reason) as exc:
        apps.get_app_config("integrations").ready()
    assert line in str(exc.value)


def test_two_modules_of_one_platform_fail_at_start_up(settings):
    settings.PODHUB_STORE_PLATFORMS = [*BUILT_IN, "integrations.platforms.shopify"]
    with pytest.raises(ImproperlyConfigured, match="two modules declare 'shopify'"):
        registry.platforms()


def test_a_delivery_of_a_platform_no_longer_listed_fails_with_the_reason(
        settings, workspace, fake_registered, monkeypatch):
    conn = _fake_connection(workspace)
    settings.PODHUB_STORE_PLATFORMS = BUILT_IN
    monkeypatch.setattr(inbox.conf, "INBOX_MAX_ATTEMPTS", 1)
    with scope(workspace=workspace):
        row_id = inbox.webhook_store(
            connection_id=conn.pk, workspace_id=workspace.pk, event_id="e1", webhook_id="",
            topic="order/created", resource_id="F1", api_version="", triggered_at="",
            body='{"id": "F1"}')
        assert inbox.inbox_process(inbox_id=row_id) == InboxStatus.FAILED
        row = InboundWebhook.objects.get(pk=row_id)
        assert "no store platform 'fakestore' is registered" in row.error
        conn.refresh_from_db()
        assert "no store platform 'fakestore'" in conn.last_error


def test_a_platform_no_longer_listed_is_not_pushed_to(settings, workspace):
    conn = _fake_connection(workspace)
    settings.PODHUB_STORE_PLATFORMS = BUILT_IN
    with scope(workspace=workspace), pytest.raises(Conflict, match="not a connected store"):
        publish_product(store=conn.store, product_ref="p1", title="Mug",
                        variants=[{"sku": "MUG-11-WHITE", "price": "14.00"}])


def test_a_platform_added_in_settings_is_a_kind_of_store(workspace, fake_registered):
    # no line in orders and no migration: Store.platform's choices follow the registry
    conn = _fake_connection(workspace)
    with scope(workspace=workspace):
        store = Store.objects.get(pk=conn.store_id)
        store.full_clean()
        assert store.get_platform_display() == "Fake Store"
        assert ("fakestore", "Fake Store") in Store._meta.get_field("platform").choices
        assert ("manual", "Outside source (manual, CSV, API)") in \
            Store._meta.get_field("platform").choices
