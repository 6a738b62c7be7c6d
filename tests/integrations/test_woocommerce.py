"""WooCommerce stores against the sandbox store over real HTTP (the `woocommerce` client).

The sandbox's webhook deliveries go through the Django test client (same database
transaction as the test) when a test says `deliver_due()`; the REST calls PodHub makes
go over HTTP to the sandbox's port. See test_woocommerce_live.py for the path where the
sandbox calls PodHub over HTTP too (webhook registration and its ping).
"""

import json
from datetime import timedelta
from io import StringIO
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.models import (
    ImportJob,
    InboundWebhook,
    JobStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
    StoreOrderRecord,
)
from integrations.services.imports import import_job_run, reconcile_store
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import order_event_handle, outbox_deliver
from integrations.woocommerce import services as woo
from integrations.woocommerce.mapping import from_order
from integrations.woocommerce.signature import sign
from orders import services as order_services
from orders.events import Actor
from orders.models import Order, Store
from podhub.core.exceptions import ValidationFailed
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore

pytestmark = pytest.mark.django_db

KEY, SECRET, HOOK_SECRET = "ck_test_key", "cs_test_secret", "whsecwootest"


@pytest.fixture
def woo_store():
    """The sandbox store on 127.0.0.1:<free port>."""
    store = WooStore(consumer_key=KEY, consumer_secret=SECRET)
    server = WooSandboxServer(store).start()
    yield server
    server.stop()


@pytest.fixture
def webhook_client():
    return Client()


@pytest.fixture
def woo_conn(workspace, woo_store, webhook_client):
    """A WooCommerce store of `workspace` connected to the sandbox, its three webhooks
    created in the sandbox (each creation pings PodHub through the test client)."""
    with scope(workspace=workspace):
        conn = woo.store_connect_woocommerce(
            workspace=workspace, url=woo_store.url, consumer_key=KEY, consumer_secret=SECRET,
            webhook_secret=HOOK_SECRET, name="Sandbox Woo", start_import=False,
            register_webhooks=False)

    def send(url, body, headers):
        return webhook_client.post(urlparse(url).path, data=body,
                                   content_type=headers.pop("Content-Type"),
                                   headers=headers).status_code

    woo_store.store.sender = send
    for topic in woo.TOPICS:
        woo_store.store.create_webhook({"topic": topic, "secret": HOOK_SECRET,
                                        "delivery_url": woo.webhook_url(conn.store_id)})
    return conn


def drain(conn, workspace):
    with scope(workspace=workspace):
        return inbox_drain(connection_id=conn.pk)


def inbox_count(workspace):
    with scope(workspace=workspace):
        return InboundWebhook.objects.count()


def post(client, conn, body: bytes, *, topic="order.updated", secret=HOOK_SECRET, **headers):
    hdrs = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Source": "http://shop.test/",
            "X-WC-Webhook-Signature": sign(body, secret), **headers}
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    return client.post(f"/webhooks/woocommerce/{conn.store_id}/", data=body,
                       content_type="application/json", headers=hdrs)


PERSONALISED = {"status": "processing", "currency": "EUR", "shipping_total": "4.50",
                "line_items": [
                    {"name": "Mug 11oz", "sku": "MUG-11", "price": "12.00", "quantity": 2,
                     "total": "20.00", "attributes": {"pa_color": "White"},
                     "meta": {"Name": "Zoë", "Photo": "https://img.example/p.png",
                              "_reduced_stock": "2"}},
                    {"name": "Tee", "sku": "TEE-M", "price": "20.00", "quantity": 1}]}


# --- mapping ---------------------------------------------------------------------------


