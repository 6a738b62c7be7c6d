"""The inbox: a webhook delivery is stored raw before the 200, then processed by a worker.

`webhook_store` is the hot path (one INSERT ... ON CONFLICT DO NOTHING);
`inbox_drain` processes a connection's waiting deliveries in arrival order,
each in its own transaction, idempotently, for every store platform: the platform
reads a delivery (`handle_delivery`: the mapped order, or what it did instead) and
this module applies the order.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations import conf
from integrations.models import (
    ConnectionStatus,
    InboundWebhook,
    InboxStatus,
    StoreConnection,
)
from integrations.platforms import registry
from integrations.platforms.base import UNREADABLE_TOPIC, UnreadableOrder
from integrations.services.orders import apply_store_order
from podhub.core import db
from podhub.core.exceptions import ValidationFailed

log = logging.getLogger(__name__)

def webhook_store(*, connection_id: int, workspace_id: int, event_id: str, webhook_id: str,
                  topic: str, resource_id: str, api_version: str, triggered_at: str,
                  body: str, now: datetime | None = None) -> int | None:
    """Insert the delivery unless its event is already stored; the new row id or None."""
    now = now or timezone.now()
    return db.insert_ignore_returning(InboundWebhook, {
        "workspace_id": workspace_id, "connection_id": connection_id,
        "event_id": event_id[:128], "webhook_id": webhook_id[:128], "topic": topic[:64],
        "resource_id": resource_id, "api_version": api_version[:16],
        "triggered_at": triggered_at[:64], "body": body, "status": InboxStatus.PENDING,
        "attempts": 0, "result": "", "error": "", "created_at": now, "updated_at": now,
    }, unique=("connection", "event_id"))


# --- processing ------------------------------------------------------------------------


def _retry_at(attempts: int, now: datetime) -> datetime:
    delay = min(3600, 15 * 2 ** attempts) * (0.5 + random.random() / 2)  # noqa: S311
    return now + timedelta(seconds=delay)


def _read_order_first(inbox_id: int):
    """What the delivery's platform must read from the store first (an order edit names
    the order, which is re-read), read before the row is locked: an HTTP call, retried
    through outages, must not hold a transaction open. A thunk, or None."""
    row = (InboundWebhook.objects.select_related("connection").defer("body")
           .filter(pk=inbox_id, status=InboxStatus.PENDING).first())
    platform = registry.find(row.connection.platform) if row is not None else None
    if platform is None or row.connection.status != ConnectionStatus.ACTIVE:
        return None  # (a platform no longer listed: processing says so on the row)
    return platform.prefetch_delivery(row.connection, row)


def inbox_process(*, inbox_id: int, now: datetime | None = None) -> str | None:
    """Process one waiting delivery (locked, skipped if another worker has it)."""
    now = now or timezone.now()
    read_order = _read_order_first(inbox_id)
    with transaction.atomic():
        row = (InboundWebhook.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("connection", "connection__store", "connection__workspace")
               .filter(pk=inbox_id, status=InboxStatus.PENDING).first())
        if row is None:
            return None
        row.attempts += 1
        try:
            with transaction.atomic():
                result = _handle(row, now=now, read_order=read_order)
            row.status = InboxStatus.IGNORED if result.startswith("ignored") \
                else InboxStatus.PROCESSED
            row.result = result[:255]
            row.error = ""
            row.processed_at = now
        except ValidationFailed as exc:
            row.status = InboxStatus.FAILED
            row.error = f"{exc.message} {json.dumps(exc.detail.get('fields', {}))[:2000]}"
            row.processed_at = now
            _note_error(row.connection, f"Order could not be read: {exc.message}", now)
        except Exception as exc:  # a bug or an outage: retry later, keep the reason
            log.exception("inbox %s failed", row.pk)
            row.error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if row.attempts >= conf.INBOX_MAX_ATTEMPTS:
                row.status = InboxStatus.FAILED
                _note_error(row.connection, f"A webhook failed: {row.error[:200]}", now)
            else:
                row.next_attempt_at = _retry_at(row.attempts, now)
        row.save()
        return row.status


def _note_error(conn: StoreConnection, message: str, now: datetime) -> None:
    StoreConnection.objects.filter(pk=conn.pk).update(last_error=message[:2000],
                                                      last_error_at=now)


def _handle(row: InboundWebhook, *, now: datetime, read_order=None) -> str:
    conn = row.connection
    payload = json.loads(row.body)
    platform = registry.platform_for(conn)
    if conn.status != ConnectionStatus.ACTIVE \
            and not platform.handled_when_disconnected(row.topic):
        return f"ignored: store {conn.get_status_display().lower()}"
    if row.topic == UNREADABLE_TOPIC:  # an order the import could not read, replayed
        try:
            handled = platform.map_order(None, payload)
        except UnreadableOrder as exc:
            raise ValidationFailed(f"Still unreadable: {exc}") from None
    else:
        handled = platform.handle_delivery(conn, row, payload, now=now,
                                           prefetched=read_order)
    if isinstance(handled, str):
        return handled
    data, facts = handled
    if not facts.external_id:
        raise ValidationFailed("The webhook names no order id.")
    if facts.test:
        return "skipped:test notification"
    return apply_store_order(connection=conn, data=data, facts=facts, label=platform.label,
                             now=now)


def inbox_drain(*, connection_id: int, limit: int = 500, now: datetime | None = None) -> int:
    """Process the connection's waiting deliveries, oldest first; returns how many."""
    now = now or timezone.now()
    ids = list(
        InboundWebhook.objects.filter(connection_id=connection_id, status=InboxStatus.PENDING)
        .exclude(next_attempt_at__gt=now).order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in ids:
        if inbox_process(inbox_id=pk) is not None:
            done += 1
    if ids:
        last = (InboundWebhook.objects.filter(connection_id=connection_id)
                .order_by("-created_at").values_list("created_at", flat=True).first())
        StoreConnection.objects.filter(pk=connection_id).update(last_webhook_at=last)
    return done


def inbox_due(*, now: datetime | None = None, older_than: int = 30) -> list[tuple[int, int]]:
    """(workspace id, connection id) with deliveries a lost doorbell left waiting."""
    now = now or timezone.now()
    rows = (InboundWebhook.objects.filter(status=InboxStatus.PENDING,
                                          created_at__lte=now - timedelta(seconds=older_than))
            .exclude(next_attempt_at__gt=now)
            .values_list("workspace_id", "connection_id").distinct())
    return list(rows)


def inbox_prune(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Delete processed deliveries older than INBOX_KEEP_DAYS (they hold buyer data).

    Duplicates are only ever late by hours (Shopify retries for 4 h), so the dedupe
    key is kept far longer than it can matter. Failed rows stay until handled.
    """
    now = now or timezone.now()
    ids = list(InboundWebhook.objects.filter(
        status__in=[InboxStatus.PROCESSED, InboxStatus.IGNORED],
        created_at__lt=now - timedelta(days=conf.INBOX_KEEP_DAYS),
    ).values_list("pk", flat=True)[:limit])
    if ids:
        InboundWebhook.objects.filter(pk__in=ids).delete()
    return len(ids)


# --- replay -------------------------------------------------------------------------------

REPLAYABLE = (InboxStatus.FAILED, InboxStatus.IGNORED)


@transaction.atomic
def inbox_replay(*, workspace, inbox_ids: list[int], store_id: int | None = None,
                 now: datetime | None = None) -> list[int]:
    """Process failed (or skipped) deliveries again from their raw body: each goes back to
    waiting and the worker takes it, as if it had just arrived. The ids replayed."""
    from integrations.tasks import inbox_drain_task

    now = now or timezone.now()
    rows = InboundWebhook.objects.select_for_update().filter(
        workspace=workspace, pk__in=inbox_ids, status__in=REPLAYABLE)
    if store_id is not None:
        rows = rows.filter(connection__store_id=store_id)
    rows = list(rows.only("pk", "connection_id"))
    if not rows:
        return []
    InboundWebhook.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=InboxStatus.PENDING, attempts=0, next_attempt_at=None, processed_at=None,
        result="", error="", updated_at=now)
    for connection_id in {r.connection_id for r in rows}:
        inbox_drain_task.delay(workspace_id=workspace.pk, connection_id=connection_id)
    return [r.pk for r in rows]
