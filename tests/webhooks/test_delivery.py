"""Outbound webhooks over HTTP: an order event reaches a real local receiver that checks
our signature with the Standard Webhooks reference verifier; retries, replay, disabling,
secret rotation and the outbound policy (docs/webhooks.md)."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from orders.events import Actor
from orders.services import order_hold
from podhub.core.models import OutgoingEmail
from webhooks import services
from webhooks.models import AttemptTrigger, DeliveryStatus, WebhookDelivery


def hold(order, django_capture_on_commit_callbacks):
    """A rule holds the order: the order service writes `order.held.rule`, and the
    subscribed fan-out task runs after commit (in-process under the test settings)."""
    with django_capture_on_commit_callbacks(execute=True), scope(workspace=order.workspace):
        order_hold(order_id=order.pk, reason="rule", message="Brazil over 200 USD",
                   actor=Actor.rule("Hold Brazil"))


def deliveries(workspace):
    with scope(workspace=workspace):
        return list(WebhookDelivery.objects.order_by("pk"))


def send(delivery, now):
    with scopes_disabled():
        return services.send_deliveries(delivery_ids=[delivery.pk], now=now)


def test_an_order_event_is_delivered_signed_per_standard_webhooks(
        endpoint, receiver, order, django_capture_on_commit_callbacks):
    # when a rule holds the order
    hold(order, django_capture_on_commit_callbacks)
    # then the receiver got it once, and the reference verifier accepted our signature
    assert receiver.refused == []
    (got,) = receiver.verified
    (delivery,) = deliveries(order.workspace)
    assert got["id"] == delivery.msg_id and delivery.msg_id.startswith("msg_")
    payload = got["payload"]
    assert payload["type"] == "order.held.rule"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["order"]["id"] == order.pk and data["order"]["number"] == order.number
    assert data["order"]["status"] == "on_hold" and data["order"]["hold_reason"] == "rule"
    assert [li["sku"] for li in data["order"]["line_items"]] == ["SKU-1", "SKU-2"]
    assert data["actor"] == {"type": "rule", "label": "Hold Brazil"}
    assert data["message"] == "Brazil over 200 USD"
    # and the delivery and its attempt are logged, without the secret
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    with scope(workspace=order.workspace):
        (attempt,) = delivery.attempt_log.all()
    assert attempt.response_status == 200 and attempt.response_body == '{"ok": true}'
    assert set(attempt.request_headers) == {"webhook-id", "webhook-timestamp",
                                            "webhook-signature"}
    assert receiver.secret not in json.dumps(attempt.request_headers)
    assert receiver.secret.removeprefix("whsec_") not in json.dumps(attempt.request_headers)
    received = receiver.received[0]
    assert received.headers["Content-Type"] == "application/json"
    assert received.body.decode() == delivery.body


def test_an_event_nobody_wants_makes_no_delivery(endpoint, receiver, order,
                                                 django_capture_on_commit_callbacks):
    with scope(workspace=order.workspace):
        services.endpoint_update(workspace=order.workspace, by=_owner(order),
                                 endpoint_id=endpoint.pk, event_types=["order.paid"])
    hold(order, django_capture_on_commit_callbacks)
    assert deliveries(order.workspace) == [] and receiver.received == []


def _owner(order):
    from podhub.workspaces.models import Membership

    return Membership.objects.get(workspace=order.workspace, role="owner")


def test_the_same_event_twice_is_one_delivery(endpoint, receiver, order,
                                              django_capture_on_commit_callbacks):
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    # when the fan-out task runs again for the event (a redelivered message)
    with scope(workspace=order.workspace):
        again = services.fanout_order_event(workspace=order.workspace,
                                            event_id=delivery.order_event_id)
    assert again == [] and len(deliveries(order.workspace)) == 1 and len(receiver.received) == 1


def test_a_500_is_retried_with_backoff_under_the_same_webhook_id(
        endpoint, receiver, order, django_capture_on_commit_callbacks):
    receiver.answers = [500]
    t0 = timezone.now()
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 500
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=5.5)  # RETRY_DELAYS[0] + jitter
    # not due yet: nothing is sent
    assert send(delivery, t0 + timedelta(seconds=2))["delivered"] == 0
    assert len(receiver.received) == 1
    # due: the sweep rings the send task (in the test, we send what it would)
    with scopes_disabled():
        result = services.deliveries_sweep(now=t0 + timedelta(seconds=15))
    assert result["due"] == 1
    assert send(delivery, t0 + timedelta(seconds=15))["delivered"] == 1
    assert [v["id"] for v in receiver.verified] == [delivery.msg_id, delivery.msg_id]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    with scope(workspace=order.workspace):
        statuses = list(delivery.attempt_log.order_by("number")
                        .values_list("number", "response_status"))
    assert statuses == [(1, 500), (2, 200)]


def test_a_429_with_retry_after_waits_as_long_as_the_receiver_asks(
        endpoint, receiver, order, django_capture_on_commit_callbacks):
    receiver.answers, receiver.retry_after = [429], "600"
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 429
    # the backoff alone would retry after 5 s; the receiver asked for 10 minutes
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=600) <= wait <= timedelta(seconds=601)
    assert send(delivery, delivery.last_attempt_at + timedelta(seconds=60))["delivered"] == 0
    assert send(delivery, delivery.next_attempt_at)["delivered"] == 1


def test_an_endpoint_asking_to_wait_gets_nothing_more_from_that_batch(
        endpoint, receiver, order, django_capture_on_commit_callbacks):
    receiver.answers, receiver.retry_after = [503], "120"
    with scope(workspace=order.workspace):
        made = [services.publish(workspace=order.workspace, type="order.paid",
                                 data={"order_id": order.pk, "n": n})[0] for n in range(3)]
    now = timezone.now()
    with scopes_disabled():
        result = services.send_deliveries(delivery_ids=[d.pk for d in made], now=now)
    assert result == {"delivered": 0, "failed": 0, "retrying": 3}
    assert len(receiver.received) == 1  # the other two were not sent into the 503
    first, *rest = deliveries(order.workspace)
    assert first.attempts == 1 and first.last_status_code == 503
    for d in rest:  # waiting for the receiver's time, and no attempt spent on them
        assert d.status == DeliveryStatus.PENDING and d.attempts == 0
        assert d.next_attempt_at == now + timedelta(seconds=120)
        with scope(workspace=order.workspace):
            assert not d.attempt_log.exists()
    with scopes_disabled():
        result = services.send_deliveries(delivery_ids=[d.pk for d in made],
                                          now=now + timedelta(seconds=120))
    assert result["delivered"] == 3
    assert sorted(v["payload"]["data"]["n"] for v in receiver.verified) == [0, 0, 1, 2]


@pytest.mark.parametrize(("header", "wait"), [
    ("120", timedelta(seconds=120)),
    ("Wed, 02 Dec 2026 12:05:00 GMT", timedelta(minutes=5)),  # RFC 9110's HTTP-date form
    ("Wed, 02 Dec 2026 11:00:00 GMT", timedelta(0)),  # a date already past
    ("999999", services.RETRY_AFTER_MAX),  # capped
    ("soon", None), ("", None), (None, None),  # unreadable: the backoff alone applies
])
def test_retry_after_is_read_in_both_forms(header, wait):
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert services.retry_after(header, now=now) == wait


def test_a_receiver_that_does_not_answer_in_time_is_retried(
        endpoint, receiver, order, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "TIMEOUT", 0.3)
    monkeypatch.setattr(services, "TOTAL_TIMEOUT", 0.5)
    receiver.hold = threading.Event()
    try:
        hold(order, django_capture_on_commit_callbacks)
    finally:
        receiver.hold.set()  # let the handler finish; our side gave up already
    (delivery,) = deliveries(order.workspace)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("No answer within")
    with scope(workspace=order.workspace):
        (attempt,) = delivery.attempt_log.all()
    assert attempt.response_status is None and attempt.error == delivery.last_error
    receiver.hold = None
    assert send(delivery, delivery.next_attempt_at)["delivered"] == 1


def test_retries_span_three_days_then_the_endpoint_is_disabled_and_owners_emailed(
        endpoint, receiver, order, owner, django_capture_on_commit_callbacks):
    receiver.answers = [503] * 100
    t0 = timezone.now()
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    while delivery.status == DeliveryStatus.PENDING:
        send(delivery, delivery.next_attempt_at)
        delivery.refresh_from_db()
    # the schedule: 13 attempts over more than 3 days, then failed for good
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(services.RETRY_DELAYS) + 1 == 13
    assert delivery.last_attempt_at - t0 >= timedelta(days=3)
    assert len(receiver.received) == 13
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    # the streak (3 days, >= 10 failures in a row) disabled the endpoint ...
    endpoint.refresh_from_db()
    assert endpoint.is_enabled is False
    assert "Every delivery failed for 3 days" in endpoint.disabled_reason
    # ... and told the owner, through the e-mail outbox
    (email,) = OutgoingEmail.objects.filter(
        subject__startswith="[PodHub] Webhook endpoint disabled")
    assert email.to == [owner.user.email] and receiver.hook_url in email.body
    # a new event is not sent to a disabled endpoint
    with scope(workspace=order.workspace):
        services.endpoint_update(workspace=order.workspace, by=owner, endpoint_id=endpoint.pk,
                                 event_types=["order.held.rule", "order.released"])
    count = len(receiver.received)
    with django_capture_on_commit_callbacks(execute=True), scope(workspace=order.workspace):
        from orders.services import order_release_hold

        order_release_hold(order_id=order.pk, actor=Actor.system())
    assert len(receiver.received) == count


def test_a_success_ends_the_streak(endpoint, receiver, order, django_capture_on_commit_callbacks):
    receiver.answers = [500, 500]
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    send(delivery, delivery.next_attempt_at)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 2 and endpoint.failing_since is not None
    delivery.refresh_from_db()
    send(delivery, delivery.next_attempt_at)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.failing_since is None
    assert endpoint.last_success_at is not None


def test_replay_is_a_new_attempt_of_the_same_delivery(
        endpoint, receiver, order, owner, django_capture_on_commit_callbacks):
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    # when the owner replays the delivered delivery
    with django_capture_on_commit_callbacks(execute=True), scope(workspace=order.workspace):
        services.delivery_replay(workspace=order.workspace, by=owner, delivery_id=delivery.pk)
    # then the receiver got the same webhook-id and body again, freshly signed
    assert [v["id"] for v in receiver.verified] == [delivery.msg_id] * 2
    assert receiver.received[0].body == receiver.received[1].body
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    with scope(workspace=order.workspace):
        triggers = list(delivery.attempt_log.order_by("number").values_list("trigger",
                                                                           flat=True))
    assert triggers == [AttemptTrigger.AUTO, AttemptTrigger.REPLAY]


def test_a_replay_of_a_failed_delivery_sends_it_once_more(
        endpoint, receiver, order, owner, django_capture_on_commit_callbacks):
    receiver.answers = [500]
    hold(order, django_capture_on_commit_callbacks)
    with scope(workspace=order.workspace):
        WebhookDelivery.objects.update(status=DeliveryStatus.FAILED, attempts=13)
        (delivery,) = deliveries(order.workspace)
        with django_capture_on_commit_callbacks(execute=True):
            services.delivery_replay(workspace=order.workspace, by=owner,
                                     delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 14


def test_members_cannot_replay_or_manage(endpoint, order, member,
                                         django_capture_on_commit_callbacks):
    from podhub.core.exceptions import PermissionDenied

    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    with scope(workspace=order.workspace):
        with pytest.raises(PermissionDenied):
            services.delivery_replay(workspace=order.workspace, by=member,
                                     delivery_id=delivery.pk)
        with pytest.raises(PermissionDenied):
            services.endpoint_rotate_secret(workspace=order.workspace, by=member,
                                            endpoint_id=endpoint.pk)


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
        endpoint, receiver, order, owner, django_capture_on_commit_callbacks):
    old = receiver.secret
    # given a rotation now: the receiver still holds the old secret
    with scope(workspace=order.workspace):
        _, new = services.endpoint_rotate_secret(workspace=order.workspace, by=owner,
                                                 endpoint_id=endpoint.pk)
    assert new != old
    hold(order, django_capture_on_commit_callbacks)
    # then during the overlap the old secret verifies (two signatures in the header)
    assert receiver.refused == [] and len(receiver.verified) == 1
    signatures = receiver.received[0].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # and the new one verifies too
    receiver.secret = new
    with scope(workspace=order.workspace):
        (delivery,) = deliveries(order.workspace)
        services.delivery_replay(workspace=order.workspace, by=owner, delivery_id=delivery.pk)
    assert send(delivery, timezone.now())["delivered"] == 1
    assert len(receiver.verified) == 2


def test_after_the_overlap_only_the_new_secret_verifies(
        endpoint, receiver, order, owner, django_capture_on_commit_callbacks):
    old = receiver.secret
    # given a rotation 25 hours ago (the overlap is 24 h)
    with scope(workspace=order.workspace):
        _, new = services.endpoint_rotate_secret(
            workspace=order.workspace, by=owner, endpoint_id=endpoint.pk,
            now=timezone.now() - timedelta(hours=25))
    hold(order, django_capture_on_commit_callbacks)
    # then a receiver with the old secret refuses it: one signature, by the new secret
    assert receiver.verified == [] and receiver.refused == ["No matching signature found"]
    assert " " not in receiver.received[0].headers["webhook-signature"]
    receiver.secret = new
    with scope(workspace=order.workspace):
        (delivery,) = deliveries(order.workspace)
        services.delivery_replay(workspace=order.workspace, by=owner, delivery_id=delivery.pk)
    send(delivery, timezone.now())
    assert len(receiver.verified) == 1 and old != new


def test_production_policy_refuses_a_private_address(
        endpoint, receiver, order, owner, settings, django_capture_on_commit_callbacks):
    # given the production setting (the endpoint was made while local addresses were
    # allowed, as in the embedded default)
    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    # then a new endpoint on a private address is refused, naming the field
    from podhub.core.exceptions import ValidationFailed

    with scope(workspace=order.workspace), pytest.raises(ValidationFailed) as refused:
        services.endpoint_create(workspace=order.workspace, by=owner,
                                 url="http://10.0.0.7/hook", event_types=["order.paid"])
    assert "url" in refused.value.detail["fields"]
    assert "not on the public internet" in refused.value.message
    # and the existing one is not sent to: the delivery fails for good, nothing reached it
    hold(order, django_capture_on_commit_callbacks)
    (delivery,) = deliveries(order.workspace)
    assert delivery.status == DeliveryStatus.FAILED
    assert "not on the public internet" in delivery.last_error
    assert receiver.received == []


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(endpoint, order, receiver):
    with scope(workspace=order.workspace):
        (delivery,) = services.publish(workspace=order.workspace, type="order.paid",
                                       data={"order_id": order.pk})
    now = timezone.now()
    with scopes_disabled():
        first = services._claim([delivery.pk], now)
        second = services._claim([delivery.pk], now)  # another worker, or the sweep
    assert [d.pk for d in first] == [delivery.pk] and second == []


def test_publish_for_the_rules_engine(endpoint, receiver, order,
                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), scope(workspace=order.workspace):
        made = services.publish(workspace=order.workspace, type="order.paid",
                                data={"order_id": order.pk, "rule": "Wholesale"})
    assert len(made) == 1
    (got,) = receiver.verified
    assert got["payload"]["type"] == "order.paid"
    assert got["payload"]["data"] == {"order_id": order.pk, "rule": "Wholesale"}


def test_the_sweep_fans_out_an_event_whose_task_was_lost(endpoint, receiver, order):
    # given an order event whose fan-out task never ran (no commit callbacks executed)
    with scope(workspace=order.workspace):
        order_hold(order_id=order.pk, reason="rule", message="x", actor=Actor.system())
    assert deliveries(order.workspace) == []
    # when the sweep runs a minute later
    with scopes_disabled():
        result = services.deliveries_sweep(now=timezone.now() + timedelta(minutes=1))
    assert result["fanned_out"] == 1
    (delivery,) = deliveries(order.workspace)
    assert delivery.event_type == "order.held.rule"
    # and the next sweep makes no second one
    with scopes_disabled():
        assert services.deliveries_sweep(now=timezone.now() + timedelta(minutes=1))[
            "fanned_out"] == 0


def test_the_fan_out_of_one_event_costs_a_fixed_number_of_queries(
        endpoint, receiver, order, django_assert_max_num_queries):
    # given an event whose fan-out has not run yet
    with scope(workspace=order.workspace):
        order_hold(order_id=order.pk, reason="rule", message="x", actor=Actor.system())
        from orders.models import OrderEvent

        event = OrderEvent.objects.get(order=order, type="order.held.rule")
        # then making, sending and logging its delivery reads no deferred field one by one
        # endpoints, event, lines, insert + select, attempt, delivery update, endpoint
        # update, and the savepoints of two atomic blocks (the test runs in a transaction)
        with django_assert_max_num_queries(12):
            services.fanout_order_event(workspace=order.workspace, event_id=event.pk)
    assert len(receiver.verified) == 1


def _held_events(order, n):
    """n `order.held.rule` timeline entries committed together (as the submit sweep and
    the rules engine write them in a batch)."""
    from django.db import transaction

    from orders.events import OrderEvents
    from orders.services import NewEvent, record_events

    with scope(workspace=order.workspace), transaction.atomic():
        record_events([NewEvent(order=order, type=OrderEvents.HELD_RULE,
                                actor=Actor.rule("Hold Brazil")) for _ in range(n)])


def test_a_burst_of_events_rings_one_fan_out_that_delivers_each_once(
        endpoint, receiver, order, django_capture_on_commit_callbacks, monkeypatch):
    from django.core.cache import cache

    from podhub.core import doorbell
    from webhooks import tasks

    cache.delete(f"{doorbell.PREFIX}{services.FANOUT_DOORBELL}:{order.workspace_id}")
    runs = []
    real = tasks.order_events_fanout_task.run
    monkeypatch.setattr(tasks.order_events_fanout_task, "run",
                        lambda **kw: runs.append(kw) or real(**kw))
    # when five events commit together
    with django_capture_on_commit_callbacks(execute=True):
        _held_events(order, 5)
    # then one fan-out task ran for the workspace, and each event reached the receiver
    # once, signed, as its own delivery
    assert runs == [{"workspace_id": order.workspace_id}]
    assert receiver.refused == []
    made = deliveries(order.workspace)
    assert len(made) == 5 and len({d.order_event_id for d in made}) == 5
    assert sorted(v["id"] for v in receiver.verified) == sorted(d.msg_id for d in made)
    # and draining again makes nothing more
    with scope(workspace=order.workspace):
        assert services.fanout_drain(workspace=order.workspace) == 0
    assert len(receiver.received) == 5


def test_a_fan_out_rung_while_another_drains_leaves_the_work_to_it(
        endpoint, receiver, order, monkeypatch):
    real = services.fanout_pending
    rounds = []

    def pending(*, workspace):
        rounds.append(1)
        made = real(workspace=workspace)
        if len(rounds) == 1:
            # while the first drain runs (after its read), two events commit and their
            # doorbell starts a second drain: it finds the first one holding the
            # workspace and returns at once, leaving it a note
            _held_events(order, 2)
            assert services.fanout_drain(workspace=workspace) == 0
            assert len(rounds) == 1
        return made

    monkeypatch.setattr(services, "fanout_pending", pending)
    _held_events(order, 3)  # committed, their own doorbell lost
    with scope(workspace=order.workspace):
        made = services.fanout_drain(workspace=order.workspace)
    # then the first drain looked again after letting go: all five sent, each once
    assert len(rounds) == 2 and made == 5
    assert len(receiver.verified) == 5 and len({v["id"] for v in receiver.verified}) == 5
