"""Printify: the client against its local stand-in over real HTTP, through PodHub's own
submit sweep, provider webhook endpoint and poll sweep.

Published examples used verbatim: the order objects of Printify's reference as the
MIT SDK spencerlepine/printify-sdk-js copies them (docs/API.md: "Retrieve a list
of orders" and "Cancel an unpaid order"). Printify publishes no webhook body we
could find; the events below are ours, in the shape third-party receivers read
(see fulfillment/providers/printify.py).
"""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.test import Client
from django_scopes import scope

from fulfillment import polling, submission
from fulfillment.models import ProviderWebhook, Shipment, SubmissionStatus
from fulfillment.providers import ProviderRefused, ProviderUnavailable
from fulfillment.providers.base import FactoryItem, FactoryOrder
from fulfillment.providers.printify import MinuteBudget, PrintifyClient, _printify_order
from fulfillment.providers.printify import _budgets as budgets
from orders.models import OrderEvent
from tests.fulfillment import provider_harness as ph
from tests.fulfillment.provider_harness import NOW, SECRET, path_of, state_of, sub_of


@pytest.fixture
def printify(db):
    budgets.clear()  # our per-account budget is per process: each test starts afresh
    for h in ph.harness("printify"):
        h.with_print_files = True  # print on the fly: every line needs its file
        yield h


def _sent(h, workspace):
    order = h.order(workspace)
    assert submission.submit_sweep(now=NOW) == 1
    return order, sub_of(workspace, order)


def _signed(body: bytes, secret: str = SECRET) -> dict:
    return {"X-Pfy-Signature": "sha256=" + hmac.new(secret.encode(), body,
                                                    hashlib.sha256).hexdigest()}


def _event(kind: str, order_id: str, data: dict, event_id: str = "evt-ours-1") -> dict:
    """Ours, in the shape third-party receivers of Printify's events read."""
    return {"id": event_id, "type": kind, "created_at": "2026-03-02 12:00:00+00:00",
            "resource": {"id": order_id, "type": "order",
                         "data": {"shop_id": 815256, **data}}}


# --- submit: external_id, print on the fly with our links, then production -----------------


def test_submit_prints_on_the_fly_with_our_links_then_goes_to_production(workspace,
                                                                         printify):
    h = printify
    order, sub = _sent(h, workspace)
    assert sub.status == SubmissionStatus.ACCEPTED
    remote = h.standin.find(sub.reference)  # our reference is Printify's external_id
    assert remote.id == sub.external_id and not remote.draft  # sent to production
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "confirms": 1}
    data = h.standin.as_json(remote)
    assert data["metadata"]["shop_order_id"] == sub.reference
    sent = sorted((i["blueprint"], i["provider"], i["variant"]) for i in remote.items)
    assert sent == [(6, 99, 12100), (384, 1, 45740)]
    for item in remote.items:
        link = item["areas"]["front"]
        assert "/files/print/" in link
        assert Client().get(path_of(link)).status_code == 200  # Printify can fetch it
    # submitted again: Printify refuses the external_id, the order made is used
    with scope(workspace=workspace):
        again = h.client().submit(submission.factory_order(sub))
    assert again.external_id == sub.external_id
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "duplicates": 1}


def test_a_crash_before_production_is_found_by_external_id_and_sent(workspace, printify):
    h = printify
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = sub_of(workspace, order)
    client = h.client()
    with scope(workspace=workspace):
        body = client._order_body(submission.factory_order(sub))
    made = client._request("POST", client._path("orders.json"), what="create", json=body)
    assert h.standin.status(h.standin.orders[made["id"]]) == "on-hold"
    ph.crashed_while_sending(sub, lease_until=NOW)
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED and sub.external_id == made["id"]
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "confirms": 1}


