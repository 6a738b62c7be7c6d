"""Printful v2, CustomCat and Gelato v4: each client against its local stand-in over
real HTTP, through PodHub's own submit sweep, webhook endpoint and poll sweep.

Each stand-in runs on a free port; its webhooks go through the Django test client
(same database transaction as the test). The stand-ins' clocks move only when a
test says (`advance`), and PodHub's time is passed as `now`.
"""

import dataclasses
import json
from datetime import timedelta

import httpx
import pytest
from django_scopes import scope, scopes_disabled

from fulfillment import submission
from fulfillment.models import (
    Adapter,
    ProviderConnection,
    ProviderWebhook,
    Shipment,
    Submission,
    SubmissionStatus,
)
from fulfillment.providers import ProviderRefused, ProviderUnavailable, client_for
from fulfillment.providers.base import WEBHOOK_TOKEN_HEADER
from fulfillment.providers.customcat import CustomCatClient
from fulfillment.providers.gelato import GelatoClient
from fulfillment.providers.printful import PrintfulClient
from orders.models import OrderEvent
from tests.fulfillment.provider_harness import (
    API_KEY,
    NOW,
    SECRET,
    Harness,
    check_a_rate_limited_send_waits_as_asked,
    check_errors_are_unavailable_then_one_order,
)
from tests.fulfillment.provider_harness import harness as _harness
from tests.fulfillment.provider_harness import ship as _ship
from tests.fulfillment.provider_harness import state_of as _state
from tests.fulfillment.provider_harness import sub_of as _sub

CLIENTS = {"printful": PrintfulClient, "customcat": CustomCatClient, "gelato": GelatoClient}


@pytest.fixture(params=["printful", "customcat", "gelato"])
def harness(request, db):
    yield from _harness(request.param)


@pytest.fixture
def printful(db):
    yield from _harness("printful")


@pytest.fixture
def gelato(db):
    yield from _harness("gelato")


@pytest.fixture
def customcat(db):
    yield from _harness("customcat")


# --- the whole path, per provider ---------------------------------------------------------


def test_submit_is_idempotent_and_two_parcels_keep_their_own_tracking(workspace, harness):
    h = harness
    order = h.order(workspace)
    # when the submit sweep sends the order
    assert submission.submit_sweep(now=NOW) == 1
    sub = _sub(workspace, order)
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id
    assert h.standin.stats["creates"] == 1
    remote = h.standin.find(sub.external_id)
    assert remote.reference == sub.reference  # our reference is their external id
    if h.name == "printful":
        assert h.standin.stats["confirms"] == 1 and not remote.draft
    # and the same order is submitted again (a retry): the same order, no second one
    with scope(workspace=workspace):
        again = client_for(sub.provider).submit(submission.factory_order(sub))
    assert again.external_id == sub.external_id
    assert h.standin.stats["creates"] == 1
    assert len(h.standin.orders) == 1
    # when the provider ships it as two parcels
    _ship(h, sub, now=NOW + timedelta(minutes=31))
    # then each parcel is a shipment with its own tracking and its own line item
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
        events = list(OrderEvent.objects.filter(order=order, type="shipment.shipped"))
    assert len(rows) == 2
    assert {r.status for r in rows} == {"shipped"}
    assert [r.carrier for r in rows] == ["USPS", "UPS"]
    assert rows[0].tracking_number != rows[1].tracking_number
    assert all(r.tracking_number and r.tracking_number in r.tracking_url for r in rows)
    assert sorted(r.items[0]["line_item_id"] for r in rows) == sorted(
        i["line_item_id"] for i in sub.items)
    assert len(events) == 2
    assert _state(order) == "shipped"


def test_a_crash_between_sent_and_saved_never_makes_a_second_order(workspace, harness):
    h = harness
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = _sub(workspace, order)
    # given the provider got the order but the worker died before saving the answer
    with scope(workspace=workspace):
        h.client().submit(submission.factory_order(sub))
        Submission.objects.filter(pk=sub.pk).update(
            status=SubmissionStatus.SENDING, attempts=1, lease_until=NOW + timedelta(minutes=5))
    assert h.standin.stats["creates"] == 1
    # when the lease runs out and the sweep takes it over
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    # then the order was found by our reference, not created again
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id == h.client().lookup(sub.reference).external_id
    assert h.standin.stats["creates"] == 1
    assert len(h.standin.orders) == 1