def test_an_order_maps_to_the_same_facts_as_shopify(woo_store):
    remote = woo_store.store.create_order({**PERSONALISED, "shipping": {
        "first_name": "Zoë", "last_name": "Ng", "address_1": "1 Main St", "city": "Porto",
        "postcode": "4000", "country": "PT", "state": ""}}, webhooks=False)
    data, facts = from_order(remote)
    mug, tee = data["line_items"]
    assert mug["personalization"] == [{"key": "Name", "value": "Zoë"}]  # _hidden skipped
    assert mug["images"] == [{"key": "Photo", "url": "https://img.example/p.png"}]
    assert mug["variant_title"] == "White"
    assert (mug["unit_price"], mug["discount"], mug["quantity"]) == ("12.00", "4.00", 2)
    assert tee["sku"] == "TEE-M" and tee["external_id"] == str(remote["line_items"][1]["id"])
    assert data["shipping_address"]["name"] == "Zoë Ng"
    assert data["shipping_address"]["country_code"] == "PT"
    assert data["buyer_email"] == "ana@example.com"
    assert (data["shipping"], data["total"]) == ("4.50", "44.50")
    assert data["updated_at"].endswith("Z") and facts.updated_at == data["updated_at"]
    assert facts.store_paid and facts.importable and not facts.cancelled


@pytest.mark.parametrize(("status", "paid", "importable", "cancelled"), [
    ("processing", True, True, False), ("on-hold", False, True, False),
    ("pending", False, True, False), ("completed", True, False, False),
    ("cancelled", False, False, True), ("refunded", True, False, True),
    ("failed", False, False, False),
])
def test_status_facts(woo_store, status, paid, importable, cancelled):
    _, facts = from_order(woo_store.store.create_order({"status": status}, webhooks=False))
    assert (facts.store_paid, facts.importable, facts.cancelled) == (paid, importable,
                                                                     cancelled)


# --- connecting --------------------------------------------------------------------------


def _stores():
    with scopes_disabled():
        return Store.objects.count(), StoreConnection.objects.count()


def test_wrong_keys_are_refused_and_change_nothing(workspace, woo_store):
    before = _stores()
    with scope(workspace=workspace), pytest.raises(ValidationFailed, match="refused these keys"):
        woo.store_connect_woocommerce(workspace=workspace, url=woo_store.url,
                                      consumer_key=KEY, consumer_secret="cs_wrong")
    assert _stores() == before
    with scope(workspace=workspace), pytest.raises(ValidationFailed, match="not a store"):
        woo.store_connect_woocommerce(workspace=workspace, url="ftp://x", consumer_key=KEY,
                                      consumer_secret=SECRET)
    assert _stores() == before


def test_cli_connects_and_prints_json(workspace, woo_store, django_capture_on_commit_callbacks):
    out = StringIO()
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                     "woocommerce", "--url", woo_store.url + "/", "--consumer-key", KEY,
                     "--consumer-secret", SECRET, "--webhook-secret", "wh-secret-cli-1", "--json",
                     stdout=out)
    result = json.loads(out.getvalue())
    assert result["webhook_url"].endswith(f"/webhooks/woocommerce/{result['store_id']}/")
    with scope(workspace=workspace):
        conn = StoreConnection.objects.select_related("store").get(store_id=result["store_id"])
        assert (conn.platform, conn.store.platform) == ("woocommerce", "woocommerce")
        assert conn.api_base == woo_store.url
        assert conn.consumer_secret.reveal() == SECRET
        msg = OutboxMessage.objects.get(store_id=conn.store_id)  # rows first
        assert msg.kind == OutboxKind.WEBHOOKS_REGISTER
        assert msg.payload["delivery_url"] == result["webhook_url"]
        assert ImportJob.objects.filter(connection=conn, status=JobStatus.PENDING).exists()
    assert len(callbacks) == 2  # their doorbells after commit
    from django.db import connection as db

    with db.cursor() as cur:  # encrypted at rest
        cur.execute("SELECT access_token, consumer_secret, webhook_secret "
                    "FROM integrations_storeconnection")
        raw = cur.fetchone()
    assert KEY not in raw[0] and SECRET not in raw[1] and "wh-secret-cli-1" not in raw[2]
    before = _stores()
    again = StringIO()  # the same workspace again: new keys, webhooks registered again
    call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                 "woocommerce", "--url", woo_store.url, "--consumer-key", KEY,
                 "--consumer-secret", SECRET, "--webhook-secret", "w2", "--json", stdout=again)
    assert json.loads(again.getvalue())["store_id"] == result["store_id"]
    assert _stores() == before
    with scope(workspace=workspace):
        assert StoreConnection.objects.get().webhook_secret.reveal() == "w2"
        assert OutboxMessage.objects.filter(kind=OutboxKind.WEBHOOKS_REGISTER).count() == 2
        assert ImportJob.objects.count() == 1  # the waiting import is not started twice