def test_the_lookup_reads_the_newest_pages_only(workspace, printify):
    h = printify
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    sub = sub_of(workspace, order)
    # 25 newer orders in the shop (other channels): ours is on the third page of ten
    client = h.client()
    with scope(workspace=workspace):
        body = client._order_body(submission.factory_order(sub))
    for n in range(25):
        client._request("POST", client._path("orders.json"), what="create",
                        json={**body, "external_id": f"other-{n}"})
    found = client.lookup(sub.reference)
    assert found is not None and found.external_id == sub.external_id
    client.lookup_pages = 2  # beyond what we read: not found (the retry then creates,
    assert client.lookup(sub.reference) is None  # and Printify's refusal finds it)


# --- webhooks: signed, parcel by parcel, forward only --------------------------------------


def test_shipment_events_map_printify_skus_to_our_lines_parcel_by_parcel(workspace,
                                                                         printify):
    h = printify
    order, sub = _sent(h, workspace)
    h.standin.advance(sub.external_id)  # order:sent-to-production
    assert sub_of(workspace, order).status == SubmissionStatus.IN_PRODUCTION
    events = h.standin.advance(sub.external_id, to="shipped")
    assert [e["type"] for e in events] == ["order:shipment:created"] * 2
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    remote = h.standin.find(sub.reference)
    assert [r.tracking_number for r in rows] == [p["number"] for p in remote.shipments]
    assert [r.carrier for r in rows] == ["usps", "ups"]
    # the event names Printify's SKUs; the order read back names our lines
    by_sku = {i["provider_sku"]: i["line_item_id"] for i in sub.items}
    assert [r.items[0]["line_item_id"] for r in rows] == [
        by_sku[f"{p['items'][0]['blueprint']}:{p['items'][0]['provider']}:"
               f"{p['items'][0]['variant']}"] for p in remote.shipments]
    assert all(r.tracking_number in r.tracking_url for r in rows)
    assert state_of(order) == "shipped"
    # delivered, parcel by parcel: the order completes with the last one
    h.standin.advance(sub.external_id, to="delivered")
    with scope(workspace=workspace):
        assert set(Shipment.objects.filter(order=order).values_list("status", flat=True)) \
            == {"delivered"}
    assert state_of(order) == "completed"


def test_bad_or_missing_signatures_are_401_and_stored_nowhere(workspace, printify):
    h = printify
    order, sub = _sent(h, workspace)
    body = json.dumps(_event("order:sent-to-production", sub.external_id, {})).encode()
    for headers in ({}, {"X-Pfy-Signature": "sha256=" + "0" * 64},
                    _signed(body, "another-secret"),
                    _signed(body.replace(b"sent-to-production", b"shipment:created"))):
        response = h.webhooks.post(h.url, data=body, content_type="application/json",
                                   headers=headers)
        assert response.status_code == 401
    assert not ProviderWebhook.objects.exists()
    # the bare hex digest (without "sha256=") is accepted too
    bare = {"X-Pfy-Signature": _signed(body)["X-Pfy-Signature"].removeprefix("sha256=")}
    assert h.webhooks.post(h.url, data=body, content_type="application/json",
                           headers=bare).status_code == 200
    assert state_of(order) == "in_production"
    assert sub_of(workspace, order).status == SubmissionStatus.IN_PRODUCTION


def test_a_subscription_signs_with_its_own_secret(workspace, printify):
    h = printify
    order, sub = _sent(h, workspace)
    # registered through Printify's webhooks API with the connection's secret
    client = h.client()
    created = client._request("POST", client._path("webhooks.json"), what="subscribe",
                              json={"topic": "order:sent-to-production",
                                    "url": f"http://127.0.0.1:8000{h.url}", "secret": SECRET})
    assert "secret" not in created
    h.standin.webhook_secret = "the-wrong-one"  # only the subscription's secret signs now
    h.standin.advance(sub.external_id)
    assert ProviderWebhook.objects.get().result == "applied"
    assert sub_of(workspace, order).status == SubmissionStatus.IN_PRODUCTION


