"""Orders held at a provider during the submit countdown (docs/fulfillment.md "Holds").

A provider whose client says `holds_during_countdown` (ShineOn: an order created with
`ready: 0` stays on hold and takes `PUT` until `POST …/ready`) gets the order on hold
as soon as its countdown starts, so a buyer change before submission is applied to
the provider's order rather than only to ours:

- countdown starts (the order is paid, or released back to awaiting submission with
  its countdown still running): the order is routed as the submission would route it;
  every leg going to such a provider becomes a `ProviderHold` with a reference of
  its own (`PH<order>-H<n>`, the provider's idempotency key) and is sent on hold;
- a change (seller edit, store change: address, personalisation, items) during the
  countdown: the held order is replaced (`hold_order` again); a leg now routed
  elsewhere is cancelled there; the order cancelled (or back to "To order"): every
  held order is cancelled;
- the countdown's end (submission.py): the leg's Submission takes the hold's reference,
  so the provider's `submit` finds the held order, sends it as it is then and
  releases it. A hold the submission did not take is cancelled.

Two steps, as for sends (no lock across an HTTP call): the holds to send are claimed
with a lease under the order's row lock, sent, then saved. A change arriving while a
send is under way marks the hold `dirty`: the sweep (every minute) sends it once the
lease is over, and a submission at the countdown's end waits for the lease. A crash
leaves the lease to expire: the sweep sends again and the client finds the held order
by reference (never a second one). Other providers are untouched: nothing here runs
for an order none of whose legs goes to a holding provider.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment import routing
from fulfillment.models import HoldStatus, ProviderConnection, ProviderHold
from fulfillment.providers import (
    FactoryOrder,
    ProviderRefused,
    ProviderUnavailable,
    client_for,
    registry,
)
from orders import services as order_services
from orders.events import Actor, OrderEvents
from orders.models import LineItem, Order, OrderState, Platform, SubmitMode

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
LIVE = (HoldStatus.NEW, HoldStatus.HELD)
ACTOR = Actor.system("Submit countdown")
#: the order events after which the holds of an order are brought in line with it
HOLD_EVENTS = {OrderEvents.PAID, OrderEvents.AWAITING_SUBMISSION, OrderEvents.RELEASED,
               OrderEvents.EDITED, OrderEvents.UPDATED, OrderEvents.REPRICED,
               OrderEvents.UNPRICED, OrderEvents.UNPAID, OrderEvents.CANCELLED,
               OrderEvents.RULE_FIRED}


def holding_adapters() -> set[str]:
    """The registered adapters whose client holds orders during the countdown."""
    return {code for code, spec in registry.providers().items()
            if getattr(spec.client, "holds_during_countdown", False)}


def in_countdown(order: Order, *, now: datetime) -> bool:
    """Is the order's submit countdown running (the sweep will submit it later)?"""
    return (order.state == OrderState.AWAITING_SUBMISSION and order.auto_submit
            and order.submit_at is not None and order.submit_at > now
            and order.store.platform != Platform.MANUAL
            and order.store.submit_mode != SubmitMode.MANUAL)


def _live(order_id: int):
    return ProviderHold.objects.filter(order_id=order_id, status__in=LIVE)


def _files_digest(order_id: int) -> dict[int, list]:
    """line id -> [(side, print file id)] of the newest print file per side (their
    signed links change with time; the file does not)."""
    from fulfillment.models import PrintFile

    newest: dict[tuple[int, str], int] = {}
    for line_id, side, pk in (PrintFile.objects.filter(order_id=order_id)
                              .order_by("line_item_id", "side", "-version")
                              .values_list("line_item_id", "side", "pk")):
        newest.setdefault((line_id, side), pk)
    out: dict[int, list] = {}
    for (line_id, side), pk in sorted(newest.items()):
        out.setdefault(line_id, []).append([side, pk])
    return out


def _digest(order: Order, items: list[dict], lines: dict[int, LineItem],
            files: dict[int, list]) -> str:
    from fulfillment.submission import _properties

    what = {"to": order.shipping_address or {},
            "items": [[i["line_item_id"], i["provider_sku"], i["quantity"],
                       _properties(lines.get(i["line_item_id"])),
                       files.get(i["line_item_id"], [])] for i in items]}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def factory_order(hold: ProviderHold) -> FactoryOrder:
    """What the provider holds: the order as it is now, the hold's lines — the payload a
    submission sends (a hold has the order, items and reference a Submission has)."""
    from fulfillment.submission import factory_order as payload

    return payload(hold)


# --- step 1: decide and claim, under the order's lock ------------------------------------


