"""The outbox: every call PodHub makes to a store is a row first, retried until done.

A message is claimed with a lease (`next_attempt_at` pushed forward) in a short
transaction, the HTTP call runs outside any lock, and the outcome is written
in another short transaction. Transient failures retry with exponential
backoff and jitter; a store that is down for hours gets everything once it is
back: the first push it takes again brings its others forward from their backoff
(`_store_answers`). Refusals (user errors) fail for good and show on the sync health page.
One dispatch for every store platform: the platform makes the call
(`registry.platform_for(connection).push`); the bookkeeping is here.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations import conf
from integrations.models import (
    ConnectionStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.platforms import registry
from integrations.platforms.base import EVENT_PUSHES, NotSupported, NotYet, PartlyDone
from orders.models import LineItem, Order, Store
from orders.services import cancel_reaches_store
from podhub.core.exceptions import Conflict, PodhubError, ValidationFailed
from quotes.models import Product
from quotes.selectors import published_variants
from quotes.services import product_links_published

log = logging.getLogger(__name__)

# A claimed message is not claimed again for this long: a worker killed mid-push leaves
# it for the next sweep after the lease. Longer than a push can take (the clients' own
# retries and timeouts); a setting so the fault drill's CI mode can shorten it.
LEASE_SECONDS = 300


def lease_seconds() -> int:
    from django.conf import settings

    return int(getattr(settings, "INTEGRATIONS_OUTBOX_LEASE_SECONDS", LEASE_SECONDS))


def _connection(store: Store, kind: str) -> StoreConnection:
    """The store's live connection, for a push its platform takes."""
    conn = StoreConnection.objects.filter(store_id=store.pk).first()
    platform = registry.find(store.platform)
    if conn is None or platform is None:
        raise Conflict(f"{store.name} is not a connected store.")
    if not platform.takes(kind):
        raise Conflict(f"{store.name}: {platform.not_supported(kind)}")
    if conn.status != ConnectionStatus.ACTIVE:
        raise Conflict(f"{store.name} is not connected any more: nothing is sent to it.")
    return conn


def outbox_enqueue(*, store: Store, kind: str, key: str, payload: dict,
                   order: Order | None = None) -> tuple[OutboxMessage, bool]:
    """Add a message unless one with the same key exists; ring the doorbell after commit."""
    from integrations.tasks import outbox_deliver_task

    with transaction.atomic():
        existing = OutboxMessage.objects.filter(store=store, key=key).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                msg = OutboxMessage.objects.create(
                    workspace_id=store.workspace_id, store=store, order=order, kind=kind,
                    key=key[:200], payload=payload)
        except IntegrityError:
            return OutboxMessage.objects.get(store=store, key=key), False
        outbox_deliver_task.delay(workspace_id=store.workspace_id, message_id=msg.pk)
        return msg, True


def push_fulfillment(*, store: Store, order: Order, shipment_ref: str, carrier: str,
                     number: str, url: str = "", line_items: list[dict] | None = None,
                     notify_customer: bool = True) -> OutboxMessage:
    """Tell the store that a parcel left: a Shopify fulfillment with tracking.

    One call per shipment (`shipment_ref`): calling again with the same ref is a
    no-op, a second parcel adds its own fulfillment. `line_items`: the PodHub
    LineItem ids and quantities in this parcel, [{"line_item_id", "quantity"}];
    None means everything still unfulfilled.
    WooCommerce: a tracking note to the buyer plus tracking meta (docs/woocommerce.md).
    """
    _connection(store, OutboxKind.FULFILLMENT_CREATE)
    if order.store_id != store.pk:
        raise ValidationFailed("The order is not from this store.")
    if not (number or "").strip():
        raise ValidationFailed("A shipment pushed to the store needs a tracking number.")
    lines = []
    if line_items:
        known = dict(LineItem.objects.filter(order=order).values_list("pk", "external_id"))
        for item in line_items:
            pk = item.get("line_item_id")
            if pk not in known or not known[pk]:
                raise ValidationFailed(f"Line item {pk} is not a store line of this order.")
            lines.append({"external_id": known[pk], "quantity": int(item.get("quantity") or 1)})
    msg, _ = outbox_enqueue(
        store=store, order=order, kind=OutboxKind.FULFILLMENT_CREATE,
        key=f"fulfillment:{order.external_id}:{shipment_ref}",
        payload={"order_id": order.external_id, "shipment_ref": shipment_ref,
                 "carrier": carrier.strip(), "number": number.strip(), "url": url.strip(),
                 "lines": lines, "notify_customer": bool(notify_customer)},
    )
    return msg


