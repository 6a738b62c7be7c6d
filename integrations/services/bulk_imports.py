"""The initial import of a large store by one bulk export (Shopify's bulk operations,
integrations/shopify/bulk.py), instead of pages (docs/shopify.md "Large stores: the bulk
import").

The ImportJob row is the ledger, as for the paginated import: the operation's id, its
status as last read, when to ask again, and (`cursor`) the byte offset in the file of the
first order not yet applied. The task is only the doorbell, rung by the claim loop
(integrations.services.imports.import_job_run), by the `bulk_operations/finish` webhook
(`bulk_operation_finished`) and by the 30-s sweep (`imports.import_jobs_due`: a job
waiting on Shopify is due when `next_check_at` has passed — the poll).

Reading the file: streamed, joined into orders by `__parentId`, mapped with the same
function as every other Shopify order (`platform.map_order`), and applied through
`apply_store_orders` (apply_store_order for a batch: idempotent on the store's order
id, the new orders made together; docs/shopify.md) in batches: one transaction per
batch carries the orders and the new offset together, so a crash resumes at the first
order not committed, and nothing is applied twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations import conf
from integrations.models import (
    ImportJob,
    ImportMethod,
    JobStatus,
    StoreConnection,
)
from integrations.platforms.base import StorePlatform
from podhub.core import outbound

log = logging.getLogger(__name__)

#: what `bulk_run` returns when the import goes on page by page instead
FALL_BACK = "pages"


def decide(*, job: ImportJob, platform: StorePlatform, client) -> str:
    """Pages or bulk, once per job: the store's own count of the orders to import decides
    (conf.bulk_import_min_orders, setting SHOPIFY_BULK_IMPORT_MIN_ORDERS). A job that
    already read pages (a cursor) stays with pages."""
    method = ImportMethod.PAGES
    if platform.bulk_import and not job.cursor:
        total = platform.import_count(client)
        job.total = total
        if total is not None and total >= conf.bulk_import_min_orders():
            method = ImportMethod.BULK
    job.method = method
    ImportJob.objects.filter(pk=job.pk).update(method=method, total=job.total)
    return method


def _save(job: ImportJob, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**fields, updated_at=timezone.now())


def _flag(conn: StoreConnection, message: str) -> None:
    StoreConnection.objects.filter(pk=conn.pk).update(last_error=message[:2000],
                                                      last_error_at=timezone.now())


def _wait(job: ImportJob) -> ImportJob:
    """Shopify is still working: let go of the job (no heartbeat: anyone may claim it) and
    have the sweep ask again in BULK_POLL_SECONDS, unless the webhook rings first."""
    _save(job, heartbeat_at=None,
          next_check_at=timezone.now() + timedelta(seconds=conf.BULK_POLL_SECONDS))
    return job


def _restart(job: ImportJob) -> None:
    """A new file: counters and position start again (orders applied from the old file
    are 'unchanged' when met again, and counted once)."""
    _save(job, bulk_operation_id="", bulk_status="", bulk_objects=0, cursor="", imported=0,
          skipped=0, failed=0)


def bulk_run(*, job: ImportJob, conn: StoreConnection, platform: StorePlatform,
             client) -> ImportJob | str:
    """One step of a bulk import: start the operation, or ask how it is, or read its file.
    Returns FALL_BACK when the import is to go on page by page (the caller does), else the
    job. Store errors are raised like the paginated loop's (the caller sorts them)."""
    for _ in range(conf.BULK_MAX_ATTEMPTS + 1):
        if not job.bulk_operation_id:
            if job.bulk_attempts >= conf.BULK_MAX_ATTEMPTS:
                return _fall_back(job, conn, f"{job.error or 'the bulk operation failed'}")
            try:
                state, busy = platform.bulk_start(client)
            except platform.refused_errors as exc:
                return _fall_back(job, conn, f"Shopify refused the bulk operation: {exc}")
            if state is None:  # another bulk query of the app runs in the shop
                waited = timezone.now() - (job.started_at or timezone.now())
                limit = conf.bulk_wait_for_other_seconds()
                if waited >= timedelta(seconds=limit):
                    return _fall_back(job, conn, f"{busy}; still running after "
                                                 f"{limit // 60} min of waiting")
                _save(job, error=busy[:2000])
                return _wait(job)
            _save(job, bulk_operation_id=state.id, bulk_status=state.status,
                  bulk_attempts=job.bulk_attempts + 1, error="")
        else:
            state = platform.bulk_read(client, job.bulk_operation_id)
            if state is None:  # the store no longer knows it: start another
                _save(job, error=f"Shopify no longer knows the bulk operation "
                                 f"{job.bulk_operation_id}")
                _restart(job)
                continue
            _save(job, bulk_status=state.status, bulk_objects=state.objects)
        if state.running:
            return _wait(job)
        if state.status == "COMPLETED":
            outcome = _read_file(job, conn, platform, client, state.url)
            if outcome == "again":
                continue
            return outcome
        outcome = _ended(job, conn, platform, state)
        if outcome != "again":
            return outcome
    return _fall_back(job, conn, job.error or "the bulk operation could not be read")


