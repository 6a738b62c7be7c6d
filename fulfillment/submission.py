"""Submitting orders to production: the per-minute sweep, "Submit now" (one or
many), sending to providers, retries and fallback.

Two steps, so no lock is held across an HTTP call (docs/architecture.md, "Databases"):

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
   provider if one may take the items (else it keeps waiting, with backoff, for
   this one: an outage never holds an order); refused (4xx): routed to the next
   provider at once, within the workspace's maximum extra cost. The timeline
   says why each time.

Throughput (bench/submit_bench.py): sends go out in batches (one claim, one read of
the batch's rows, one kept-alive HTTP client per process, one commit for the
accepted ones); the sweep rings one send doorbell per batch of routed orders, and a
doorbell sends its submission together with whatever else is due. A provider that
is down for one call of a batch is not called again for the rest of that batch
(they wait their backoff like the first), so an outage with timeouts costs one
timeout per batch, not one per order. A send stops after SEND_BUDGET seconds and
gives the claimed rest back, so a task's time limit never cuts a batch in half.
"""

from __future__ import annotations

import logging
import time
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
from podhub.core import db
from podhub.core.exceptions import Conflict, PodhubError, ValidationFailed
from podhub.workspaces.models import Workspace

log = logging.getLogger(__name__)

LOCAL_ADAPTERS = (Adapter.OWN, Adapter.MANUAL)
LEASE = timedelta(minutes=5)  # a send's claim; FULFILLMENT_SEND_LEASE_SECONDS overrides it
BATCH = 100
SEND_BATCH = 100
SEND_BUDGET = 40.0  # seconds of sending per task (submission_send_task's soft limit: 60 s)
RELEASED = "released unsent (time budget)"
MAX_BULK = 1000
SYSTEM = Actor.system("Submit countdown")


def fallback_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "FULFILLMENT_FALLBACK_AFTER_MINUTES", 10))


def send_timeout() -> float:
    """Seconds a provider call may take before it counts as a timeout (unavailable)."""
    return float(getattr(settings, "FULFILLMENT_SEND_TIMEOUT_SECONDS", 10))


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


def _build_submissions(order: Order, plan: routing.Plan, *, now: datetime,
                       seq: int, holds: dict | None = None) -> list[Submission]:
    """One unsaved Submission per provider of the plan; seq: how many the order had.
    `holds`: (order id, provider id) -> the order's live ProviderHold (fulfillment/holds.py):
    that leg's submission takes the hold's reference, so the provider's submit finds the
    held order and releases it, and waits for a hold send under way (its lease)."""
    made = []
    for routes in plan.legs.values():
        cand = routes[0].chosen
        hold = (holds or {}).get((order.pk, cand.provider.pk))
        if hold is None:
            seq += 1
        items = [{"line_item_id": r.line.pk, "quantity": r.line.quantity,
                  "variant_id": r.line.catalog_variant_id,
                  "provider_sku": r.chosen.provider_sku, "cost": str(r.chosen.cost),
                  "first_cost": str(r.candidates[0].cost if r.candidates else r.chosen.cost)}
                 for r in routes]
        local = cand.adapter in LOCAL_ADAPTERS
        conn = connection_for(cand.provider)
        hours = conn.production_hours if conn else 72
        reference = hold.reference if hold is not None else f"PH{order.pk}-{seq}"
        due = now if hold is None or not hold.lease_until else max(now, hold.lease_until)
        made.append(Submission(
            workspace_id=order.workspace_id, order=order, provider=cand.provider,
            adapter=cand.adapter, reference=reference, items=items,
            cost_amount=sum((Decimal(i["cost"]) * i["quantity"] for i in items), Decimal(0)),
            currency=cand.currency,
            status=SubmissionStatus.ACCEPTED if local else SubmissionStatus.PENDING,
            external_id=reference if local else "",
            sent_at=now if local else None, due_at=now + timedelta(hours=hours),
            next_attempt_at=None if local else due))
    return made


def _take_holds(holds: dict, subs: list[Submission]) -> None:
    """The holds whose reference a submission took are released by it; the others of
    these orders are cancelled after commit (fulfillment/holds.py)."""
    if not holds:
        return
    from fulfillment import holds as holds_module

    refs = {s.reference for s in subs}
    took = [h for h in holds.values() if h.reference in refs]
    left = sorted({(h.workspace_id, h.order_id) for h in holds.values()
                   if h.reference not in refs})
    holds_module.taken(took, left)