def _claim(order_id: int, *, now: datetime) -> list[tuple[int, str, str]]:
    """Bring the order's holds in line with it; returns the claimed (hold id, action
    "hold" | "cancel", digest) to send. Holds under a running lease are marked dirty."""
    order = order_services.lock_order(order_id)
    holds = list(_live(order.pk).select_related("provider"))
    counting = in_countdown(order, now=now)
    adapters = holding_adapters()
    wanted: dict[int, list[dict]] = {}  # provider id -> items
    providers: dict[int, object] = {}
    lines: list[LineItem] = []
    if counting:
        lines = list(LineItem.objects.filter(order=order).order_by("pk"))
        plan = routing.plan(order, lines=lines)
        for provider_id, routes in plan.legs.items():
            cand = routes[0].chosen
            if cand.adapter in adapters:
                wanted[provider_id] = [{"line_item_id": r.line.pk, "quantity": r.line.quantity,
                                        "provider_sku": r.chosen.provider_sku} for r in routes]
                providers[provider_id] = cand
    elif order.state in (OrderState.AWAITING_SUBMISSION, OrderState.ON_HOLD) or not holds:
        # countdown over (the sweep submits and takes them), or the order waits for a
        # person: the held orders stay as they are
        return []
    to_send: list[tuple[int, str, str]] = []
    by_provider = {h.provider_id: h for h in holds}
    files = _files_digest(order.pk) if wanted else {}
    by_line = {line.pk: line for line in lines}
    for hold in holds:
        if hold.provider_id not in wanted:
            to_send.append((hold.pk, "cancel", ""))
    for provider_id, items in wanted.items():
        hold = by_provider.get(provider_id)
        if hold is None:
            n = ProviderHold.objects.filter(order=order).count() + 1
            cand = providers[provider_id]
            hold = ProviderHold.objects.create(
                workspace_id=order.workspace_id, order=order, provider=cand.provider,
                adapter=cand.adapter, reference=f"PH{order.pk}-H{n}", items=items)
            by_provider[provider_id] = hold
        elif hold.items != items:
            hold.items = items
            hold.save(update_fields=["items", "updated_at"])
        digest = _digest(order, items, by_line, files)
        if hold.status == HoldStatus.NEW or digest != hold.synced:
            to_send.append((hold.pk, "hold", digest))
        elif hold.dirty:  # what the provider holds is the order as it is: nothing waits
            ProviderHold.objects.filter(pk=hold.pk).update(dirty=False)
    claimed = []
    for hold_id, action, digest in to_send:
        got = (ProviderHold.objects.filter(pk=hold_id)
               .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
               .update(lease_until=now + LEASE, dirty=False, updated_at=timezone.now()))
        if got:
            claimed.append((hold_id, action, digest))
        else:  # a send is under way: the sweep sends this change after it
            ProviderHold.objects.filter(pk=hold_id).update(dirty=True)
    return claimed


# --- step 2: send, then save --------------------------------------------------------------


def sync_order(*, order_id: int, now: datetime | None = None) -> list[str]:
    """Bring the holds of one order in line with it (create, replace or cancel the held
    orders at the provider). Returns what happened to each hold sent."""
    now = now or timezone.now()
    with scopes_disabled():
        if not (ProviderHold.objects.filter(order_id=order_id, status__in=LIVE).exists()
                or ProviderConnection.objects.filter(adapter__in=holding_adapters(),
                                                     is_enabled=True).exists()):
            return []  # no holding provider: nothing to do (one query per event)
        order = Order.objects.select_related("workspace").get(pk=order_id)
    results = []
    with scope(workspace=order.workspace):
        with transaction.atomic():
            claimed = _claim(order_id, now=now)
        for hold_id, action, digest in claimed:
            results.append(_send(hold_id, action, digest, now=now))
    return results


def _send(hold_id: int, action: str, digest: str, *, now: datetime) -> str:
    hold = ProviderHold.objects.select_related("provider", "order").get(pk=hold_id)
    name = hold.provider.name
    try:
        client = client_for(hold.provider)
        if action == "cancel":
            made = client.cancel_hold(hold.reference, hold.external_id)
            remote = None
        else:
            remote = client.hold_order(factory_order(hold))
    except ProviderUnavailable as exc:  # also refused credentials: wait, nothing lost
        return _save(hold_id, now=now, error=exc.message, message=(
            f"{name} is unavailable ({exc.message}); the held order will be "
            f"{'cancelled' if action == 'cancel' else 'sent'} when it is back."))
    except ProviderRefused as exc:
        return _save(hold_id, now=now, status=HoldStatus.REFUSED, error=exc.message,
                     type=OrderEvents.FULFILLMENT_HOLD_REFUSED, message=(
                         f"{name} did not {'cancel' if action == 'cancel' else 'hold'} "
                         f"{hold.reference}: {exc.message}. The order is sent as usual "
                         "when the countdown ends."))
    if action == "cancel":
        return _save(hold_id, now=now, status=HoldStatus.CANCELLED,
                     type=OrderEvents.FULFILLMENT_HOLD_CANCELLED, message=(
                         f"{name}'s held order {hold.external_id or hold.reference} "
                         f"cancelled ({_why_cancel(hold.order)})." if made else
                         f"{hold.reference} never reached {name}: nothing to cancel."))
    first = hold.status == HoldStatus.NEW
    return _save(hold_id, now=now, status=HoldStatus.HELD, external_id=remote.external_id,
                 synced=digest,
                 type=OrderEvents.FULFILLMENT_HELD if first
                 else OrderEvents.FULFILLMENT_HOLD_UPDATED,
                 message=(f"Sent to {name} on hold as {remote.external_id} ({hold.reference}): "
                          "it is released when the countdown ends." if first else
                          f"{name}'s held order {remote.external_id} updated with the "
                          "order's changes."))


