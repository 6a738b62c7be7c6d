"""Submitting orders to production: the per-minute sweep, "Submit now" (one or
many), sending to providers, retries and fallback.

Two steps, so no lock is held across an HTTP call (STYLE.md §2.3):

1. Route + lock (one short transaction per order, rows picked with
   `select_for_update(skip_locked=True)` over the indexed `submit_at`): the
   order's items are routed, one Submission row per provider is created with
   our reference (`PH<order id>-<n>`, the idempotency key), and
   orders.services.order_submit moves the order to in_production, which locks
   it against edits *before* any factory sees the payload.
2. Send: a Submission is claimed (pending -> sending, with a lease) under
   `skip_locked`, then sent. A retry of a claim whose worker died first looks
   the reference up at the provider, so a crash between "sent" and "saved"
   never makes a second factory order. Down (5xx, timeout): retried with
   backoff, and after FULFILLMENT_FALLBACK_AFTER_MINUTES routed to the next
   provider; refused (4xx): routed to the next provider at once, within the
   workspace's maximum extra cost. The timeline says why each time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment import routing
from fulfillment.models import (
    Adapter,
    Shipment,
    ShipmentStatus,
    Submission,
    SubmissionStatus,
)
from fulfillment.providers import (
    FactoryItem,
    FactoryOrder,
    ProviderRefused,
    ProviderUnavailable,
    RemoteOrder,
    client_for,
    connection_for,
)
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, LineItem, Order, OrderState, Platform, SubmitMode
from podhub.core.exceptions import Conflict, PodhubError, ValidationFailed

log = logging.getLogger(__name__)

LOCAL_ADAPTERS = (Adapter.OWN, Adapter.MANUAL)
LEASE = timedelta(minutes=5)
BATCH = 100
MAX_BULK = 1000
SYSTEM = Actor.system("Submit countdown")


def fallback_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "FULFILLMENT_FALLBACK_AFTER_MINUTES", 10))


class NoRoute(Conflict):
    """No provider can make every item of this order."""

    code = "no_route"


# --- step 1: route and lock -----------------------------------------------------------------


def _due_q(now: datetime) -> Q:
    return (Q(state=OrderState.AWAITING_SUBMISSION, auto_submit=True, submit_at__lte=now)
            & ~Q(store__platform=Platform.MANUAL) & ~Q(store__submit_mode=SubmitMode.MANUAL))


def _describe(plan: routing.Plan) -> str:
    parts = []
    for routes in plan.legs.values():
        n = sum(r.line.quantity for r in routes)
        parts.append(f"{n} item{'s' if n != 1 else ''} → {routes[0].chosen.provider.name}")
    return "; ".join(parts)


def _create_submissions(order: Order, plan: routing.Plan, *, now: datetime) -> list[Submission]:
    seq = Submission.objects.filter(order=order).count()
    made = []
    for routes in plan.legs.values():
        seq += 1
        cand = routes[0].chosen
        items = [{"line_item_id": r.line.pk, "quantity": r.line.quantity,
                  "variant_id": r.line.catalog_variant_id,
                  "provider_sku": r.chosen.provider_sku, "cost": str(r.chosen.cost),
                  "first_cost": str(r.candidates[0].cost if r.candidates else r.chosen.cost)}
                 for r in routes]
        local = cand.adapter in LOCAL_ADAPTERS
        conn = connection_for(cand.provider)
        hours = conn.production_hours if conn else 72
        sub = Submission.objects.create(
            workspace_id=order.workspace_id, order=order, provider=cand.provider,
            adapter=cand.adapter, reference=f"PH{order.pk}-{seq}", items=items,
            cost_amount=sum((Decimal(i["cost"]) * i["quantity"] for i in items), Decimal(0)),
            currency=cand.currency,
            status=SubmissionStatus.ACCEPTED if local else SubmissionStatus.PENDING,
            external_id=f"PH{order.pk}-{seq}" if local else "",
            sent_at=now if local else None, due_at=now + timedelta(hours=hours),
            next_attempt_at=None if local else now)
        Shipment.objects.create(
            workspace_id=order.workspace_id, order=order, submission=sub,
            items=[{"line_item_id": i["line_item_id"], "quantity": i["quantity"]}
                   for i in items])
        made.append(sub)
    return made


def _route_and_submit(order: Order, *, actor: Actor, now: datetime) -> list[Submission]:
    """Inside a transaction holding the order's row lock."""
    plan = routing.plan(order)
    if not plan.ok:
        why = "; ".join(f"{r.line.title}: {r.reason}" for r in plan.unroutable) \
            or "the order has no items"
        raise NoRoute(f"Order {order.number} cannot be submitted: {why}.")
    subs = _create_submissions(order, plan, now=now)
    order_services.record_event(
        order=order, type="fulfillment.routed", actor=actor, message=_describe(plan),
        data={"submissions": [{"id": s.pk, "reference": s.reference,
                               "provider": s.provider.code, "items": s.items} for s in subs]})
    order_services.order_submit(order_id=order.pk, actor=actor, now=now)
    remote = [s.pk for s in subs if s.adapter not in LOCAL_ADAPTERS]
    if remote:
        from fulfillment.tasks import submission_send_task

        for sub_id in remote:
            submission_send_task.delay_on_commit(workspace_id=order.workspace_id,
                                                 submission_id=sub_id)
    return subs