def _save_submissions(subs: list[Submission]) -> None:
    """Insert the submissions and a pending Shipment each (two statements for all)."""
    Submission.objects.bulk_create(subs)
    Shipment.objects.bulk_create([
        Shipment(workspace_id=sub.workspace_id, order_id=sub.order_id, submission=sub,
                 items=[{"line_item_id": i["line_item_id"], "quantity": i["quantity"]}
                        for i in sub.items])
        for sub in subs])


def _create_submissions(order: Order, plan: routing.Plan, *, now: datetime,
                        seq: int | None = None) -> list[Submission]:
    """seq: how many submissions the order has already (None: count them)."""
    from fulfillment.holds import take_over

    if seq is None:
        seq = Submission.objects.filter(order=order).count()
    holds = take_over([order.pk])
    made = _build_submissions(order, plan, now=now, seq=seq, holds=holds)
    _save_submissions(made)
    _take_holds(holds, made)
    return made


def _no_route(order: Order, plan: routing.Plan) -> NoRoute:
    why = "; ".join(f"{r.line.title}: {r.reason}" for r in plan.unroutable) \
        or "the order has no items"
    return NoRoute(f"Order {order.number} cannot be submitted: {why}.")


def _routed(order: Order, plan: routing.Plan, subs: list[Submission], *,
            actor: Actor) -> order_services.NewEvent:
    return order_services.NewEvent(
        order=order, type="fulfillment.routed", actor=actor, message=_describe(plan),
        data={"submissions": [{"id": s.pk, "reference": s.reference,
                               "provider": s.provider.code, "items": s.items} for s in subs]})


def _submitted(order: Order, plan: routing.Plan, subs: list[Submission], *, actor: Actor,
               now: datetime) -> None:
    order_services.record_events([_routed(order, plan, subs, actor=actor)])
    order_services.order_submit(order_id=order.pk, actor=actor, now=now)


def _route_and_submit(order: Order, *, actor: Actor, now: datetime,
                      lines: list[LineItem] | None = None, seq: int | None = None,
                      ring: bool = True) -> list[Submission]:
    """Inside a transaction holding the order's row lock. `lines`/`seq`: already read
    by the caller (the sweep reads them for a whole batch); `ring`: send a doorbell per
    remote submission (the sweep rings one per batch instead)."""
    plan = routing.plan(order, lines=lines)
    if not plan.ok:
        raise _no_route(order, plan)
    subs = _create_submissions(order, plan, now=now, seq=seq)
    _submitted(order, plan, subs, actor=actor, now=now)
    remote = [s.pk for s in subs if s.adapter not in LOCAL_ADAPTERS]
    if remote and ring:
        from fulfillment.tasks import submission_send_task

        for sub_id in remote:
            submission_send_task.delay(workspace_id=order.workspace_id, submission_id=sub_id)
    return subs


