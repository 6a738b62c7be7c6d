"""Shopify's mandatory privacy webhooks.

customers/data_request  the merchant asks what we hold about a buyer: we e-mail the
                        workspace's owners and admins the data of those orders.
customers/redact        erase the buyer's personal data from those orders (and from
                        the raw deliveries that carried it).
shop/redact             48 h after uninstall: remove the store's data: credentials,
                        inbox, outbox, import jobs; buyer data of all its orders.
"""

from __future__ import annotations

import json
from datetime import datetime

from integrations.models import (
    ConnectionStatus,
    ImportJob,
    InboundWebhook,
    OutboxMessage,
    StoreConnection,
    StoreOrderRecord,
)
from orders.events import Actor
from orders.models import Order
from orders.services import order_redact_buyer
from podhub.core import mail
from podhub.core.crypto import Secret
from podhub.workspaces.models import Membership, Role

REDACTED_BODY = '{"redacted": true}'


def _ids(values) -> list[str]:
    return [str(v) for v in (values or []) if v is not None][:10_000]


def _orders(conn: StoreConnection, payload: dict, key: str):
    ids = _ids(payload.get(key))
    qs = Order.objects.filter(store_id=conn.store_id)
    email = ((payload.get("customer") or {}).get("email") or "").strip()
    if email:
        return qs.filter(external_id__in=ids) | qs.filter(buyer_email__iexact=email)
    return qs.filter(external_id__in=ids)


def _recipients(workspace_id: int) -> list[str]:
    return list(Membership.objects.filter(workspace_id=workspace_id,
                                          role__in=[Role.OWNER, Role.ADMIN])
                .values_list("user__email", flat=True))


def redact_orders(conn: StoreConnection, orders, *, why: str) -> int:
    """Erase the buyer's data from these orders (orders.services.order_redact_buyer: name,
    e-mail, address; personalisation too once the order is finished) and from the raw
    deliveries that carried them."""
    order_ids = sorted(set(orders.values_list("pk", flat=True)))
    actor = Actor.store("Shopify")
    for order_id in order_ids:
        order_redact_buyer(order_id=order_id, actor=actor, reason=why)
    InboundWebhook.objects.filter(connection=conn, resource_id__in=list(
        Order.objects.filter(pk__in=order_ids).values_list("external_id", flat=True))
    ).update(body=REDACTED_BODY)
    return len(order_ids)


def handle(conn: StoreConnection, row: InboundWebhook, payload: dict, *, now: datetime) -> str:
    topic = row.topic
    if topic == "customers/data_request":
        orders = list(_orders(conn, payload, "orders_requested")
                      .prefetch_related("line_items").order_by("pk"))
        export = [{
            "order": o.number, "external_id": o.external_id, "buyer_name": o.buyer_name,
            "buyer_email": o.buyer_email, "shipping_address": o.shipping_address,
            "items": [{"sku": li.sku, "title": li.title, "quantity": li.quantity,
                       "personalization": li.personalization, "images": li.images}
                      for li in o.line_items.all()],
        } for o in orders]
        to = _recipients(conn.workspace_id)
        request_id = (payload.get("data_request") or {}).get("id", "")
        body = (f"Shopify forwarded a customer data request (id {request_id}) from "
                f"{conn.shop_domain}. This is all PodHub holds about the customer's orders; "
                "send it to the customer within 30 days.\n\n" + json.dumps(export, indent=2))
        mail.send(to=to, subject=f"[PodHub] Customer data request from {conn.shop_domain}",
                  body=body, workspace_id=conn.workspace_id)
        row.body = json.dumps({"data_request": request_id,
                               "orders": [o.external_id for o in orders]})
        return f"data request: {len(orders)} order(s) sent to {len(to)} admin(s)"
    if topic == "customers/redact":
        n = redact_orders(conn, _orders(conn, payload, "orders_to_redact"),
                          why="Buyer data erased at the customer's request (customers/redact).")
        row.body = json.dumps({"orders_to_redact": _ids(payload.get("orders_to_redact"))})
        return f"redacted {n} order(s)"
    # shop/redact
    n = redact_orders(conn, Order.objects.filter(store_id=conn.store_id),
                      why="The store removed the app; its buyer data was erased (shop/redact).")
    InboundWebhook.objects.filter(connection=conn).exclude(pk=row.pk).delete()
    OutboxMessage.objects.filter(store_id=conn.store_id).delete()
    ImportJob.objects.filter(connection=conn).delete()
    StoreOrderRecord.objects.filter(connection=conn).delete()
    StoreConnection.objects.filter(pk=conn.pk).update(
        status=ConnectionStatus.REDACTED, access_token=Secret(""), refresh_token=Secret(""),
        webhook_secret=Secret(""), token_expires_at=None, disconnected_at=now)
    row.body = json.dumps({"shop_domain": conn.shop_domain})
    return f"shop data removed; {n} order(s) redacted"