def store_takes_cancels(order: Order) -> bool:
    """orders.hooks: is the order's store one PodHub pushes cancels to (connected, of a
    platform that takes them)?"""
    platform = registry.find(order.store.platform)
    if platform is None or not platform.takes(OutboxKind.ORDER_CANCEL):
        return False
    return StoreConnection.objects.filter(store_id=order.store_id,
                                          status=ConnectionStatus.ACTIVE).exists()


def push_order_cancel(*, store: Store, order: Order, reason: str, note: str = "",
                      refund: bool = True) -> OutboxMessage:
    """Cancel the order in the store and refund the buyer (every cancel that affects the
    buyer: orders.services.cancel_reaches_store). The seller is told "refunded" once the
    store confirms (orders.services.order_store_cancel_result)."""
    _connection(store, OutboxKind.ORDER_CANCEL)
    msg, _ = outbox_enqueue(
        store=store, order=order, kind=OutboxKind.ORDER_CANCEL,
        key=f"cancel:{order.external_id}",
        payload={"order_id": order.external_id, "reason": reason, "note": note[:500],
                 "refund": refund},
    )
    return msg


def push_refund(*, store: Store, order: Order, refund_ref: str, note: str = "",
                line_items: list[dict] | None = None, notify: bool = True) -> OutboxMessage:
    """Refund lines of an order in the store (Shopify: refundCreate)."""
    _connection(store, OutboxKind.REFUND_CREATE)
    known = dict(LineItem.objects.filter(order=order).values_list("pk", "external_id"))
    lines = [{"external_id": known[i["line_item_id"]], "quantity": int(i.get("quantity") or 1)}
             for i in (line_items or []) if known.get(i.get("line_item_id"))]
    msg, _ = outbox_enqueue(
        store=store, order=order, kind=OutboxKind.REFUND_CREATE,
        key=f"refund:{order.external_id}:{refund_ref}",
        payload={"order_id": order.external_id, "note": note[:500], "lines": lines,
                 "notify": notify},
    )
    return msg


def publish_product(*, store: Store, product_ref: str, title: str, variants: list[dict],
                    description: str = "", vendor: str = "PodHub",
                    store_product_id: str = "",
                    linked_variants: dict | None = None) -> OutboxMessage:
    """Create (or update) a product whose variants carry PodHub SKUs, so its orders arrive
    connected: when the store confirms, each store variant is linked by its ids to its
    catalog variant (`quotes.services.product_links_published`), so a SKU the seller edits
    in the store later still maps.

    variants: [{"sku": "MUG-11-WHITE", "price": "14.00", "option": "White",
    "variant_id": <catalog variant pk, for the link>}]. `store_product_id` /
    `linked_variants` ({catalog variant pk: store variant id}): what it was published as
    before, updated rather than made twice. Publishing again while a publish of the same
    product waits replaces what that one sends; after it is done, it is a new push.
    A platform that cannot publish products answers 409 saying so.
    """
    _connection(store, OutboxKind.PRODUCT_CREATE)
    if not title.strip() or not variants or any(not v.get("sku") for v in variants):
        raise ValidationFailed("A product needs a title and a SKU on every variant.")
    options: set[str] = set()
    variants = [dict(v) for v in variants]
    for v in variants:  # each variant one distinct option value (WooCommerce, Shopify)
        v["option"] = str(v.get("option") or v["sku"])[:200]
        if v["option"] in options:
            v["option"] = v["sku"]
        options.add(v["option"])
    payload = {"product_ref": product_ref, "title": title.strip(), "description": description,
               "vendor": vendor, "variants": variants, "store_product_id": store_product_id,
               "linked_variants": {str(k): str(v) for k, v in (linked_variants or {}).items()}}
    base = f"product:{product_ref}"
    with transaction.atomic():
        earlier = OutboxMessage.objects.select_for_update().filter(
            Q(key=base) | Q(key__startswith=f"{base}:"), store=store,
            kind=OutboxKind.PRODUCT_CREATE)
        waiting = earlier.filter(status=OutboxStatus.PENDING).first()
        if waiting is not None:
            waiting.payload = {**payload, **{k: waiting.payload[k] for k in
                                             ("created_product_id",) if k in waiting.payload}}
            waiting.save(update_fields=["payload", "updated_at"])
            return waiting
        count = earlier.count()
        msg, _ = outbox_enqueue(store=store, kind=OutboxKind.PRODUCT_CREATE,
                                key=base if not count else f"{base}:{count + 1}",
                                payload=payload)
    return msg


