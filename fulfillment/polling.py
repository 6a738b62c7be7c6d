"""The poll sweep: ask API providers how our open submissions are doing.

How often each adapter is asked is its registry declaration (`ProviderSpec.polling`,
fulfillment/providers/registry.py): CustomCat has no webhooks and ShineOn's
notifications are unsigned and undocumented, so they are polled on a short
interval ("always"); Printful, Gelato, Printify and the sandbox factory push
webhooks, but their retries are short (Gelato: 3 attempts, 5 s apart) or, for
Gelato, unsigned and easily lost, so a submission none of whose news has been
heard for a while is polled too, as a safety net ("safety_net").

What a poll reads is turned into the same `ProviderUpdate`s a webhook gives and
applied through the same forward-only path (`shipments.apply_update`): a
repeated poll, or a poll after the webhook already told us, changes nothing.

Due rows are claimed `FOR UPDATE SKIP LOCKED` over the partial index
`submission_to_poll` (open submissions only) and their `next_poll_at` is pushed
forward before any HTTP call, so two sweeps never poll the same submission and
no lock is held across a call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django_scopes import scopes_disabled

from fulfillment.models import Submission, SubmissionStatus, WebhookResult
from fulfillment.providers import (
    ProviderError,
    ProviderUpdate,
    RemoteOrder,
    client_for,
    registry,
)

log = logging.getLogger(__name__)

OPEN = (SubmissionStatus.ACCEPTED, SubmissionStatus.IN_PRODUCTION)
RETRY_AFTER_ERROR = timedelta(minutes=15)


def poll_intervals() -> dict[str, timedelta]:
    """Adapter -> how long without news before we ask (the registry's adapters)."""
    every = {registry.POLL_ALWAYS: timedelta(
        minutes=getattr(settings, "FULFILLMENT_POLL_MINUTES", 30)),
        registry.POLL_SAFETY_NET: timedelta(
            hours=getattr(settings, "FULFILLMENT_POLL_SAFETY_NET_HOURS", 6))}
    return {code: every[spec.polling] for code, spec in registry.providers().items()
            if spec.polling in every}


def webhook_adapters() -> set[str]:
    """Providers whose webhooks we trust enough to poll only when they have gone quiet."""
    return {code for code, spec in registry.providers().items()
            if spec.polling == registry.POLL_SAFETY_NET}


def _due_q(now: datetime, intervals: dict[str, timedelta]) -> Q:
    q = Q()
    for adapter, every in intervals.items():
        q |= Q(adapter=adapter) & (
            Q(next_poll_at__lte=now)
            | Q(next_poll_at__isnull=True, sent_at__lte=now - every)
            | Q(next_poll_at__isnull=True, sent_at__isnull=True, created_at__lte=now - every))
    return q


def _claim(*, now: datetime, limit: int) -> tuple[list[int], int]:
    """Pick due submissions and push their next poll forward. Returns (to poll, quiet
    ones skipped because a webhook told us something recently)."""
    intervals = poll_intervals()
    with transaction.atomic():
        rows = list(Submission.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(status__in=OPEN).filter(_due_q(now, intervals))
                    .order_by("next_poll_at", "sent_at", "pk")
                    .values("pk", "adapter", "sent_at", "production_started_at")[:limit])
        if not rows:
            return [], 0
        heard = dict(Submission.objects.filter(pk__in=[r["pk"] for r in rows])
                     .annotate(last=Max("shipments__events__occurred_at"))
                     .values_list("pk", "last"))
        poll, skipped = [], 0
        trusted = webhook_adapters()
        for row in rows:
            every = intervals[row["adapter"]]
            last = max([t for t in (row["sent_at"], row["production_started_at"],
                                    heard.get(row["pk"])) if t is not None], default=None)
            if (row["adapter"] in trusted and last is not None
                    and last > now - every):
                # news came recently (a webhook): wait a full interval after it
                Submission.objects.filter(pk=row["pk"]).update(next_poll_at=last + every)
                skipped += 1
                continue
            Submission.objects.filter(pk=row["pk"]).update(next_poll_at=now + every,
                                                           polled_at=now)
            poll.append(row["pk"])
    return poll, skipped


def updates_from_remote(sub: Submission, remote: RemoteOrder) -> list[ProviderUpdate]:
    """What a poll read, as the updates a webhook would have given (forward-only keys)."""
    base = {"reference": sub.reference, "external_id": remote.external_id or sub.external_id}
    if remote.status in ("cancelled", "rejected"):
        return [ProviderUpdate(event_key=f"poll:{sub.reference}:{remote.status}",
                               status=remote.status, message=f"{remote.status} (poll)", **base)]
    updates = []
    if remote.status == "in_production" or (remote.status in ("shipped", "delivered")
                                            and not remote.shipments):
        updates.append(ProviderUpdate(event_key=f"poll:{sub.reference}:in_production",
                                      status="in_production", **base))
    for parcel in remote.shipments:
        updates.append(ProviderUpdate(
            event_key=f"poll:{sub.reference}:{parcel.external_id}:{parcel.status}",
            status=parcel.status, shipment=parcel, **base))
    return updates


def poll_one(*, submission_id: int, now: datetime) -> list[tuple[str, str, int | None]]:
    """Fetch one submission's status and apply it. Returns apply_update's results."""
    from fulfillment.shipments import apply_update

    with scopes_disabled():
        sub = (Submission.objects.select_related("provider", "provider__connection")
               .get(pk=submission_id))
    try:
        client = client_for(sub.provider)
        if sub.external_id:
            remote = client.fetch_status(sub.external_id)
        else:
            remote = client.lookup(sub.reference)
            if remote is None:
                return [_ignored(f"{sub.reference}: the provider does not know it")]
            remote = client.fetch_status(remote.external_id) if remote.external_id else remote
    except ProviderError as exc:
        log.warning("poll %s: %s", sub.reference, exc.message)
        with scopes_disabled():
            Submission.objects.filter(pk=sub.pk).update(
                next_poll_at=now + min(RETRY_AFTER_ERROR, poll_intervals()[sub.adapter]))
        return [(WebhookResult.FAILED, exc.message, sub.workspace_id)]
    results = []
    for update in updates_from_remote(sub, remote):
        result = apply_update(provider=sub.provider, update=update, now=now)
        if result[0] != WebhookResult.APPLIED:
            log.info("poll %s: %s", sub.reference, result[1])
        results.append(result)
    return results


def _ignored(reason: str) -> tuple[str, str, None]:
    log.info("poll: %s", reason)
    return WebhookResult.IGNORED, reason, None


def poll_sweep(*, now: datetime | None = None, limit: int = 200) -> dict:
    """Beat, every 5 min: poll the open submissions that are due (see module doc)."""
    now = now or timezone.now()
    counts = {"polled": 0, "applied": 0, "quiet": 0, "failed": 0}
    with scopes_disabled():
        ids, counts["quiet"] = _claim(now=now, limit=limit)
    for submission_id in ids:
        try:
            results = poll_one(submission_id=submission_id, now=now)
        except Exception:  # one bad row must not stop the sweep; it is polled again later
            log.exception("poll of submission %s failed", submission_id)
            counts["failed"] += 1
            continue
        counts["polled"] += 1
        counts["applied"] += sum(1 for r in results if r[0] == WebhookResult.APPLIED)
        counts["failed"] += sum(1 for r in results if r[0] == WebhookResult.FAILED)
    return counts


__all__ = ["poll_intervals", "poll_one", "poll_sweep", "updates_from_remote"]