def submit_sweep(*, now: datetime | None = None, limit: int = 5000, batch: int = BATCH,
                 send: bool = True) -> int:
    """Beat, every minute: submit every order whose countdown has ended.

    Orders are picked `FOR UPDATE SKIP LOCKED` in small batches, so two sweeps
    (or a sweep and a Submit now) never take the same order. Each batch commits
    once and rings one send doorbell; with `send`, the sweep then sends what is due.
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
                _submit_batch_locked(orders, now=now)
                done += len(orders)
        if send:
            send_due(now=now)
    return done


def _submit_batch_locked(orders: list[Order], *, now: datetime) -> None:
    """Route and submit a batch of locked orders with a fixed number of reads for the
    batch (lines, earlier submissions, providers per country, maximum extra cost per
    workspace), two inserts for all their submissions and shipments, one for their
    `fulfillment.routed` entries, then orders_submit_locked (one UPDATE, one INSERT of
    the `order.submitted` entries); one send doorbell for the batch."""
    from django.db.models import Count

    ids = [o.pk for o in orders]
    lines: dict[int, list[LineItem]] = {pk: [] for pk in ids}
    for line in LineItem.objects.filter(order_id__in=ids).order_by("order_id", "pk"):
        lines[line.order_id].append(line)
    seqs = dict(Submission.objects.filter(order_id__in=ids).values_list("order_id")
                .annotate(n=Count("pk")))
    by_country: dict[str, list[LineItem]] = {}
    for order in orders:
        country = str((order.shipping_address or {}).get("country_code") or "").upper()
        by_country.setdefault(country, []).extend(lines[order.pk])
    options: dict[int, list[routing.Candidate]] = {}
    for country, country_lines in by_country.items():
        options.update(routing.candidates(country_lines, country))
    extras = {ws: routing.max_extra_cost(ws) for ws in {o.workspace_id for o in orders}}
    from fulfillment.holds import take_over

    holds = take_over(ids)
    planned: list[tuple[Order, routing.Plan, list[Submission]]] = []
    for order in orders:
        plan = routing.plan(order, lines=lines[order.pk], options=options,
                            extra=extras[order.workspace_id])
        if not plan.ok:
            _hold_unroutable(order, _no_route(order, plan), now=now)
            continue
        planned.append((order, plan, _build_submissions(order, plan, now=now,
                                                        seq=seqs.get(order.pk, 0),
                                                        holds=holds)))
    if not planned:
        return
    _save_submissions([sub for _, _, subs in planned for sub in subs])
    planned_ids = {order.pk for order, _, _ in planned}
    _take_holds({k: h for k, h in holds.items() if k[0] in planned_ids},
                [sub for _, _, subs in planned for sub in subs])
    # the timeline: every order's fulfillment.routed, then order.submitted (one INSERT
    # each for the batch; subscribers hear of every event after commit)
    order_services.record_events([_routed(order, plan, subs, actor=SYSTEM)
                                  for order, plan, subs in planned])
    result = order_services.orders_submit_locked(orders=[order for order, _, _ in planned],
                                                 actor=SYSTEM, now=now)
    if result.refused:  # cannot happen (locked, picked awaiting submission): undo the batch
        raise next(iter(result.refused.values()))
    remote = [s for _, _, subs in planned for s in subs if s.adapter not in LOCAL_ADAPTERS]
    if remote:
        from fulfillment.tasks import submission_send_task

        submission_send_task.delay(workspace_id=remote[0].workspace_id,
                                   submission_id=remote[0].pk)


def _hold_unroutable(order: Order, exc: NoRoute, *, now: datetime) -> None:
    try:  # not due again until a human acts (unschedule): released, it waits for Submit now
        order_services.order_hold(order_id=order.pk, reason=HoldReason.PROVIDER_REJECTED,
                                  message=exc.message, actor=SYSTEM, now=now, unschedule=True)
    except PodhubError as err:
        log.warning("submit sweep: order %s not held: %s", order.pk, err.message)


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


def launch_paid_catalog_order(*, workspace, order_id: int,
                              now: datetime | None = None) -> Order | None:
    """A catalog order whose workspace launches them when paid goes to production now,
    without "Submit now" (quotes/checkout.py; docs/pricing.md). None when it is not one,
    or was already submitted."""
    from quotes.checkout import launches_when_paid

    order = Order.objects.select_related("workspace").filter(
        workspace=workspace, pk=order_id).first()
    if order is None or order.state != OrderState.AWAITING_SUBMISSION \
            or not launches_when_paid(order):
        return None
    try:
        return order_submit_now(workspace=workspace, order_id=order_id, now=now,
                                actor=Actor.system("Launched when paid"))
    except NoRoute as exc:  # held with the reason, like the submit sweep's; a person acts
        with transaction.atomic():
            _hold_unroutable(order, exc, now=now or timezone.now())
        return None
    except Conflict:  # submitted meanwhile (a person, the sweep): nothing left to do
        return None


def launch_sweep(*, now: datetime | None = None) -> int:
    """Catalog orders to launch whose `order.paid` task was lost (beat, with the submit
    sweep): paid more than a minute ago and still waiting."""
    from quotes.checkout import orders_to_launch

    now = now or timezone.now()
    launched = 0
    due = orders_to_launch(paid_before=now - timedelta(minutes=1))
    with scopes_disabled():
        workspaces = Workspace.objects.in_bulk({ws for ws, _ in due})
    for workspace_id, order_id in due:
        workspace = workspaces[workspace_id]
        with scope(workspace=workspace):
            launched += launch_paid_catalog_order(workspace=workspace, order_id=order_id,
                                                  now=now) is not None
    return launched


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


def _claim(*, now: datetime, submission_id: int | None = None, limit: int = SEND_BATCH,
           others: bool = False) -> list[int]:
    """Claim (pending -> sending, with a lease) up to `limit` due submissions; with
    `submission_id`, that one first, and with `others` whatever else is due too."""
    from django.db.models import F

    with transaction.atomic():
        qs = (Submission.objects.select_for_update(skip_locked=True)
              .filter(_claimable(now)).exclude(adapter__in=LOCAL_ADAPTERS))
        ids: list[int] = []
        if submission_id is not None:
            ids = list(qs.filter(pk=submission_id).values_list("pk", flat=True))
            if not ids or not others:
                limit = len(ids)
            qs = qs.exclude(pk=submission_id)
        if len(ids) < limit:
            ids += list(qs.order_by("next_attempt_at", "pk")
                        .values_list("pk", flat=True)[:limit - len(ids)])
        if ids:
            Submission.objects.filter(pk__in=ids).update(
                status=SubmissionStatus.SENDING, lease_until=now + timedelta(
                    seconds=getattr(settings, "FULFILLMENT_SEND_LEASE_SECONDS",
                                    LEASE.total_seconds())),
                attempts=F("attempts") + 1)
    return ids


def submissions_send_now(*, submission_ids, now: datetime | None = None) -> int:
    """Staff: the pending submissions among these are due now, and every due one is sent
    (send_due). How many were sent."""
    now = now or timezone.now()
    Submission.objects.filter(pk__in=list(submission_ids),
                              status=SubmissionStatus.PENDING).update(next_attempt_at=now)
    return send_due(now=now)


def send_due(*, now: datetime | None = None, limit: int = 10_000,
             budget: float = SEND_BUDGET) -> int:
    """Send every pending submission (and retake sends whose worker died), for at most
    about `budget` seconds (the task's time limit must not cut a batch in half: what is
    left waits for the next sweep or doorbell)."""
    now = now or timezone.now()
    sent = 0
    deadline = time.monotonic() + budget
    with scopes_disabled():
        while sent < limit:
            ids = _claim(now=now, limit=min(SEND_BATCH, limit - sent))
            if not ids:
                break
            results = _send_batch(ids, now=now, deadline=deadline)
            sent += sum(1 for r in results.values() if r != RELEASED)
            if time.monotonic() >= deadline:
                break
    return sent


def submission_send(*, submission_id: int, now: datetime | None = None) -> str:
    """The doorbell's work: claim this submission (no-op if taken) and send it, together
    with up to SEND_BATCH - 1 others that are due (a doorbell means "look now")."""
    now = now or timezone.now()
    with scopes_disabled():
        ids = _claim(now=now, submission_id=submission_id, others=True)
        if not ids or ids[0] != submission_id:
            if ids:
                _send_batch(ids, now=now, deadline=time.monotonic() + SEND_BUDGET)
            return "not claimable"
        return _send_batch(ids, now=now, deadline=time.monotonic() + SEND_BUDGET)[
            submission_id]


def _newest_files(order_ids: list[int]) -> dict[int, list[dict]]:
    """line id -> [{"side", "url"}] of the newest print file of each (line, side)
    (fulfillment.printfiles.services.newest_print_files, for many orders at once)."""
    from fulfillment.models import PrintFile

    newest: dict[tuple[int, str], PrintFile] = {}
    for pf in (PrintFile.objects.filter(order_id__in=order_ids)
               .order_by("line_item_id", "side", "-version")):
        newest.setdefault((pf.line_item_id, pf.side), pf)
    from fulfillment.printfiles.services import signed_url  # providers fetch without a session

    files: dict[int, list[dict]] = {}
    for pf in newest.values():
        if pf.file:
            files.setdefault(pf.line_item_id, []).append(
                {"side": pf.side, "url": signed_url(pf)})
    return files


def factory_order(sub: Submission, *, lines: dict[int, LineItem] | None = None,
                  files: dict[int, list[dict]] | None = None) -> FactoryOrder:
    """What the provider gets (for a Submission, or a ProviderHold: fulfillment/holds.py).
    `lines`/`files`: already read for a batch."""
    order = sub.order
    if lines is None:
        lines = {line.pk: line for line in LineItem.objects.filter(
            order=order, pk__in=[i["line_item_id"] for i in sub.items])}
    if files is None:
        files = _newest_files([order.pk])
    return FactoryOrder(
        reference=sub.reference, recipient=dict(order.shipping_address or {}),
        order_number=order.number,
        items=[FactoryItem(line_item_id=i["line_item_id"], sku=i["provider_sku"],
                           quantity=i["quantity"], files=files.get(i["line_item_id"], []),
                           title=lines[i["line_item_id"]].title
                           if i["line_item_id"] in lines else "",
                           properties=_properties(lines.get(i["line_item_id"])))
               for i in sub.items])


def _properties(line: LineItem | None) -> dict:
    """The buyer's personalisation as line properties ({"Name": "Ana"})."""
    return {str(p["key"]): str(p.get("value") or "") for p in (line.personalization if line
            else []) if isinstance(p, dict) and p.get("key")}