def push_order_complete(*, store: Store, order: Order) -> OutboxMessage:
    """Mark the store's order completed once its last parcel left (WooCommerce: the
    "Completed order" e-mail follows the parcels' tracking notes)."""
    _connection(store, OutboxKind.ORDER_COMPLETE)
    msg, _ = outbox_enqueue(store=store, order=order, kind=OutboxKind.ORDER_COMPLETE,
                            key=f"complete:{order.external_id}",
                            payload={"order_id": order.external_id})
    return msg


def push_order_note(*, store: Store, order: Order | None, key: str, note: str,
                    customer_note: bool = False) -> OutboxMessage:
    """A note on the store's order, once per `key` (a PodHub state change mirrored)."""
    _connection(store, OutboxKind.ORDER_NOTE)
    msg, _ = outbox_enqueue(store=store, order=order, kind=OutboxKind.ORDER_NOTE, key=key,
                            payload={"order_id": order.external_id, "note": note[:2000],
                                     "customer_note": customer_note})
    return msg


# --- delivery ---------------------------------------------------------------------------


def _backoff(attempts: int) -> float:
    delay = min(conf.OUTBOX_BACKOFF_MAX, conf.OUTBOX_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter


def _claim(message_id: int, now: datetime) -> OutboxMessage | None:
    with transaction.atomic():
        msg = (OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("store").filter(pk=message_id, status=OutboxStatus.PENDING,
                                               next_attempt_at__lte=now).first())
        if msg is None:
            return None
        msg.attempts += 1
        msg.next_attempt_at = now + timedelta(seconds=lease_seconds())  # the lease
        msg.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
        return msg


def outbox_deliver(*, message_id: int, client=None,
                   now: datetime | None = None) -> OutboxMessage | None:
    """Make one message's call through its store's platform and record the outcome:
    done; refused for good (failed, shown on the connection); or pending again after a
    backoff (an outage, credentials refused), or after the wait a platform asks for."""
    now = now or timezone.now()
    msg = _claim(message_id, now)
    if msg is None:
        return None
    conn = StoreConnection.objects.filter(store_id=msg.store_id).first()
    if conn is None or conn.status != ConnectionStatus.ACTIVE:
        OutboxMessage.objects.filter(pk=msg.pk).update(
            status=OutboxStatus.CANCELLED, last_error="The store is not connected.")
        return None
    platform = registry.platform_for(conn)
    own = client is None
    status, error, result, retry_after = OutboxStatus.DONE, "", {}, None
    try:
        client = client or platform.client(conn, max_retries=platform.push_retries)
        result = platform.push(client, conn, msg)
    except NotSupported as exc:
        status, error = OutboxStatus.FAILED, str(exc)
    except NotYet as exc:
        status, error, retry_after = OutboxStatus.PENDING, str(exc), exc.retry_after
    except PartlyDone as exc:  # failed with the reasons; what was made is kept
        status, error, result = OutboxStatus.FAILED, f"Refused by the store: {exc}", \
            exc.result
    except platform.refused_errors as exc:
        status, error = OutboxStatus.FAILED, f"Refused by the store: {exc}"
    except platform.auth_errors as exc:
        status, error = OutboxStatus.PENDING, f"Not authorised: {exc}"
    except platform.errors as exc:
        status, error = OutboxStatus.PENDING, str(exc)
    finally:
        if own and client is not None:
            client.close()
    return _record(conn, msg, status=status, error=error, result=result,
                   retry_after=retry_after)


# How many waiting pushes one answer brings forward at once; the integrations sweep
# (every 30 s) takes the rest as they fall due.
BRING_FORWARD = 200
_CLOCKS = timedelta(seconds=5)  # clocks of hosts that share the database differ a little


def _store_answers(*, store_id: int, now: datetime) -> list[int]:
    """A push went through, so the store answers again: its other pushes still waiting
    out a backoff from the outage go now, not up to an hour later (the backoff's cap).

    A message being sent is never touched: its claim set its wait to one lease from a
    moment before `now`, or its `updated_at` after `now`. So only waits set before `now`
    that end later than a lease from `now` are brought forward (a margin for clocks)."""
    from integrations.tasks import outbox_deliver_task
    from podhub.core.doorbell import SWEEP_TTL, ring_once

    waiting = Q(store_id=store_id, status=OutboxStatus.PENDING, attempts__gt=0,
                updated_at__lt=now - _CLOCKS,
                next_attempt_at__gt=now + timedelta(seconds=lease_seconds()) + _CLOCKS)
    rows = list(OutboxMessage.objects.filter(waiting).order_by("next_attempt_at")
                .values_list("pk", "workspace_id")[:BRING_FORWARD])
    if not rows:
        return []
    # the condition again in the update itself: a message claimed meanwhile is left
    # alone, and its doorbell below finds nothing due
    moved = OutboxMessage.objects.filter(waiting, pk__in=[pk for pk, _ in rows]).update(
        next_attempt_at=now)
    for pk, workspace_id in rows:
        ring_once(outbox_deliver_task, key=f"outbox:{pk}", ttl=SWEEP_TTL, from_sweep=True,
                  workspace_id=workspace_id, message_id=pk)
    log.info("store %s answers again: %d waiting pushes brought forward", store_id, moved)
    return [pk for pk, _ in rows]


def _record(conn: StoreConnection, msg: OutboxMessage, *, status: str, error: str,
            result: dict, retry_after: float | None = None) -> OutboxMessage:
    """Done, failed, or pending again: after a backoff, or `retry_after` seconds when the
    push waits for something else (not counted as an attempt)."""
    done = timezone.now()
    fields = {"status": status, "last_error": error[:2000], "updated_at": done}
    if status == OutboxStatus.DONE:
        fields.update(result=result, done_at=done)
    elif result:  # a push the store took in part (PartlyDone)
        fields["result"] = result
    elif status == OutboxStatus.PENDING:
        if retry_after is not None:  # waiting for something else, not a failure
            fields["attempts"] = max(msg.attempts - 1, 0)
            fields["next_attempt_at"] = done + timedelta(seconds=retry_after)
        elif msg.attempts >= conf.OUTBOX_MAX_ATTEMPTS:
            fields["status"] = OutboxStatus.FAILED
        else:
            fields["next_attempt_at"] = done + timedelta(seconds=_backoff(msg.attempts))
    OutboxMessage.objects.filter(pk=msg.pk).update(**fields)
    if status == OutboxStatus.DONE:
        _store_answers(store_id=msg.store_id, now=done)
    if fields["status"] == OutboxStatus.FAILED:
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"{msg.get_kind_display()} failed: {error}"[:2000], last_error_at=done)
    msg.refresh_from_db()
    if msg.kind == OutboxKind.ORDER_CANCEL and msg.order_id:
        _cancel_outcome(msg)
    if msg.kind == OutboxKind.PRODUCT_CREATE and (
            msg.status == OutboxStatus.DONE or (msg.result or {}).get("variants")):
        product_published(msg)  # in part too: the variations the store made are linked
    return msg