def test_printful_draft_left_by_a_crash_is_confirmed_not_created_again(workspace, printful):
    h = printful
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = _sub(workspace, order)
    # given the draft was created but the worker died before confirming it
    with scope(workspace=workspace):
        body = h.client()._order_body(submission.factory_order(sub))
    draft = httpx.post(f"{h.server.url}/v2/orders", json=body,
                       headers={"Authorization": f"Bearer {API_KEY}"}).json()["data"]
    assert draft["status"] == "draft"
    with scopes_disabled():
        Submission.objects.filter(pk=sub.pk).update(
            status=SubmissionStatus.SENDING, attempts=1, lease_until=NOW)
    # when the sweep retries
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    # then the existing draft was confirmed: one order, confirmed once
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id == str(draft["id"])
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "confirms": 1}
    assert not h.standin.find(sub.external_id).draft


# --- webhooks: verified, deduplicated, forward-only -----------------------------------------


@pytest.fixture(params=["printful", "gelato"])
def pushed(request, db, workspace):
    """A submitted order at a provider that sends webhooks: (harness, order, sub)."""
    gen = _harness(request.param)
    h = next(gen)
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    yield h, order, _sub(workspace, order)
    gen.close()


def test_bad_or_missing_signature_is_401_and_stores_nothing(workspace, pushed):
    h, order, sub = pushed
    events = h.standin.advance(sub.external_id, send=False)  # in production
    body = json.dumps(events[0]).encode()
    bad = {"printful": {"x-pf-webhook-signature": "0" * 64},
           "gelato": {WEBHOOK_TOKEN_HEADER: "not-the-token"}}[h.name]
    assert h.post(events[0], headers=bad).status_code == 401
    assert h.post(events[0], headers={}).status_code == 401
    assert not ProviderWebhook.objects.exists()
    # a body changed after signing is refused too
    if h.name == "printful":
        signed = h.standin.webhook_headers(body)
        tampered = body.replace(b"inprocess", b"fulfilled")
        assert h.webhooks.post(h.url, data=tampered, content_type="application/json",
                               headers=signed).status_code == 401
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED


def test_duplicate_delivery_is_ignored_and_changes_nothing(workspace, pushed):
    h, order, sub = pushed
    events = h.standin.advance(sub.external_id, to="shipped")
    shipped = events[-1]  # the last parcel's (Printful) / the shipped status (Gelato)
    with scope(workspace=workspace):
        before = list(Shipment.objects.filter(order=order).values_list("status", "tracking_number"))
        n_events = OrderEvent.objects.filter(order=order).count()
    stored = ProviderWebhook.objects.count()
    # when the provider delivers the same event again
    response = h.post(shipped)
    # then it is acknowledged as a duplicate and nothing moves
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert ProviderWebhook.objects.count() == stored
    with scope(workspace=workspace):
        assert list(Shipment.objects.filter(order=order).values_list(
            "status", "tracking_number")) == before
        assert OrderEvent.objects.filter(order=order).count() == n_events


def test_backwards_status_is_ignored_with_a_reason(workspace, pushed):
    h, order, sub = pushed
    h.standin.advance(sub.external_id, to="shipped")
    assert _state(order) == "shipped"
    # when a late "in production" arrives (a new event id, so not a duplicate)
    if h.name == "printful":
        late = {"type": "order_updated", "occurred_at": "2026-03-01T00:00:00Z", "retries": 2,
                "store_id": 1, "data": {"order": {"id": int(sub.external_id),
                                                  "external_id": sub.reference,
                                                  "status": "inprocess"}}}
    else:
        late = {"id": "os_late", "event": "order_status_updated", "orderId": sub.external_id,
                "orderReferenceId": sub.reference, "fulfillmentStatus": "printed",
                "items": []}
    assert h.post(late).status_code == 200
    # then it is stored, ignored with its reason, and the order stays shipped
    row = ProviderWebhook.objects.order_by("-pk").first()
    assert row.result == "ignored"
    assert "not after" in row.reason or "is shipped" in row.reason
    assert _state(order) == "shipped"
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SHIPPED


def test_unknown_order_is_stored_and_ignored(workspace, pushed):
    h, order, sub = pushed
    if h.name == "printful":
        event = {"type": "order_updated", "occurred_at": "2026-03-02T00:00:00Z",
                 "data": {"order": {"id": 9, "external_id": "PH999-1", "status": "inprocess"}}}
    else:
        event = {"id": "os_x", "event": "order_status_updated", "orderId": "gel-9",
                 "orderReferenceId": "PH999-1", "fulfillmentStatus": "printed", "items": []}
    assert h.post(event).status_code == 200
    row = ProviderWebhook.objects.get()
    assert row.result == "ignored"
    assert "unknown order" in row.reason


