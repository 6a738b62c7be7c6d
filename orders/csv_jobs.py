"""CSV import as a job: the upload is a row (CsvImport), the task only a doorbell.

    csv_import_start    checks the file as a whole (size, UTF-8, columns), keeps it,
                        makes the CsvImport row and rings the task after commit
    csv_import_process  works through the file's orders in file order, a chunk per
                        transaction; the chunk's orders, their outcome lines and the
                        job's cursor (`next_group`) and counts commit together, so a
                        killed worker resumes after the last committed order
    csv_import_sweep    (beat) re-wakes jobs whose task was lost or whose worker died
    csv_import          the whole thing inline, returning a report (tests, scripts)

Each order is created in its own savepoint: an order with any bad row is
rejected whole (nothing half-imported); an order number already in the store
is a duplicate and left as it was, so uploading the same file twice is harmless.
"""

import hashlib
import logging
import time
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import inputs
from orders.csv_import import CsvImportReport, CsvOrder, order_dict, parse_csv, read_upload
from orders.events import Actor
from orders.models import (
    CsvImport,
    CsvImportLine,
    CsvImportOutcome,
    CsvImportStatus,
    Order,
    Store,
)
from orders.services import intake
from podhub.core.exceptions import PodhubError, ValidationFailed
from podhub.core.uploads import display_name, generated_name

log = logging.getLogger(__name__)

CHUNK_ORDERS = 25  # orders per transaction: progress moves, a crash loses at most this
TASK_BUDGET_SECONDS = 60.0  # then the task hands over to a fresh one (fair to other work)
PENDING_GRACE = timedelta(seconds=60)  # a pending job nobody started: its doorbell was lost
STALE_AFTER = timedelta(minutes=3)  # a running job without a heartbeat: its worker died
MAX_ATTEMPTS = 5  # failed transactions before a job stops as failed
OPEN = (CsvImportStatus.PENDING, CsvImportStatus.RUNNING)


def _ring(job: CsvImport) -> None:
    from orders.tasks import csv_import_process_task

    csv_import_process_task.delay(workspace_id=job.workspace_id, job_id=job.pk)


def csv_import_start(*, workspace, file, actor: Actor, store: Store | None = None,
                     now: datetime | None = None) -> CsvImport:
    """Keep the upload and queue its import; a file-level problem raises ValidationFailed.

    The same file uploaded again for the same store while its import is still
    open returns that job instead of a second one.
    """
    now = now or timezone.now()
    store = intake._outside_store_for(workspace, store)
    raw = read_upload(file)
    data = raw.encode() if isinstance(raw, str) else raw
    parsed = parse_csv(data)  # size, encoding, columns: refused whole, nothing kept
    sha = hashlib.sha256(data).hexdigest()
    name = display_name(getattr(file, "name", ""), default="orders.csv")
    with transaction.atomic():
        open_job = (CsvImport.objects.select_for_update(of=("self",))
                    .filter(workspace=workspace, store=store, sha256=sha, status__in=OPEN)
                    .first())
        if open_job is not None:
            return open_job
        job = CsvImport(workspace=workspace, store=store, created_by=actor.user,
                        filename=name, sha256=sha, total_rows=parsed.total_rows,
                        total_groups=len(parsed.orders), ignored_columns=parsed.ignored_columns,
                        created_at=now)
        job.file.save(generated_name("csv"), ContentFile(data), save=False)
        job.save()
        _ring(job)
    return job


def _lock(job_id: int, *, wait: bool) -> CsvImport | None:
    """The job row, locked; None when another worker holds it (it is working on it)."""
    qs = CsvImport.objects.select_for_update(of=("self",), skip_locked=not wait)
    return qs.select_related("workspace", "store", "created_by").filter(pk=job_id).first()


def _actor(job: CsvImport) -> Actor:
    return Actor.seller(job.created_by) if job.created_by_id else Actor.system("CSV import")