def _cancel_outcome(msg: OutboxMessage) -> None:
    """Tell the order what the store answered to its cancel. A store that answers the
    cancel itself (WooCommerce: `{"cancelled": true, "refund": ...}`, or "already
    cancelled") confirms now; Shopify's orderCancel is a job, confirmed when the store's
    order shows cancelled (orders/cancelled, or the reconciliation sweep)."""
    from orders import services as order_services

    result = msg.result or {}
    if msg.status == OutboxStatus.DONE and (result.get("cancelled") or result.get("already")):
        refund = result.get("refund") or ("gateway" if msg.payload.get("refund", True)
                                          else "none")
        order_services.order_store_cancel_result(order_id=msg.order_id, confirmed=True,
                                                 refund=refund)
    elif msg.status == OutboxStatus.FAILED:
        order_services.order_store_cancel_result(order_id=msg.order_id, confirmed=False,
                                                 error=msg.last_error or "refused")


@transaction.atomic
def outbox_retry(*, workspace, message_ids: list[int], store_id: int | None = None,
                 now: datetime | None = None) -> list[int]:
    """Try failed pushes again now (after the seller fixed the cause in the store)."""
    now = now or timezone.now()
    msgs = OutboxMessage.objects.select_for_update().filter(
        workspace=workspace, pk__in=message_ids, status=OutboxStatus.FAILED)
    if store_id is not None:
        msgs = msgs.filter(store_id=store_id)
    ids = list(msgs.values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).update(
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    from integrations.tasks import outbox_deliver_task

    for pk in ids:
        outbox_deliver_task.delay(workspace_id=workspace.pk, message_id=pk)
    return ids


@transaction.atomic
def outbox_retry_now(*, message_ids: list[int], now: datetime | None = None) -> list[int]:
    """Staff's "Retry now" (admin): waiting or failed pushes, of any workspace, go out now
    (their attempts are kept: the backoff resumes if it fails again)."""
    from integrations.tasks import outbox_deliver_task

    now = now or timezone.now()
    rows = list(OutboxMessage.objects.select_for_update().filter(
        pk__in=message_ids, status__in=[OutboxStatus.PENDING, OutboxStatus.FAILED])
        .values_list("pk", "workspace_id"))
    OutboxMessage.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        status=OutboxStatus.PENDING, next_attempt_at=now, updated_at=now)
    for pk, workspace_id in rows:
        outbox_deliver_task.delay(workspace_id=workspace_id, message_id=pk)
    return [pk for pk, _ in rows]


