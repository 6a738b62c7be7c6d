"""Two beats started by mistake never run one sweep twice at once, and tick each sweep
about once per interval between them (podhub/core/sweeps.py, docs/operations.md)."""

import copy
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from podhub.celery import app
from podhub.core import sweeps
from podhub.core.models import SweepRun
from tests.live import wait_for, worker  # noqa: F401 (a fixture)

ENTRIES = sorted(settings.CELERY_BEAT_SCHEDULE)


def tick(entry: str, **kwargs):
    """What a beat sends for that entry (its header says so), run as a worker would."""
    task = app.tasks[settings.CELERY_BEAT_SCHEDULE[entry]["task"]]
    return task.apply(headers={sweeps.BEAT_HEADER: entry}, **kwargs).get()


@pytest.fixture(autouse=True)
def _tasks_loaded():
    app.loader.import_default_modules()


def test_beat_marks_every_tick_with_its_entry():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["options"]["headers"] == {sweeps.BEAT_HEADER: name}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRIES)
def test_two_beats_ticking_at_once_run_the_sweep_once(entry, monkeypatch):
    task = app.tasks[settings.CELERY_BEAT_SCHEDULE[entry]["task"]]
    inside, finish = threading.Event(), threading.Event()
    calls = []

    def slow_sweep(*args, **kwargs):
        calls.append(threading.get_ident())
        inside.set()
        assert finish.wait(10)
        return "swept"

    monkeypatch.setattr(task, "run", slow_sweep)
    results = {}

    def beat(label):
        try:
            results[label] = tick(entry)
        finally:
            connection.close()

    first = threading.Thread(target=beat, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=beat, args=("second",))  # while the first runs
    second.start()
    second.join(10)
    finish.set()
    first.join(10)
    assert results["first"] == "swept"
    assert "skipped" in results["second"]
    assert len(calls) == 1
    run = SweepRun.objects.get(name=entry)
    assert (run.runs, run.skipped, run.holder, run.lease_until) == (1, 1, "", None)
    assert run.finished_at is not None


@pytest.mark.django_db
def test_a_second_beats_tick_moments_after_a_run_is_skipped_but_a_ring_by_code_runs(
        monkeypatch):
    task = app.tasks["quotes.tasks.pricing_sweep_task"]
    calls = []
    monkeypatch.setattr(task, "run", lambda: calls.append(1) or len(calls))
    assert tick("quotes-pricing-sweep") == 1
    assert "skipped" in tick("quotes-pricing-sweep")  # the other beat, moments later
    assert task.apply().get() == 2  # catalog changes ring it: never held back by beat's clock
    assert task() == 3  # called in-process (tests, benches)
    run = SweepRun.objects.get(name="quotes-pricing-sweep")
    assert (run.runs, run.skipped) == (3, 1)


@pytest.mark.django_db
def test_a_run_killed_mid_sweep_holds_it_for_one_interval_at_most():
    sweep = sweeps.sweeps()["fulfillment-submit-sweep"]
    lease = sweeps.lease_for(sweep, 300)
    assert lease == timedelta(seconds=60)  # the interval, shorter than the time limit
    t0 = timezone.now()
    assert sweeps.acquire(sweep, lease=lease, beat=True, now=t0)  # then SIGKILLed
    assert sweeps.acquire(sweep, lease=lease, beat=False, now=t0 + timedelta(seconds=59)) is None
    assert sweeps.acquire(sweep, lease=lease, beat=True, now=t0 + timedelta(seconds=60))
    # a long sweep's lease stops at its time limit
    long = sweeps.sweeps()["integrations-reconcile"]
    assert sweeps.lease_for(long, 300) == timedelta(seconds=300)


@pytest.mark.django_db
def test_two_beats_out_of_phase_start_a_sweep_at_most_once_per_half_interval():
    """What bench/drill_hosts.py measured with two beats on two hosts: each beat ticks
    every interval on its own clock, and a tick starts whenever a worker takes it. A
    tick less than half an interval after the last start is skipped, one later runs: so
    two beats start a sweep never more often than once per half interval — about once
    per interval when their clocks keep a steady distance, up to twice when the starts
    drift around the half-interval mark — each run under the lease, never two at once
    (docs/operations.md "Scale-out: N web, N workers, one beat")."""
    sweep = sweeps.sweeps()["webhooks-sweep"]
    half = sweep.interval.total_seconds() / 2  # 7.5 s
    lease = sweeps.lease_for(sweep, 300)
    t0 = timezone.now()

    def ticks(times):
        started = []
        for at, who in sorted(times):
            now = t0 + timedelta(seconds=at)
            holder = sweeps.acquire(sweep, lease=lease, beat=True, now=now)
            if holder:
                started.append((at, who))
                sweeps.release(sweep, holder, now=now + timedelta(seconds=1))
        return started

    # a steady distance of 8 s: the later beat's ticks run, the earlier one's are skipped
    steady = [(at, "one") for at in (0, 15, 30, 45)] + [(at, "two") for at in (8, 23, 38, 53)]
    assert ticks(steady) == [(0, "one"), (8, "two"), (23, "two"), (38, "two"), (53, "two")]
    # starts that drift around the half-interval mark (a busy worker takes a tick late)
    drifting = [(at, "one") for at in (70, 85.2, 100.4, 115.6)] + [(at, "two") for at in
                                                                 (77.6, 92.8, 108, 123.2)]
    started = ticks(drifting)
    assert started == sorted(drifting)  # all eight run: twice per interval
    gaps = [b[0] - a[0] for a, b in zip(started, started[1:], strict=False)]
    assert min(gaps) >= half
    run = SweepRun.objects.get(name="webhooks-sweep")
    assert (run.runs, run.skipped) == (13, 3)


