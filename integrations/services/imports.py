"""The initial import of a newly connected store, and the reconciliation sweep: one loop
each, for every store platform.

Import: every open, unfulfilled, paid order, a page at a time; the ImportJob
row is the ledger (cursor, counters, heartbeat) and the task only its doorbell.
Sweep: re-read the orders the store changed since the last sweep (with
overlap) and apply each, so a webhook the store never delivered is caught.
What is platform-specific (reading a page, mapping an order) is the platform's
(integrations/platforms/, `registry.platform_for(connection)`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_scopes import scopes_disabled

from integrations import conf
from integrations.models import (
    ConnectionStatus,
    ImportJob,
    ImportMethod,
    InboundWebhook,
    InboxStatus,
    JobStatus,
    StoreConnection,
)
from integrations.platforms import registry
from integrations.platforms.base import UNREADABLE_TOPIC, StorePlatform, UnreadableOrder
from integrations.services import bulk_imports
from integrations.services.orders import apply_store_order, apply_store_orders
from podhub.core import db
from podhub.core.exceptions import ValidationFailed

log = logging.getLogger(__name__)


def import_job_start(*, connection: StoreConnection) -> ImportJob:
    """A row first; the doorbell rings after commit."""
    from integrations.tasks import import_job_task

    job = ImportJob.objects.create(workspace_id=connection.workspace_id, connection=connection)
    import_job_task.delay(workspace_id=connection.workspace_id, job_id=job.pk)
    return job


def _claim(job_id: int, now: datetime) -> ImportJob | None:
    stale = now - timedelta(seconds=conf.IMPORT_STALE_SECONDS)
    with transaction.atomic():
        # of=self: lock the job only; locking the joined store/connection rows would make
        # a concurrent claim on them (an outbox push) skip this job silently.
        job = (ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("connection", "connection__store", "connection__workspace")
               .filter(pk=job_id).first())
        if job is None:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale:
            return None  # a live worker has it
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at", "updated_at"])
        return job


def map_order(platform: StorePlatform, conn: StoreConnection, client, order,
              now: datetime):
    """Map one raw store order: (data, facts), or "failed" when PodHub cannot read it
    (shown on the connection; the import goes on)."""
    try:
        return platform.map_order(client, order)
    except UnreadableOrder as exc:  # kept as it came, with the reason (refuse_unreadable)
        return refuse_unreadable(platform, conn, order, str(exc), now)
    except ValidationFailed as exc:
        return _failed(platform, conn, order, exc, now)


def _failed(platform, conn, order, exc: ValidationFailed, now: datetime) -> str:
    number = order.get("number") or order.get("name") or order.get("id") \
        if isinstance(order, dict) else ""
    log.warning("%s order %s could not be imported: %s", platform.label, number, exc.message)
    StoreConnection.objects.filter(pk=conn.pk).update(
        last_error=f"Order {number} could not be read: {exc.message}"[:2000],
        last_error_at=now)
    return "failed"


def apply_mapped(platform: StorePlatform, conn: StoreConnection, mapped,
                 now: datetime) -> str:
    """Apply one mapped order (`map_order`'s result) through `apply_store_order`."""
    if isinstance(mapped, str):
        return mapped
    data, facts = mapped
    try:
        return apply_store_order(connection=conn, data=data, facts=facts,
                                 label=platform.label, now=now)
    except ValidationFailed as exc:
        return _failed(platform, conn, data, exc, now)


def apply_mapped_many(platform: StorePlatform, conn: StoreConnection, mapped: list,
                      now: datetime) -> list[str]:
    """apply_mapped for a batch (`map_order`'s results, in order) through
    `apply_store_orders`: the same outcome for each order, far fewer queries."""
    items = [m for m in mapped if not isinstance(m, str)]
    got = iter(apply_store_orders(connection=conn, items=items, label=platform.label,
                                  now=now) if items else [])
    outcomes = []
    for m in mapped:
        if isinstance(m, str):
            outcomes.append(m)
            continue
        outcome = next(got)
        if isinstance(outcome, ValidationFailed):
            outcome = _failed(platform, conn, m[0], outcome, now)
        outcomes.append(outcome)
    return outcomes


def _apply(platform: StorePlatform, conn: StoreConnection, client, order,
           now: datetime) -> str:
    """Map one raw store order and apply it; an order PodHub cannot read is counted as
    failed and shown on the connection, and the import goes on."""
    return apply_mapped(platform, conn, map_order(platform, conn, client, order, now), now)


def refuse_unreadable(platform: StorePlatform, conn: StoreConnection, order, reason: str,
                      now: datetime) -> str:
    """Keep a store order PodHub cannot read as it came (a failed inbox row, once per
    distinct body: the next sweep reading it again adds nothing) with the reason, and
    say so on the connection; the caller goes on with the next order."""
    try:
        text = json.dumps(order, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(order)
    text = text.replace("\x00", "\\u0000")[:conf.WEBHOOK_MAX_BYTES]
    digest = hashlib.sha256(text.encode()).hexdigest()[:40]
    message = f"A {platform.label} order could not be read and was refused: {reason}"
    log.warning("%s connection %s: %s", platform.label, conn.pk, message)
    db.insert_ignore_returning(InboundWebhook, {
        "workspace_id": conn.workspace_id, "connection_id": conn.pk,
        "event_id": f"unreadable:{digest}", "webhook_id": "", "topic": UNREADABLE_TOPIC,
        "resource_id": "", "api_version": "", "triggered_at": "", "body": text,
        "status": InboxStatus.FAILED, "attempts": 1, "result": "refused",
        "error": reason[:2000], "processed_at": now, "created_at": now, "updated_at": now,
    }, unique=("connection", "event_id"))
    StoreConnection.objects.filter(pk=conn.pk).update(last_error=message[:2000],
                                                      last_error_at=now)
    return "failed"


def record_page(*, job: ImportJob, conn: StoreConnection, outcomes: list[str], cursor: str,
                finished: bool) -> ImportJob | None:
    """Commit one page's counts with its cursor (where a resumed job goes on), for every
    platform. Returns the job's row when it was stopped meanwhile (disconnect)."""
    for outcome in outcomes:
        if outcome in ("created", "updated", "stale", "unchanged", "cancelled"):
            job.imported += 1
        elif outcome == "failed":
            job.failed += 1
        else:
            job.skipped += 1
    job.cursor = cursor
    stamp = timezone.now()
    with transaction.atomic():
        current = ImportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != JobStatus.RUNNING:
            return current
        job.heartbeat_at = stamp
        if finished:
            job.status = JobStatus.DONE
            job.finished_at = stamp
            job.total = max(job.total or 0, job.seen)
        job.save(update_fields=["imported", "skipped", "failed", "cursor", "status",
                                "heartbeat_at", "finished_at", "total", "problems",
                                "updated_at"])
    if finished and conn.sweep_high_water is None:
        StoreConnection.objects.filter(pk=conn.pk).update(sweep_high_water=job.started_at)
    return None


def import_job_run(*, job_id: int, client=None,
                   max_pages: int | None = None) -> ImportJob | None:
    """Run (or resume) a job until done, stopped, or `max_pages` pages later.

    The same for every platform: the store refusing our credentials (or the import for
    good) fails the job with the reason and flags the connection, so the seller sees
    "Import refused: …" on the store's page and reconnects; any other store error
    leaves the job running with the reason: its heartbeat goes stale and the sweep
    resumes it from its cursor. Nothing is raised for what the store answered."""
    now = timezone.now()
    job = _claim(job_id, now)
    if job is None:
        return None
    conn = job.connection
    platform = registry.platform_for(conn)
    own = client is None
    pages = 0
    try:
        client = client or platform.client(conn)
        if not job.method:
            bulk_imports.decide(job=job, platform=platform, client=client)
        bulk_step = (job.method == ImportMethod.BULK
                     and bulk_imports.bulk_run(job=job, conn=conn, platform=platform,
                                               client=client) != bulk_imports.FALL_BACK)
        if not bulk_step:
            while True:
                page = platform.import_page(client, cursor=job.cursor or "",
                                            count_total=job.total is None)
                if job.total is None and page.total is not None:
                    job.total = page.total
                    ImportJob.objects.filter(pk=job.pk).update(total=job.total)
                outcomes = [_apply(platform, conn, client, order, timezone.now())
                            for order in page.orders]
                stopped = record_page(job=job, conn=conn, outcomes=outcomes,
                                      cursor=page.cursor or job.cursor, finished=page.finished)
                if stopped is not None:
                    return stopped  # stopped (disconnect) while we worked
                pages += 1
                if page.finished or (max_pages is not None and pages >= max_pages):
                    break
    except platform.auth_errors + platform.refused_errors as exc:  # retrying cannot help
        stamp = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED,
                                                   error=str(exc)[:2000], finished_at=stamp)
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"Import refused: {exc}"[:2000], last_error_at=stamp)
    except platform.errors as exc:
        # Left running: its heartbeat goes stale and the sweep resumes from the cursor.
        ImportJob.objects.filter(pk=job.pk).update(error=str(exc)[:2000])
    finally:
        if own and client is not None:
            client.close()
    job.refresh_from_db()
    return job