def test_a_store_connected_elsewhere_is_refused(workspace, other_workspace, woo_store):
    with scope(workspace=other_workspace):
        woo.store_connect_woocommerce(workspace=other_workspace, url=woo_store.url,
                                      consumer_key=KEY, consumer_secret=SECRET)
    before = _stores()
    with pytest.raises(Exception, match="already connected to another workspace"):
        call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                     "woocommerce", "--url", woo_store.url, "--consumer-key", KEY,
                     "--consumer-secret", SECRET)
    assert _stores() == before


def test_dashboard_form_connects(workspace, owner, client_for, woo_store):
    c = client_for(owner)
    page = c.get("/stores/").content.decode()
    assert "Connect a WooCommerce store" in page and "coming in a later version" not in page
    resp = c.post("/stores/woocommerce/connect/", {"url": woo_store.url, "consumer_key": KEY,
                                                   "consumer_secret": "cs_wrong"})
    assert resp.status_code == 400 and "refused these keys" in resp.content.decode()
    assert _stores() == (0, 0)
    resp = c.post("/stores/woocommerce/connect/", {"url": woo_store.url, "consumer_key": KEY,
                                                   "consumer_secret": SECRET, "name": "Woo"})
    assert resp.status_code == 302
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get()
        assert conn.webhook_secret.reveal()  # made for us when left empty
    health = c.get(resp["Location"]).content.decode()
    assert f"/webhooks/woocommerce/{conn.store_id}/" in health
    assert SECRET not in health and KEY not in health
    assert "Woo" in c.get("/stores/").content.decode()


# --- webhook intake ----------------------------------------------------------------------