def outbox_due(*, now: datetime | None = None, limit: int = 200) -> list[tuple[int, int]]:
    now = now or timezone.now()
    return list(OutboxMessage.objects.filter(status=OutboxStatus.PENDING,
                                             next_attempt_at__lte=now)
                .order_by("next_attempt_at").values_list("workspace_id", "pk")[:limit])


# What reaches the store (subscribed in integrations/apps.py): shipped parcels, the
# last parcel (WooCommerce Completed), cancels that affect the buyer; and, one task per
# workspace for the submit sweep's bursts, "in production" notes (WooCommerce).
PUSHED_EVENTS = ("order.cancelled", "shipment.shipped", "order.shipped", "order.submitted")
NOTED_EVENTS = ("order.submitted",)
EVENTS_DOORBELL = "integrations:events"


def _event_key(event_type: str, data: dict, external_id: str, platform: str) -> str | None:
    """The outbox key of what this event pushes to a store of `platform` (a code), or
    None when that platform takes no such push."""
    taker = registry.find(platform)
    kind = EVENT_PUSHES.get(event_type)
    if taker is None or kind is None or not taker.takes(kind):
        return None
    if event_type == "order.shipped":  # the last parcel left: the order is completed
        return f"complete:{external_id}"
    if event_type == "order.submitted":  # an "in production" order note
        return f"note:{external_id}:in_production"
    if event_type == "shipment.shipped":
        return f"fulfillment:{external_id}:{data.get('shipment_id')}"
    if event_type == "order.cancelled" and cancel_reaches_store(data.get("reason", ""), data):
        return f"cancel:{external_id}"
    return None


def order_event_handle(*, event_id: int) -> OutboxMessage | None:
    """Turn one order event into an outbox message for a connected store whose platform
    takes that push."""
    from orders.models import OrderEvent

    event = OrderEvent.objects.select_related("order", "order__store").filter(pk=event_id).first()
    if event is None or event.type not in PUSHED_EVENTS:
        return None
    data = event.data or {}
    store = event.order.store
    key = _event_key(event.type, data, event.order.external_id, store.platform)
    if key is None:
        return None  # e.g. a seller's cancel: the store is not touched
    if not StoreConnection.objects.filter(store_id=store.pk,
                                          status=ConnectionStatus.ACTIVE).exists():
        return None
    if event.type == "order.shipped":
        return push_order_complete(store=store, order=event.order)
    if event.type == "order.submitted":
        return push_order_note(store=store, order=event.order, key=key,
                               note=registry.get(store.platform).in_production_note)
    if event.type == "order.cancelled":
        return push_order_cancel(store=store, order=event.order,
                                 reason=data.get("reason") or "staff", note=event.message[:500])
    if not data.get("number"):
        log.info("shipment %s has no tracking number: nothing to push", data.get("shipment_id"))
        return None
    try:
        return push_fulfillment(store=store, order=event.order,
                                shipment_ref=str(data.get("shipment_id")),
                                carrier=data.get("carrier") or "", number=data["number"],
                                url=data.get("url") or "",
                                line_items=data.get("line_items") or None)
    except ValidationFailed as exc:
        log.warning("shipment %s not pushed: %s", data.get("shipment_id"), exc.message)
        return None