def _send_batch(ids: list[int], *, now: datetime,
                deadline: float | None = None) -> dict[int, str]:
    """Send claimed submissions: their rows, lines and print files read once, calls over
    one kept-alive client, the accepted ones saved in one transaction. Past `deadline`
    (time.monotonic()) the rest is released unsent (the first is always sent). Returns
    what happened to each."""
    from fulfillment import providers
    from fulfillment.providers.base import shared_http

    subs = list(Submission.objects.filter(pk__in=ids)
                .select_related("order", "order__workspace", "provider",
                                "provider__connection").order_by("pk"))
    order_ids = list({s.order_id for s in subs})
    line_ids = [i["line_item_id"] for s in subs for i in s.items]
    lines = LineItem.objects.in_bulk(line_ids)
    files = _newest_files(order_ids)
    http = shared_http(providers.TRANSPORT)
    timeout = send_timeout()
    results: dict[int, str] = {}
    accepted: list[tuple[int, RemoteOrder]] = []
    # provider id -> (why, its retry hint), for the rest of this batch
    down: dict[int, tuple[str, int | None]] = {}
    clients: dict[int, object] = {}
    for n, sub in enumerate(subs):
        if deadline is not None and n and time.monotonic() >= deadline:
            results.update(_release([s.pk for s in subs[n:]]))
            break
        if sub.provider_id in down:
            why, retry_after = down[sub.provider_id]
            results[sub.pk] = _unavailable(sub.pk, why, now=now, retry_after=retry_after)
            continue
        with scope(workspace=sub.order.workspace):
            try:
                client = clients.get(sub.provider_id)
                if client is None:  # one per provider for the batch (its keys decrypted once)
                    client = clients[sub.provider_id] = client_for(sub.provider)
                    client.http, client.timeout = http, timeout
                remote = client.lookup(sub.reference) if sub.attempts > 1 else None
                if remote is None:
                    remote = client.submit(factory_order(sub, lines=lines, files=files))
            except ProviderUnavailable as exc:
                down[sub.provider_id] = (exc.message, exc.retry_after)
                results[sub.pk] = _unavailable(sub.pk, exc.message, now=now,
                                               retry_after=exc.retry_after)
                continue
            except ProviderRefused as exc:
                results[sub.pk] = reroute(submission_id=sub.pk, reason=exc.message, now=now)
                continue
        accepted.append((sub.pk, remote))
    if accepted:
        results.update(_accepted_many(accepted, now=now, read={s.pk: s for s in subs}))
    return results


