"""The initial import of a newly connected store, and the reconciliation sweep.

Import: every open, unfulfilled, paid order, a page at a time; the ImportJob
row is the ledger (cursor, counters, heartbeat) and the task only its doorbell.
Sweep: re-read the orders the store changed since the last sweep (with
overlap) and apply each, so a webhook Shopify never delivered is caught.
"""

from __future__ import annotations

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
    JobStatus,
    StoreConnection,
)
from integrations.services import platforms
from integrations.services.connections import client_for
from integrations.services.orders import apply_store_order
from integrations.shopify import queries
from integrations.shopify.client import AdminClient, ShopifyAuthError, ShopifyError
from integrations.shopify.mapping import StoreFacts, from_graphql, remaining_by_line
from podhub.core.exceptions import ValidationFailed

log = logging.getLogger(__name__)

IMPORT_QUERY = "status:open financial_status:paid fulfillment_status:unfulfilled"


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


def _full_lines(client: AdminClient, node: dict) -> dict:
    """Fetch the rest of an order's line items when the first page was not all."""
    items = node.get("lineItems") or {}
    page = items.get("pageInfo") or {}
    nodes = list(items.get("nodes") or [])
    while page.get("hasNextPage"):
        data = client.execute(queries.ORDER_LINES, {"id": node["id"],
                                                    "after": page.get("endCursor")})
        more = ((data.get("order") or {}).get("lineItems") or {})
        nodes.extend(more.get("nodes") or [])
        page = more.get("pageInfo") or {}
    return {**node, "lineItems": {"nodes": nodes}}


