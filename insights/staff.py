"""The staff console's queues (issue 18): what waits for PodHub's staff, shown on the admin
index with counts, the oldest item's age and what is overdue, each linking to the admin
list filtered to it. Read-only counts over indexed columns, all workspaces (staff work
across tenants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

QUOTE_OVERDUE = timedelta(hours=24)  # a quote request unanswered this long is late


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    count: int
    overdue: int
    waiting_hours: int | None  # the oldest item's age; None: the queue shows none
    url: str  # the admin list filtered to the queue
    overdue_label: str = ""


def _changelist(model, query: str) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist") + query


def _queue(now: datetime, key: str, label: str, rows, *, url: str, since: str = "",
           late: Q | None = None, late_label: str = "", late_url: str = "") -> Queue:
    """One aggregate over `rows`: how many, how many `late`, the oldest `since`; the link
    is `late_url` while some are late, if given."""
    figures = {"n": Count("pk")}
    if late is not None:
        figures["late"] = Count("pk", filter=late)
    if since:
        figures["oldest"] = Min(since)
    row = rows.aggregate(**figures)
    oldest = row.get("oldest")
    hours = None if oldest is None else int((now - oldest).total_seconds() // 3600)
    overdue = row.get("late", 0)
    return Queue(key, label, row["n"], overdue, hours,
                 late_url if overdue and late_url else url, late_label)


def staff_queues(*, now: datetime | None = None) -> list[Queue]:
    from fulfillment.models import Claim, ClaimStatus, Submission, SubmissionStatus
    from integrations.models import ImportJob, InboundWebhook, OutboxMessage
    from orders.models import HoldReason, Order
    from quotes.models import Quote, QuoteStatus

    now = now or timezone.now()
    with scopes_disabled():
        board = Submission.objects.filter(
            status__in=[SubmissionStatus.ACCEPTED, SubmissionStatus.IN_PRODUCTION])
        return [
            _queue(now, "quotes", "Quote requests to price",
                   Quote.objects.filter(status=QuoteStatus.REQUESTED), since="requested_at",
                   late=Q(requested_at__lt=now - QUOTE_OVERDUE),
                   late_label=f"waiting over {int(QUOTE_OVERDUE.total_seconds() // 3600)} h",
                   url=_changelist(Quote, "?status__exact=requested")),
            _queue(now, "info", "Information requests (seller to answer)",
                   Order.objects.filter(hold_reason=HoldReason.INFO_REQUESTED),
                   late=Q(info_due_at__lt=now), late_label="past their deadline",
                   url=_changelist(Order, "?hold_reason__exact=info_requested")),
            _queue(now, "board", "Production board (accepted, in production)", board,
                   since="created_at", late=Q(due_at__lt=now), late_label="past their target",
                   url=_changelist(Submission, ""), late_url=_changelist(Submission, "?late=late")),
            _queue(now, "claims", "Claims to answer", Claim.objects.filter(
                status=ClaimStatus.OPEN), since="created_at",
                url=_changelist(Claim, "?status__exact=open")),
            *(_queue(now, key, label, model.objects.filter(status="failed"),
                     since="created_at", url=_changelist(model, "?status__exact=failed"))
              for key, label, model in (("inbox", "Store webhooks that failed", InboundWebhook),
                                        ("outbox", "Pushes to stores that failed",
                                         OutboxMessage),
                                        ("imports", "Store imports that failed", ImportJob))),
        ]