def submit_sweep(*, now: datetime | None = None, limit: int = 5000, batch: int = BATCH,
                 send: bool = True) -> int:
    """Beat, every minute: submit every order whose countdown has ended.

    Orders are picked `FOR UPDATE SKIP LOCKED` in small batches, so two sweeps
    (or a sweep and a Submit now) never take the same order.
    """
    now = now or timezone.now()
    done = 0
    with scopes_disabled():
        while done < limit:
            with transaction.atomic():
                orders = list(Order.objects.select_for_update(skip_locked=True, of=("self",))
                              .filter(_due_q(now)).order_by("submit_at", "pk")
                              [:min(batch, limit - done)])
                if not orders:
                    break
                for order in orders:
                    _submit_one_locked(order, now=now)
                done += len(orders)
        if send:
            send_due(now=now)
    return done


def _submit_one_locked(order: Order, *, now: datetime) -> None:
    try:
        with transaction.atomic():
            _route_and_submit(order, actor=SYSTEM, now=now)
    except NoRoute as exc:
        order.submit_at = None  # not due again until a human acts
        Order.objects.filter(pk=order.pk).update(submit_at=None)
        order_services.order_hold(order_id=order.pk, reason=HoldReason.PROVIDER_REJECTED,
                                  message=exc.message, actor=SYSTEM, now=now)
    except PodhubError as exc:
        log.warning("submit sweep: order %s not submitted: %s", order.pk, exc.message)


def order_submit_now(*, workspace, order_id: int, actor: Actor,
                     now: datetime | None = None) -> Order:
    """The seller's "Submit now" (also for outside-source orders, which only go by hand)."""
    now = now or timezone.now()
    with transaction.atomic():
        order = order_services.lock_order(order_id, workspace=workspace)
        if order.state != OrderState.AWAITING_SUBMISSION:
            if order.submitted_at is not None:
                raise Conflict(f"Order {order.number} was already submitted.",
                               order_id=order.pk)
            raise Conflict(f"Order {order.number} is {order.get_state_display().lower()}: "
                           "only a paid order waiting for submission can be submitted.",
                           order_id=order.pk)
        _route_and_submit(order, actor=actor, now=now)
    order.refresh_from_db()
    return order


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def orders_submit_now(*, workspace, order_ids: list[int], actor: Actor,
                      now: datetime | None = None) -> BulkResult:
    ids = list(dict.fromkeys(order_ids))
    if len(ids) > MAX_BULK:
        raise ValidationFailed(f"Submit at most {MAX_BULK} orders at once.")
    result = BulkResult()
    for order_id in ids:
        try:
            order_submit_now(workspace=workspace, order_id=order_id, actor=actor, now=now)
        except PodhubError as exc:
            result.failed.append((order_id, exc.message))
        else:
            result.done.append(order_id)
    return result