def _ended(job: ImportJob, conn: StoreConnection, platform: StorePlatform,
           state) -> ImportJob | str:
    """FAILED, CANCELED or EXPIRED: shown on the store's page with Shopify's reason.
    ACCESS_DENIED fails the import (reading pages needs the same access); a timeout or an
    error on Shopify's side, or a file that expired, starts one more operation; anything
    else (or a second failure) goes on page by page."""
    reason = state.reason()
    stamp = timezone.now()
    if state.error_code == "ACCESS_DENIED":
        message = f"{reason}: the app may not read these orders (check its scopes)"
        ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error=message,
                                                   finished_at=stamp)
        _flag(conn, f"Import refused: {message}")
        job.refresh_from_db()
        return job
    retry = state.status == "EXPIRED" or (state.status == "FAILED"
                                          and state.error_code in platform.bulk_retryable_codes)
    if retry and job.bulk_attempts < conf.BULK_MAX_ATTEMPTS:
        _flag(conn, f"Bulk import: {reason}; starting a new one.")
        _save(job, error=reason)
        _restart(job)
        return "again"
    return _fall_back(job, conn, reason)


def _fall_back(job: ImportJob, conn: StoreConnection, reason: str) -> str:
    _flag(conn, f"Bulk import: {reason}; importing page by page instead.")
    _save(job, method=ImportMethod.PAGES, error=reason[:2000], cursor="", imported=0,
          skipped=0, failed=0, next_check_at=None)
    return FALL_BACK


def _read_file(job: ImportJob, conn: StoreConnection, platform: StorePlatform, client,
               url: str) -> ImportJob | str:
    from integrations.services.imports import record_page

    if not url:  # Shopify gives no file when the query found nothing
        record_page(job=job, conn=conn, outcomes=[], cursor=job.cursor, finished=True)
        job.refresh_from_db()
        return job
    start = int(job.cursor or 0)
    batch: list = []
    try:
        chunks = platform.bulk_file(url, start=start)
        for item in platform.bulk_orders(chunks, start=start):
            batch.append(item)
            if len(batch) >= conf.BULK_BATCH:
                stopped = _apply_batch(job, conn, platform, client, batch, finished=False)
                batch = []
                if stopped is not None:
                    return stopped
        stopped = _apply_batch(job, conn, platform, client, batch, finished=True)
    except platform.bulk_file_gone as exc:
        if job.bulk_attempts < conf.BULK_MAX_ATTEMPTS:
            _flag(conn, f"Bulk import: the file of {job.bulk_operation_id} is gone ({exc}); "
                        "starting a new operation.")
            _restart(job)
            return "again"
        return _fall_back(job, conn, f"the bulk file is gone ({exc})")
    except outbound.OutboundError as exc:
        return _fall_back(job, conn, f"PodHub's outbound policy refused the bulk file: "
                                     f"{exc.message}")
    except ValueError as exc:  # a line too long to be an order
        return _fall_back(job, conn, f"the bulk file could not be read: {exc}")
    if stopped is not None:
        return stopped
    job.refresh_from_db()
    return job