def test_gelato_older_object_form_and_item_tracking_events(workspace, gelato):
    h = gelato
    h.standin.legacy_object_form = True
    h.standin.item_tracking_events = True
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    sub = _sub(workspace, order)
    # in production, in the older `"object": "orderStatus"` form
    h.standin.advance(sub.external_id)
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.IN_PRODUCTION
    # shipped: the status event and one tracking-code event per item (same parcels)
    events = h.standin.advance(sub.external_id, to="shipped")
    assert [e.get("event") or e.get("object") for e in events] == [
        "orderStatus", "order_item_tracking_code_updated", "order_item_tracking_code_updated"]
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    assert len(rows) == 2
    assert {r.external_id for r in rows} == {r.tracking_number for r in rows}
    assert _state(order) == "shipped"
    reasons = list(ProviderWebhook.objects.order_by("pk").values_list("result", flat=True))
    assert reasons == ["applied", "applied", "ignored", "ignored"]  # tracking already known


def test_printful_order_failed_reroutes_or_holds(workspace, printful):
    h = printful
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    sub = _sub(workspace, order)
    h.standin.fail(sub.external_id, reason="Print file could not be processed")
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.FAILED
    assert _state(order) == "on_hold"  # no other provider makes these variants


def test_customcat_has_no_webhooks(workspace, customcat):
    h = customcat
    response = h.webhooks.post(h.url, data=b"{}", content_type="application/json")
    assert response.status_code == 401
    assert not ProviderWebhook.objects.exists()


# --- errors map to what the sweep does next -------------------------------------------------


def _factory_order(h: Harness, workspace):
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    with scope(workspace=workspace):
        return submission.factory_order(_sub(workspace, order))


def test_server_errors_and_rate_limits_are_unavailable(workspace, harness):
    check_errors_are_unavailable_then_one_order(harness, _factory_order(harness, workspace))


def test_a_slow_provider_times_out_as_unavailable(workspace, harness):
    h = harness
    fo = _factory_order(h, workspace)
    h.standin.faults.latency = 0.5
    with pytest.raises(ProviderUnavailable, match="timed out"):
        h.client(timeout=0.1).submit(fo)


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_transport_errors_are_unavailable(error):
    def handler(request):
        raise error

    for cls in CLIENTS.values():
        client = cls(api_base="http://provider.invalid", api_key="k",
                     transport=httpx.MockTransport(handler))
        with pytest.raises(ProviderUnavailable):
            client.fetch_status("1")


def test_refusals_are_refused_with_the_providers_message(workspace, harness):
    h = harness
    fo = _factory_order(h, workspace)
    if h.name == "printful":
        bad = dataclasses.replace(fo, items=[dataclasses.replace(fo.items[0], sku="999999")])
        expected = "discontinued"
    elif h.name == "gelato":
        bad = dataclasses.replace(fo, items=[dataclasses.replace(fo.items[0],
                                                                 sku="unknown_product")])
        expected = "does not exist"
    else:
        bad = dataclasses.replace(fo, recipient={**fo.recipient, "email": ""})
        expected = "shipping_email"
    with pytest.raises(ProviderRefused, match=expected):
        h.client().submit(bad)
    assert h.standin.stats["creates"] == 0
    bad_key = CLIENTS[h.name](api_base=h.server.url, api_key="wrong")
    with pytest.raises(ProviderRefused, match="401"):
        bad_key.submit(fo)


def test_customcat_read_only_key_is_refused_on_create(workspace, customcat):
    h = customcat
    h.standin.read_only_key = "read-only"
    fo = _factory_order(h, workspace)
    client = CustomCatClient(api_base=h.server.url, api_key="read-only")
    with pytest.raises(ProviderRefused, match="read-only"):
        client.submit(fo)


def test_cancel_before_production_and_refused_after(workspace, harness):
    h = harness
    variants = h.variants()
    order = h.order(workspace, variants)
    submission.submit_sweep(now=NOW)
    sub = _sub(workspace, order)
    client = h.client()
    other = h.order(workspace, variants, number="#1002")
    submission.submit_sweep(now=NOW)
    sub2 = _sub(workspace, other)
    client.cancel(sub.external_id)
    assert h.standin.find(sub.external_id).cancelled
    # Printful and Gelato say so by webhook (sent later, by their clock): the order is held
    h.standin.flush()
    if h.name != "customcat":
        sub.refresh_from_db()
        assert sub.status == SubmissionStatus.CANCELLED
        assert _state(order) == "on_hold"
    h.standin.advance(sub2.external_id, to="shipped", send=False)
    with pytest.raises(ProviderRefused):
        client.cancel(sub2.external_id)