# --- step 2: send ------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return ((Q(status=SubmissionStatus.PENDING)
             & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))
            | Q(status=SubmissionStatus.SENDING, lease_until__lte=now))


def _claim(*, now: datetime, submission_id: int | None = None, limit: int = 50) -> list[int]:
    with transaction.atomic():
        qs = (Submission.objects.select_for_update(skip_locked=True)
              .filter(_claimable(now)).exclude(adapter__in=LOCAL_ADAPTERS))
        if submission_id is not None:
            qs = qs.filter(pk=submission_id)
        ids = list(qs.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
        if ids:
            from django.db.models import F

            Submission.objects.filter(pk__in=ids).update(
                status=SubmissionStatus.SENDING, lease_until=now + LEASE,
                attempts=F("attempts") + 1)
    return ids


def send_due(*, now: datetime | None = None, limit: int = 10_000) -> int:
    """Send every pending submission (and retake sends whose worker died)."""
    now = now or timezone.now()
    sent = 0
    with scopes_disabled():
        while sent < limit:
            ids = _claim(now=now, limit=min(50, limit - sent))
            if not ids:
                break
            for sub_id in ids:
                _send(sub_id, now=now)
            sent += len(ids)
    return sent


def submission_send(*, submission_id: int, now: datetime | None = None) -> str:
    """The doorbell's work: claim this one submission and send it (no-op if taken)."""
    now = now or timezone.now()
    with scopes_disabled():
        ids = _claim(now=now, submission_id=submission_id)
        if not ids:
            return "not claimable"
        return _send(ids[0], now=now)


def factory_order(sub: Submission) -> FactoryOrder:
    from fulfillment.printfiles.services import newest_print_files, signed_url

    order = sub.order
    lines = {line.pk: line for line in LineItem.objects.filter(
        order=order, pk__in=[i["line_item_id"] for i in sub.items])}
    files: dict[int, list[dict]] = {}
    for pf in newest_print_files(order):
        if pf.line_item_id in lines and pf.file:
            files.setdefault(pf.line_item_id, []).append(
                {"side": pf.side, "url": signed_url(pf)})
    return FactoryOrder(
        reference=sub.reference, recipient=dict(order.shipping_address or {}),
        order_number=order.number,
        items=[FactoryItem(line_item_id=i["line_item_id"], sku=i["provider_sku"],
                           quantity=i["quantity"], files=files.get(i["line_item_id"], []),
                           title=lines[i["line_item_id"]].title
                           if i["line_item_id"] in lines else "")
               for i in sub.items])


def _send(sub_id: int, *, now: datetime) -> str:
    sub = Submission.objects.select_related("order", "provider", "provider__connection").get(
        pk=sub_id)
    with scope(workspace=sub.order.workspace):
        try:
            client = client_for(sub.provider)
            remote = client.lookup(sub.reference) if sub.attempts > 1 else None
            if remote is None:
                remote = client.submit(factory_order(sub))
        except ProviderUnavailable as exc:
            return _unavailable(sub_id, exc.message, now=now)
        except ProviderRefused as exc:
            return reroute(submission_id=sub_id, reason=exc.message, now=now)
        return _accepted(sub_id, remote, now=now)


def _lock_sub(sub_id: int) -> Submission:
    return (Submission.objects.select_for_update(of=("self",))
            .select_related("provider", "order").get(pk=sub_id))


@transaction.atomic
def _accepted(sub_id: int, remote: RemoteOrder, *, now: datetime) -> str:
    sub = _lock_sub(sub_id)
    if sub.status != SubmissionStatus.SENDING:
        return f"already {sub.status}"
    sub.status = SubmissionStatus.ACCEPTED
    sub.external_id = remote.external_id
    sub.sent_at = sub.sent_at or now
    sub.lease_until = None
    sub.error = ""
    sub.save()
    order_services.record_event(
        order=sub.order, type="fulfillment.accepted", actor=Actor.provider(sub.provider.name),
        message=f"{sub.provider.name} accepted {sub.reference} as {remote.external_id}.",
        data={"submission_id": sub.pk, "reference": sub.reference,
              "external_id": remote.external_id, "provider": sub.provider.code})
    return "accepted"


@transaction.atomic
def _unavailable(sub_id: int, message: str, *, now: datetime) -> str:
    sub = _lock_sub(sub_id)
    if sub.status != SubmissionStatus.SENDING:
        return f"already {sub.status}"
    first = sub.first_failure_at is None
    sub.first_failure_at = sub.first_failure_at or now
    if now - sub.first_failure_at >= fallback_after():
        sub.save(update_fields=["first_failure_at", "updated_at"])
        return reroute(submission_id=sub_id, now=now, reason=(
            f"{sub.provider.name} has been unavailable since "
            f"{sub.first_failure_at:%Y-%m-%d %H:%M} UTC ({message})"))
    delay = min(timedelta(seconds=10 * 2 ** min(sub.attempts, 5)), timedelta(minutes=5))
    sub.status = SubmissionStatus.PENDING
    sub.next_attempt_at = now + delay
    sub.lease_until = None
    sub.error = message[:2000]
    sub.save()
    if first:
        order_services.record_event(
            order=sub.order, type="fulfillment.provider_unavailable", actor=SYSTEM,
            message=f"{sub.provider.name} is unavailable ({message}); retrying.",
            data={"submission_id": sub.pk, "provider": sub.provider.code})
    return "retry later"


@transaction.atomic
def reroute(*, submission_id: int, reason: str, now: datetime | None = None) -> str:
    """The provider refused (or stayed down): give the items to the next provider."""
    now = now or timezone.now()
    sub = _lock_sub(submission_id)
    if sub.status in (SubmissionStatus.FAILED, SubmissionStatus.CANCELLED):
        return f"already {sub.status}"
    order = order_services.lock_order(sub.order_id)
    sub.status = SubmissionStatus.FAILED
    sub.error = reason[:2000]
    sub.lease_until = None
    sub.save()
    Shipment.objects.filter(submission=sub, status=ShipmentStatus.PENDING).delete()
    line_ids = [i["line_item_id"] for i in sub.items]
    tried: dict[int, set[int]] = {}
    for failed in Submission.objects.filter(order=order, status=SubmissionStatus.FAILED):
        for item in failed.items:
            tried.setdefault(item["line_item_id"], set()).add(failed.provider_id)
    first_cost = {i["line_item_id"]: Decimal(i.get("first_cost") or i["cost"])
                  for i in sub.items}
    lines = list(LineItem.objects.filter(order=order, pk__in=line_ids).order_by("pk"))
    plan = routing.plan(order, lines=lines, tried=tried, first_cost=first_cost)
    actor = Actor.provider(sub.provider.name)
    if not plan.ok:
        why = "; ".join(f"{r.line.title}: {r.reason}" for r in plan.unroutable)
        order_services.record_event(
            order=order, type="fulfillment.rejected", actor=actor,
            message=f"{sub.provider.name} did not take {sub.reference}: {reason}. "
            f"No fallback: {why}.", data={"submission_id": sub.pk, "reason": reason})
        order_services.order_hold(
            order_id=order.pk, reason=HoldReason.PROVIDER_REJECTED, actor=actor, now=now,
            message=f"{sub.provider.name} did not take the order ({reason}) and no other "
            f"provider can: {why}.")
        return "held"
    subs = _create_submissions(order, plan, now=now)
    for new in subs:  # a later fallback is still measured against the first choice
        for item in new.items:
            item["first_cost"] = str(first_cost.get(item["line_item_id"], item["cost"]))
        new.save(update_fields=["items"])
    order_services.record_event(
        order=order, type="fulfillment.rerouted", actor=actor,
        message=f"{sub.provider.name} did not take {sub.reference}: {reason}. "
        f"Rerouted: {_describe(plan)}.",
        data={"from_submission_id": sub.pk, "reason": reason,
              "to": [{"submission_id": s.pk, "reference": s.reference,
                      "provider": s.provider.code} for s in subs]})
    from fulfillment.tasks import submission_send_task

    for s in subs:
        if s.adapter not in LOCAL_ADAPTERS:
            submission_send_task.delay_on_commit(workspace_id=order.workspace_id,
                                                 submission_id=s.pk)
    return "rerouted"
