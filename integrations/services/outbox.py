"""The outbox: every call PodHub makes to a store is a row first, retried until done.

A message is claimed with a lease (`next_attempt_at` pushed forward) in a short
transaction, the HTTP call runs outside any lock, and the outcome is written
in another short transaction. Transient failures retry with exponential
backoff and jitter; a store that is down for hours gets everything once it is
back. Refusals (user errors) fail for good and show on the sync health page.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import conf
from integrations.models import (
    ConnectionStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StoreConnection,
)
from integrations.services import platforms
from integrations.services.connections import client_for
from integrations.shopify import queries
from integrations.shopify.client import (
    AdminClient,
    ShopifyAuthError,
    ShopifyError,
    ShopifyUserError,
    user_errors,
)
from orders.models import LineItem, Order, Platform, Store
from orders.services import cancel_reaches_store
from podhub.core.exceptions import Conflict, ValidationFailed

log = logging.getLogger(__name__)

LEASE_SECONDS = 300


# Platforms whose stores take tracking pushes and loss-guard cancels.
PUSH_PLATFORMS = (Platform.SHOPIFY, Platform.WOOCOMMERCE)


def _connection(store: Store, platforms=(Platform.SHOPIFY,)) -> StoreConnection:
    conn = StoreConnection.objects.filter(store_id=store.pk).first()
    if conn is None or store.platform not in platforms:
        if len(platforms) > 1:
            raise Conflict(f"{store.name} is not a connected store.")
        raise Conflict(f"{store.name} is not a connected Shopify store.")
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
    _connection(store, PUSH_PLATFORMS)
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
    return order.store.platform in PUSH_PLATFORMS and StoreConnection.objects.filter(
        store_id=order.store_id, status=ConnectionStatus.ACTIVE).exists()


def push_order_cancel(*, store: Store, order: Order, reason: str, note: str = "",
                      refund: bool = True) -> OutboxMessage:
    """Cancel the order in the store and refund the buyer (every cancel that affects the
    buyer: orders.services.cancel_reaches_store). The seller is told "refunded" once the
    store confirms (orders.services.order_store_cancel_result)."""
    _connection(store, PUSH_PLATFORMS)
    msg, _ = outbox_enqueue(
        store=store, order=order, kind=OutboxKind.ORDER_CANCEL,
        key=f"cancel:{order.external_id}",
        payload={"order_id": order.external_id, "reason": reason, "note": note[:500],
                 "refund": refund},
    )
    return msg


def push_refund(*, store: Store, order: Order, refund_ref: str, note: str = "",
                line_items: list[dict] | None = None, notify: bool = True) -> OutboxMessage:
    """Refund lines of an order in the store (refundCreate)."""
    _connection(store)
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
                    description: str = "", vendor: str = "PodHub") -> OutboxMessage:
    """Create a product whose variants carry PodHub SKUs, so its orders arrive connected.

    variants: [{"sku": "MUG-11-WHITE", "price": "14.00", "option": "White"}]
    """
    _connection(store)
    if not title.strip() or not variants or any(not v.get("sku") for v in variants):
        raise ValidationFailed("A product needs a title and a SKU on every variant.")
    msg, _ = outbox_enqueue(
        store=store, kind=OutboxKind.PRODUCT_CREATE, key=f"product:{product_ref}",
        payload={"title": title.strip(), "description": description, "vendor": vendor,
                 "variants": variants},
    )
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
        msg.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)  # the lease
        msg.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
        return msg


def outbox_deliver(*, message_id: int, client: AdminClient | None = None,
                   now: datetime | None = None) -> OutboxMessage | None:
    now = now or timezone.now()
    msg = _claim(message_id, now)
    if msg is None:
        return None
    conn = StoreConnection.objects.filter(store_id=msg.store_id).first()
    if conn is None or conn.status != ConnectionStatus.ACTIVE:
        OutboxMessage.objects.filter(pk=msg.pk).update(
            status=OutboxStatus.CANCELLED, last_error="The store is not connected.")
        return None
    adapter = platforms.adapter(conn.platform)
    if adapter is not None:  # another platform than Shopify
        return _deliver_with(adapter, conn, msg)
    own = client is None
    client = client or client_for(conn, max_retries=2)
    status, error, result = OutboxStatus.DONE, "", {}
    try:
        result = HANDLERS[msg.kind](client, msg.payload)
    except ShopifyUserError as exc:
        status, error = OutboxStatus.FAILED, f"Refused by the store: {exc}"
    except ShopifyAuthError as exc:
        status, error = OutboxStatus.PENDING, f"Not authorised: {exc}"
    except ShopifyError as exc:
        status, error = OutboxStatus.PENDING, str(exc)
    finally:
        if own:
            client.close()
    return _record(conn, msg, status=status, error=error, result=result)


def _deliver_with(adapter, conn: StoreConnection, msg: OutboxMessage) -> OutboxMessage:
    """The same bookkeeping as Shopify's, around the platform's own call."""
    status, error, result, retry_after = adapter.deliver(conn, msg)
    return _record(conn, msg, status=status, error=error, result=result,
                   retry_after=retry_after)


def _record(conn: StoreConnection, msg: OutboxMessage, *, status: str, error: str,
            result: dict, retry_after: float | None = None) -> OutboxMessage:
    """Done, failed, or pending again: after a backoff, or `retry_after` seconds when the
    push waits for something else (not counted as an attempt)."""
    done = timezone.now()
    fields = {"status": status, "last_error": error[:2000], "updated_at": done}
    if status == OutboxStatus.DONE:
        fields.update(result=result, done_at=done)
    elif status == OutboxStatus.PENDING:
        if retry_after is not None:  # waiting for something else, not a failure
            fields["attempts"] = max(msg.attempts - 1, 0)
            fields["next_attempt_at"] = done + timedelta(seconds=retry_after)
        elif msg.attempts >= conf.OUTBOX_MAX_ATTEMPTS:
            fields["status"] = OutboxStatus.FAILED
        else:
            fields["next_attempt_at"] = done + timedelta(seconds=_backoff(msg.attempts))
    OutboxMessage.objects.filter(pk=msg.pk).update(**fields)
    if fields["status"] == OutboxStatus.FAILED:
        StoreConnection.objects.filter(pk=conn.pk).update(
            last_error=f"{msg.get_kind_display()} failed: {error}"[:2000], last_error_at=done)
    msg.refresh_from_db()
    if msg.kind == OutboxKind.ORDER_CANCEL and msg.order_id:
        _cancel_outcome(msg)
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


def outbox_due(*, now: datetime | None = None, limit: int = 200) -> list[tuple[int, int]]:
    now = now or timezone.now()
    return list(OutboxMessage.objects.filter(status=OutboxStatus.PENDING,
                                             next_attempt_at__lte=now)
                .order_by("next_attempt_at").values_list("workspace_id", "pk")[:limit])


# --- the Shopify calls ------------------------------------------------------------------


def _fulfillment_create(client: AdminClient, p: dict) -> dict:
    order_gid = queries.gid("Order", p["order_id"])
    data = client.execute(queries.FULFILLMENT_ORDERS, {"id": order_gid})
    order = data.get("order")
    if not order:
        raise ShopifyUserError(f"the store has no order {p['order_id']}")
    for f in order.get("fulfillments") or []:  # pushed before, answer lost: done already
        for info in f.get("trackingInfo") or []:
            if info.get("number") == p["number"]:
                return {"fulfillment_id": f["id"], "already": True}
    wanted = {ln["external_id"]: ln["quantity"] for ln in p.get("lines") or []}
    groups = []
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        if fo.get("status") not in ("OPEN", "IN_PROGRESS", "SCHEDULED"):
            continue
        items = []
        for li in (fo.get("lineItems") or {}).get("nodes") or []:
            line_id = queries.numeric_id((li.get("lineItem") or {}).get("id"))
            left = int(li.get("remainingQuantity") or 0)
            if left <= 0:
                continue
            if wanted:
                qty = min(left, wanted.get(line_id, 0))
                if qty <= 0:
                    continue
                wanted[line_id] -= qty
            else:
                qty = left
            items.append({"id": li["id"], "quantity": qty})
        if items:
            groups.append({"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": items})
    if not groups:
        raise ShopifyUserError("nothing left to fulfil on this order in the store")
    tracking = {"company": p.get("carrier") or None, "number": p["number"]}
    if p.get("url"):
        tracking["url"] = p["url"]
    data = client.execute(queries.FULFILLMENT_CREATE, {"fulfillment": {
        "lineItemsByFulfillmentOrder": groups, "notifyCustomer": p.get("notify_customer", True),
        "trackingInfo": tracking,
    }})
    payload = data.get("fulfillmentCreate") or {}
    errors = user_errors(payload)
    if errors:
        raise ShopifyUserError("; ".join(e.get("message", "") for e in errors), errors)
    return {"fulfillment_id": (payload.get("fulfillment") or {}).get("id")}


def _order_cancel(client: AdminClient, p: dict) -> dict:
    data = client.execute(queries.ORDER_CANCEL, {
        "orderId": queries.gid("Order", p["order_id"]), "reason": "OTHER",
        "refund": bool(p.get("refund", True)), "restock": True, "notifyCustomer": True,
        "staffNote": p.get("note") or f"Cancelled by PodHub ({p.get('reason')})",
    })
    payload = data.get("orderCancel") or {}
    errors = user_errors(payload, "orderCancelUserErrors")
    if errors:
        if any("already" in (e.get("message") or "").lower() for e in errors):
            return {"already": True}
        raise ShopifyUserError("; ".join(e.get("message", "") for e in errors), errors)
    return {"job_id": (payload.get("job") or {}).get("id")}


def _refund_create(client: AdminClient, p: dict) -> dict:
    data = client.execute(queries.REFUND_CREATE, {"input": {
        "orderId": queries.gid("Order", p["order_id"]), "note": p.get("note") or None,
        "notify": bool(p.get("notify", True)),
        "refundLineItems": [{"lineItemId": queries.gid("LineItem", ln["external_id"]),
                             "quantity": ln["quantity"], "restockType": "NO_RESTOCK"}
                            for ln in p.get("lines") or []],
    }})
    payload = data.get("refundCreate") or {}
    errors = user_errors(payload)
    if errors:
        raise ShopifyUserError("; ".join(e.get("message", "") for e in errors), errors)
    return {"refund_id": (payload.get("refund") or {}).get("id")}


def _product_create(client: AdminClient, p: dict) -> dict:
    variants = p["variants"]
    data = client.execute(queries.PRODUCT_CREATE, {"product": {
        "title": p["title"], "descriptionHtml": p.get("description") or "",
        "vendor": p.get("vendor") or "PodHub",
        "productOptions": [{"name": "Variant", "values": [
            {"name": v.get("option") or v["sku"]} for v in variants]}],
        "variants": [{"sku": v["sku"], "price": str(v.get("price") or "0"),
                      "optionValues": [{"optionName": "Variant",
                                        "name": v.get("option") or v["sku"]}]}
                     for v in variants],
    }})
    payload = data.get("productCreate") or {}
    errors = user_errors(payload)
    if errors:
        raise ShopifyUserError("; ".join(e.get("message", "") for e in errors), errors)
    product = payload.get("product") or {}
    return {"product_id": product.get("id"),
            "variants": [(v.get("id"), v.get("sku")) for v in
                         ((product.get("variants") or {}).get("nodes") or [])]}


HANDLERS = {
    OutboxKind.FULFILLMENT_CREATE: _fulfillment_create,
    OutboxKind.ORDER_CANCEL: _order_cancel,
    OutboxKind.REFUND_CREATE: _refund_create,
    OutboxKind.PRODUCT_CREATE: _product_create,
}


# What reaches the store (subscribed in integrations/apps.py): shipped parcels, the
# last parcel (WooCommerce Completed), cancels that affect the buyer; and, one task per
# workspace for the submit sweep's bursts, "in production" notes (WooCommerce).
PUSHED_EVENTS = ("order.cancelled", "shipment.shipped", "order.shipped", "order.submitted")
NOTED_EVENTS = ("order.submitted",)
EVENTS_DOORBELL = "integrations:events"


def _event_key(event_type: str, data: dict, external_id: str,
               platform: str = Platform.SHOPIFY) -> str | None:
    if event_type == "order.shipped":  # WooCommerce: completed once the last parcel left
        return f"complete:{external_id}" if platform == Platform.WOOCOMMERCE else None
    if event_type == "order.submitted":  # WooCommerce: an "in production" order note
        return f"note:{external_id}:in_production" \
            if platform == Platform.WOOCOMMERCE else None
    if event_type == "shipment.shipped":
        return f"fulfillment:{external_id}:{data.get('shipment_id')}"
    if event_type == "order.cancelled" and cancel_reaches_store(data.get("reason", ""), data):
        return f"cancel:{external_id}"
    return None


def order_event_handle(*, event_id: int) -> OutboxMessage | None:
    """Turn one order event into an outbox message for a connected Shopify store."""
    from orders.models import OrderEvent

    event = OrderEvent.objects.select_related("order", "order__store").filter(pk=event_id).first()
    if event is None or event.type not in PUSHED_EVENTS:
        return None
    data = event.data or {}
    store = event.order.store
    if _event_key(event.type, data, event.order.external_id, store.platform) is None:
        return None  # e.g. a seller's cancel: the store is not touched
    if store.platform not in PUSH_PLATFORMS or not StoreConnection.objects.filter(
            store_id=store.pk, status=ConnectionStatus.ACTIVE).exists():
        return None
    if event.type == "order.shipped":
        from integrations.woocommerce.services import push_order_complete

        return push_order_complete(store=store, order=event.order)
    if event.type == "order.submitted":
        from integrations.woocommerce.services import IN_PRODUCTION_NOTE, push_order_note

        return push_order_note(store=store, order=event.order, key=_event_key(
            event.type, data, event.order.external_id, store.platform), note=IN_PRODUCTION_NOTE)
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
                         workspace_id: int | None = None) -> list:
    """(workspace id, event id) of recent shipments and cancels that affect the buyer, of
    orders of connected Shopify and WooCommerce stores (and, for WooCommerce, orders
    submitted to production or whose last parcel shipped) that have no outbox message
    yet (a lost doorbell)."""
    from django.db.models import Q

    from orders.models import OrderEvent

    now = now or timezone.now()
    events = list(OrderEvent.objects.filter(
        Q(type="shipment.shipped") | Q(type="order.cancelled")
        | Q(type__in=("order.shipped", "order.submitted"),
            order__store__platform=Platform.WOOCOMMERCE),
        created_at__gte=now - timedelta(days=days), order__store__platform__in=PUSH_PLATFORMS,
        **({"workspace_id": workspace_id} if workspace_id is not None else {}),
    ).values_list("workspace_id", "pk", "type", "data", "order__store_id",
                  "order__external_id", "order__store__platform")[:1000])
    if not events:
        return []
    events = [(ws, pk, t, d, store, ext) for ws, pk, t, d, store, ext, platform in events
              if _event_key(t, d or {}, ext, platform)]
    wanted = {(store, _event_key(t, d or {}, ext, Platform.WOOCOMMERCE))
              for _, _, t, d, store, ext in events}
    stores = {store for store, _ in wanted}
    have = set(OutboxMessage.objects.filter(
        store_id__in=stores, key__in={k for _, k in wanted if k}).values_list("store_id", "key"))
    active = set(StoreConnection.objects.filter(store_id__in=stores,
                                                status=ConnectionStatus.ACTIVE)
                 .values_list("store_id", flat=True))
    out = []
    for ws, pk, t, d, store, ext in events:
        key = _event_key(t, d or {}, ext, Platform.WOOCOMMERCE)
        if key and store in active and (store, key) not in have:
            if t == "shipment.shipped" and not (d or {}).get("number"):
                continue
            out.append((ws, pk))
    return out


def publish_catalog_product(*, workspace, store: Store, product_id: int,
                            markup_percent: int = 100) -> OutboxMessage:
    """Publish a catalog product (quotes app) to the store with its PodHub SKUs.

    The store price of each variant is the catalog price plus `markup_percent`;
    the seller edits it in Shopify afterwards. Orders of it arrive connected
    (exact SKU match).
    """
    from decimal import Decimal

    from django.db.models import Q

    from quotes.models import Product

    product = (Product.objects.filter(Q(made_for_workspace__isnull=True)
                                      | Q(made_for_workspace=workspace), pk=product_id,
                                      is_published=True)
               .prefetch_related("variants").first())
    if product is None:
        raise ValidationFailed("No such product in the catalog.")
    if not 0 <= markup_percent <= 1000:
        raise ValidationFailed("The markup is a percentage from 0 to 1000.")
    factor = Decimal(100 + markup_percent) / 100
    variants = [{"sku": v.sku, "price": str((v.price_amount * factor).quantize(Decimal("0.01"))),
                 "option": v.label} for v in product.variants.all() if v.is_active]
    return publish_product(store=store, product_ref=f"catalog-{product.pk}", title=product.name,
                           variants=variants, description=product.description)