def test_duplicate_and_late_events_change_nothing(workspace, printify):
    h = printify
    order, sub = _sent(h, workspace)
    shipped = h.standin.advance(sub.external_id, to="shipped")[-1]
    stored = ProviderWebhook.objects.count()
    with scope(workspace=workspace):
        timeline = list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True))
    response = h.post(shipped)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    late = _event("order:updated", sub.external_id, {"status": "in-production"}, "evt-late")
    assert h.post(late).status_code == 200
    row = ProviderWebhook.objects.order_by("-pk").first()
    assert ProviderWebhook.objects.count() == stored + 1
    assert row.result == "ignored" and "in_production is not after shipped" in row.reason
    with scope(workspace=workspace):
        assert list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True)) \
            == timeline
    assert state_of(order) == "shipped"


def test_unknown_statuses_problems_and_malformed_events_are_kept_and_refused(workspace,
                                                                            printify):
    h = printify
    order, sub = _sent(h, workspace)
    unknown = _event("order:updated", sub.external_id, {"status": "lost-in-space"}, "e1")
    assert h.post(unknown).status_code == 200
    attention = _event("order:updated", sub.external_id,
                       {"status": "payment-not-received"}, "e2")
    assert h.post(attention).status_code == 200
    other = _event("product:deleted", "5d39b411749d0a000f30e0f4", {}, "e3")
    other["resource"]["type"] = "product"
    assert h.post(other).status_code == 200
    reasons = list(ProviderWebhook.objects.order_by("pk").values_list("result", "reason"))
    assert [r for r, _ in reasons] == ["ignored"] * 3
    assert "unknown status 'lost-in-space'" in reasons[0][1]
    assert "Printify: payment-not-received" in reasons[1][1]
    assert "unknown order" in reasons[2][1]
    # signed, but not an event: stored as it came, refused with the reason, never a 500
    for broken in ({"type": "order:updated"}, {"type": "order:updated", "resource": []},
                   [1, 2, 3]):
        response = h.post(broken)
        assert response.status_code == 400
        assert "unreadable body" in response.json()["error"]["message"]
    refused = ProviderWebhook.objects.filter(result="refused")
    assert refused.count() == 3 and all(r.reason for r in refused)
    assert sub_of(workspace, order).status == SubmissionStatus.ACCEPTED


def test_lost_events_are_caught_by_the_safety_net_poll(workspace, printify):
    h = printify
    h.standin.callback_url = ""
    order, sub = _sent(h, workspace)
    h.standin.advance(sub.external_id, to="shipped")
    assert polling.poll_sweep(now=NOW + timedelta(hours=5))["polled"] == 0
    result = polling.poll_sweep(now=NOW + timedelta(hours=6, minutes=1))
    # Printify's order names its parcels but not their items: the first carries the
    # lines (none is left out), the second its own tracking
    assert result["polled"] == 1 and result["applied"] == 2
    with scope(workspace=workspace):
        numbers = sorted(Shipment.objects.filter(order=order)
                         .values_list("tracking_number", flat=True))
    assert numbers == sorted(p["number"] for p in h.standin.find(sub.reference).shipments)
    assert state_of(order) == "shipped"


# --- limits, errors, a refused key, an outage ----------------------------------------------


def _factory_order(h, workspace):
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    with scope(workspace=workspace):
        return submission.factory_order(sub_of(workspace, order))