def order_events_missing(*, now: datetime | None = None, days: int = 2,
                         workspace_id: int | None = None, limit: int = 1000,
                         chunk: int = 1000, budget_seconds: float = 10.0) -> list:
    """(workspace id, event id) of recent order events that push to a connected store
    (shipments, cancels that affect the buyer; and where the platform takes them, orders
    submitted to production or whose last parcel shipped) that have no outbox message
    yet (a lost doorbell).

    The whole window is read, `chunk` events at a time by id, until `limit` are found or
    `budget_seconds` have passed: a busy store has far more than one chunk of such
    events in two days, and reading only the oldest chunk would never find a newer
    event whose doorbell was lost."""
    from orders.models import OrderEvent

    now = now or timezone.now()
    pushed = Q(pk__in=[])
    for code, platform in registry.platforms().items():
        types = platform.pushed_events()
        if types:
            pushed |= Q(type__in=types, order__store__platform=code)
    recent = OrderEvent.objects.filter(
        pushed, created_at__gte=now - timedelta(days=days),
        **({"workspace_id": workspace_id} if workspace_id is not None else {}),
    ).order_by("pk")
    out: list[tuple[int, int]] = []
    after, started = 0, time.monotonic()
    while len(out) < limit:
        events = list(recent.filter(pk__gt=after).values_list(
            "workspace_id", "pk", "type", "data", "order__store_id", "order__external_id",
            "order__store__platform")[:chunk])
        if not events:
            break
        after = events[-1][1]
        out += _without_message(events)
        if len(events) < chunk or time.monotonic() - started > budget_seconds:
            break
    return out[:limit]


def _without_message(events: list[tuple]) -> list[tuple[int, int]]:
    """The events (rows of order_events_missing) whose push has no outbox message."""
    keyed = [(ws, pk, t, d or {}, store, _event_key(t, d or {}, ext, platform))
             for ws, pk, t, d, store, ext, platform in events]
    keyed = [row for row in keyed if row[-1]]
    if not keyed:
        return []
    stores = {store for *_, store, _key in keyed}
    have = set(OutboxMessage.objects.filter(
        store_id__in=stores, key__in={key for *_, key in keyed}).values_list("store_id", "key"))
    active = set(StoreConnection.objects.filter(store_id__in=stores,
                                                status=ConnectionStatus.ACTIVE)
                 .values_list("store_id", flat=True))
    out = []
    for ws, pk, t, d, store, key in keyed:
        if store in active and (store, key) not in have:
            if t == "shipment.shipped" and not d.get("number"):
                continue
            out.append((ws, pk))
    return out


def publish_catalog_product(*, workspace, store: Store, product_id: int,
                            markup_percent: int = 100) -> OutboxMessage:
    """Publish a catalog product (quotes app) to the store with its PodHub SKUs.

    The store price of each variant is the catalog price plus `markup_percent`;
    the seller edits it in the store afterwards. Orders of it arrive connected: by the
    product links recorded when the store confirms (the store's product and variant ids),
    so they still map after the seller edits a SKU. Published before: the same store
    product is updated.
    """
    product = (Product.objects.filter(Q(made_for_workspace__isnull=True)
                                      | Q(made_for_workspace=workspace), pk=product_id,
                                      is_published=True)
               .prefetch_related("variants").first())
    if product is None:
        raise ValidationFailed("No such product in the catalog.")
    if not 0 <= markup_percent <= 1000:
        raise ValidationFailed("The markup is a percentage from 0 to 1000.")
    factor = Decimal(100 + markup_percent) / 100
    active = [v for v in product.variants.all() if v.is_active]
    variants = [{"sku": v.sku, "price": str((v.price_amount * factor).quantize(Decimal("0.01"))),
                 "option": v.label, "variant_id": v.pk} for v in active]
    before = published_variants(workspace=workspace, store_id=store.pk,
                                variant_ids=[v.pk for v in active])
    products = [store_product for store_product, _ in before.values()]
    return publish_product(
        store=store, product_ref=f"catalog-{product.pk}", title=product.name,
        variants=variants, description=product.description,
        store_product_id=max(set(products), key=products.count) if products else "",
        linked_variants={k: variant for k, (_, variant) in before.items()})


def product_published(msg: OutboxMessage) -> None:
    """A publish the store confirmed: link each store variant to its catalog variant by
    the store's ids (quotes owns the links)."""
    result = msg.result or {}
    variants = {str(v["id"]): int(v["variant_id"]) for v in result.get("variants") or []
                if v.get("id") and v.get("variant_id")}
    if not result.get("product_id") or not variants:
        return
    try:
        product_links_published(workspace=msg.workspace,
                                store_id=msg.store_id,
                                store_product_id=str(result["product_id"]), variants=variants)
    except PodhubError as exc:  # the push is done in the store; the seller links by hand
        log.warning("publish %s: links not recorded: %s", msg.pk, exc.message)
