"""Submit timing, the sweep, Submit now, routing with fallback, idempotent sends."""

import threading
from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django_scopes import scope, scopes_disabled

from fulfillment import submission
from fulfillment.models import (
    Adapter,
    FulfillmentSettings,
    Shipment,
    Submission,
    SubmissionStatus,
)
from orders.events import Actor
from orders.models import Order, OrderEvent
from orders.services import next_submit_at, order_release_hold
from tests.fulfillment import fulfillment_support as support
from tests.fulfillment.fulfillment_support import (
    NOW,
    make_order,
    make_provider,
    make_variant,
)

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider
webhook_client = support.webhook_client



def _state(order) -> str:
    with scopes_disabled():
        return Order.objects.get(pk=order.pk).state


def test_countdown_not_due_is_left_alone_and_due_is_submitted(workspace, sandbox_provider,
                                                              factory_server):
    # given one order due a minute ago and one due in an hour
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    due = make_order(workspace, [variant])
    later = make_order(workspace, [variant], submit_at=NOW + timedelta(hours=1))
    # when the sweep runs at NOW
    assert submission.submit_sweep(now=NOW) == 1
    # then only the due one went to production and to the factory
    assert _state(due) == "in_production"
    assert _state(later) == "awaiting_submission"
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=due)
        assert sub.status == SubmissionStatus.ACCEPTED
        assert sub.reference == f"PH{due.pk}-1"
        assert sub.external_id.startswith("SF")
        assert Shipment.objects.filter(order=due).count() == 1
        types = list(OrderEvent.objects.filter(order=due).values_list("type", flat=True))
    assert types[-3:] == ["fulfillment.routed", "order.submitted", "fulfillment.accepted"]
    assert factory_server.factory.stats["creates"] == 1
    # and an hour later the other one goes too
    assert submission.submit_sweep(now=NOW + timedelta(hours=1)) == 1
    assert _state(later) == "in_production"


def test_manual_store_and_outside_orders_are_never_swept(workspace, sandbox_provider):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    manual_mode = make_order(workspace, [variant], submit_mode="manual")
    outside = make_order(workspace, [variant], platform="manual")
    assert submission.submit_sweep(now=NOW + timedelta(days=30)) == 0
    assert _state(manual_mode) == _state(outside) == "awaiting_submission"


def test_daily_mode_submits_at_the_store_time_in_its_zone(workspace, sandbox_provider):
    # given a store that submits once a day at 18:00 New York time (23:00 UTC in March)
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant], submit_mode="daily", submit_daily_at=time(18, 0),
                       timezone="America/New_York", submit_at=None)
    with scope(workspace=workspace):
        at = next_submit_at(Order.objects.select_related("store").get(pk=order.pk), NOW)
        Order.objects.filter(pk=order.pk).update(submit_at=at)
    assert at == NOW.replace(hour=23)
    # when the sweep runs a minute before, then at the time
    assert submission.submit_sweep(now=at - timedelta(minutes=1)) == 0
    assert submission.submit_sweep(now=at) == 1
    assert _state(order) == "in_production"


def test_sweep_twice_submits_once(workspace, sandbox_provider, factory_server):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    submission.submit_sweep(now=NOW + timedelta(minutes=1))
    submission.send_due(now=NOW + timedelta(hours=1))
    with scope(workspace=workspace):
        assert Submission.objects.filter(order=order).count() == 1
    assert factory_server.factory.stats["creates"] == 1
    assert factory_server.factory.stats["duplicates"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_skip_locked_never_submit_twice(workspace, sandbox_provider,
                                                          factory_server):
    # given 30 due orders and four sweeps running at once in their own connections
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    orders = [make_order(workspace, [variant]) for _ in range(30)]
    errors = []

    def sweep():
        try:
            submission.submit_sweep(now=NOW, batch=3)
        except Exception as exc:  # pragma: no cover - shown in the assert
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every order went once, and the factory got each once
    assert errors == []
    with scopes_disabled():
        counts = [Submission.objects.filter(order_id=o.pk).count() for o in orders]
        assert set(Order.objects.filter(pk__in=[o.pk for o in orders])
                   .values_list("state", flat=True)) == {"in_production"}
        assert OrderEvent.objects.filter(type="order.submitted").count() == 30
    assert counts == [1] * 30
    assert factory_server.factory.stats["creates"] == 30


def test_a_worker_killed_after_sending_never_makes_a_second_factory_order(
        workspace, sandbox_provider, factory_server):
    # given a submission the factory received, whose worker died before saving it
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW, send=False)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
        factory_server.factory.create({"external_id": sub.reference, "items": [{"sku": "x"}],
                                       "recipient": {"country_code": "US"}})
        Submission.objects.filter(pk=sub.pk).update(
            status=SubmissionStatus.SENDING, attempts=1, lease_until=NOW + timedelta(minutes=5))
    # when the lease runs out and the sweep takes it over
    assert submission.send_due(now=NOW + timedelta(minutes=1)) == 0  # leased: left alone
    assert submission.send_due(now=NOW + timedelta(minutes=6)) == 1
    # then it was looked up by our reference, not created again
    with scope(workspace=workspace):
        sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert factory_server.factory.stats["creates"] == 1
    assert factory_server.factory.stats["duplicates"] == 0


