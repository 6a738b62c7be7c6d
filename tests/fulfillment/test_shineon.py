"""ShineOn: the client against its local stand-in over real HTTP, through PodHub's own
submit sweep, provider webhook endpoint (ShineOn's shipment notifications) and poll
sweep.

Published examples used verbatim: the order object of the SDK's test fixture
(sellersmith/shineon-sdk, tests/unit/resources/orders.test.ts, `baseOrderResponse`,
MIT). ShineOn publishes no example notification; the ones below are ours, in the
SDK's `ShipmentNotification` shape (src/types/webhooks.ts).
"""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django_scopes import scope

from fulfillment import polling, submission
from fulfillment.models import ProviderWebhook, Shipment, SubmissionStatus
from fulfillment.providers import ProviderRefused
from fulfillment.providers.base import WEBHOOK_TOKEN_HEADER, FactoryItem, FactoryOrder
from fulfillment.providers.shineon import ShineOnClient, _shineon_order, notification_token
from orders.models import OrderEvent
from tests.fulfillment import provider_harness as ph
from tests.fulfillment.provider_harness import NOW, SECRET, path_of, state_of, sub_of

ENGRAVING = [{"key": "Engraving Line 1", "value": "Always & Forever"}]


@pytest.fixture
def shineon(db):
    yield from ph.harness("shineon")


def _sent(h, workspace, **order_kwargs):
    order = h.order(workspace, **order_kwargs)
    assert submission.submit_sweep(now=NOW) == 1
    return order, sub_of(workspace, order)


def _notify(h, order_json: dict, *, token: str | None = None):
    """POST a notification as ShineOn does: to the URL it was given with the order."""
    remote = h.standin.find(str(order_json["source_id"]))
    url = path_of(h.standin.extra[remote.id]["url"]) if token is None else \
        f"{h.url}?token={token}"
    return h.webhooks.post(url, data=json.dumps({"order": order_json}),
                           content_type="application/json")


def _timeline(workspace, order) -> list[str]:
    with scope(workspace=workspace):
        return list(OrderEvent.objects.filter(order=order).order_by("pk")
                    .values_list("type", flat=True))


# --- submit: our reference, line properties, our print links; created on hold, released ---


def test_submit_sends_our_reference_properties_and_signed_print_links_once(workspace,
                                                                           shineon):
    h = shineon
    order = h.order(workspace, personalization=ENGRAVING)
    files = ph.attach_print_file(workspace, order)
    assert submission.submit_sweep(now=NOW) == 1
    sub = sub_of(workspace, order)
    assert sub.status == SubmissionStatus.ACCEPTED
    remote = h.standin.find(sub.reference)  # our reference is ShineOn's source_id
    assert remote.id == sub.external_id
    # created on hold, released in the same send: it waits for production, not a person
    assert h.standin.status(remote) == "awaiting_payment"
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "confirms": 1}
    by_line = {int(i["ref"]): i for i in remote.items}
    assert sorted(by_line) == sorted(i["line_item_id"] for i in sub.items)
    for pf in files:
        props = by_line[pf.line_item_id]["properties"]
        assert props["Engraving Line 1"] == "Always & Forever"
        # the print file goes as our signed link, which ShineOn fetches without a session
        assert f"/files/print/{pf.pk}:" in props["print_url"]
        assert Client().get(path_of(props["print_url"])).status_code == 200
    # the notification URL is ours, for this provider, with this order's token
    url = h.standin.extra[remote.id]["url"]
    assert path_of(url) == f"{h.url}?token={notification_token(SECRET, sub.reference)}"
    # submitted again (a retry): the same order, none made, none released again
    with scope(workspace=workspace):
        again = h.client().submit(submission.factory_order(sub))
    assert again.external_id == sub.external_id
    assert h.standin.stats["creates"] == 1 and h.standin.stats["confirms"] == 1


def test_a_crash_between_create_and_ready_is_released_not_created_again(workspace,
                                                                        shineon):
    h = shineon
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = sub_of(workspace, order)
    # given the worker created the order on hold and died before releasing it
    client = h.client()
    with scope(workspace=workspace):
        body = client._order_body(submission.factory_order(sub), ready=0)
    created = client._call_json("POST", "/v1/orders", what="create", json={"order": body})
    assert created["order"]["status"] == "on_hold"
    ph.crashed_while_sending(sub, lease_until=NOW)
    # when the sweep takes it over
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    # then the held order was found by source_id and released: one order, made once
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id == str(created["order"]["id"])
    assert h.standin.stats == {**h.standin.stats, "creates": 1, "confirms": 1}
    assert h.standin.status(h.standin.find(sub.reference)) == "awaiting_payment"


