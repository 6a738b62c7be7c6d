"""The staff console's queues (issue 18): what waits for PodHub's staff, shown on the admin
index with counts, the oldest item's age and what is overdue, each linking to the admin
list filtered to it. Read-only counts over indexed columns, all workspaces (staff work
across tenants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone
from django_scopes import scopes_disabled

QUOTE_OVERDUE = timedelta(hours=24)  # a quote request unanswered this long is late


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    count: int
    overdue: int
    oldest: datetime | None
    url: str
    overdue_label: str = ""

    @property
    def waiting_hours(self) -> int | None:
        if self.oldest is None:
            return None
        return int((timezone.now() - self.oldest).total_seconds() // 3600)


def staff_queues(*, now: datetime | None = None) -> list[Queue]:
    from fulfillment.models import Claim, ClaimStatus, Submission, SubmissionStatus
    from integrations.models import ImportJob, InboundWebhook, OutboxMessage
    from orders.models import HoldReason, Order
    from quotes.models import Quote, QuoteStatus

    now = now or timezone.now()
    with scopes_disabled():
        quotes = Quote.objects.filter(status=QuoteStatus.REQUESTED).aggregate(
            n=Count("pk"), late=Count("pk", filter=Q(requested_at__lt=now - QUOTE_OVERDUE)),
            oldest=Min("requested_at"))
        info = Order.objects.filter(hold_reason=HoldReason.INFO_REQUESTED).aggregate(
            n=Count("pk"), late=Count("pk", filter=Q(info_due_at__lt=now)),
            oldest=Min("info_due_at"))
        board = Submission.objects.filter(
            status__in=[SubmissionStatus.ACCEPTED, SubmissionStatus.IN_PRODUCTION]).aggregate(
            n=Count("pk"), late=Count("pk", filter=Q(due_at__lt=now)), oldest=Min("created_at"))
        claims = Claim.objects.filter(status=ClaimStatus.OPEN).aggregate(
            n=Count("pk"), oldest=Min("created_at"))
        failed = {name: model.objects.filter(status="failed").aggregate(
            n=Count("pk"), oldest=Min("created_at"))
            for name, model in (("inbox", InboundWebhook), ("outbox", OutboxMessage),
                                ("imports", ImportJob))}
    return [
        Queue("quotes", "Quote requests to price", quotes["n"], quotes["late"],
              quotes["oldest"], "/admin/quotes/quote/?status__exact=requested",
              f"waiting over {int(QUOTE_OVERDUE.total_seconds() // 3600)} h"),
        Queue("info", "Information requests (seller to answer)", info["n"], info["late"],
              None, "/admin/orders/order/?hold_reason__exact=info_requested",
              "past their deadline"),
        Queue("board", "Production board (accepted, in production)", board["n"],
              board["late"], board["oldest"], "/admin/fulfillment/submission/?late=late"
              if board["late"] else "/admin/fulfillment/submission/", "past their target"),
        Queue("claims", "Claims to answer", claims["n"], 0, claims["oldest"],
              "/admin/fulfillment/claim/?status__exact=open"),
        *(Queue(key, label, failed[key]["n"], 0, failed[key]["oldest"],
                f"/admin/integrations/{model}/?status__exact=failed")
          for key, label, model in (
              ("inbox", "Store webhooks that failed", "inboundwebhook"),
              ("outbox", "Pushes to stores that failed", "outboxmessage"),
              ("imports", "Store imports that failed", "importjob"))),
    ]
