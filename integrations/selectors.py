"""Reads for the Stores pages (explicit workspace filter on top of the scope)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection as db
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from integrations.models import (
    ImportJob,
    InboundWebhook,
    InboxStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
    StoreOrderRecord,
)
from integrations.platforms import registry
from orders.models import Order, Store
from podhub.core.exceptions import NotFound


@dataclass
class StoreRow:
    store: Store
    connection: StoreConnection | None
    job: ImportJob | None


def store_list(*, workspace) -> list[StoreRow]:
    stores = list(Store.objects.filter(workspace=workspace).order_by("name", "pk"))
    conns = {c.store_id: c for c in StoreConnection.objects.filter(workspace=workspace)}
    jobs: dict[int, ImportJob] = {}
    for job in ImportJob.objects.filter(workspace=workspace).order_by("pk"):
        jobs[job.connection_id] = job  # the newest per connection wins
    rows = []
    for s in stores:
        c = conns.get(s.pk)
        rows.append(StoreRow(store=s, connection=c, job=jobs.get(c.pk) if c else None))
    return rows


def connection_get(*, workspace, store_id: int) -> StoreConnection:
    conn = (StoreConnection.objects.select_related("store")
            .filter(workspace=workspace, store_id=store_id).first())
    if conn is None:
        raise NotFound("No such connected store.")
    return conn


def latest_import(*, workspace, connection: StoreConnection) -> ImportJob | None:
    return ImportJob.objects.filter(workspace=workspace, connection=connection) \
        .order_by("-pk").first()


@dataclass
class SyncHealth:
    connection: StoreConnection
    job: ImportJob | None
    waiting: int
    oldest_waiting: datetime | None
    failed_inbox: int
    outbox_pending: int
    outbox_failed: int
    recent_inbox: list
    recent_failures: list
    outbox: list
    now: datetime

    @property
    def lag_seconds(self) -> float:
        return (self.now - self.oldest_waiting).total_seconds() if self.oldest_waiting else 0.0

    @property
    def last_webhook_age(self) -> float | None:
        at = self.connection.last_webhook_at
        return (self.now - at).total_seconds() if at else None

    @property
    def last_sweep_age(self) -> float | None:
        at = self.connection.last_sweep_at
        return (self.now - at).total_seconds() if at else None

    @property
    def healthy(self) -> bool:
        return self.connection.is_active and not self.failed_inbox and not self.outbox_failed \
            and self.lag_seconds < 300


# A failed webhook delivery counts as a problem for this long (the Stores page and Home).
FAILED_INBOX_WINDOW = timedelta(days=7)


def sync_health(*, workspace, connection: StoreConnection, now=None) -> SyncHealth:
    now = now or timezone.now()
    week = now - FAILED_INBOX_WINDOW
    inbox = InboundWebhook.objects.filter(workspace=workspace, connection=connection)
    agg = inbox.aggregate(
        waiting=Count("pk", filter=Q(status=InboxStatus.PENDING)),
        oldest=Min("created_at", filter=Q(status=InboxStatus.PENDING)),
        failed=Count("pk", filter=Q(status=InboxStatus.FAILED, created_at__gte=week)),
    )
    outbox = OutboxMessage.objects.filter(workspace=workspace, store_id=connection.store_id)
    oagg = outbox.aggregate(
        pending=Count("pk", filter=Q(status=OutboxStatus.PENDING)),
        failed=Count("pk", filter=Q(status=OutboxStatus.FAILED)),
    )
    return SyncHealth(
        connection=connection, job=latest_import(workspace=workspace, connection=connection),
        waiting=agg["waiting"], oldest_waiting=agg["oldest"], failed_inbox=agg["failed"],
        outbox_pending=oagg["pending"], outbox_failed=oagg["failed"],
        recent_inbox=list(inbox.defer("body").order_by("-created_at", "-pk")[:20]),
        recent_failures=list(inbox.defer("body").filter(status=InboxStatus.FAILED)
                             .order_by("-created_at")[:50]),
        outbox=list(outbox.select_related("order").order_by("-created_at", "-pk")[:30]),
        now=now,
    )


NEWEST_FIRST = ("-created_at", "-id")


def deliveries(*, workspace, connection: StoreConnection, status: str | None = None
               ) -> QuerySet[InboundWebhook]:
    """The connection's webhook deliveries (without their bodies), newest first."""
    rows = InboundWebhook.objects.filter(workspace=workspace, connection=connection)
    if status:
        rows = rows.filter(status=status)
    return rows.defer("body").order_by(*NEWEST_FIRST)


def pushes(*, workspace, connection: StoreConnection, status: str | None = None
           ) -> QuerySet[OutboxMessage]:
    """What PodHub sent (or sends) to the connection's store, newest first."""
    rows = OutboxMessage.objects.filter(workspace=workspace, store_id=connection.store_id)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by(*NEWEST_FIRST)


@dataclass
class OrderSync:
    order: Order
    record: StoreOrderRecord | None
    pushes: list


def order_sync(*, workspace, order_id: int) -> OrderSync:
    order = Order.objects.filter(workspace=workspace, pk=order_id).select_related("store").first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    record = StoreOrderRecord.objects.filter(workspace=workspace, order=order).first()
    pushes = list(OutboxMessage.objects.filter(workspace=workspace, order=order)
                  .order_by("created_at", "pk"))
    return OrderSync(order=order, record=record, pushes=pushes)


def publishable_products(*, workspace, connection: StoreConnection | None = None) -> list:
    """Catalog products the seller may publish to a store (public or made for them); none
    for a store whose platform cannot publish products."""
    from quotes.models import Product

    if connection is not None:
        platform = registry.find(connection.platform)
        if platform is None or not platform.takes(OutboxKind.PRODUCT_CREATE):
            return []
    return list(Product.objects.filter(Q(made_for_workspace__isnull=True)
                                       | Q(made_for_workspace=workspace), is_published=True)
                .order_by("name", "pk")[:500])


def product_links(*, workspace, connection: StoreConnection) -> list:
    """The store's product links (store product/variant ↔ catalog variant)."""
    from quotes.selectors import store_product_links

    return store_product_links(workspace=workspace, store_id=connection.store_id)


def home_figures(*, workspace, now) -> dict[str, tuple[str, list]]:
    """Integrations' part of Home (read by insights.home with the others in one query):
    "integrations.failed", n failed syncs of all the workspace's stores — the sum of the
    Stores page's "failed" (sync_health): webhook deliveries that failed in the last
    FAILED_INBOX_WINDOW and pushes to stores that failed for good (partial indexes
    inbox_failed and outbox_failed)."""
    since = db.ops.adapt_datetimefield_value(now - FAILED_INBOX_WINDOW)
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {InboundWebhook._meta.db_table} "  # noqa: S608
        f"WHERE workspace_id = %s AND status = '{InboxStatus.FAILED.value}' "
        "AND created_at >= %s) "
        f"+ (SELECT COUNT(*) FROM {OutboxMessage._meta.db_table} "
        f"WHERE workspace_id = %s AND status = '{OutboxStatus.FAILED.value}') AS n, "
        "CAST(NULL AS text) AS s1, CAST(NULL AS text) AS s2, CAST(NULL AS timestamp) AS t")
    return {"integrations.failed": (sql, [workspace.pk, since, workspace.pk])}