def _count_failure(job_id: int, exc: Exception, now: datetime) -> None:
    """One more failed attempt; after MAX_ATTEMPTS the job stops as failed (the sweep
    would otherwise wake it forever). Its committed orders stay."""
    with transaction.atomic():
        job = _lock(job_id, wait=True)
        if job is None or not job.is_open:
            return
        job.attempts += 1
        fields = ["attempts", "updated_at"]
        if job.attempts >= MAX_ATTEMPTS:
            job.status, job.finished_at = CsvImportStatus.FAILED, now
            job.error = (f"Stopped after {job.attempts} failed attempts at order "
                         f"{job.next_group + 1} of {job.total_groups}: {type(exc).__name__}. "
                         "The orders before it were imported; upload the file again to "
                         "retry the rest (they are recognised as duplicates).")
            fields += ["status", "finished_at", "error"]
        job.save(update_fields=fields)


def _fail(job_id: int, message: str, now: datetime) -> None:
    with transaction.atomic():
        job = _lock(job_id, wait=True)
        if job is not None and job.is_open:
            job.status, job.error, job.finished_at = CsvImportStatus.FAILED, message, now
            job.save(update_fields=["status", "error", "finished_at", "updated_at"])


def csv_import_process(*, job_id: int, now: datetime | None = None,
                       chunk: int = CHUNK_ORDERS, budget_seconds: float | None = None,
                       max_chunks: int | None = None) -> CsvImport:
    """Import the job's orders from where it stopped; idempotent and resumable.

    Runs until the file is done, or for `budget_seconds` (then a fresh task
    carries on), or for `max_chunks` transactions (tests drive progress with
    it). Returns the job as it is now.
    """
    job = CsvImport.objects.select_related("store").get(pk=job_id)
    if not job.is_open:
        return job
    try:
        with job.file.open("rb") as fh:
            parsed = parse_csv(fh.read())
    except (OSError, ValidationFailed) as exc:  # the kept file is gone or unreadable
        message = getattr(exc, "message", "") or f"The uploaded file could not be read: {exc}"
        _fail(job_id, message, now or timezone.now())
        return CsvImport.objects.get(pk=job_id)
    started = time.monotonic()
    chunks = 0
    while True:
        if max_chunks is not None and chunks >= max_chunks:
            break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            with transaction.atomic():
                _ring(job)  # hand over: the next task starts from the committed cursor
            break
        try:
            with transaction.atomic():
                job = _lock(job_id, wait=False)
                if job is None or not job.is_open:
                    break  # another worker holds it, or it is finished
                _step(job, parsed, now=now or timezone.now(), chunk=chunk)
                done = not job.is_open
        except Exception as exc:  # a bug or an outage: counted, so a poison row cannot loop
            log.exception("CSV import %s: a transaction failed", job_id)
            _count_failure(job_id, exc, now or timezone.now())
            raise
        chunks += 1
        if done:
            break
    return CsvImport.objects.get(pk=job_id)


def _step(job: CsvImport, parsed, *, now: datetime, chunk: int) -> None:
    """One transaction's worth (the job row is locked by the caller)."""
    lines: list[CsvImportLine] = []
    fields = ["rows_done", "next_group", "created_count", "duplicate_count", "rejected_count",
              "heartbeat_at", "updated_at"]
    if job.status == CsvImportStatus.PENDING:
        # Rows that belong to no order (no number, too many cells): settled first, once.
        job.status, job.started_at = CsvImportStatus.RUNNING, now
        fields += ["status", "started_at"]
        for row, reason in parsed.rejected:
            lines.append(_line(job, row=row, outcome=CsvImportOutcome.REJECTED, reason=reason))
        job.rows_done += len(parsed.rejected)
    groups = parsed.orders[job.next_group:job.next_group + chunk]
    if groups:
        known = set(
            Order.objects.filter(workspace=job.workspace_id, store=job.store,
                                 external_id__in=[g.number for g in groups])
            .values_list("external_id", flat=True)
        )
        actor = _actor(job)
        for group in groups:
            lines += _settle(job, group, known=known, actor=actor)
            job.rows_done += len(group.rows)
        job.next_group += len(groups)
    if job.next_group >= len(parsed.orders):
        job.status, job.finished_at = CsvImportStatus.DONE, now
        job.rows_done = job.total_rows
        fields += ["status", "finished_at"]
    for line in lines:
        if line.outcome == CsvImportOutcome.CREATED:
            job.created_count += 1
        elif line.outcome == CsvImportOutcome.DUPLICATE:
            job.duplicate_count += 1
        else:
            job.rejected_count += 1
    CsvImportLine.objects.bulk_create(lines)
    job.heartbeat_at = now
    job.save(update_fields=list(dict.fromkeys(fields)))