def _apply_batch(job: ImportJob, conn: StoreConnection, platform: StorePlatform, client,
                 batch: list, *, finished: bool) -> ImportJob | None:
    """Map the batch's orders (outside any transaction: mapping may ask the store about a
    partially fulfilled order), re-read on their own the orders a broken line touched,
    then apply them all and save the position in one transaction."""
    from integrations.services.imports import apply_mapped_many, map_order, record_page

    now = timezone.now()
    mapped: list = []  # (data, facts) or "failed"
    problems: list[dict] = []
    again: dict[str, None] = {}
    for item in batch:
        if item.node is not None and not item.incomplete:
            mapped.append(map_order(platform, conn, client, item.node, now))
            continue
        if item.node is not None:
            again[str(item.node.get("id"))] = None
        for gid in item.order_ids:
            again[gid] = None
        if item.problem and not item.orphan:
            mapped.append("failed")
            problems.append({"at": now.isoformat(), "reason": item.problem, "text": item.text,
                             "operation": job.bulk_operation_id})
    for gid in again:
        node = platform.read_order(client, gid)
        if node is not None:
            mapped.append(map_order(platform, conn, client, node, now))
    end = str(batch[-1].end) if batch else job.cursor
    if problems:
        log.warning("bulk import %s: %s line(s) could not be read: %s", job.pk,
                    len(problems), problems[0]["reason"])
        _flag(conn, f"Import: {len(problems)} line(s) of Shopify's bulk file could not be "
                    f"read ({problems[0]['reason']}); the orders they name were read again "
                    "one by one.")
    with transaction.atomic():
        outcomes = apply_mapped_many(platform, conn, mapped, now)
        job.problems = _merged(job.problems, problems)
        return record_page(job=job, conn=conn, outcomes=outcomes, cursor=end,
                           finished=finished)


def _merged(kept: list | None, new: list[dict]) -> list[dict]:
    """The job's problems with the batch's added, each once: a line met again (the same
    reason — its byte offset — and text), as when a new operation's file is read after a
    crash or an expired file, replaces its older entry instead of being listed twice (the
    `failed` counter started again with the new file)."""
    merged: dict[tuple, dict] = {}
    for problem in [*(kept or []), *new]:
        key = (problem.get("reason"), problem.get("text"))
        merged.pop(key, None)
        merged[key] = problem
    return list(merged.values())[:ImportJob.PROBLEMS_KEPT]


def bulk_operation_finished(*, connection: StoreConnection, operation_id: str,
                            now=None) -> str:
    """The `bulk_operations/finish` webhook: a doorbell. The job waiting on that operation
    is due now and its task is rung after commit; the job reads the operation's state
    from the store itself (the delivery's status is not trusted)."""
    from integrations.tasks import import_job_task

    now = now or timezone.now()
    job = (ImportJob.objects.filter(connection=connection, bulk_operation_id=operation_id,
                                    status__in=[JobStatus.PENDING, JobStatus.RUNNING])
           .only("pk", "workspace_id").first())
    if job is None:
        # A late finish of an operation the import replaced (failed, expired, or no
        # longer known: a new one was started) names an id no job holds any more, so it
        # cannot move the current one; say which operation is awaited instead.
        current = (ImportJob.objects.filter(connection=connection,
                                            status__in=[JobStatus.PENDING, JobStatus.RUNNING])
                   .exclude(bulk_operation_id="").values_list("pk", "bulk_operation_id")
                   .first())
        if current is not None:
            log.info("bulk_operations/finish for %s ignored: import %s now waits for %s",
                     operation_id, *current)
            return (f"ignored: {operation_id} was replaced; import {current[0]} waits for "
                    f"{current[1]}")
        return f"ignored: no import waits for {operation_id}"
    ImportJob.objects.filter(pk=job.pk).update(next_check_at=now)
    import_job_task.delay(workspace_id=job.workspace_id, job_id=job.pk)  # sent after commit
    return f"bulk operation finished: import {job.pk} rung"