def _mapped(client: AdminClient, node: dict) -> tuple[dict, StoreFacts]:
    """A GraphQL order node with all its lines -> (data, facts). A partially fulfilled
    order's fulfillment orders are read too: they say exactly what is left to ship."""
    node = _full_lines(client, node)
    remaining = None
    if (node.get("displayFulfillmentStatus") or "").upper() == "PARTIALLY_FULFILLED":
        data = client.execute(queries.FULFILLMENT_ORDERS, {"id": node["id"]})
        remaining = remaining_by_line(
            (((data.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes")) or [])
    return from_graphql(node, remaining=remaining)


def store_order_read(*, connection: StoreConnection, external_id: str,
                     client: AdminClient | None = None) -> tuple[dict, StoreFacts] | None:
    """Re-read one order from the store (a delivery that carries an order edit or a
    refund instead of the order); None when the store no longer has it."""
    own = client is None
    client = client or client_for(connection)
    try:
        data = client.execute(queries.ORDER, {"id": queries.gid("Order", external_id)})
        node = data.get("order")
        return _mapped(client, node) if node else None
    finally:
        if own:
            client.close()


def _apply_node(conn: StoreConnection, client: AdminClient, node: dict, now: datetime) -> str:
    data, facts = _mapped(client, node)
    try:
        return apply_store_order(connection=conn, data=data, facts=facts, now=now)
    except ValidationFailed as exc:
        log.warning("store order %s could not be imported: %s", facts.external_id, exc.message)
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"Order {data.get('number')} could not be read: {exc.message}"[:2000],
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
                                "heartbeat_at", "finished_at", "total", "updated_at"])
    if finished and conn.sweep_high_water is None:
        StoreConnection.objects.filter(pk=conn.pk).update(sweep_high_water=job.started_at)
    return None


def import_job_run(*, job_id: int, client: AdminClient | None = None,
                   max_pages: int | None = None) -> ImportJob | None:
    """Run (or resume) a job until done, stopped, or `max_pages` pages later."""
    adapter = platforms.adapter(ImportJob.objects.filter(pk=job_id).values_list(
        "connection__platform", flat=True).first() or "")
    if adapter is not None:  # another platform than Shopify
        return adapter.import_job_run(job_id=job_id, client=client, max_pages=max_pages)
    now = timezone.now()
    job = _claim(job_id, now)
    if job is None:
        return None
    conn = job.connection
    own = client is None
    client = client or client_for(conn)
    pages = 0
    try:
        if job.total is None:
            data = client.execute(queries.ORDERS_COUNT, {"query": IMPORT_QUERY})
            job.total = int(((data.get("ordersCount") or {}).get("count")) or 0)
            ImportJob.objects.filter(pk=job.pk).update(total=job.total)
        while True:
            data = client.execute(queries.ORDERS, {"first": queries.ORDERS_PAGE,
                                                   "after": job.cursor or None,
                                                   "query": IMPORT_QUERY})
            orders = data.get("orders") or {}
            outcomes = [_apply_node(conn, client, node, timezone.now())
                        for node in orders.get("nodes") or []]
            info = orders.get("pageInfo") or {}
            finished = not info.get("hasNextPage")
            stopped = record_page(job=job, conn=conn, outcomes=outcomes,
                                  cursor=info.get("endCursor") or job.cursor, finished=finished)
            if stopped is not None:
                return stopped  # stopped (disconnect) while we worked
            pages += 1
            if finished:
                return job
            if max_pages is not None and pages >= max_pages:
                return job
    except ShopifyAuthError as exc:
        ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error=str(exc),
                                                   finished_at=timezone.now())
        raise
    except ShopifyError as exc:
        # Leave it running: its heartbeat goes stale and the sweep resumes from the cursor.
        ImportJob.objects.filter(pk=job.pk).update(error=str(exc)[:2000])
        raise
    finally:
        if own:
            client.close()


def import_jobs_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(workspace id, job id) of jobs to (re)start: waiting, or running with a dead worker."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.IMPORT_STALE_SECONDS)
    with scopes_disabled():
        qs = ImportJob.objects.filter(connection__status=ConnectionStatus.ACTIVE).filter(
            status__in=[JobStatus.PENDING, JobStatus.RUNNING])
        return [(ws, pk) for ws, pk, status, beat in
                qs.values_list("workspace_id", "pk", "status", "heartbeat_at")
                if status == JobStatus.PENDING or beat is None or beat <= stale]


# --- reconciliation -------------------------------------------------------------------


def reconcile_store(*, connection_id: int, client: AdminClient | None = None,
                    now: datetime | None = None, max_pages: int = 40) -> dict:
    """Re-read orders updated since the last sweep (minus an overlap) and apply each."""
    adapter = platforms.adapter(StoreConnection.objects.filter(pk=connection_id).values_list(
        "platform", flat=True).first() or "")
    if adapter is not None:  # another platform than Shopify
        return adapter.reconcile_store(connection_id=connection_id, client=client, now=now,
                                       max_pages=max_pages)
    now = now or timezone.now()
    conn = (StoreConnection.objects.select_related("store", "workspace")
            .filter(pk=connection_id).first())
    if conn is None or conn.status != ConnectionStatus.ACTIVE:
        return {"skipped": "not connected"}
    since = (conn.sweep_high_water - timedelta(seconds=conf.SWEEP_OVERLAP_SECONDS)
             if conn.sweep_high_water else
             now - timedelta(hours=conf.SWEEP_FIRST_LOOKBACK_HOURS))
    query = f"updated_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    own = client is None
    client = client or client_for(conn)
    stats = {"seen": 0, "created": 0, "updated": 0, "cancelled": 0, "skipped": 0,
             "failed": 0, "stale": 0, "unchanged": 0}
    high = conn.sweep_high_water
    after = None
    try:
        for _ in range(max_pages):
            data = client.execute(queries.ORDERS, {"first": queries.ORDERS_PAGE,
                                                   "after": after, "query": query})
            orders = data.get("orders") or {}
            for node in orders.get("nodes") or []:
                stats["seen"] += 1
                outcome = _apply_node(conn, client, node, timezone.now())
                stats[outcome.split(":")[0] if outcome.split(":")[0] in stats else "skipped"] += 1
                seen_at = parse_datetime(node.get("updatedAt") or "")
                if seen_at and (high is None or seen_at > high):
                    high = seen_at
            info = orders.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                break
            after = info.get("endCursor")
    except ShopifyError as exc:
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"Reconciliation failed: {exc}"[:2000], last_error_at=now)
        raise
    finally:
        if own:
            client.close()
    StoreConnection.objects.filter(pk=conn.pk).update(last_sweep_at=now, sweep_high_water=high)
    return stats
