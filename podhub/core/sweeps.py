"""One run of a beat sweep at a time, whatever beat, worker or host rang it.

Each sweep picks its rows with `select_for_update(skip_locked=True)`, so two runs
never take the same row; but whole sweeps would still run side by side when two
beats run by mistake (docs/operations.md "Exactly one beat"): a store reconciled
twice at once, a stored provider delivery applied by two sweeps, a missing render
requested twice, two store reads for one lost doorbell. So every task named in
CELERY_BEAT_SCHEDULE runs under a lease on its `SweepRun` row (`PodhubTask`,
podhub/celery.py):

- the lease is taken by one conditional UPDATE (both databases), lasts the
  sweep's interval (at most its time limit) and is given back when the run ends;
  a worker killed mid-sweep holds it until it runs out, so a lost run costs one
  interval, like a lost task;
- a tick sent by beat (its message carries the `podhub_beat` header, set in
  settings) is also skipped when the same sweep started less than half an
  interval ago: two beats start a sweep at most once per half interval between them
  (about once per interval while their clocks keep a steady distance;
  bench/drill_hosts.py prints how often each ran).
  A sweep rung by code (catalog changes ring the pricing sweep) only waits for
  the lease, never for the interval.

The row also keeps when the sweep last started and last succeeded: /metrics
reports their ages per sweep.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from podhub.core.models import SweepRun

BEAT_HEADER = "podhub_beat"


@dataclass(frozen=True)
class Sweep:
    name: str  # the beat schedule's entry
    task: str
    interval: timedelta | None


def interval_of(schedule) -> timedelta | None:
    """Seconds, a timedelta or celery's `schedule(run_every=...)`; None for crontabs."""
    if isinstance(schedule, int | float):
        return timedelta(seconds=schedule)
    if isinstance(schedule, timedelta):
        return schedule
    run_every = getattr(schedule, "run_every", None)
    return run_every if isinstance(run_every, timedelta) else None


def sweeps() -> dict[str, Sweep]:
    """Entry name -> Sweep, for every beat entry."""
    return {name: Sweep(name=name, task=entry["task"], interval=interval_of(entry["schedule"]))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def sweep_for(task_name: str, entry: str | None = None) -> Sweep | None:
    """The sweep a task run belongs to: beat's entry when it says, else the (first)
    entry that names the task; None for a task beat never sends."""
    known = sweeps()
    if entry in known:
        return known[entry]
    return next((s for s in known.values() if s.task == task_name), None)


def lease_for(sweep: Sweep, time_limit: float | None) -> timedelta:
    limit = timedelta(seconds=time_limit or settings.CELERY_TASK_TIME_LIMIT)
    return min(sweep.interval, limit) if sweep.interval else limit


def acquire(sweep: Sweep, *, lease: timedelta, beat: bool, now: datetime | None = None
            ) -> str | None:
    """Take the sweep's lease; the holder id, or None when another run has it (or,
    for a beat tick, when the sweep started less than half an interval ago)."""
    now = now or timezone.now()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    free = Q(name=sweep.name) & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    if beat and sweep.interval:
        free &= Q(started_at__isnull=True) | Q(started_at__lte=now - sweep.interval / 2)
    for _ in range(2):
        if SweepRun.objects.filter(free).update(holder=holder, lease_until=now + lease,
                                                started_at=now, runs=F("runs") + 1):
            return holder
        if SweepRun.objects.filter(name=sweep.name).update(skipped=F("skipped") + 1):
            return None
        # first run ever: make the row (a racing first run may make it too) and retry
        SweepRun.objects.bulk_create([SweepRun(name=sweep.name)], ignore_conflicts=True)
    return None


def release(sweep: Sweep, holder: str, *, error: str = "", now: datetime | None = None) -> None:
    """Give the lease back (a no-op when it ran out and another run took it)."""
    now = now or timezone.now()
    done = {"failed_at": now, "last_error": error[:255]} if error else {"finished_at": now}
    SweepRun.objects.filter(name=sweep.name, holder=holder).update(
        holder="", lease_until=None, **done)


def run_exclusive(sweep: Sweep, run, *, lease: timedelta, beat: bool):
    """run() under the sweep's lease; a dict saying why when it was not run."""
    holder = acquire(sweep, lease=lease, beat=beat)
    if holder is None:
        return {"skipped": f"{sweep.name} is running elsewhere or ran moments ago"}
    try:
        result = run()
    except BaseException as exc:
        release(sweep, holder, error=f"{exc.__class__.__name__}: {exc}")
        raise
    release(sweep, holder)
    return result