def import_jobs_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(workspace id, job id) of jobs to (re)start: waiting, running with a dead worker, or
    a bulk import whose operation is due to be asked about (the poll)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.IMPORT_STALE_SECONDS)
    with scopes_disabled():
        qs = ImportJob.objects.filter(connection__status=ConnectionStatus.ACTIVE).filter(
            status__in=[JobStatus.PENDING, JobStatus.RUNNING])
        # a bulk import waiting on Shopify (no heartbeat) is due when its next check is
        return [(ws, pk) for ws, pk, status, beat, check in
                qs.values_list("workspace_id", "pk", "status", "heartbeat_at",
                               "next_check_at")
                if status == JobStatus.PENDING or (beat is None and (check is None
                                                                     or check <= now))
                or (beat is not None and beat <= stale)]


# --- reconciliation -------------------------------------------------------------------


def connections_to_reconcile() -> list[tuple[int, int]]:
    """(workspace id, connection id) of the live connections of platforms that send
    webhooks (no `poll_seconds`): the 10-minute reconciliation catches what a webhook
    lost. Polled platforms are read by `connections_to_poll` instead."""
    pushed = [code for code, p in registry.platforms().items() if not p.poll_seconds]
    with scopes_disabled():
        return list(StoreConnection.objects.filter(status=ConnectionStatus.ACTIVE,
                                                   platform__in=pushed)
                    .values_list("workspace_id", "pk"))