def _line(job: CsvImport, *, row: int, outcome: str, rows: list[int] | None = None,
          number: str = "", order: Order | None = None, reason: str = "") -> CsvImportLine:
    return CsvImportLine(workspace_id=job.workspace_id, job=job, row=row, rows=rows or [row],
                         outcome=outcome, number=number[:128], order=order, reason=reason)


def _settle(job: CsvImport, group: CsvOrder, *, known: set[str],
            actor: Actor) -> list[CsvImportLine]:
    """Create one order of the file, or say why not: its outcome lines."""
    store = job.store
    try:
        inp = inputs.validate_order_input(order_dict(group), default_currency=store.currency,
                                          require_sku=True, require_number=True)
    except ValidationFailed as exc:
        return _rejected(job, group, group.rejections(exc.detail.get("fields")))
    if group.row_errors:
        return _rejected(job, group, group.rejections())
    duplicate = _line(job, row=group.rows[0], rows=group.rows, number=group.number,
                      outcome=CsvImportOutcome.DUPLICATE)
    if inp.external_id in known:
        return [duplicate]
    try:
        inp = intake.skip_by_rules(store, inp)
    except intake.NothingToMake as exc:  # the seller's "skip import" rule
        return _rejected(job, group, [(row, exc.message) for row in group.rows])
    try:
        with transaction.atomic():  # a savepoint: this order whole, or not at all
            order = intake._create_order(
                workspace=job.workspace, store=store, inp=inp, actor=actor, auto_submit=False,
                event_type="order.created", source="csv", now=job.created_at,
            )
    except IntegrityError:
        return [duplicate]
    except PodhubError as exc:
        return _rejected(job, group, [(row, exc.message) for row in group.rows])
    known.add(inp.external_id)
    return [_line(job, row=group.rows[0], rows=group.rows, number=group.number, order=order,
                  outcome=CsvImportOutcome.CREATED)]


def _rejected(job: CsvImport, group: CsvOrder,
              rejections: list[tuple[int, str]]) -> list[CsvImportLine]:
    return [_line(job, row=row, number=group.number, outcome=CsvImportOutcome.REJECTED,
                  reason=reason) for row, reason in rejections]


def csv_import_sweep(*, now: datetime | None = None, limit: int = 100) -> int:
    """Beat: ring again for jobs nobody started or whose worker stopped beating.

    Works across workspaces (the caller disables scopes). A job that is in
    fact still being worked on is safe to ring: the row lock and the cursor
    keep a second worker from repeating anything.
    """
    now = now or timezone.now()
    stale = (
        CsvImport.objects.filter(status=CsvImportStatus.PENDING,
                                 created_at__lt=now - PENDING_GRACE)
        | CsvImport.objects.filter(status=CsvImportStatus.RUNNING,
                                   heartbeat_at__lt=now - STALE_AFTER)
    )
    jobs = list(stale.order_by("pk").only("pk", "workspace_id")[:limit])
    for job in jobs:
        _ring(job)
    return len(jobs)


def job_report(job: CsvImport) -> CsvImportReport:
    """The job's outcome in the shape the inline import has always returned."""
    report = CsvImportReport(total_rows=job.total_rows, ignored_columns=list(job.ignored_columns))
    for line in job.lines.select_related("order").order_by("row", "pk"):
        if line.outcome == CsvImportOutcome.CREATED and line.order is not None:
            report.created.append(line.order)
        elif line.outcome == CsvImportOutcome.DUPLICATE:
            report.duplicates.append((list(line.rows), line.number))
        elif line.outcome == CsvImportOutcome.REJECTED:
            report.rejected.append((line.row, line.reason))
    return report


def csv_import(*, workspace, file, actor: Actor, store: Store | None = None) -> CsvImportReport:
    """Start and run an import in this process; the report of what it did."""
    job = csv_import_start(workspace=workspace, file=file, actor=actor, store=store)
    job = csv_import_process(job_id=job.pk)
    return job_report(job)