def _why_cancel(order: Order) -> str:
    if order.state == OrderState.CANCELLED:
        return "the order was cancelled"
    if order.state in (OrderState.TO_ORDER, OrderState.IN_QUOTATION):
        return f"the order is back to {order.get_state_display()}"
    if order.state == OrderState.AWAITING_SUBMISSION:
        return "its items now go to another provider"
    return "the submission did not take it"


@transaction.atomic
def _save(hold_id: int, *, now: datetime, status: str = "", external_id: str = "",
          synced: str = "", error: str = "", type: str = "", message: str = "") -> str:
    hold = ProviderHold.objects.select_for_update().select_related("order", "provider") \
        .get(pk=hold_id)
    hold.lease_until = None
    hold.error = error[:2000]
    if status and hold.status in LIVE:  # the submission may have taken it meanwhile
        hold.status = status
    if external_id:
        hold.external_id = external_id
    if synced:
        hold.synced = synced
    if not status:  # unavailable: the sweep sends it again
        hold.dirty = True
    hold.save()
    if type:
        order_services.record_event(
            order=hold.order, type=type, actor=Actor.provider(hold.provider.name),
            message=message, data={"hold_id": hold.pk, "reference": hold.reference,
                                   "external_id": hold.external_id,
                                   "provider": hold.provider.code})
    elif message and not error_told(hold):
        order_services.record_event(
            order=hold.order, type=OrderEvents.FULFILLMENT_PROVIDER_UNAVAILABLE,
            actor=ACTOR, message=message, data={"hold_id": hold.pk,
                                                "provider": hold.provider.code})
    return status or "retry later"


def error_told(hold: ProviderHold) -> bool:
    """Was this hold's unavailability already on the timeline (said once, not per try)?"""
    from orders.models import OrderEvent

    return OrderEvent.objects.filter(order_id=hold.order_id,
                                     type=OrderEvents.FULFILLMENT_PROVIDER_UNAVAILABLE,
                                     data__hold_id=hold.pk).exists()


def hold_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """Beat, every minute: send the holds whose change is waiting (a lease was running,
    the provider was down, a worker died) and cancel the holds of orders no longer
    in their countdown that nothing took over."""
    now = now or timezone.now()
    with scopes_disabled():
        order_ids = list(
            ProviderHold.objects.filter(status__in=LIVE)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .filter(Q(dirty=True) | Q(status=HoldStatus.NEW) | Q(lease_until__isnull=False)
                    | ~Q(order__state__in=[OrderState.AWAITING_SUBMISSION,
                                           OrderState.ON_HOLD]))
            .values_list("order_id", flat=True).distinct()[:limit])
    for order_id in order_ids:
        try:
            sync_order(order_id=order_id, now=now)
        except Exception:  # one order's problem never stops the others
            log.exception("hold sweep: order %s", order_id)
    return len(order_ids)


# --- the countdown's end (submission.py) ----------------------------------------------------


def take_over(order_ids: list[int]) -> dict[tuple[int, int], ProviderHold]:
    """(order id, provider id) -> the live hold the submission takes (one query)."""
    return {(h.order_id, h.provider_id): h
            for h in ProviderHold.objects.filter(order_id__in=order_ids, status__in=LIVE)}


def taken(holds: list[ProviderHold], left: list[tuple[int, int]]) -> None:
    """Mark the holds the submissions took; the orders in `left` have holds nothing
    took ((workspace id, order id)): they are cancelled after commit."""
    if holds:
        ProviderHold.objects.filter(pk__in=[h.pk for h in holds]).update(
            status=HoldStatus.SUBMITTED, dirty=False, updated_at=timezone.now())
    if left:
        from fulfillment.tasks import hold_sync_task

        for workspace_id, order_id in left:
            hold_sync_task.follow_up(workspace_id=workspace_id, order_id=order_id)