def test_admin_connection_form_keeps_stored_keys_when_left_blank(db):
    from fulfillment.admin import ProviderConnectionForm
    from quotes.models import Provider

    provider = Provider.objects.create(code="pf", name="Printful", kind="api")
    form = ProviderConnectionForm(data={
        "provider": provider.pk, "adapter": Adapter.PRINTFUL, "api_base": "",
        "api_key": "tok:123", "webhook_secret": "s3cret", "destinations": "",
        "production_hours": 72, "is_enabled": "on"})
    assert form.is_valid(), form.errors
    conn = form.save()
    # editing without retyping the keys keeps them
    form = ProviderConnectionForm(instance=conn, data={
        "provider": provider.pk, "adapter": Adapter.PRINTFUL, "api_base": "",
        "api_key": "", "webhook_secret": "", "destinations": "US",
        "production_hours": 72, "is_enabled": "on"})
    assert form.is_valid(), form.errors
    form.save()
    conn = ProviderConnection.objects.get(pk=conn.pk)
    assert conn.api_key.reveal() == "tok:123"
    assert conn.webhook_secret.reveal() == "s3cret"
    client = client_for(provider)
    assert isinstance(client, PrintfulClient)
    assert client.api_base == "https://api.printful.com"
    assert client._headers() == {"Authorization": "Bearer tok", "X-PF-Store-Id": "123"}
    assert "s3cret" not in form.as_p()


def test_run_provider_standin_connect_registers_a_working_connection(db):
    from sandboxes.management.commands.run_provider_standin import Command

    Command()._connect("gelato", "gelato-standin", "http://127.0.0.1:8033",
                       {"api_key": "k", "webhook_secret": "s"})
    from quotes.models import Provider

    provider = Provider.objects.get(code="gelato-standin")
    client = client_for(provider)
    assert isinstance(client, GelatoClient)
    assert client.api_base == "http://127.0.0.1:8033"
    assert client.verify_webhook({WEBHOOK_TOKEN_HEADER: "s"}, b"{}")
    assert not client.verify_webhook({WEBHOOK_TOKEN_HEADER: "x"}, b"{}")


def test_staff_connect_gelato_in_the_admin_and_keys_never_show(db, client):
    from quotes.models import Provider
    from tests.factories import UserFactory

    provider = Provider.objects.create(code="gelato", name="Gelato", kind="api")
    client.force_login(UserFactory(email="staff@podhub.test", is_staff=True,
                                   is_superuser=True))
    add = client.get("/admin/fulfillment/providerconnection/add/").content.decode()
    assert 'value="gelato"' in add and 'value="printful"' in add and 'value="customcat"' in add
    response = client.post("/admin/fulfillment/providerconnection/add/", {
        "provider": provider.pk, "adapter": "gelato", "api_base": "", "api_key": "gel-key-1",
        "webhook_secret": "gel-token-1", "destinations": "US CA", "production_hours": 72,
        "is_enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = ProviderConnection.objects.get(provider=provider)
    page = client.get(f"/admin/fulfillment/providerconnection/{conn.pk}/change/")
    assert page.status_code == 200
    assert "gel-key-1" not in page.content.decode()
    assert "gel-token-1" not in page.content.decode()
    gelato = client_for(provider)
    assert isinstance(gelato, GelatoClient)
    assert gelato._headers() == {"X-API-KEY": "gel-key-1"}
    assert gelato.verify_webhook({WEBHOOK_TOKEN_HEADER: "gel-token-1"}, b"{}")


def test_printful_draft_confirmed_meanwhile_is_read_not_refused(workspace, printful):
    h = printful
    fo = _factory_order(h, workspace)
    client = h.client()
    draft = httpx.post(f"{h.server.url}/v2/orders", json=client._order_body(fo),
                       headers={"Authorization": f"Bearer {API_KEY}"}).json()["data"]
    # a concurrent retry confirms it between our read and our confirmation
    httpx.post(f"{h.server.url}/v2/orders/{draft['id']}/confirmation",
               headers={"Authorization": f"Bearer {API_KEY}"})
    remote = client._confirm(draft)
    assert remote.external_id == str(draft["id"])
    assert remote.status == "accepted"
    assert h.standin.stats["confirms"] == 1


def test_gelato_token_in_the_webhook_url_is_accepted_and_never_stored(workspace, gelato):
    h = gelato
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    sub = _sub(workspace, order)
    event = {"id": "os_url_token", "event": "order_status_updated", "orderId": sub.external_id,
             "orderReferenceId": sub.reference, "fulfillmentStatus": "printed", "items": []}
    body = json.dumps(event).encode()
    # a wrong token in the URL is refused and nothing is stored
    wrong = h.webhooks.post(f"{h.url}?token=nope", data=body, content_type="application/json")
    assert wrong.status_code == 401
    assert not ProviderWebhook.objects.exists()
    # the right one (Gelato's dashboard cannot add headers) is applied
    ok = h.webhooks.post(f"{h.url}?token={SECRET}", data=body, content_type="application/json")
    assert ok.status_code == 200
    row = ProviderWebhook.objects.get()
    assert row.result == "applied"
    assert SECRET not in json.dumps(row.headers)
    assert _state(order) == "in_production"


def test_a_rate_limited_send_waits_as_long_as_the_provider_asks(workspace, printful):
    check_a_rate_limited_send_waits_as_asked(printful, workspace)
