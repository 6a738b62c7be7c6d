"""Provider faults: the sandbox factory's fault switch, retries with backoff, fallback
after FULFILLMENT_FALLBACK_AFTER_MINUTES (time passed as `now`), batched sends."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django_scopes import scope, scopes_disabled

from fulfillment import submission
from fulfillment.models import FulfillmentSettings, Submission, SubmissionStatus
from orders.models import Order, OrderEvent
from tests.fulfillment import fulfillment_support as support
from tests.fulfillment.fulfillment_support import (
    API_KEY,
    NOW,
    make_order,
    make_provider,
    make_variant,
)

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider
webhook_client = support.webhook_client

AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY = {"external_id": "PH1-1", "items": [{"sku": "x"}], "recipient": {"country_code": "US"}}


def _subs(order) -> list[tuple[str, str]]:
    with scopes_disabled():
        return list(Submission.objects.filter(order=order).order_by("pk")
                    .values_list("status", "provider__code"))


def _state(order) -> str:
    with scopes_disabled():
        return Order.objects.get(pk=order.pk).state


# --- the sandbox factory's fault switch ----------------------------------------------------


def test_fault_switch_answers_500_then_recovers(factory_server):
    with httpx.Client(base_url=factory_server.url, timeout=5) as http:
        assert http.post("/_faults", json={"mode": "500"}).json()["mode"] == "500"
        assert http.post("/v1/orders", json=BODY, headers=AUTH).status_code == 500
        assert http.get("/_faults").json()["mode"] == "500"
        http.post("/_faults", json={"mode": "none"})
        assert http.post("/v1/orders", json=BODY, headers=AUTH).status_code == 200
        assert http.post("/_faults", json={"mode": "sometimes"}).status_code == 400
    assert factory_server.factory.stats["creates"] == 1
    assert factory_server.factory.stats["faults"] == 1


def test_fault_switch_timeout_hangs_past_the_clients_timeout(factory_server):
    with httpx.Client(base_url=factory_server.url) as http:
        http.post("/_faults", json={"mode": "timeout", "hang_seconds": 5})
        with pytest.raises(httpx.ReadTimeout):
            http.post("/v1/orders", json=BODY, headers=AUTH, timeout=0.2)
    assert factory_server.factory.orders == {}


def test_factory_keeps_connections_alive(factory_server):
    # one client, many calls: all on one connection (HTTP/1.1 keep-alive)
    with httpx.Client(base_url=factory_server.url, timeout=5) as http:
        peers = set()
        for n in range(5):
            r = http.post("/v1/orders", json={**BODY, "external_id": f"PH{n}-1"},
                          headers=AUTH, extensions={})
            assert r.status_code == 200
            assert r.http_version == "HTTP/1.1"
            peers.add(r.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(peers) == 1


# --- retries and fallback ------------------------------------------------------------------


def test_500s_are_retried_with_backoff_then_accepted_once(workspace, sandbox_provider,
                                                          factory_server):
    factory_server.factory.set_fault("500")
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    # when the sweep runs during the outage
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.PENDING
    assert sub.next_attempt_at == NOW + timedelta(seconds=20)  # backoff after attempt 1
    assert "HTTP 500" in sub.error
    # then nothing is tried before the backoff is over
    assert submission.send_due(now=NOW + timedelta(seconds=10)) == 0
    submission.send_due(now=NOW + timedelta(seconds=20))  # still down: 40 s more
    with scope(workspace=workspace):
        sub.refresh_from_db()
    assert sub.next_attempt_at == NOW + timedelta(seconds=60) and sub.attempts == 2
    # and once the factory is back, the order goes through exactly once
    factory_server.factory.set_fault("none")
    assert submission.send_due(now=NOW + timedelta(seconds=60)) == 1
    with scope(workspace=workspace):
        sub.refresh_from_db()
        types = list(OrderEvent.objects.filter(order=order).values_list("type", flat=True))
    assert sub.status == SubmissionStatus.ACCEPTED and sub.error == ""
    assert factory_server.factory.stats["creates"] == 1
    assert types.count("fulfillment.provider_unavailable") == 1
    assert types[-1] == "fulfillment.accepted"


def test_timeouts_are_retried_then_accepted_once(workspace, sandbox_provider, factory_server,
                                                 settings):
    settings.FULFILLMENT_SEND_TIMEOUT_SECONDS = 0.2
    factory_server.factory.set_fault("timeout", hang_seconds=5)
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.PENDING
    assert "Timeout" in sub.error
    factory_server.factory.set_fault("none")
    submission.send_due(now=NOW + timedelta(minutes=1))
    with scope(workspace=workspace):
        sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert factory_server.factory.stats["creates"] == 1


def test_down_falls_back_only_after_the_configured_minutes(workspace, sandbox_provider,
                                                           factory_server, settings):
    settings.FULFILLMENT_FALLBACK_AFTER_MINUTES = 10
    factory_server.factory.set_fault("500")
    backup = make_provider("backup", kind="own", name="Backup factory")
    variant = make_variant("MUG", [(sandbox_provider, "4.00"), (backup, "4.50")])
    with scope(workspace=workspace):
        FulfillmentSettings.objects.create(workspace=workspace,
                                           max_extra_cost_amount=Decimal("1.00"))
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    # nine minutes of retries: still waiting for the first choice
    for minutes in (1, 3, 5, 9):
        submission.send_due(now=NOW + timedelta(minutes=minutes))
    assert _subs(order) == [("pending", "sandbox-factory")]
    with scopes_disabled():
        retry_at = Submission.objects.get(order=order).next_attempt_at
    assert retry_at == NOW + timedelta(minutes=14)  # attempt 5 at 9 min: backoff 5 min
    # the first retry at least ten minutes after the first failure gives the items
    # to the backup
    assert submission.send_due(now=NOW + timedelta(minutes=10)) == 0
    submission.send_due(now=retry_at)
    assert _subs(order) == [("failed", "sandbox-factory"), ("accepted", "backup")]
    assert _state(order) == "in_production"
    assert factory_server.factory.stats["creates"] == 0


def test_down_with_no_affordable_fallback_keeps_waiting_and_goes_through(
        workspace, sandbox_provider, factory_server, settings):
    settings.FULFILLMENT_FALLBACK_AFTER_MINUTES = 10
    factory_server.factory.set_fault("500")
    dear = make_provider("dear", kind="own", name="Dear factory")
    variant = make_variant("MUG", [(sandbox_provider, "4.00"), (dear, "9.00")])
    order = make_order(workspace, [variant])  # maximum extra cost: 0
    submission.submit_sweep(now=NOW)
    for minutes in (1, 3, 6, 11, 16, 21):
        submission.send_due(now=NOW + timedelta(minutes=minutes))
    # an outage never holds the order: it waits for the provider
    assert _state(order) == "in_production"
    assert _subs(order) == [("pending", "sandbox-factory")]
    with scope(workspace=workspace):
        notes = list(OrderEvent.objects.filter(order=order,
                                               type="fulfillment.provider_unavailable")
                     .values_list("message", flat=True))
    assert len(notes) == 2  # "unavailable; retrying", then once "no other provider"
    assert "Dear factory" in notes[1] and "retrying until it is back" in notes[1]
    factory_server.factory.set_fault("none")
    submission.send_due(now=NOW + timedelta(minutes=30))
    assert _subs(order) == [("accepted", "sandbox-factory")]
    assert factory_server.factory.stats["creates"] == 1


# --- batched sends -------------------------------------------------------------------------


def test_a_batch_stops_calling_a_provider_after_its_first_failure(workspace, sandbox_provider,
                                                                  factory_server):
    factory_server.factory.set_fault("500")
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    orders = [make_order(workspace, [variant]) for _ in range(3)]
    submission.submit_sweep(now=NOW)
    assert factory_server.factory.stats["calls"] == 1
    assert [s for o in orders for s, _ in _subs(o)] == ["pending"] * 3
    factory_server.factory.set_fault("none")
    assert submission.send_due(now=NOW + timedelta(minutes=1)) == 3
    assert [s for o in orders for s, _ in _subs(o)] == ["accepted"] * 3
    assert factory_server.factory.stats["creates"] == 3


def test_a_doorbell_sends_its_submission_and_the_others_due(workspace, sandbox_provider,
                                                            factory_server):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    orders = [make_order(workspace, [variant]) for _ in range(3)]
    submission.submit_sweep(now=NOW, send=False)
    with scopes_disabled():
        first = Submission.objects.get(order=orders[1])
    assert submission.submission_send(submission_id=first.pk, now=NOW) == "accepted"
    assert [s for o in orders for s, _ in _subs(o)] == ["accepted"] * 3
    assert submission.submission_send(submission_id=first.pk, now=NOW) == "not claimable"


def test_send_queries_do_not_grow_per_submission_beyond_its_timeline_entry(
        workspace, sandbox_provider, factory_server, django_assert_max_num_queries):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    for _ in range(10):
        make_order(workspace, [variant])
    submission.submit_sweep(now=NOW, send=False)
    # claim (3), rows + lines + print files (3), lock + update (2), an event each (10),
    # the empty claim that ends the loop (3), savepoints
    with django_assert_max_num_queries(10 + 16):
        assert submission.send_due(now=NOW) == 10
    assert factory_server.factory.stats["creates"] == 10


def test_a_send_past_its_time_budget_gives_the_rest_back(workspace, sandbox_provider,
                                                         factory_server):
    # given three due submissions and no time left (a task's time limit is near)
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    orders = [make_order(workspace, [variant]) for _ in range(3)]
    submission.submit_sweep(now=NOW, send=False)
    # when one send runs with a zero budget: the first goes, the rest is released
    assert submission.send_due(now=NOW, budget=0) == 1
    with scopes_disabled():
        rest = list(Submission.objects.filter(order__in=orders, status="pending")
                    .values_list("attempts", "lease_until"))
    assert rest == [(0, None), (0, None)]
    # and the next sweep sends them, once each
    assert submission.send_due(now=NOW) == 2
    assert [s for o in orders for s, _ in _subs(o)] == ["accepted"] * 3
    assert factory_server.factory.stats["creates"] == 3