@pytest.mark.django_db
def test_a_late_release_does_not_free_the_next_holders_lease():
    sweep = sweeps.sweeps()["billing-sweep"]
    lease = timedelta(seconds=60)
    t0 = timezone.now()
    old = sweeps.acquire(sweep, lease=lease, beat=False, now=t0)
    new = sweeps.acquire(sweep, lease=lease, beat=False, now=t0 + timedelta(seconds=61))
    sweeps.release(sweep, old)  # the first run was only slow, and ends now
    run = SweepRun.objects.get(name="billing-sweep")
    assert run.holder == new and run.lease_until is not None


@pytest.mark.django_db
def test_a_failing_sweep_gives_the_lease_back_and_says_why(monkeypatch):
    task = app.tasks["billing.tasks.billing_sweep_task"]

    def broken():
        raise RuntimeError("Stripe sandbox down")

    monkeypatch.setattr(task, "run", broken)
    with pytest.raises(RuntimeError):
        task()
    run = SweepRun.objects.get(name="billing-sweep")
    assert run.lease_until is None and run.finished_at is None
    assert run.last_error == "RuntimeError: Stripe sandbox down"


@pytest.mark.django_db
def test_two_beats_ring_each_lost_doorbell_and_reconcile_each_store_once(
        workspace, monkeypatch):
    """The work two beats would double: doorbells for rows a lost task left behind,
    and a store re-read per reconcile tick."""
    from django_scopes import scopes_disabled

    from integrations import tasks
    from integrations.models import InboundWebhook, OutboxMessage, StoreConnection
    from tests.factories import StoreFactory

    with scopes_disabled():
        store = StoreFactory(workspace=workspace, platform="shopify")
        conn = StoreConnection.objects.create(workspace=workspace, store=store,
                                              platform="shopify", shop_domain="a.myshopify.com",
                                              access_token="t", webhook_secret="s")
        old = timezone.now() - timedelta(minutes=5)
        InboundWebhook.objects.create(workspace=workspace, connection=conn, event_id="e1",
                                      topic="orders/create", body="{}", created_at=old)
        OutboxMessage.objects.create(workspace=workspace, store=store, key="k1",
                                     kind="fulfillment_create", next_attempt_at=old)
    rung = []
    for name in ("inbox_drain_task", "outbox_deliver_task", "reconcile_store_task"):
        monkeypatch.setattr(getattr(tasks, name), "delay",
                            lambda _n=name, **kw: rung.append(_n))
    for _ in range(2):  # beat one, then beat two a moment later
        tick("integrations-sweep")
        tick("integrations-reconcile")
    assert sorted(rung) == ["inbox_drain_task", "outbox_deliver_task", "reconcile_store_task"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_beats_send_path_and_a_real_worker_skip_the_second_beats_tick():
    """Two beats' ticks through beat's own send path, the Redis broker and a worker."""
    from celery.beat import ScheduleEntry, Scheduler

    config = settings.CELERY_BEAT_SCHEDULE["heartbeat"]

    def beat_sends():
        beat = Scheduler(app=app, lazy=True)
        # a copy: sending adds to the entry's options, and the settings' dict must stay
        # as beat reads it (test_beat_marks_every_tick_with_its_entry)
        entry = ScheduleEntry(name="heartbeat", task=config["task"], schedule=config["schedule"],
                              options=copy.deepcopy(config["options"]), app=app)
        beat.apply_async(entry, advance=False)

    beat_sends()
    wait_for(lambda: SweepRun.objects.filter(name="heartbeat", runs=1,
                                             finished_at__isnull=False).exists(),
             what="the first beat's heartbeat run")
    beat_sends()  # the second beat, after the first run ended: only its header skips it
    wait_for(lambda: SweepRun.objects.filter(name="heartbeat", runs=1, skipped=1).exists(),
             what="the second beat's tick skipped")