def _release(ids: list[int]) -> dict[int, str]:
    """Give claimed but unsent submissions back (pending, due now, attempt not counted)."""
    from django.db.models import F

    Submission.objects.filter(pk__in=ids, status=SubmissionStatus.SENDING).update(
        status=SubmissionStatus.PENDING, lease_until=None, attempts=F("attempts") - 1)
    return dict.fromkeys(ids, RELEASED)


def _send(sub_id: int, *, now: datetime) -> str:
    """Send one claimed submission."""
    return _send_batch([sub_id], now=now)[sub_id]


def _lock_sub(sub_id: int) -> Submission:
    return (Submission.objects.select_for_update(of=("self",))
            .select_related("provider", "order").get(pk=sub_id))


@transaction.atomic
def _accepted_many(pairs: list[tuple[int, RemoteOrder]], *, now: datetime,
                   read: dict[int, Submission] | None = None) -> dict[int, str]:
    """The provider took these: one lock, one UPDATE, one timeline entry each (one
    INSERT). `read`: the rows as the caller read them (with order and provider): only
    their status is read again, under the lock."""
    remotes = dict(pairs)
    if read is None:
        read = {s.pk: s for s in Submission.objects.select_related("provider", "order")
                .filter(pk__in=remotes)}
    status = dict(Submission.objects.select_for_update(of=("self",)).filter(pk__in=remotes)
                  .order_by("pk").values_list("pk", "status"))
    results: dict[int, str] = {}
    changed = []
    for pk in sorted(status):
        sub = read[pk]
        sub.status = status[pk]
        if sub.status != SubmissionStatus.SENDING:
            results[pk] = f"already {sub.status}"
            continue
        changed.append(sub)
        results[pk] = "accepted"
    if changed:  # one statement (bulk_update's CASE per row is slow to build and plan)
        db.update_by_ids(
            Submission, {s.pk: (remotes[s.pk].external_id,) for s in changed},
            columns=("external_id",),
            also="status = %s, sent_at = COALESCE(t.sent_at, %s), lease_until = NULL, "
                 "error = '', updated_at = %s",
            params=[SubmissionStatus.ACCEPTED, now, timezone.now()])
    order_services.record_events([order_services.NewEvent(
        order=sub.order, type="fulfillment.accepted", actor=Actor.provider(sub.provider.name),
        message=f"{sub.provider.name} accepted {sub.reference} as "
        f"{remotes[sub.pk].external_id}.",
        data={"submission_id": sub.pk, "reference": sub.reference,
              "external_id": remotes[sub.pk].external_id, "provider": sub.provider.code})
        for sub in changed])  # one INSERT for the batch
    return results