def test_a_crash_after_the_send_is_found_by_source_id(workspace, shineon):
    h = shineon
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = sub_of(workspace, order)
    with scope(workspace=workspace):
        h.client().submit(submission.factory_order(sub))
    ph.crashed_while_sending(sub, lease_until=NOW + timedelta(minutes=5))
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id == h.client().lookup(sub.reference).external_id
    assert h.standin.stats["creates"] == 1 and len(h.standin.orders) == 1


def test_a_duplicate_source_id_is_refused_by_shineon_and_the_order_found(workspace, shineon):
    h = shineon
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    sub = sub_of(workspace, order)
    client = h.client()
    with scope(workspace=workspace):
        fo = submission.factory_order(sub)
    client.submit(fo)
    # a worker racing another one: its lookup came too early, so it creates again and
    # ShineOn refuses the source_id; the order made is found and used
    real, asked = client._find, []  # submit's look-up by source_id
    client._find = lambda reference: None if not asked.append(reference) and len(
        asked) == 1 else real(reference)
    remote = client.submit(fo)
    assert remote.reference == sub.reference
    assert h.standin.stats["duplicates"] == 1 and h.standin.stats["creates"] == 1


# --- notifications: per-order token, parcel by parcel, forward only ------------------------


def test_notifications_ship_parcel_by_parcel_with_each_lines_tracking(workspace, shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    h.standin.advance(sub.external_id)  # in production: a notification without tracking
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.IN_PRODUCTION
    h.standin.advance(sub.external_id, to="shipped")  # one parcel per line
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
        shipped = list(OrderEvent.objects.filter(order=order, type="shipment.shipped"))
    remote = h.standin.find(sub.reference)
    assert [r.tracking_number for r in rows] == [p["number"] for p in remote.shipments]
    assert [r.carrier for r in rows] == ["USPS", "UPS"]
    # each parcel carries its own line (store_line_item_id), with a tracking link
    assert [r.items for r in rows] == [[{"line_item_id": i["line_item_id"], "quantity": 1}]
                                       for i in sub.items]
    assert all(r.tracking_number in r.tracking_url for r in rows)
    assert len(shipped) == 2
    assert state_of(order) == "shipped"
    assert list(ProviderWebhook.objects.values_list("result", flat=True)) == [
        "applied", "applied"]


def test_a_notification_needs_its_own_orders_token(workspace, shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    remote = h.standin.find(sub.reference)
    event = h.standin.notification(remote) | {}
    event["order"]["status"] = "in_production"
    for token in ("", "nope", notification_token(SECRET, "PH999-1"),
                  notification_token("another-secret", sub.reference)):
        assert _notify(h, event["order"], token=token).status_code == 401, token
    assert h.webhooks.post(h.url, data=json.dumps(event),
                           content_type="application/json").status_code == 401
    assert not ProviderWebhook.objects.exists()  # nothing stored, nothing trusted
    # the right one is applied, and the token is never kept
    assert _notify(h, event["order"]).status_code == 200
    row = ProviderWebhook.objects.get()
    assert row.result == "applied"
    assert notification_token(SECRET, sub.reference) not in json.dumps(row.headers)
    assert state_of(order) == "in_production"


def test_duplicate_and_late_notifications_change_nothing(workspace, shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    h.standin.advance(sub.external_id, to="shipped")
    remote = h.standin.find(sub.reference)
    shipped = h.standin.notification(remote)["order"]
    timeline = _timeline(workspace, order)
    stored = ProviderWebhook.objects.count()
    # the same notification again: acknowledged as a duplicate
    response = _notify(h, shipped)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    # a late "in production" (no tracking): stored, ignored with the reason
    late = {**shipped, "status": "in_production",
            "line_items": [{**li, "tracking_number": None} for li in shipped["line_items"]]}
    assert _notify(h, late).status_code == 200
    row = ProviderWebhook.objects.order_by("-pk").first()
    assert ProviderWebhook.objects.count() == stored + 1
    assert row.result == "ignored" and "in_production is not after shipped" in row.reason
    assert _timeline(workspace, order) == timeline
    assert state_of(order) == "shipped"


def test_unknown_statuses_and_malformed_notifications_are_kept_and_refused(workspace,
                                                                          shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    base = {"id": int(sub.external_id), "source_id": sub.reference,
            "store_order_id": sub.reference}
    # ours: a status ShineOn never named
    unknown = _notify(h, {**base, "status": "engraving_gremlins", "line_items": []})
    assert unknown.status_code == 200
    row = ProviderWebhook.objects.get()
    assert row.result == "ignored"
    assert "unknown status 'engraving_gremlins'" in row.reason
    # ours: a notification whose lines are not a list, signed with the right token
    bad = _notify(h, {**base, "line_items": "USPS 9400 1234"})
    assert bad.status_code == 400
    assert "unreadable body" in bad.json()["error"]["message"]
    refused = ProviderWebhook.objects.order_by("-pk").first()
    assert refused.result == "refused" and "line_items is not a list" in refused.reason
    assert "9400 1234" in refused.body  # kept as it came, for replay
    # sent again: refused again, stored once
    assert _notify(h, {**base, "line_items": "USPS 9400 1234"}).status_code == 400
    assert ProviderWebhook.objects.count() == 2
    assert sub_of(workspace, order).status == SubmissionStatus.ACCEPTED


# --- polling: the notifications are not documented well enough to rely on -----------------


def test_lost_notifications_are_caught_by_the_poll_line_by_line(workspace, shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    h.standin.extra[h.standin.find(sub.reference).id]["url"] = ""  # every notification lost
    assert polling.poll_sweep(now=NOW + timedelta(minutes=10))["polled"] == 0
    h.standin.advance(sub.external_id)
    assert polling.poll_sweep(now=NOW + timedelta(minutes=31))["applied"] == 1
    assert sub_of(workspace, order).status == SubmissionStatus.IN_PRODUCTION
    h.standin.advance(sub.external_id, to="shipped")
    assert polling.poll_sweep(now=NOW + timedelta(minutes=61))["applied"] == 2
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    assert [r.items[0]["line_item_id"] for r in rows] == [i["line_item_id"] for i in sub.items]
    assert state_of(order) == "shipped"
    assert polling.poll_sweep(now=NOW + timedelta(days=1))["polled"] == 0
    assert not ProviderWebhook.objects.exists()


# --- hold, update, release, cancel ---------------------------------------------------------


def test_hold_update_release_and_cancel(workspace, shineon):
    h = shineon
    variants = h.variants()
    order = h.order(workspace, variants)
    submission.submit_sweep(now=NOW)
    sub = sub_of(workspace, order)
    client = h.client()
    # held while it waits for production: the clock does not move it
    assert client.hold(sub.external_id).status == "accepted"
    remote = h.standin.find(sub.reference)
    assert h.standin.status(remote) == "on_hold"
    assert h.standin.due(now=h.standin.clock() + 10_000) == []
    # a buyer's new address while held reaches ShineOn (the whole order again)
    with scope(workspace=workspace):
        fo = submission.factory_order(sub)
    moved = FactoryOrder(reference=fo.reference, items=fo.items, order_number=fo.order_number,
                         recipient={**fo.recipient, "address1": "2 Elm St"})
    client.update(sub.external_id, moved)
    assert remote.recipient["address1"] == "2 Elm St"
    assert client.release(sub.external_id).status == "accepted"
    assert h.standin.status(remote) == "awaiting_payment"
    # cancelled before production: ShineOn answers 202 and notifies; the order is held
    client.cancel(sub.external_id)
    h.standin.flush()
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.CANCELLED
    assert state_of(order) == "on_hold"
    # once shipped, neither a cancel nor an update is taken
    other = h.order(workspace, variants, number="#1002")
    submission.submit_sweep(now=NOW)
    sub2 = sub_of(workspace, other)
    h.standin.advance(sub2.external_id, to="shipped", send=False)
    with pytest.raises(ProviderRefused, match="cannot be cancelled"):
        client.cancel(sub2.external_id)
    with scope(workspace=workspace), pytest.raises(ProviderRefused, match="no longer"):
        client.update(sub2.external_id, submission.factory_order(sub2))


# --- errors, limits, a refused key, an outage ----------------------------------------------


def _factory_order(h, workspace):
    order = h.order(workspace)
    submission.submit_sweep(now=NOW, send=False)
    with scope(workspace=workspace):
        return submission.factory_order(sub_of(workspace, order))


def test_server_errors_rate_limits_and_hangs_are_unavailable(workspace, shineon):
    ph.check_errors_are_unavailable_then_one_order(shineon, _factory_order(shineon, workspace))


def test_refusals_carry_shineons_words(workspace, shineon):
    h = shineon
    fo = _factory_order(h, workspace)
    gone = FactoryOrder(reference=fo.reference, recipient=fo.recipient, items=[
        FactoryItem(line_item_id=fo.items[0].line_item_id, sku="SO-99999", quantity=1)])
    with pytest.raises(ProviderRefused, match="SO-99999 is not available"):
        h.client().submit(gone)
    no_zip = FactoryOrder(reference=fo.reference, items=fo.items,
                          recipient={**fo.recipient, "zip": ""})
    with pytest.raises(ProviderRefused, match="zip field is required"):
        h.client().submit(no_zip)
    assert h.standin.stats["creates"] == 0


def test_a_rate_limited_send_waits_as_long_as_shineon_asks(workspace, shineon):
    ph.check_a_rate_limited_send_waits_as_asked(shineon, workspace)


def test_a_revoked_token_stops_calls_and_loses_nothing(workspace, shineon):
    ph.check_revoked_key_stops_calls_and_loses_nothing(shineon, workspace)


def test_an_outage_falls_back_to_another_provider(workspace, shineon, settings):
    ph.check_an_outage_falls_back_to_another_provider(shineon, workspace, settings)


def test_notifications_still_arrive_while_the_key_is_refused(workspace, shineon):
    h = shineon
    order, sub = _sent(h, workspace)
    h.connection.problem = "shineon: HTTP 401 (Unauthenticated.)"
    h.connection.save()
    h.standin.advance(sub.external_id, to="shipped")
    assert state_of(order) == "shipped"


# --- ShineOn's published shapes ------------------------------------------------------------


# sellersmith/shineon-sdk, tests/unit/resources/orders.test.ts: `baseOrderResponse` (verbatim)
SDK_ORDER = {
    "order": {
        "id": 1,
        "source_id": "test-123",
        "store_order_id": "shop-1",
        "status": "on_hold",
        "on_hold_reason": None,
        "shipment_notification_url": "https://example.com/webhook",
        "shipping_method": "standard-us",
        "email": None,
        "note": None,
        "test": False,
        "line_items": [],
        "shipping_address": {
            "name": "Test User",
            "address1": "123 St",
            "city": "NY",
            "zip": "10001",
            "country_code": "US",
        },
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    },
}


def test_the_sdks_order_example_reads_as_accepted_and_held_ones_are_released(shineon):
    remote = _shineon_order(SDK_ORDER["order"])
    assert (remote.external_id, remote.reference, remote.status) == ("1", "test-123",
                                                                     "accepted")
    assert remote.shipments == []
    # the same order met by a lookup (on hold, no reason: ours) is released
    h = shineon
    client = h.client()
    released = []
    client._call_json = lambda method, path, **kw: released.append(path) or {
        "order": {**SDK_ORDER["order"], "status": "awaiting_payment"}}
    assert client._release(SDK_ORDER["order"]).status == "accepted"
    assert released == ["/v1/orders/1/ready"]
    # one ShineOn held itself (a reason) is left for a person
    held = {**SDK_ORDER["order"], "on_hold_reason": "Address could not be verified"}
    released.clear()
    assert client._release(held).status == "accepted" and released == []


def test_a_client_without_a_webhook_secret_refuses_rather_than_lose_tracking():
    client = ShineOnClient(api_base="http://shineon.invalid", api_key="k")
    client.webhook_url = "https://podhub.example/webhooks/providers/shineon/"
    with pytest.raises(ProviderRefused, match="webhook secret"):
        client.notification_url("PH1-1")
    assert not client.verify_webhook({WEBHOOK_TOKEN_HEADER: "x"}, b'{"order": {}}')


def test_a_revoked_token_stops_polls_and_loses_nothing(workspace, shineon):
    ph.check_revoked_key_stops_polls_and_loses_nothing(shineon, workspace)