def connections_to_poll(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(workspace id, connection id) of the live connections of platforms read by polling
    (`poll_seconds`: no webhooks) whose last sweep is at least that old: the
    StoreConnection row (last_sweep_at, sweep_high_water) is the ledger, the poll task
    only rings `reconcile_store_task` for each."""
    now = now or timezone.now()
    polled = {code: p for code, p in registry.platforms().items() if p.poll_seconds}
    if not polled:
        return []
    due = []
    with scopes_disabled():
        conns = StoreConnection.objects.filter(status=ConnectionStatus.ACTIVE,
                                               platform__in=list(polled))
        for conn in conns.only("pk", "workspace_id", "platform", "last_sweep_at",
                               "token_expires_at"):
            platform = polled[conn.platform]
            # a little early is due: a sweep that ran a second late must not wait a round
            cutoff = now - timedelta(seconds=platform.poll_seconds * 0.9)
            if platform.polled(conn) and (conn.last_sweep_at is None
                                          or conn.last_sweep_at <= cutoff):
                due.append((conn.workspace_id, conn.pk))
    return due


def reconcile_store(*, connection_id: int, client=None, now: datetime | None = None,
                    max_pages: int = 40) -> dict:
    """Re-read orders updated since the last sweep (minus an overlap) and apply each.
    A store error is kept on the connection and returned as `error` (the next sweep
    reads the same window again)."""
    now = now or timezone.now()
    conn = (StoreConnection.objects.select_related("store", "workspace")
            .filter(pk=connection_id).first())
    if conn is None or conn.status != ConnectionStatus.ACTIVE:
        return {"skipped": "not connected"}
    platform = registry.platform_for(conn)
    overlap = platform.sweep_overlap_seconds or conf.SWEEP_OVERLAP_SECONDS
    since = (conn.sweep_high_water - timedelta(seconds=overlap)
             if conn.sweep_high_water else
             now - timedelta(hours=conf.SWEEP_FIRST_LOOKBACK_HOURS))
    own = client is None
    stats = {"seen": 0, "created": 0, "updated": 0, "cancelled": 0, "skipped": 0,
             "failed": 0, "stale": 0, "unchanged": 0}
    high = conn.sweep_high_water
    try:
        client = client or platform.client(conn)
        for order in platform.changed_orders(client, since=since, max_pages=max_pages):
            stats["seen"] += 1
            head = _apply(platform, conn, client, order, timezone.now()).split(":")[0]
            stats[head if head in stats else "skipped"] += 1
            seen_at = parse_datetime((platform.updated_at(order) or "")
                                     if isinstance(order, dict) else "")
            if seen_at and (high is None or seen_at > high):
                high = seen_at
    except platform.errors as exc:
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"Reconciliation failed: {exc}"[:2000], last_error_at=now)
        return {**stats, "error": str(exc)}
    finally:
        if own and client is not None:
            client.close()
    StoreConnection.objects.filter(pk=conn.pk).update(last_sweep_at=now, sweep_high_water=high)
    return stats
