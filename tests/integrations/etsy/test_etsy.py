"""Etsy shops (issue 16, item 3): OAuth 2 with PKCE against the sandbox over HTTP, receipts
imported and swept on min_last_modified, tracking pushed back with createReceiptShipment,
cancellations applied, a revoked grant shown and stopping traffic, Etsy's rate limits kept.

Published shapes used verbatim, with their sources:
- the transaction variation carrying personalisation, from Etsy's personalization
  migration guide, "Reading transaction personalization data" (developers.etsy.com):
  {"formatted_name": "Personalization", "formatted_value": …, "property_id": 54,
  "value_id": int|null} — the formatted_name may be the seller's own, several entries
  may have property_id 54, a file upload's formatted_value is a URL;
- the rate-limit headers' example values from
  https://developers.etsy.com/documentation/essentials/rate-limits
  (X-Limit-Per-Second: 10, X-Remaining-This-Second: 9, X-Limit-Per-Day: 10000,
  X-Remaining-Today: 9998).
"""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import connection as db
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.etsy import oauth
from integrations.etsy.client import Budget
from integrations.etsy.mapping import from_receipt
from integrations.models import (
    ImportJob,
    JobStatus,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.services.imports import (
    connections_to_poll,
    import_job_run,
    reconcile_store,
)
from integrations.services.outbox import outbox_deliver, push_fulfillment
from orders.models import Order, OrderState
from tests.integrations.etsy.conftest import control

pytestmark = pytest.mark.django_db


# --- mapping ------------------------------------------------------------------------------


def _receipt(**over) -> dict:
    receipt = {
        "receipt_id": 1234567890, "status": "Paid", "is_paid": True, "is_shipped": False,
        "name": "Ana Buyer", "first_line": "1 Main Street", "second_line": "Apt 2",
        "city": "Springfield", "state": "IL", "zip": "62701", "country_iso": "US",
        "buyer_email": "ana@example.com", "created_timestamp": 1758153645,
        "updated_timestamp": 1758153700,
        "grandtotal": {"amount": 3250, "divisor": 100, "currency_code": "USD"},
        "subtotal": {"amount": 2800, "divisor": 100, "currency_code": "USD"},
        "total_shipping_cost": {"amount": 450, "divisor": 100, "currency_code": "USD"},
        "total_tax_cost": {"amount": 0, "divisor": 100, "currency_code": "USD"},
        "discount_amt": {"amount": 0, "divisor": 100, "currency_code": "USD"},
        "shipments": [],
        "transactions": [{
            "transaction_id": 345678901, "title": "Mug 11oz", "quantity": 2,
            "listing_id": 123456789, "product_id": 567890123, "sku": "MUG-11-WHITE",
            "price": {"amount": 1400, "divisor": 100, "currency_code": "USD"},
            "variations": [
                {"property_id": 200, "value_id": 1213, "formatted_name": "Primary color",
                 "formatted_value": "White"},
                # Etsy's documented personalisation entries (see the module docstring)
                {"formatted_name": "Personalization", "formatted_value": "Für Zoë ❤",
                 "property_id": 54, "value_id": None},
                {"formatted_name": "Your photo", "property_id": 54, "value_id": None,
                 "formatted_value": "https://i.etsystatic.com/upload/photo.jpg"},
            ]}],
    }
    receipt.update(over)
    return receipt


def test_receipt_maps_lines_personalisation_address_and_money():
    data, facts = from_receipt(_receipt())
    assert data["external_id"] == "1234567890" and data["currency"] == "USD"
    assert (data["subtotal"], data["shipping"], data["total"]) == ("28", "4.5", "32.5")
    assert data["shipping_address"] == {
        "name": "Ana Buyer", "company": "", "address1": "1 Main Street", "address2": "Apt 2",
        "city": "Springfield", "province": "IL", "zip": "62701", "country_code": "US",
        "phone": ""}
    line = data["line_items"][0]
    assert (line["external_id"], line["sku"], line["quantity"], line["unit_price"]) == (
        "345678901", "MUG-11-WHITE", 2, "14")
    assert line["variant_title"] == "White"  # the colour is the variant, not a field
    assert line["personalization"] == [{"key": "Personalization", "value": "Für Zoë ❤"}]
    assert line["images"] == [{"key": "Your photo",
                               "url": "https://i.etsystatic.com/upload/photo.jpg"}]
    assert facts.paid and not facts.cancelled and not facts.fulfilled
    assert facts.updated_at.startswith("2025-09-18T")


@pytest.mark.parametrize(("status", "shipped", "cancelled", "fulfilled"), [
    ("Canceled", False, True, False), ("Fully Refunded", False, True, False),
    ("Completed", True, False, True), ("Paid", False, False, False)])
def test_receipt_status_says_cancelled_or_shipped(status, shipped, cancelled, fulfilled):
    _, facts = from_receipt(_receipt(status=status, is_shipped=shipped))
    assert (facts.cancelled, facts.fulfilled) == (cancelled, fulfilled)


def test_rate_limit_headers_as_documented():
    budget = Budget.of({"x-limit-per-second": "10", "x-remaining-this-second": "9",
                        "x-limit-per-day": "10000", "x-remaining-today": "9998"})
    assert budget == Budget(10, 9, 10000, 9998)
    assert Budget.of({}) is None  # a 429 carries none of them


def test_pkce_challenge_is_rfc7636_s256():
    # RFC 7636 appendix B's published pair
    assert oauth.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") \
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# --- connecting: OAuth with PKCE over HTTP ---------------------------------------------------


def _consent(etsy_sandbox, location: str, *, shop_id="new", decision="allow") -> str:
    """The seller clicks "Allow access" on the sandbox's consent page: where Etsy sends the
    browser back to."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    answer = httpx.post(f"{etsy_sandbox.url}/oauth/connect",
                        data={**query, "shop_id": shop_id, "decision": decision})
    assert answer.status_code == 302
    return answer.headers["location"]


def test_connect_with_oauth_pkce_imports_paid_unshipped_receipts(
        etsy_sandbox, workspace, owner, client_for, other_owner):
    shop = control(etsy_sandbox, "shops", {"name": "AnaPrints"})
    paid = control(etsy_sandbox, f"shops/{shop['shop_id']}/receipts",
                   {"personalization": "Chen"})
    shipped = control(etsy_sandbox, f"shops/{shop['shop_id']}/receipts", {})
    control(etsy_sandbox, f"shops/{shop['shop_id']}/revoke")  # only the OAuth grant below
    httpx.post(f"{etsy_sandbox.url}/v3/application/x")  # (no key: 403, nothing counted)
    etsy_sandbox.sandbox.add_tracking(shop["shop_id"], shipped["receipt_id"], {})
    client = client_for(owner)

    page = client.get("/stores/").content.decode()
    assert 'href="/stores/connect/etsy/"' in page
    response = client.post("/stores/connect/etsy/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{etsy_sandbox.url}/oauth/connect?")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert query["client_id"] == ["podhub-sandbox-keystring"]
    assert query["redirect_uri"][0].endswith("/stores/connect/etsy/callback/")
    back = _consent(etsy_sandbox, location, shop_id=str(shop["shop_id"]))

    # another workspace's member cannot use this grant (the state is A's member's)
    stolen = client_for(other_owner).get(back[back.index("/stores/"):])
    assert stolen.status_code == 302 and stolen["Location"] == "/stores/"
    with scopes_disabled():
        assert not StoreConnection.objects.filter(platform="etsy").exists()

    done = client.get(back[back.index("/stores/"):])
    assert done.status_code == 302, done.content
    with scopes_disabled():
        conn = StoreConnection.objects.get(platform="etsy")
    assert conn.workspace_id == workspace.pk and conn.shop_domain == str(shop["shop_id"])
    assert conn.store.name == "AnaPrints" and conn.token_expires_at is not None
    assert done["Location"] == f"/stores/{conn.store_id}/"
    # the tokens are encrypted at rest
    with db.cursor() as cur:
        cur.execute("SELECT access_token, refresh_token FROM integrations_storeconnection "
                    "WHERE id = %s", [conn.pk])
        raw_access, raw_refresh = cur.fetchone()
    assert conn.access_token.reveal().startswith(f"{shop['user_id']}.")
    assert conn.access_token.reveal() not in raw_access
    assert conn.refresh_token.reveal() not in raw_refresh

    # the same link again: refused, nothing changes
    again = client.get(back[back.index("/stores/"):])
    assert again.status_code == 302 and again["Location"] == "/stores/"

    with scope(workspace=workspace):
        job = ImportJob.objects.get(connection=conn)
        job = import_job_run(job_id=job.pk)
        assert job.status == JobStatus.DONE and job.imported == 1
        order = Order.objects.get(store=conn.store)
        assert order.external_id == str(paid["receipt_id"])
        line = order.line_items.get()
        assert line.personalization == [{"key": "Personalization", "value": "Chen"}]
        assert order.shipping_address["city"] == "Springfield"


def test_a_wrong_verifier_or_a_refused_consent_connects_nothing(
        etsy_sandbox, workspace, owner, client_for):
    client = client_for(owner)
    location = client.post("/stores/connect/etsy/")["Location"]
    # PKCE: a code is worth nothing without the verifier PodHub derived for its state
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    back = _consent(etsy_sandbox, location)
    code = parse_qs(urlsplit(back).query)["code"][0]
    refused = httpx.post(f"{etsy_sandbox.url}/v3/public/oauth/token", data={
        "grant_type": "authorization_code", "client_id": query["client_id"],
        "redirect_uri": query["redirect_uri"], "code": code,
        "code_verifier": oauth.code_verifier("another-state")})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    location = client.post("/stores/connect/etsy/")["Location"]
    denied = _consent(etsy_sandbox, location, decision="deny")
    answer = client.get(denied[denied.index("/stores/"):], follow=True)
    assert "Etsy did not grant access (access_denied)" in answer.content.decode()
    with scopes_disabled():
        assert not StoreConnection.objects.filter(platform="etsy").exists()


def test_api_connect_answers_where_to_send_the_seller(etsy_sandbox, owner, api_client_for):
    response = api_client_for(owner).post("/api/v1/stores/connect/etsy/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["authorize_url"].startswith(f"{etsy_sandbox.url}/oauth/connect?")


# --- the sweep ---------------------------------------------------------------------------


def test_sweep_imports_new_receipts_once_within_the_limits(etsy_sandbox, etsy_shop, workspace,
                                                           owner, client_for):
    shop_id = etsy_shop.shop_domain
    etsy_sandbox.sandbox.limits.per_second = 3
    # the connect's calls this second were made under the old limit, by another client
    etsy_sandbox.sandbox.limits.seconds.clear()
    made = [control(etsy_sandbox, f"shops/{shop_id}/receipts", {"personalization": f"N{n}"})
            for n in range(5)]
    now = timezone.now()
    with scope(workspace=workspace):
        first = reconcile_store(connection_id=etsy_shop.pk, now=now)
        assert first["created"] == 5 and "error" not in first
        again = reconcile_store(connection_id=etsy_shop.pk, now=now + timedelta(seconds=60))
        assert again["created"] == 0 and again["unchanged"] == 5
        assert Order.objects.filter(store=etsy_shop.store).count() == 5
        orders = {o.external_id for o in Order.objects.filter(store=etsy_shop.store)}
    assert orders == {str(r["receipt_id"]) for r in made}
    limits = control(etsy_sandbox, "limits", method="GET")
    assert limits["refused"] == 0 and limits["peak_per_second"] <= 3
    # every call asked from min_last_modified on (the sweep's window), never more
    reads = [e for e in etsy_sandbox.sandbox.log if e["path"].endswith("/receipts")]
    assert reads and all("min_last_modified" in e["query"] for e in reads)
    # the remaining budget is on sync health
    page = client_for(owner).get(f"/stores/{etsy_shop.store_id}/").content.decode()
    assert "calls left in the last 24 hours" in page


def test_poll_sweep_rings_each_shop_once_per_interval(etsy_sandbox, etsy_shop, workspace,
                                                      settings):
    settings.ETSY_POLL_SECONDS = 60
    now = timezone.now()
    assert connections_to_poll(now=now) == [(workspace.pk, etsy_shop.pk)]
    with scope(workspace=workspace):
        reconcile_store(connection_id=etsy_shop.pk, now=now)
    assert connections_to_poll(now=now + timedelta(seconds=20)) == []
    assert connections_to_poll(now=now + timedelta(seconds=60)) == [
        (workspace.pk, etsy_shop.pk)]


def test_reading_stops_at_the_daily_reserve(etsy_sandbox, etsy_shop, workspace):
    shop_id = etsy_shop.shop_domain
    control(etsy_sandbox, f"shops/{shop_id}/receipts", {})
    used = len(etsy_sandbox.sandbox.limits.day)
    etsy_sandbox.sandbox.limits.per_day = used + 6  # reserve is 5: one read, then stop
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=etsy_shop.pk)
        assert stats["created"] == 1
        stopped = reconcile_store(connection_id=etsy_shop.pk)
    assert "kept for tracking pushes" in stopped["error"]
    assert control(etsy_sandbox, "limits", method="GET")["refused"] == 0


def test_an_expired_access_token_is_refreshed_and_the_refresh_token_rotated(
        etsy_sandbox, etsy_shop, workspace):
    before = etsy_shop.refresh_token.reveal()
    control(etsy_sandbox, "expire")
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=etsy_shop.pk)
        assert "error" not in stats
        conn = StoreConnection.objects.get(pk=etsy_shop.pk)
    assert conn.refresh_token.reveal() != before
    assert before not in etsy_sandbox.sandbox.refresh  # spent: rotation
    assert conn.token_expires_at > timezone.now() + timedelta(minutes=50)


# --- tracking, cancellation, a revoked grant --------------------------------------------------


def _one_order(etsy_sandbox, conn, workspace, spec=None):
    receipt = control(etsy_sandbox, f"shops/{conn.shop_domain}/receipts", spec or {})
    with scope(workspace=workspace):
        reconcile_store(connection_id=conn.pk)
        return receipt, Order.objects.select_related("store").get(
            external_id=str(receipt["receipt_id"]))


def test_tracking_goes_back_with_create_receipt_shipment(etsy_sandbox, etsy_shop, workspace):
    receipt, order = _one_order(etsy_sandbox, etsy_shop, workspace)
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                               carrier="usps", number="9400111899223197428490")
        done = outbox_deliver(message_id=msg.pk)
    assert done.status == OutboxStatus.DONE, done.last_error
    remote = control(etsy_sandbox, f"shops/{etsy_shop.shop_domain}/receipts/"
                                   f"{receipt['receipt_id']}", method="GET")
    assert remote["is_shipped"] is True
    assert [(s["carrier_name"], s["tracking_code"]) for s in remote["shipments"]] == [
        ("usps", "9400111899223197428490")]
    # the answer lost and the push made again: not a second shipment
    with scope(workspace=workspace):
        OutboxMessage.objects.filter(pk=msg.pk).update(status=OutboxStatus.PENDING,
                                                       next_attempt_at=timezone.now())
        again = outbox_deliver(message_id=msg.pk)
    assert again.result == {"already": True}
    remote = control(etsy_sandbox, f"shops/{etsy_shop.shop_domain}/receipts/"
                                   f"{receipt['receipt_id']}", method="GET")
    assert len(remote["shipments"]) == 1


def test_a_receipt_canceled_in_etsy_cancels_the_order(etsy_sandbox, etsy_shop, workspace):
    receipt, order = _one_order(etsy_sandbox, etsy_shop, workspace)
    control(etsy_sandbox, f"shops/{etsy_shop.shop_domain}/receipts/{receipt['receipt_id']}"
                          "/cancel")
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=etsy_shop.pk)
        order.refresh_from_db()
    assert stats["cancelled"] == 1
    assert order.state == OrderState.CANCELLED


def test_a_revoked_grant_shows_stops_traffic_and_loses_nothing(
        etsy_sandbox, etsy_shop, workspace, owner, client_for):
    receipt, order = _one_order(etsy_sandbox, etsy_shop, workspace)
    control(etsy_sandbox, f"shops/{etsy_shop.shop_domain}/revoke")
    control(etsy_sandbox, "expire")
    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                               carrier="usps", number="9400111899223197428490")
        pending = outbox_deliver(message_id=msg.pk)
        assert pending.status == OutboxStatus.PENDING and "Not authorised" in pending.last_error
        conn = StoreConnection.objects.get(pk=etsy_shop.pk)
    assert conn.token_expires_at is None and conn.refresh_token.reveal() == ""
    assert "Etsy refused PodHub's access to this shop (invalid_grant)" in conn.last_error
    page = client_for(owner).get(f"/stores/{conn.store_id}/").content.decode()
    assert "revoked: connect the shop again" in page and "invalid_grant" in page
    # no more traffic: the poll sweep skips it, a push tries nothing
    calls = len(etsy_sandbox.sandbox.log)
    assert connections_to_poll(now=timezone.now() + timedelta(hours=1)) == []
    with scope(workspace=workspace):
        OutboxMessage.objects.filter(pk=msg.pk).update(next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.PENDING
    assert len(etsy_sandbox.sandbox.log) == calls

    # the seller connects again: the waiting push goes out
    made = etsy_sandbox.sandbox._tokens(etsy_sandbox.sandbox.shop(int(conn.shop_domain))
                                        .user_id)
    from integrations.etsy import services as etsy

    with scope(workspace=workspace):
        etsy.connect_with_refresh_token(workspace=workspace,
                                        refresh_token=made["refresh_token"],
                                        start_import=False)
        OutboxMessage.objects.filter(pk=msg.pk).update(next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=msg.pk).status == OutboxStatus.DONE
    remote = control(etsy_sandbox, f"shops/{conn.shop_domain}/receipts/"
                                   f"{receipt['receipt_id']}", method="GET")
    assert remote["shipments"][0]["tracking_code"] == "9400111899223197428490"


# --- the operator's CLI and "Try a sandbox store" -------------------------------------------


def test_operator_connects_a_shop_with_a_refresh_token(etsy_sandbox, workspace):
    import io
    import json

    from django.core.management import call_command

    made = control(etsy_sandbox, "shops", {"name": "CliShop", "seed_receipts": 2})
    out = io.StringIO()
    call_command("connect_store", "etsy", "--workspace", str(workspace.pk),
                 "--refresh-token", made["refresh_token"], "--json", stdout=out)
    store_id = json.loads(out.getvalue())["store_id"]
    with scopes_disabled():
        conn = StoreConnection.objects.get(store_id=store_id)
    assert conn.shop_domain == str(made["shop_id"]) and conn.store.name == "CliShop"
    assert made["refresh_token"] not in etsy_sandbox.sandbox.refresh  # rotated at connect


def test_try_a_sandbox_etsy_shop_and_send_a_test_order(etsy_sandbox, workspace, owner,
                                                        client_for, settings):
    settings.PODHUB_SANDBOX_STORES = {"etsy": etsy_sandbox.url}
    client = client_for(owner)
    assert 'data-platform="etsy">Try a sandbox Etsy store' in client.get("/stores/") \
        .content.decode()
    assert client.post("/stores/sandbox/etsy/").status_code == 302
    with scopes_disabled():
        conn = StoreConnection.objects.get(platform="etsy")
    with scope(workspace=workspace):
        job = import_job_run(job_id=ImportJob.objects.get(connection=conn).pk)
        assert job.imported == 3
    assert client.post(f"/stores/{conn.store_id}/sandbox/order/").status_code == 302
    with scope(workspace=workspace):
        assert reconcile_store(connection_id=conn.pk)["created"] == 1
        assert Order.objects.filter(store=conn.store).count() == 4


# --- bad input: a receipt PodHub cannot read ------------------------------------------------


def test_an_unreadable_receipt_is_stored_refused_and_the_rest_imported(
        etsy_sandbox, etsy_shop, workspace, owner, client_for):
    """Etsy's answer carries entries that are not receipts: each is kept as it came, refused
    with the reason on sync health, and the good receipts around them are imported."""
    from integrations.models import InboundWebhook, InboxStatus

    shop_id = etsy_shop.shop_domain
    good = [control(etsy_sandbox, f"shops/{shop_id}/receipts", {}) for _ in range(2)]
    for raw in ("not a receipt", {"status": "Paid", "transactions": []},
                {"receipt_id": 42, "transactions": "none"}):
        control(etsy_sandbox, f"shops/{shop_id}/broken_receipts", {"raw": raw})
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=etsy_shop.pk)
        assert stats["created"] == 2 and stats["failed"] == 3 and "error" not in stats
        assert {o.external_id for o in Order.objects.filter(store=etsy_shop.store)} == {
            str(r["receipt_id"]) for r in good}
        refused = list(InboundWebhook.objects.filter(connection=etsy_shop)
                       .order_by("pk").values_list("status", "topic", "error", "body"))
    assert [r[:2] for r in refused] == [(InboxStatus.FAILED, "unreadable_order")] * 3
    assert "not a JSON object" in refused[0][2] and refused[0][3] == '"not a receipt"'
    assert "receipt_id is missing" in refused[1][2]
    assert "transactions is not a list" in refused[2][2]
    # read again by the next sweep: kept once, still refused, never a 500
    with scope(workspace=workspace):
        again = reconcile_store(connection_id=etsy_shop.pk)
        assert again["failed"] == 3
        assert InboundWebhook.objects.filter(connection=etsy_shop).count() == 3
    page = client_for(owner).get(f"/stores/{etsy_shop.store_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "unreadable_order" in text and "receipt_id is missing" in text
    # processed again by hand: refused again with the reason
    from integrations.services.inbox import inbox_process, inbox_replay

    with scope(workspace=workspace):
        row = InboundWebhook.objects.filter(connection=etsy_shop).order_by("pk").first()
        inbox_replay(workspace=workspace, inbox_ids=[row.pk])
        assert inbox_process(inbox_id=row.pk) == InboxStatus.FAILED
        row.refresh_from_db()
    assert "Still unreadable" in row.error


def test_the_import_goes_on_past_an_unreadable_receipt(etsy_sandbox, etsy_shop, workspace):
    shop_id = etsy_shop.shop_domain
    control(etsy_sandbox, f"shops/{shop_id}/receipts", {})
    control(etsy_sandbox, f"shops/{shop_id}/broken_receipts", {"raw": [1, 2]})
    with scope(workspace=workspace):
        job = ImportJob.objects.create(workspace=workspace, connection=etsy_shop)
        job = import_job_run(job_id=job.pk)
        conn = StoreConnection.objects.get(pk=etsy_shop.pk)
    assert job.status == JobStatus.DONE and job.imported == 1 and job.failed == 1
    assert "could not be read and was refused" in conn.last_error


# --- tracking parcel by parcel --------------------------------------------------------------


def test_each_parcel_is_its_own_receipt_shipment_once(etsy_sandbox, etsy_shop, workspace):
    """Two parcels of one receipt: two createReceiptShipment calls (Etsy keeps a
    ShopReceiptShipment per call), each made once however often its push is retried."""
    receipt, order = _one_order(etsy_sandbox, etsy_shop, workspace)
    parcels = [("parcel-1", "usps", "9400111899223197428490"),
               ("parcel-2", "ups", "1Z999AA10123456784")]
    with scope(workspace=workspace):
        msgs = [push_fulfillment(store=order.store, order=order, shipment_ref=ref,
                                 carrier=carrier, number=number)
                for ref, carrier, number in parcels]
        # the same parcel pushed again (a replayed event): the same message
        assert push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                                carrier="usps", number=parcels[0][2]).pk == msgs[0].pk
        done = [outbox_deliver(message_id=m.pk) for m in msgs]
    assert [d.status for d in done] == [OutboxStatus.DONE] * 2, [d.last_error for d in done]
    path = f"shops/{etsy_shop.shop_domain}/receipts/{receipt['receipt_id']}"
    remote = control(etsy_sandbox, path, method="GET")
    assert [(s["carrier_name"], s["tracking_code"]) for s in remote["shipments"]] == [
        (carrier, number) for _, carrier, number in parcels]
    calls = [e for e in etsy_sandbox.sandbox.log if e["path"].endswith("/tracking")]
    assert len(calls) == 2
    # both answers lost: retried, neither made twice
    with scope(workspace=workspace):
        OutboxMessage.objects.filter(pk__in=[m.pk for m in msgs]).update(
            status=OutboxStatus.PENDING, next_attempt_at=timezone.now())
        again = [outbox_deliver(message_id=m.pk) for m in msgs]
    assert [a.result for a in again] == [{"already": True}] * 2
    assert len(control(etsy_sandbox, path, method="GET")["shipments"]) == 2
    assert len([e for e in etsy_sandbox.sandbox.log if e["path"].endswith("/tracking")]) == 2


def test_pushes_etsy_has_no_call_for_are_refused_saying_why(etsy_sandbox, etsy_shop, workspace):
    """Open API v3 has no receipt cancel, refund or note call (docs/etsy.md): refused before
    any call, with the reason the seller can act on."""
    from integrations.services.outbox import push_order_cancel, push_refund
    from podhub.core.exceptions import Conflict

    _, order = _one_order(etsy_sandbox, etsy_shop, workspace)
    calls = len(etsy_sandbox.sandbox.log)
    with scope(workspace=workspace):
        with pytest.raises(Conflict, match="no call to cancel a receipt: cancel it in your "
                                           "Etsy shop manager"):
            push_order_cancel(store=order.store, order=order, reason="seller")
        with pytest.raises(Conflict, match="no call to refund a receipt"):
            push_refund(store=order.store, order=order, refund_ref="r1")
        assert not OutboxMessage.objects.filter(store=order.store).exists()
    assert len(etsy_sandbox.sandbox.log) == calls


# --- webhooks (the app's endpoint, /webhooks/etsy/) -----------------------------------------

# Etsy's documented order.paid payload (flat form: etsy/open-api discussion #1564, the
# webhooks page's example with its placeholders filled in)
ORDER_PAID = {"event_type": "order.paid", "shop_id": 12345,
              "resource_url": "https://openapi.etsy.com/v3/application/shops/12345/receipts/54321"}


def _signed(body: bytes, *, secret: str, webhook_id="msg_1", stamp=None) -> dict:
    from integrations.etsy.webhooks import sign

    stamp = str(int(timezone.now().timestamp())) if stamp is None else stamp
    return {"webhook-id": webhook_id, "webhook-timestamp": stamp,
            "webhook-signature": sign(secret, webhook_id, stamp, body)}


def test_the_signature_is_checked_as_etsy_documents_it(settings, client):
    """Standard Webhooks: base64 HMAC-SHA256 of id.timestamp.body with the whsec_ secret's
    decoded part; a wrong secret, a changed body, an old timestamp or no headers: 401."""
    import base64
    import hashlib
    import hmac as hmac_lib
    import json

    from integrations.etsy.webhooks import sign

    secret = settings.ETSY_WEBHOOK_SECRET
    body = json.dumps(ORDER_PAID).encode()
    # computed by hand from the description, not by our own function
    key = base64.b64decode(secret.removeprefix("whsec_"))
    by_hand = base64.b64encode(hmac_lib.new(key, b"msg_1.1700000000." + body,
                                            hashlib.sha256).digest()).decode()
    assert sign(secret, "msg_1", "1700000000", body) == f"v1,{by_hand}"

    def post(headers, payload=body):
        return client.post("/webhooks/etsy/", data=payload, content_type="application/json",
                           headers=headers)

    assert post({}).status_code == 401
    assert post(_signed(body, secret="whsec_" + base64.b64encode(b"other").decode())
                ).status_code == 401
    assert post(_signed(body, secret=secret), payload=body + b" ").status_code == 401
    old = str(int(timezone.now().timestamp()) - 600)
    stale = post(_signed(body, secret=secret, stamp=old))
    assert stale.status_code == 401 and "window" in stale.json()["error"]["message"]
    # signed and fresh, for a shop no store of ours is: acknowledged, not stored
    ok = post(_signed(body, secret=secret))
    assert ok.status_code == 200 and "no connected Etsy shop 12345" in ok.json()["ignored"]
    # signed but not an event: 400 with the reason, never a 500
    bad = json.dumps([1, 2]).encode()
    assert post(_signed(bad, secret=secret), payload=bad).status_code == 400
    settings.ETSY_WEBHOOK_SECRET = ""
    assert post(_signed(body, secret=secret)).status_code == 404


def test_a_paid_receipt_arrives_by_webhook_and_is_imported_once(
        etsy_sandbox, etsy_shop, workspace, settings, client, owner, client_for,
        django_capture_on_commit_callbacks):
    """The sandbox sends order.paid for a new receipt to the app's endpoint, signed as Etsy
    signs; PodHub stores it, reads the receipt it names and imports it; Etsy's retry of the
    same delivery (same webhook-id) changes nothing."""
    from integrations.models import InboundWebhook, InboxStatus
    from integrations.services.inbox import inbox_drain

    sent = []

    def send(url, body, headers):
        sent.append((body, headers))
        answer = client.post("/webhooks/etsy/", data=body, content_type="application/json",
                             headers={k: v for k, v in headers.items()
                                      if k != "Content-Type"})
        sent.append(answer.json())
        return answer.status_code

    sandbox = etsy_sandbox.sandbox
    sandbox.sender = send
    control(etsy_sandbox, "webhooks", {"url": "http://podhub.test/webhooks/etsy/",
                                       "secret": settings.ETSY_WEBHOOK_SECRET})
    # (made from this thread: the delivery must reach this test's database transaction)
    receipt = sandbox.new_receipt(int(etsy_shop.shop_domain), {"personalization": "Ana"})
    assert sandbox.sent == [{"event_type": "order.paid", "receipt_id": receipt["receipt_id"],
                             "attempt": 1, "status": 200}]
    assert sent[1].get("duplicate") is False, sent[1]
    with scope(workspace=workspace):
        [row] = InboundWebhook.objects.filter(connection=etsy_shop)
        assert (row.topic, row.resource_id) == ("order.paid", str(receipt["receipt_id"]))
        with django_capture_on_commit_callbacks(execute=True):
            inbox_drain(connection_id=etsy_shop.pk)
        row.refresh_from_db()
        assert row.status == InboxStatus.PROCESSED, row.error
        order = Order.objects.get(external_id=str(receipt["receipt_id"]))
        assert order.line_items.get().personalization[0]["value"] == "Ana"
    # Etsy retries the same delivery: stored once
    body, headers = sent[0]
    assert client.post("/webhooks/etsy/", data=body, content_type="application/json",
                       headers={k: v for k, v in headers.items() if k != "Content-Type"}
                       ).json()["duplicate"] is True
    # the seller cancels in Etsy: order.canceled, read and applied
    sandbox.cancel_receipt(int(etsy_shop.shop_domain), receipt["receipt_id"])
    assert sandbox.sent[-1]["event_type"] == "order.canceled"
    with scope(workspace=workspace):
        with django_capture_on_commit_callbacks(execute=True):
            inbox_drain(connection_id=etsy_shop.pk)
        order.refresh_from_db()
    assert order.state == OrderState.CANCELLED


def test_an_event_naming_no_receipt_is_stored_and_refused_with_the_reason(
        etsy_shop, workspace, settings, client):
    import json

    from integrations.models import InboundWebhook, InboxStatus
    from integrations.services.inbox import inbox_drain

    body = json.dumps({"event_type": "order.paid", "shop_id": int(etsy_shop.shop_domain),
                       "resource_url": "https://api.etsy.com/v3/application/shops/"}).encode()
    resp = client.post("/webhooks/etsy/", data=body, content_type="application/json",
                       headers=_signed(body, secret=settings.ETSY_WEBHOOK_SECRET))
    assert resp.status_code == 200
    with scope(workspace=workspace):
        inbox_drain(connection_id=etsy_shop.pk)
        row = InboundWebhook.objects.get(connection=etsy_shop)
    assert row.status == InboxStatus.FAILED and "names no receipt" in row.error