def test_submit_now_on_the_order_page_and_its_lock(workspace, owner, client_for,
                                                   sandbox_provider):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant], platform="manual",
                       submit_at=None)  # outside source: by hand only
    client = client_for(owner)
    page = client.get(f"/orders/{order.pk}/fulfillment/")
    assert page.status_code == 200
    assert b"submitted by hand only" in page.content
    response = client.post(f"/orders/{order.pk}/fulfillment/submit/",
                           headers={"HX-Request": "true"})
    # the state, the Actions and the panels all change: the whole page comes back
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/orders/{order.pk}/#fulfillment"
    assert _state(order) == "in_production"
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Submitted to production." in page  # the notice on top
    assert 'data-testid="next-submit"' not in page and 'data-testid="edit"' not in page
    # a second click says why nothing happens
    again = client.post(f"/orders/{order.pk}/fulfillment/submit/",
                        headers={"HX-Request": "true"})
    assert again.status_code == 409
    assert b"already submitted" in again.content


def test_bulk_submit_api(workspace, owner, api_client_for, sandbox_provider, other_owner):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    a = make_order(workspace, [variant], submit_at=NOW + timedelta(hours=5))
    b = make_order(workspace, [variant], state="to_order")
    foreign = make_order(other_owner.workspace, [variant])
    response = api_client_for(owner).post(
        "/api/v1/orders/submit/", {"order_ids": [a.pk, b.pk, foreign.pk]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["submitted"] == [a.pk]
    assert [f["id"] for f in body["failed"]] == [b.pk, foreign.pk]
    assert _state(a) == "in_production"
    assert _state(foreign) == "awaiting_submission"


def test_split_routing_one_submission_per_provider(workspace):
    own = make_provider("own-factory", kind="own", name="PodHub factory")
    manual = make_provider("local-printer", kind="manual", name="Local printer")
    mug = make_variant("MUG", [(own, "4.00")])
    tee = make_variant("TEE", [(manual, "6.00")])
    order = make_order(workspace, [mug, tee])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        subs = list(Submission.objects.filter(order=order).order_by("pk"))
        assert [(s.adapter, s.status) for s in subs] == [
            (Adapter.OWN, SubmissionStatus.ACCEPTED), (Adapter.MANUAL, SubmissionStatus.ACCEPTED)]
        assert Shipment.objects.filter(order=order).count() == 2
        routed = OrderEvent.objects.get(order=order, type="fulfillment.routed")
    assert "PodHub factory" in routed.message and "Local printer" in routed.message


def test_refused_goes_to_the_next_provider_within_the_extra_cost(workspace, sandbox_provider,
                                                                  factory_server):
    factory_server.factory.config.refuse_skus = ["sandbox-factory-MUG"]
    backup = make_provider("backup", kind="own", name="Backup factory")
    variant = make_variant("MUG", [(sandbox_provider, "4.00"), (backup, "4.50")])
    with scope(workspace=workspace):
        FulfillmentSettings.objects.create(workspace=workspace,
                                           max_extra_cost_amount=Decimal("1.00"))
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        subs = list(Submission.objects.filter(order=order).order_by("pk"))
        event = OrderEvent.objects.get(order=order, type="fulfillment.rerouted")
    assert [s.status for s in subs] == [SubmissionStatus.FAILED, SubmissionStatus.ACCEPTED]
    assert subs[1].provider == backup
    assert "we do not make" in event.message and "Backup factory" in event.message
    assert _state(order) == "in_production"


def test_an_unroutable_order_is_held_and_after_release_waits_for_submit_now(workspace):
    # given a due order whose item no provider makes
    order = make_order(workspace, [make_variant("ORPHAN", [])])
    # when the sweep reaches it, it is held (through orders.services, the one writer)
    submission.submit_sweep(now=NOW)
    with scopes_disabled():
        held = Order.objects.get(pk=order.pk)
    assert held.state == "on_hold"
    assert held.hold_reason == "provider_rejected"
    assert "cannot be submitted: Product ORPHAN" in held.hold_message
    assert held.submit_at is None
    # and once staff release it, it is awaiting submission but not due: no sweep takes it
    with scopes_disabled():
        order_release_hold(order_id=order.pk, actor=Actor.system("Staff"), now=NOW)
    assert _state(order) == "awaiting_submission"
    assert submission.submit_sweep(now=NOW + timedelta(days=30)) == 0
    assert _state(order) == "awaiting_submission"


def test_refused_with_no_affordable_fallback_holds_the_order(workspace, sandbox_provider,
                                                             factory_server):
    factory_server.factory.config.refuse_skus = ["sandbox-factory-MUG"]
    dear = make_provider("dear", kind="own", name="Dear factory")
    variant = make_variant("MUG", [(sandbox_provider, "4.00"), (dear, "9.00")])
    order = make_order(workspace, [variant])  # maximum extra cost: 0
    submission.submit_sweep(now=NOW)
    with scopes_disabled():
        held = Order.objects.get(pk=order.pk)
    assert held.state == "on_hold"
    assert held.hold_reason == "provider_rejected"
    assert "Dear factory" in held.hold_message and "more per item" in held.hold_message


def test_down_provider_is_retried_then_falls_back(workspace, sandbox_provider, factory_server,
                                                  settings):
    settings.FULFILLMENT_FALLBACK_AFTER_MINUTES = 10
    factory_server.factory.config.down = True
    backup = make_provider("backup", kind="own", name="Backup factory")
    variant = make_variant("MUG", [(sandbox_provider, "4.00"), (backup, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.PENDING and sub.next_attempt_at > NOW
    # still down 11 minutes later: the items go to the backup
    submission.send_due(now=NOW + timedelta(minutes=11))
    with scope(workspace=workspace):
        statuses = list(Submission.objects.filter(order=order).order_by("pk")
                        .values_list("status", "provider__code"))
        types = set(OrderEvent.objects.filter(order=order).values_list("type", flat=True))
    assert statuses == [("failed", "sandbox-factory"), ("accepted", "backup")]
    assert {"fulfillment.provider_unavailable", "fulfillment.rerouted"} <= types


def test_down_provider_recovers_and_the_order_goes_through_once(workspace, sandbox_provider,
                                                                factory_server):
    factory_server.factory.config.fail_next = 3
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    for minutes in (2, 4, 8):
        submission.send_due(now=NOW + timedelta(minutes=minutes))
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.ACCEPTED
    assert factory_server.factory.stats["creates"] == 1


def test_bulk_submit_from_the_order_list(workspace, owner, client_for, sandbox_provider,
                                         other_owner):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    due_later = make_order(workspace, [variant], submit_at=NOW + timedelta(hours=5))
    unpaid = make_order(workspace, [variant], state="to_order")
    foreign = make_order(other_owner.workspace, [variant])
    client = client_for(owner)
    # the list offers the action
    listing = client.get("/orders/")
    assert b'data-testid="bulk-submit"' in listing.content
    # nothing selected: a clear error, nothing moves
    empty = client.post("/orders/bulk/submit/", {}, headers={"HX-Request": "true"})
    assert empty.status_code == 400
    assert b"Select at least one order to submit" in empty.content
    response = client.post("/orders/bulk/submit/",
                           {"order_ids": [due_later.pk, unpaid.pk, foreign.pk]},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "ordersChanged"
    body = response.content.decode()
    assert "Submitted 1 order" in body
    assert "2 orders could not be submitted" in body
    assert _state(due_later) == "in_production"
    assert _state(unpaid) == "to_order"
    assert _state(foreign) == "awaiting_submission"
    # without htmx: back to the list with messages
    again = client.post("/orders/bulk/submit/", {"order_ids": [due_later.pk],
                                                 "next": "/orders/?state=in_production"})
    assert again.status_code == 302
    assert again["Location"] == "/orders/?state=in_production"