def _accepted(sub_id: int, remote: RemoteOrder, *, now: datetime) -> str:
    return _accepted_many([(sub_id, remote)], now=now)[sub_id]


@transaction.atomic
def _unavailable(sub_id: int, message: str, *, now: datetime,
                 retry_after: int | None = None) -> str:
    sub = _lock_sub(sub_id)
    if sub.status != SubmissionStatus.SENDING:
        return f"already {sub.status}"
    first = sub.first_failure_at is None
    sub.first_failure_at = sub.first_failure_at or now
    no_fallback = ""
    if now - sub.first_failure_at >= fallback_after():
        plan, _ = _fallback_plan(sub, also_tried=True)
        if plan.ok:
            sub.save(update_fields=["first_failure_at", "updated_at"])
            return reroute(submission_id=sub_id, now=now, reason=(
                f"{sub.provider.name} has been unavailable since "
                f"{sub.first_failure_at:%Y-%m-%d %H:%M} UTC ({message})"))
        # nobody else may make it: keep waiting for this provider (a refusal would hold)
        no_fallback = "; ".join(f"{r.line.title}: {r.reason}" for r in plan.unroutable)
    delay = min(timedelta(seconds=10 * 2 ** min(sub.attempts, 5)), timedelta(minutes=5))
    if retry_after:  # the provider's own hint wins over our backoff, within an hour
        delay = max(delay, timedelta(seconds=min(retry_after, 3600)))
    told = sub.error.startswith(NO_FALLBACK)
    sub.status = SubmissionStatus.PENDING
    sub.next_attempt_at = now + delay
    sub.lease_until = None
    sub.error = (f"{NO_FALLBACK} ({no_fallback}); {message}" if no_fallback else message)[:2000]
    sub.save()
    if first:
        order_services.record_event(
            order=sub.order, type="fulfillment.provider_unavailable", actor=SYSTEM,
            message=f"{sub.provider.name} is unavailable ({message}); retrying.",
            data={"submission_id": sub.pk, "provider": sub.provider.code})
    elif no_fallback and not told:
        order_services.record_event(
            order=sub.order, type="fulfillment.provider_unavailable", actor=SYSTEM,
            message=f"{sub.provider.name} is still unavailable ({message}) and no other "
            f"provider can take the items ({no_fallback}); retrying until it is back.",
            data={"submission_id": sub.pk, "provider": sub.provider.code,
                  "no_fallback": True})
    return "retry later"


NO_FALLBACK = "No fallback"


def _fallback_plan(sub: Submission, *, also_tried: bool = False
                   ) -> tuple[routing.Plan, dict[int, Decimal]]:
    """Where `sub`'s items would go next: every provider that already failed them is
    skipped (with `also_tried`, `sub`'s own provider too, before it is marked failed),
    and no fallback may cost more than the first choice plus the maximum extra cost."""
    tried: dict[int, set[int]] = {}
    failed = list(Submission.objects.filter(order_id=sub.order_id,
                                            status=SubmissionStatus.FAILED))
    if also_tried:
        failed.append(sub)
    for f in failed:
        for item in f.items:
            tried.setdefault(item["line_item_id"], set()).add(f.provider_id)
    first_cost = {i["line_item_id"]: Decimal(i.get("first_cost") or i["cost"])
                  for i in sub.items}
    line_ids = [i["line_item_id"] for i in sub.items]
    lines = list(LineItem.objects.filter(order_id=sub.order_id, pk__in=line_ids).order_by("pk"))
    return routing.plan(sub.order, lines=lines, tried=tried, first_cost=first_cost), first_cost


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
    sub.order = order
    plan, first_cost = _fallback_plan(sub)
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
            submission_send_task.delay(workspace_id=order.workspace_id, submission_id=s.pk)
    return "rerouted"