def test_our_own_budget_stops_short_of_600_a_minute():
    clock = [1000.0]
    budget = MinuteBudget(3, clock=lambda: clock[0])
    assert [budget.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.take() == 60.0
    clock[0] += 59.5
    assert budget.take() == 0.5
    clock[0] += 0.5
    assert budget.take() == 0.0  # the first call left the window


def test_the_budget_gives_calls_back_to_the_sweep_without_calling(workspace, printify):
    h = printify
    fo = _factory_order(h, workspace)
    client = h.client()
    client.per_minute = 2  # a budget of two calls for this test's account
    client.submit(fo)  # create + send to production
    calls = h.standin.stats["calls"]
    with pytest.raises(ProviderUnavailable, match="2 calls a minute used") as caught:
        client.fetch_status(h.standin.find(fo.reference).id)
    assert 0 < caught.value.retry_after <= 60
    assert h.standin.stats["calls"] == calls  # refused here, not at Printify


def test_printifys_own_limit_answers_429_with_retry_after(workspace, printify):
    h = printify
    h.standin.per_minute = 1
    fo = _factory_order(h, workspace)
    with pytest.raises(ProviderUnavailable, match="HTTP 429") as caught:
        h.client().submit(fo)  # the create passes, send_to_production meets the limit
    assert caught.value.retry_after == 60


def test_server_errors_rate_limits_and_hangs_are_unavailable(workspace, printify):
    ph.check_errors_are_unavailable_then_one_order(printify, _factory_order(printify,
                                                                            workspace))


def test_refusals_carry_printifys_words(workspace, printify):
    h = printify
    fo = _factory_order(h, workspace)
    item = fo.items[0]
    unmade = FactoryOrder(reference=fo.reference, recipient=fo.recipient, items=[
        FactoryItem(line_item_id=item.line_item_id, sku="6:99:999999", quantity=1,
                    files=item.files)])
    with pytest.raises(ProviderRefused, match="Variant 999999 is not available"):
        h.client().submit(unmade)
    badly_mapped = FactoryOrder(reference=fo.reference, recipient=fo.recipient, items=[
        FactoryItem(line_item_id=item.line_item_id, sku="GILDAN-5000", quantity=1,
                    files=item.files)])
    with pytest.raises(ProviderRefused, match="blueprint id"):
        h.client().submit(badly_mapped)
    no_file = FactoryOrder(reference=fo.reference, recipient=fo.recipient, items=[
        FactoryItem(line_item_id=item.line_item_id, sku=item.sku, quantity=1)])
    with pytest.raises(ProviderRefused, match="no print file"):
        h.client().submit(no_file)
    assert h.standin.stats["creates"] == 0


def test_a_key_without_its_shop_is_a_connection_problem(db):
    client = PrintifyClient(api_base="http://printify.invalid", api_key="just-a-token")
    said = []
    client.credentials_rejected = said.append
    with pytest.raises(ProviderRefused, match="<API token>:<shop id>"):
        client.fetch_status("1")
    assert said == ["printify: the key must be <API token>:<shop id>"]


def test_a_rate_limited_send_waits_as_long_as_printify_asks(workspace, printify):
    ph.check_a_rate_limited_send_waits_as_asked(printify, workspace)


def test_a_revoked_token_stops_calls_and_loses_nothing(workspace, printify):
    ph.check_revoked_key_stops_calls_and_loses_nothing(printify, workspace)


def test_an_outage_falls_back_to_another_provider(workspace, printify, settings):
    ph.check_an_outage_falls_back_to_another_provider(printify, workspace, settings)


def test_cancel_only_before_production_and_shipping_costs(workspace, printify):
    h = printify
    fo = _factory_order(h, workspace)
    client = h.client()
    quote = {o.code: o.amount for o in client.shipping_quote(fo)}
    assert str(quote["standard"]) == "6.00" and str(quote["economy"]) == "4.50"
    made = client._request("POST", client._path("orders.json"), what="create",
                           json=client._order_body(fo))
    client.cancel(made["id"])  # on hold: cancelled
    assert h.standin.status(h.standin.orders[made["id"]]) == "canceled"
    sent = client.submit(FactoryOrder(reference="PH77-1", recipient=fo.recipient,
                                      items=fo.items))
    with pytest.raises(ProviderRefused, match="Only on-hold orders can be canceled"):
        client.cancel(sent.external_id)


# --- Printify's published shapes ------------------------------------------------------------

# spencerlepine/printify-sdk-js, docs/API.md, "printify.orders.list()", data[0] (verbatim)
LISTED = json.loads("""{
      "id": "5a96f649b2439217d070f507",
      "address_to": {
        "first_name": "John",
        "last_name": "Smith",
        "region": "",
        "address1": "ExampleBaan 121",
        "city": "Retie",
        "zip": "2470",
        "email": "example@msn.com",
        "phone": "0574 69 21 90",
        "country": "BE",
        "company": "MSN"
      },
      "line_items": [
        {
          "product_id": "5b05842f3921c9547531758d",
          "quantity": 1,
          "variant_id": 17887,
          "print_provider_id": 5,
          "cost": 1050,
          "shipping_cost": 400,
          "status": "fulfilled",
          "metadata": { "title": "18K gold plated Necklace", "price": 2200, "variant_label": "Golden indigocoin", "sku": "168699843", "country": "United States" },
          "sent_to_production_at": "2017-04-18 13:24:28+00:00",
          "fulfilled_at": "2017-04-18 13:24:28+00:00"
        }
      ],
      "metadata": { "order_type": "external", "shop_order_id": 1370762297, "shop_order_label": "1370762297", "shop_fulfilled_at": "2017-04-18 13:24:28+00:00" },
      "total_price": 2200,
      "total_shipping": 400,
      "total_tax": 0,
      "status": "fulfilled",
      "shipping_method": 1,
      "is_printify_express": false,
      "is_economy_shipping": false,
      "shipments": [{ "carrier": "usps", "number": "94001116990045395649372", "url": "http://example.com/94001116990045395649372", "delivered_at": "2017-04-18 13:24:28+00:00" }],
      "created_at": "2017-04-18 13:24:28+00:00",
      "sent_to_production_at": "2017-04-18 13:24:28+00:00",
      "fulfilled_at": "2017-04-18 13:24:28+00:00",
      "printify_connect": { "url": "https://example.com/printify_connect_hash", "id": "printify_connect_hash" }
    }""")  # noqa: E501

# the same file, "printify.orders.cancelUnpaid(orderId)" (verbatim): an API order whose
# metadata.shop_order_id is the external_id the submit example sent
CANCELLED = json.loads("""{
  "id": "5dee261dc400914833007902",
  "address_to": {
    "first_name": "John",
    "last_name": "Smith",
    "email": "example@msn.com",
    "country": "United States",
    "region": "CA",
    "address1": "31677 Virginia Way",
    "city": "Laguna Beach",
    "zip": "92653"
  },
  "line_items": [
    {
      "quantity": 1,
      "product_id": "5de6593ebff03b5313567d22",
      "variant_id": 34509,
      "print_provider_id": 6,
      "shipping_cost": 450,
      "cost": 0,
      "status": "canceled",
      "metadata": { "title": "Men's Organic Tee - Product 1", "variant_label": "S / Red", "sku": "3640", "country": "United Kingdom" }
    }
  ],
  "metadata": {
    "order_type": "api",
    "shop_order_id": "2750e210-39bb-11e9-a503-452618153e4a",
    "shop_order_label": "2750e210-39bb-11e9-a503-452618153e4a",
    "shop_fulfilled_at": "1970-01-01 00:00:00+00:00"
  },
  "total_price": 0,
  "total_shipping": 0,
  "total_tax": 0,
  "status": "canceled",
  "shipping_method": 1,
  "is_printify_express": false,
  "is_economy_shipping": false,
  "created_at": "2019-12-09 10:46:53+00:00"
}""")  # noqa: E501


def test_printifys_published_orders_read_as_we_expect():
    shipped = _printify_order(LISTED)
    assert (shipped.external_id, shipped.status) == ("5a96f649b2439217d070f507", "shipped")
    [parcel] = shipped.shipments
    assert (parcel.carrier, parcel.number, parcel.status) == (
        "usps", "94001116990045395649372", "delivered")
    assert parcel.url == "http://example.com/94001116990045395649372"
    cancelled = _printify_order(CANCELLED)
    assert cancelled.status == "cancelled"
    assert cancelled.reference == "2750e210-39bb-11e9-a503-452618153e4a"  # our external_id


def test_an_api_order_is_found_by_its_shop_order_id(printify):
    client = printify.client()
    pages = [{"current_page": 1, "last_page": 1, "data": [LISTED, CANCELLED]}]
    client._request = lambda *a, **kw: pages.pop(0)
    found = client.lookup("2750e210-39bb-11e9-a503-452618153e4a")
    assert found.external_id == "5dee261dc400914833007902" and found.status == "cancelled"


def test_a_revoked_token_stops_polls_and_loses_nothing(workspace, printify):
    ph.check_revoked_key_stops_polls_and_loses_nothing(printify, workspace)