def test_a_webhook_creates_the_order(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order(PERSONALISED)
    assert woo_store.store.deliver_due() == 1
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
        assert (row.topic, row.resource_id) == ("order.created", str(remote["id"]))
        assert row.event_id.endswith(f":{remote['id']}:{remote['date_modified_gmt']}")
    assert drain(woo_conn, workspace) == 1
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert order.external_id == str(remote["id"]) and order.store_paid
        mug = order.line_items.get(sku="MUG-11")
        assert order.events.get(type="order.imported").actor_label == "WooCommerce"
    assert mug.quantity == 2


def test_the_ping_gets_200_and_stores_nothing(woo_conn, woo_store, webhook_client, workspace):
    pings = [e for e in woo_store.store.log if "ping" in e]
    assert [e["status"] for e in pings] == [200, 200, 200]  # one per webhook created
    resp = webhook_client.post(f"/webhooks/woocommerce/{woo_conn.store_id}/",
                               data="webhook_id=7",
                               content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert inbox_count(workspace) == 0


def test_bad_or_missing_signature_is_401_and_nothing_is_stored(woo_conn, woo_store,
                                                               webhook_client, workspace):
    body = json.dumps(woo_store.store.create_order({}, webhooks=False)).encode()
    resp = post(webhook_client, woo_conn, body, secret="not-it")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "bad_signature"
    resp = post(webhook_client, woo_conn, body, **{"X-WC-Webhook-Signature": None})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unsigned"
    tampered = body.replace(b"Mug", b"Bag")
    resp = webhook_client.post(f"/webhooks/woocommerce/{woo_conn.store_id}/", data=tampered,
                               content_type="application/json",
                               headers={"X-WC-Webhook-Topic": "order.updated",
                                        "X-WC-Webhook-Signature": sign(body, HOOK_SECRET)})
    assert resp.status_code == 401
    resp = webhook_client.post("/webhooks/woocommerce/999999/", data=body,
                               content_type="application/json",
                               headers={"X-WC-Webhook-Topic": "order.updated",
                                        "X-WC-Webhook-Signature": sign(body, HOOK_SECRET)})
    assert resp.status_code == 401
    assert inbox_count(workspace) == 0


def test_malformed_json_is_400_with_the_reason(woo_conn, webhook_client, workspace):
    resp = post(webhook_client, woo_conn, b'{"id": 1,')
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"
    assert "not JSON" in resp.json()["error"]["message"]
    resp = post(webhook_client, woo_conn, b'{"id": 1}', topic=None)
    assert resp.status_code == 400 and "X-WC-Webhook-Topic" in resp.json()["error"]["message"]
    assert inbox_count(workspace) == 0


def test_oversize_is_413_and_get_is_405(woo_conn, webhook_client, workspace):
    body = b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert post(webhook_client, woo_conn, body).status_code == 413
    assert webhook_client.get(f"/webhooks/woocommerce/{woo_conn.store_id}/").status_code == 405
    assert inbox_count(workspace) == 0


def test_duplicate_deliveries_have_no_second_effect(woo_conn, woo_store, workspace):
    woo_store.store.next_delivery(duplicate=2)
    woo_store.store.create_order({})
    assert woo_store.store.deliver_due() == 3
    assert [e["status"] for e in woo_store.store.log if "hook_id" in e] == [200, 200, 200]
    assert inbox_count(workspace) == 1
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert order.events.filter(type="order.imported").count() == 1


def test_an_older_version_never_overwrites_a_newer_one(woo_conn, woo_store, workspace):
    shop = woo_store.store
    remote = shop.create_order({})
    shop.deliver_due()
    drain(woo_conn, workspace)
    shop.hold()  # the next deliveries are built now and arrive out of order
    shop.update_order(remote["id"], {"billing": {"email": "second@example.com"}})
    shop.update_order(remote["id"], {"billing": {"email": "third@example.com"}})
    assert shop.release(newest_first=True) == 2
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().buyer_email == "third@example.com"
        results = list(InboundWebhook.objects.order_by("pk").values_list("result", flat=True))
    assert results == ["created", "updated", "stale"]


def test_a_store_cancel_before_submission_cancels(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order({})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    woo_store.store.update_order(remote["id"], {"status": "cancelled"})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert (order.state, order.cancel_reason) == ("cancelled", "buyer")
        assert order.events.get(type="order.cancelled").message == \
            "Cancelled in the WooCommerce store."


def _to_production(order):
    actor = Actor.system("test")
    order_services.order_transition(order_id=order.pk, to="to_order", actor=actor)
    order_services.order_mark_paid(order_id=order.pk, actor=actor)
    order_services.order_submit(order_id=order.pk, actor=actor)


def test_a_store_cancel_after_submission_only_flags(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order({})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        _to_production(Order.objects.get())
    woo_store.store.update_order(remote["id"], {"status": "refunded"})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert order.state == "in_production"
        assert "after it went to production" in order.needs_attention


def test_a_deleted_order_is_a_store_cancel(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order({})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    woo_store.store.delete_order(remote["id"])
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().state == "cancelled"


def test_a_pending_order_cannot_be_paid_until_processing(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order({"status": "pending"})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    actor = Actor.system("test")
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert order.store_paid is False
        order_services.order_transition(order_id=order.pk, to="to_order", actor=actor)
        with pytest.raises(order_services.StoreUnpaid):
            order_services.order_mark_paid(order_id=order.pk, actor=actor)
    woo_store.store.update_order(remote["id"], {"status": "on-hold"})  # still unpaid
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.store_paid is False
    woo_store.store.update_order(remote["id"], {"status": "processing"})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.store_paid is True
        assert order_services.order_mark_paid(order_id=order.pk,
                                              actor=actor).state == "awaiting_submission"


# --- import and reconciliation -------------------------------------------------------------


def test_the_initial_import_pages_through_processing_and_on_hold(workspace, woo_store):
    shop = woo_store.store
    for status, n in (("processing", 100), ("on-hold", 10), ("completed", 5), ("pending", 5)):
        for _ in range(n):
            shop.create_order({"status": status}, webhooks=False)
    with scope(workspace=workspace):
        conn = woo.store_connect_woocommerce(workspace=workspace, url=woo_store.url,
                                             consumer_key=KEY, consumer_secret=SECRET,
                                             register_webhooks=False)
        job = ImportJob.objects.get(connection=conn)
        job = import_job_run(job_id=job.pk, max_pages=1)
        assert (job.imported, job.total, job.cursor, job.status) == (50, 110, "1", "running")
        assert import_job_run(job_id=job.pk) is None  # a live worker has it
        ImportJob.objects.filter(pk=job.pk).update(  # that worker died: resume from page 2
            heartbeat_at=timezone.now() - timedelta(minutes=10))
        job = import_job_run(job_id=job.pk)
        assert (job.imported, job.total, job.status) == (110, 110, "done")
        assert Order.objects.count() == 110
        assert Order.objects.filter(store_paid=False).count() == 10  # on-hold: not paid yet
        conn.refresh_from_db()
        assert conn.sweep_high_water is not None


def test_import_progress_shows_on_the_stores_page(workspace, owner, client_for, woo_store):
    for _ in range(3):
        woo_store.store.create_order({}, webhooks=False)
    with scope(workspace=workspace):
        conn = woo.store_connect_woocommerce(workspace=workspace, url=woo_store.url,
                                             consumer_key=KEY, consumer_secret=SECRET,
                                             register_webhooks=False)
        import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
    page = client_for(owner).get("/stores/").content.decode()
    assert "Imported 3 orders" in page


def test_reconciliation_catches_dropped_webhooks(woo_conn, woo_store, workspace):
    shop = woo_store.store
    kept = shop.create_order({})
    shop.deliver_due()
    drain(woo_conn, workspace)
    shop.next_delivery(drop=True)
    missed = shop.create_order({"line_items": [{"name": "Poster", "sku": "P-A3",
                                                "price": "9.00", "quantity": 1}]})
    shop.next_delivery(drop=True)
    shop.update_order(kept["id"], {"status": "cancelled"})
    assert shop.deliver_due() == 0
    assert sum(1 for e in shop.log if e.get("dropped")) == 2
    with scope(workspace=workspace):
        assert Order.objects.count() == 1
        stats = reconcile_store(connection_id=woo_conn.pk)
        assert stats["created"] == 1 and stats["cancelled"] == 1
        assert Order.objects.get(external_id=str(missed["id"])).line_items.get().sku == "P-A3"
        assert Order.objects.get(external_id=str(kept["id"])).state == "cancelled"
        woo_conn.refresh_from_db()
        assert woo_conn.last_sweep_at is not None and woo_conn.sweep_high_water is not None
        again = reconcile_store(connection_id=woo_conn.pk)  # overlap: re-read, no effect
        assert again["created"] == 0 and again["cancelled"] == 0


def test_the_reconcile_sweep_rings_for_woocommerce_stores(woo_conn, monkeypatch):
    from integrations import tasks

    rung = []
    monkeypatch.setattr(tasks.reconcile_store_task, "delay", lambda **kw: rung.append(kw))
    tasks.reconcile_sweep_task()
    assert rung == [{"workspace_id": woo_conn.workspace_id, "connection_id": woo_conn.pk}]


# --- the outbox ----------------------------------------------------------------------------


@pytest.fixture
def imported(woo_conn, woo_store, workspace):
    remote = woo_store.store.create_order({"line_items": [
        {"name": "Mug", "sku": "MUG", "price": "10.00", "quantity": 2},
        {"name": "Tee", "sku": "TEE", "price": "20.00", "quantity": 1}]})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        order = Order.objects.select_related("store").get()
    return remote, order


def _shipped(order, shipment_id, number, lines):
    return order_services.record_event(
        order=order, type="shipment.shipped", actor=Actor.provider("factory"),
        message="Shipped.", data={"shipment_id": shipment_id, "carrier": "DHL",
                                  "number": number, "url": f"https://dhl.example/{number}",
                                  "line_item_ids": [ln["line_item_id"] for ln in lines],
                                  "line_items": lines, "provider": "sandbox-factory"})


def test_two_parcels_each_get_a_tracking_note_then_the_order_completes(
        woo_conn, woo_store, workspace, imported):
    remote, order = imported
    shop = woo_store.store
    with scope(workspace=workspace):
        mug, tee = order.line_items.order_by("id")
        _to_production(order)
        first = order_event_handle(event_id=_shipped(
            order, 11, "JD001", [{"line_item_id": mug.pk, "quantity": 2}]).pk)
        assert outbox_deliver(message_id=first.pk).status == OutboxStatus.DONE
        assert shop.get_order(remote["id"])["status"] == "processing"  # one parcel left
        second = order_event_handle(event_id=_shipped(
            order, 12, "JD002", [{"line_item_id": tee.pk, "quantity": 1}]).pk)
        order_services.order_mark_shipped(order_id=order.pk, actor=Actor.system("test"))
        complete = order_event_handle(event_id=order.events.get(type="order.shipped").pk)
        assert complete.kind == OutboxKind.ORDER_COMPLETE
        # the completion waits for the second parcel's note: no "Completed" before it
        waited = outbox_deliver(message_id=complete.pk)
        assert waited.status == OutboxStatus.PENDING and "waiting" in waited.last_error
        assert shop.get_order(remote["id"])["status"] == "processing"
        assert outbox_deliver(message_id=second.pk).status == OutboxStatus.DONE
        later = timezone.now() + timedelta(seconds=woo.COMPLETE_WAIT_SECONDS + 1)
        assert outbox_deliver(message_id=complete.pk, now=later).status == OutboxStatus.DONE
    final = shop.get_order(remote["id"])
    assert final["status"] == "completed"
    notes = [n for n in shop.list_notes(remote["id"]) if n["customer_note"]]
    assert len(notes) == 2
    assert any("JD001" in n["note"] and "Mug × 2" in n["note"] for n in notes)
    assert any("JD002" in n["note"] and "Tee × 1" in n["note"] for n in notes)
    ours = shop.meta(remote["id"], "_podhub_tracking")
    assert [(e["shipment_ref"], e["tracking_number"]) for e in ours] == [("11", "JD001"),
                                                                         ("12", "JD002")]
    st = shop.meta(remote["id"], "_wc_shipment_tracking_items")
    assert [(t["custom_tracking_provider"], t["tracking_number"]) for t in st] == [
        ("DHL", "JD001"), ("DHL", "JD002")]
    assert sum(1 for e in shop.log if e.get("email") == "customer_note") == 2


def test_a_lost_answer_does_not_add_a_second_note(woo_conn, woo_store, workspace, imported):
    remote, order = imported
    with scope(workspace=workspace):
        msg = order_event_handle(event_id=_shipped(order, 21, "JD9", []).pk)
        outbox_deliver(message_id=msg.pk)
        OutboxMessage.objects.filter(pk=msg.pk).update(status=OutboxStatus.PENDING,
                                                       next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    assert len(woo_store.store.list_notes(remote["id"])) == 1
    assert len(woo_store.store.meta(remote["id"], "_podhub_tracking")) == 1


def test_a_tracking_note_whose_answer_was_lost_is_not_posted_twice(woo_conn, woo_store,
                                                                    workspace, imported):
    """The note is made in the store and its answer lost (a proxy's 504): the client does
    not send the POST again (found by bench/fault_drill.py: two tracking notes); the
    outbox's next attempt finds the note and adds only the tracking meta."""
    remote, order = imported
    woo_store.store.lose_next, woo_store.store.lose_route = 1, r"/notes$"
    with scope(workspace=workspace):
        msg = outbox_deliver(message_id=order_event_handle(
            event_id=_shipped(order, 22, "JD22", []).pk).pk)
        assert msg.status == OutboxStatus.PENDING and "HTTP 504" in msg.last_error
        assert len(woo_store.store.list_notes(remote["id"])) == 1
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
        assert msg.status == OutboxStatus.DONE, msg.last_error
    notes = woo_store.store.list_notes(remote["id"])
    assert len(notes) == 1 and "JD22" in notes[0]["note"]
    assert [e["tracking_number"] for e in woo_store.store.meta(
        remote["id"], "_podhub_tracking")] == ["JD22"]


def test_a_push_retries_while_the_store_is_down(woo_conn, woo_store, workspace, imported):
    remote, order = imported
    woo_store.store.fail_next = 10
    with scope(workspace=workspace):
        msg = order_event_handle(event_id=_shipped(order, 31, "JD31", []).pk)
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.PENDING and "HTTP 500" in msg.last_error
        assert msg.next_attempt_at > timezone.now()
        woo_store.store.fail_next = 0
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
        assert msg.status == OutboxStatus.DONE
    assert len(woo_store.store.list_notes(remote["id"])) == 1


def test_loss_guard_cancel_cancels_in_the_store(woo_conn, woo_store, workspace, imported):
    remote, order = imported
    with scope(workspace=workspace):
        order_services.order_cancel(order_id=order.pk, reason="loss_guard",
                                    actor=Actor.system("Loss guard"), note="below cost")
        msg = order_event_handle(event_id=order.events.get(type="order.cancelled").pk)
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    assert woo_store.store.get_order(remote["id"])["status"] == "cancelled"
    woo_store.store.deliver_due()  # the store's echo changes nothing
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().events.filter(type="order.cancelled").count() == 1


def test_a_lost_doorbell_is_found_by_the_sweep(woo_conn, workspace, imported):
    from integrations.services.outbox import order_events_missing

    _, order = imported
    with scope(workspace=workspace):
        event = _shipped(order, 41, "JD41", [])
    with scopes_disabled():
        assert (workspace.pk, event.pk) in order_events_missing()


def test_webhook_registration_is_idempotent(workspace, woo_store):
    woo_store.store.sender = lambda url, body, headers: 200  # PodHub answers the ping
    with scope(workspace=workspace):
        conn = woo.store_connect_woocommerce(workspace=workspace, url=woo_store.url,
                                             consumer_key=KEY, consumer_secret=SECRET,
                                             start_import=False)
        msg = OutboxMessage.objects.get(kind=OutboxKind.WEBHOOKS_REGISTER)
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
        OutboxMessage.objects.filter(pk=msg.pk).update(status=OutboxStatus.PENDING,
                                                       next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    hooks = woo_store.store.list_webhooks()
    assert sorted(h["topic"] for h in hooks) == ["order.created", "order.deleted",
                                                 "order.updated"]
    assert {h["delivery_url"] for h in hooks} == {woo.webhook_url(conn.store_id)}
    assert {woo_store.store.get_webhook(h["id"])["secret"] for h in hooks} == {
        conn.webhook_secret.reveal()}


def test_a_refused_ping_is_visible_and_retried(workspace, woo_store):
    woo_store.store.sender = lambda url, body, headers: 401
    with scope(workspace=workspace):
        woo.store_connect_woocommerce(workspace=workspace, url=woo_store.url,
                                      consumer_key=KEY, consumer_secret=SECRET,
                                      start_import=False)
        msg = OutboxMessage.objects.get(kind=OutboxKind.WEBHOOKS_REGISTER)
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.PENDING  # retried: PodHub may be down right now
        assert "Delivery URL returned response code: 401" in msg.last_error
        assert msg.next_attempt_at > timezone.now()
    assert woo_store.store.list_webhooks() == []
    woo_store.store.sender = lambda url, body, headers: 200
    with scope(workspace=workspace):
        assert outbox_deliver(message_id=msg.pk,
                              now=msg.next_attempt_at).status == OutboxStatus.DONE
    assert len(woo_store.store.list_webhooks()) == 3


def test_disconnect_stops_traffic_and_later_deliveries_are_ignored(woo_conn, woo_store,
                                                                   workspace):
    from integrations.services.connections import store_disconnect

    with scope(workspace=workspace):
        store_disconnect(workspace=workspace, store_id=woo_conn.store_id)
        conn = StoreConnection.objects.get()
        assert conn.consumer_secret.reveal() == "" and conn.access_token.reveal() == ""
    woo_store.store.create_order({})
    woo_store.store.deliver_due()
    drain(woo_conn, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 0
        assert InboundWebhook.objects.get().result.startswith("ignored")
        assert StoreOrderRecord.objects.count() == 0


def test_another_workspace_cannot_see_or_use_the_store(woo_conn, other_owner, client_for):
    c = client_for(other_owner)
    assert c.get(f"/stores/{woo_conn.store_id}/").status_code == 404
    assert c.post(f"/stores/{woo_conn.store_id}/disconnect/").status_code == 404
    assert c.post(f"/stores/{woo_conn.store_id}/reconcile/").status_code == 404
    with scopes_disabled():
        assert StoreConnection.objects.get().is_active


def test_completion_puts_back_tracking_a_concurrent_push_overwrote(woo_conn, woo_store,
                                                                    workspace, imported):
    remote, order = imported
    shop = woo_store.store
    with scope(workspace=workspace):
        a = order_event_handle(event_id=_shipped(order, 51, "JD51", []).pk)
        b = order_event_handle(event_id=_shipped(order, 52, "JD52", []).pk)
        outbox_deliver(message_id=a.pk)
        outbox_deliver(message_id=b.pk)
        # two workers read the meta at once: the second write dropped the first entry
        shop.update_order(remote["id"], {"meta_data": [
            {"key": "_podhub_tracking", "value": shop.meta(remote["id"],
                                                           "_podhub_tracking")[1:]}]},
            webhooks=False)
        done = order_event_handle(event_id=order_services.record_event(
            order=order, type="order.shipped", actor=Actor.system("test")).pk)
        assert outbox_deliver(message_id=done.pk).result == {"status": "completed",
                                                             "repaired": 1}
    assert sorted(e["tracking_number"] for e in shop.meta(remote["id"], "_podhub_tracking")) \
        == ["JD51", "JD52"]
    assert shop.get_order(remote["id"])["status"] == "completed"


def test_a_push_waits_out_maintenance_and_a_rate_limit(woo_conn, woo_store, workspace,
                                                       imported):
    """The store's REST API answers WordPress' maintenance page (503, HTML) and then a
    host's rate limit (429, plain text), as the fault drill's WooCommerce outages do:
    the push waits with the status in its error, and is made once when the store is
    back."""
    remote, order = imported
    store = woo_store.store
    store.down_until, store.down_status = store.clock() + 3600, 503
    with scope(workspace=workspace):
        msg = order_event_handle(event_id=_shipped(order, 41, "JD41", []).pk)
        msg = outbox_deliver(message_id=msg.pk)
        assert msg.status == OutboxStatus.PENDING and "HTTP 503" in msg.last_error
        store.down_status = 429
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
        assert msg.status == OutboxStatus.PENDING and "HTTP 429" in msg.last_error
        store.down_until = 0.0
        msg = outbox_deliver(message_id=msg.pk, now=msg.next_attempt_at)
        assert msg.status == OutboxStatus.DONE, msg.last_error
    assert [e["tracking_number"] for e in store.meta(remote["id"], "_podhub_tracking")] == \
        ["JD41"]
    assert len(store.list_notes(remote["id"])) == 1
