"""The poll sweep: CustomCat is polled on its interval, Printful and Gelato only when
they have gone quiet; what a poll reads is applied forward-only, like a webhook."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment import polling, submission
from fulfillment.models import ProviderWebhook, Shipment, Submission, SubmissionStatus
from orders.models import OrderEvent
from tests.fulfillment.test_public_providers import (
    NOW,
    _harness,
    _state,
    _sub,
)


@pytest.fixture
def customcat(db):
    yield from _harness("customcat")


@pytest.fixture(params=["printful", "gelato"])
def quiet_provider(request, db):
    """A provider that sends webhooks, whose webhooks are all lost."""
    gen = _harness(request.param)
    h = next(gen)
    h.standin.callback_url = ""
    yield h
    gen.close()


def _submitted(h, workspace, now=NOW):
    order = h.order(workspace)
    assert submission.submit_sweep(now=now) == 1
    return order, _sub(workspace, order)


def _timeline(workspace, order) -> list[str]:
    with scope(workspace=workspace):
        return list(OrderEvent.objects.filter(order=order).order_by("pk")
                    .values_list("type", flat=True))


def test_customcat_is_polled_on_its_interval_and_a_repeat_changes_nothing(workspace,
                                                                          customcat):
    h = customcat
    order, sub = _submitted(h, workspace)
    # not due before the interval
    assert polling.poll_sweep(now=NOW + timedelta(minutes=10))["polled"] == 0
    # in production at CustomCat: the first poll says so
    h.standin.advance(sub.external_id)
    result = polling.poll_sweep(now=NOW + timedelta(minutes=31))
    assert result == {"polled": 1, "applied": 1, "quiet": 0, "failed": 0}
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.IN_PRODUCTION
    assert sub.polled_at == NOW + timedelta(minutes=31)
    assert sub.next_poll_at == NOW + timedelta(minutes=61)
    timeline = _timeline(workspace, order)
    # polled again too early: left alone; on time with nothing new: nothing changes
    assert polling.poll_sweep(now=NOW + timedelta(minutes=45))["polled"] == 0
    assert polling.poll_sweep(now=NOW + timedelta(minutes=61)) == {
        "polled": 1, "applied": 0, "quiet": 0, "failed": 0}
    assert _timeline(workspace, order) == timeline
    # shipped in two parcels: each with its own tracking, mapped back to its line
    h.standin.advance(sub.external_id, to="shipped")
    assert polling.poll_sweep(now=NOW + timedelta(minutes=91))["applied"] == 2
    with scope(workspace=workspace):
        rows = list(Shipment.objects.filter(order=order).order_by("pk"))
    remote = h.standin.find(sub.reference)
    assert [r.tracking_number for r in rows] == [p["number"] for p in remote.shipments]
    assert [r.items[0]["line_item_id"] for r in rows] == [i["line_item_id"] for i in sub.items]
    assert _state(order) == "shipped"
    # and a shipped submission is not polled any more
    assert polling.poll_sweep(now=NOW + timedelta(days=1))["polled"] == 0
    assert not ProviderWebhook.objects.exists()  # polls are not stored as deliveries


def test_quiet_provider_is_polled_as_a_safety_net(workspace, quiet_provider):
    h = quiet_provider
    order, sub = _submitted(h, workspace)
    h.standin.advance(sub.external_id, to="shipped")  # every webhook lost
    assert h.standin.stats["webhooks"] == 0
    # within the safety-net interval nothing is asked
    assert polling.poll_sweep(now=NOW + timedelta(hours=5))["polled"] == 0
    # after it, the poll finds both parcels with their own tracking
    result = polling.poll_sweep(now=NOW + timedelta(hours=6, minutes=1))
    assert result["polled"] == 1 and result["applied"] == 2
    with scope(workspace=workspace):
        numbers = sorted(Shipment.objects.filter(order=order)
                         .values_list("tracking_number", flat=True))
    remote = h.standin.find(sub.reference)
    assert numbers == sorted(p["number"] for p in remote.shipments)
    assert _state(order) == "shipped"


def test_a_provider_heard_from_recently_is_not_polled(workspace, db):
    gen = _harness("printful")
    h = next(gen)
    try:
        # sent three hours ago; the in-production webhook arrives now (the view's clock)
        start = timezone.now()
        order, sub = _submitted(h, workspace, now=start - timedelta(hours=3))
        h.standin.advance(sub.external_id)
        sub.refresh_from_db()
        assert sub.status == SubmissionStatus.IN_PRODUCTION
        heard = sub.production_started_at
        # six hours after sending, but news came three hours ago: not polled, pushed on
        result = polling.poll_sweep(now=start + timedelta(hours=3, minutes=1))
        assert result == {"polled": 0, "applied": 0, "quiet": 1, "failed": 0}
        sub.refresh_from_db()
        assert sub.next_poll_at == heard + timedelta(hours=6)
        # once six hours pass without news, it is polled (and nothing new is applied)
        assert polling.poll_sweep(now=heard + timedelta(hours=6, minutes=1)) == {
            "polled": 1, "applied": 0, "quiet": 0, "failed": 0}
    finally:
        gen.close()


def test_a_provider_down_during_a_poll_is_asked_again_later(workspace, customcat):
    h = customcat
    order, sub = _submitted(h, workspace)
    h.standin.faults.down = True
    at = NOW + timedelta(minutes=31)
    assert polling.poll_sweep(now=at) == {"polled": 1, "applied": 0, "quiet": 0, "failed": 1}
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert sub.next_poll_at == at + timedelta(minutes=15)
    h.standin.faults.down = False
    h.standin.advance(sub.external_id)
    assert polling.poll_sweep(now=at + timedelta(minutes=15))["applied"] == 1


def test_cancelled_at_the_provider_holds_the_order(workspace, customcat):
    h = customcat
    order, sub = _submitted(h, workspace)
    h.client().cancel(sub.external_id)
    assert polling.poll_sweep(now=NOW + timedelta(minutes=31))["applied"] == 1
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.CANCELLED
    assert _state(order) == "on_hold"


def test_two_sweeps_at_once_poll_each_submission_once(workspace, customcat):
    h = customcat
    variants = h.variants()
    for n in range(3):
        h.order(workspace, variants, number=f"#10{n}")
    assert submission.submit_sweep(now=NOW) == 3
    at = NOW + timedelta(minutes=31)
    first = polling.poll_sweep(now=at, limit=2)
    second = polling.poll_sweep(now=at, limit=2)
    assert first["polled"] + second["polled"] == 3
    assert polling.poll_sweep(now=at)["polled"] == 0
    with scopes_disabled():
        assert Submission.objects.filter(polled_at=at).count() == 3


def test_poll_sweep_task_runs_the_sweep(db, monkeypatch):
    from fulfillment import tasks

    seen = {}
    monkeypatch.setattr(polling, "poll_sweep", lambda **kw: seen.setdefault("called", kw) or {})
    tasks.poll_sweep_task()
    assert "called" in seen
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["fulfillment-poll-sweep"]
    # the beat header (podhub/core/sweeps.py) rides in its options
    assert {k: entry[k] for k in ("task", "schedule")} == \
        {"task": "fulfillment.tasks.poll_sweep_task", "schedule": 300.0}
