"""Shopify stores, as a store platform: the Admin GraphQL API (integrations/shopify/), the
REST webhook bodies, the order pushes. Only Shopify is spoken here; the loops around
these calls are the generic services' (docs/shopify.md).
"""

from __future__ import annotations

import json
from datetime import datetime

from integrations import conf
from integrations.models import OutboxKind, OutboxMessage, StoreConnection
from integrations.platforms.base import (
    ConnectField,
    ImportPage,
    NotYet,
    StorePlatform,
    sandbox_post,
)
from integrations.services import bulk_imports, privacy
from integrations.services.connections import connection_uninstalled
from integrations.shopify import bulk, hmac, queries
from integrations.shopify.client import (
    AdminClient,
    ShopifyAuthError,
    ShopifyError,
    ShopifyThrottled,
    ShopifyUserError,
    user_errors,
)
from integrations.shopify.connect import (
    clean_shop_domain,
    client_for,
    forget_cached_connection,
    store_connect_shopify,
    webhook_url,
)
from integrations.shopify.mapping import StoreFacts, from_graphql, from_rest, remaining_by_line
from orders.models import Platform
from podhub.core.exceptions import ValidationFailed

IMPORT_QUERY = "status:open financial_status:paid fulfillment_status:unfulfilled"

# Deliveries whose body is the order (REST JSON).
ORDER_TOPICS = {"orders/create", "orders/updated", "orders/paid", "orders/cancelled",
                "orders/fulfilled", "orders/partially_fulfilled"}
# Deliveries that change an order's lines but carry an order edit or a refund: the
# order is re-read through GraphQL and applied like orders/updated.
REREAD_TOPICS = {"orders/edited", "refunds/create"}
PRIVACY_TOPICS = {"customers/data_request", "customers/redact", "shop/redact"}
# What a store must send PodHub (the custom-app instructions list them; compliance
# topics are configured in the app's settings, not per store).
# bulk_operations/finish: the bulk import's operation ended (docs/shopify.md "Large stores").
BULK_FINISH = "bulk_operations/finish"
WEBHOOK_TOPICS = (*sorted(ORDER_TOPICS | REREAD_TOPICS), "app/uninstalled", BULK_FINISH)


def order_id_of(topic: str, payload: dict):
    """The order a delivery is about (an order edit or a refund names it)."""
    if topic == "orders/edited":
        return (payload.get("order_edit") or {}).get("order_id")
    if topic == "refunds/create":
        return payload.get("order_id")
    return payload.get("id")


def resource_id_of(topic: str, payload) -> str:
    if not isinstance(payload, dict):
        return ""
    if topic.startswith("orders/") or topic in REREAD_TOPICS:
        value = order_id_of(topic, payload)
    elif topic == BULK_FINISH:
        value = payload.get("admin_graphql_api_id")
    elif topic.startswith("customers/"):
        value = (payload.get("customer") or {}).get("id")
    else:
        value = payload.get("shop_id") or payload.get("id")
    return str(value)[:64] if value is not None else ""


# --- reading orders -----------------------------------------------------------------------


def _full_lines(client: AdminClient, node: dict) -> dict:
    """Fetch the rest of an order's line items when the first page was not all."""
    items = node.get("lineItems") or {}
    page = items.get("pageInfo") or {}
    nodes = list(items.get("nodes") or [])
    while page.get("hasNextPage"):
        data = client.execute(queries.ORDER_LINES, {"id": node["id"],
                                                    "after": page.get("endCursor")})
        more = ((data.get("order") or {}).get("lineItems") or {})
        nodes.extend(more.get("nodes") or [])
        page = more.get("pageInfo") or {}
    return {**node, "lineItems": {"nodes": nodes}}


def map_node(client: AdminClient, node: dict) -> tuple[dict, StoreFacts]:
    """A GraphQL order node with all its lines -> (data, facts). A partially fulfilled
    order's fulfillment orders are read too: they say exactly what is left to ship."""
    node = _full_lines(client, node)
    remaining = None
    if (node.get("displayFulfillmentStatus") or "").upper() == "PARTIALLY_FULFILLED":
        data = client.execute(queries.FULFILLMENT_ORDERS, {"id": node["id"]})
        remaining = remaining_by_line(
            (((data.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes")) or [])
    return from_graphql(node, remaining=remaining)


def store_order_read(*, connection: StoreConnection, external_id: str,
                     client: AdminClient | None = None) -> tuple[dict, StoreFacts] | None:
    """Re-read one order from the store (a delivery that carries an order edit or a
    refund instead of the order); None when the store no longer has it."""
    own = client is None
    client = client or client_for(connection)
    try:
        data = client.execute(queries.ORDER, {"id": queries.gid("Order", external_id)})
        node = data.get("order")
        return map_node(client, node) if node else None
    finally:
        if own:
            client.close()


# --- the pushes ---------------------------------------------------------------------------


def _refused(errors: list[dict]) -> ShopifyUserError:
    return ShopifyUserError("; ".join(e.get("message", "") for e in errors), errors)


def fulfillment_create(client: AdminClient, conn, msg: OutboxMessage) -> dict:
    p = msg.payload
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
        raise _refused(errors)
    return {"fulfillment_id": (payload.get("fulfillment") or {}).get("id")}


def order_cancel(client: AdminClient, conn, msg: OutboxMessage) -> dict:
    p = msg.payload
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
        raise _refused(errors)
    return {"job_id": (payload.get("job") or {}).get("id")}


def refund_create(client: AdminClient, conn, msg: OutboxMessage) -> dict:
    p = msg.payload
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
        raise _refused(errors)
    return {"refund_id": (payload.get("refund") or {}).get("id")}


def product_create(client: AdminClient, conn, msg: OutboxMessage) -> dict:
    """Publish with productSet (queries.PRODUCT_SET), PodHub's SKUs on the variants. Published
    before (`store_product_id` and `linked_variants`, from its links): that product is
    updated — title, description and prices from the catalog, a catalog variant added since
    is added, the seller's SKU edits are kept (linked variants are sent by id, without a
    SKU), and a variant no longer in the catalog is removed. A product deleted in the store
    is made again. The result names each store variant by its numeric id with the catalog
    variant it is, for the product links."""
    p = msg.payload
    linked = {str(k): str(v) for k, v in (p.get("linked_variants") or {}).items()}
    if p.get("store_product_id") and linked:
        try:
            return _product_set(client, p, product_id=str(p["store_product_id"]),
                                linked=linked)
        except ShopifyUserError as exc:
            if not any(e.get("code") == "PRODUCT_DOES_NOT_EXIST" for e in exc.errors or []):
                raise
    return _product_set(client, p, product_id="", linked={})


def _product_set(client: AdminClient, p: dict, *, product_id: str, linked: dict) -> dict:
    variants = p["variants"]

    def option(v):
        return [{"optionName": "Variant", "name": v.get("option") or v["sku"]}]

    data = client.execute(queries.PRODUCT_SET, {
        "identifier": {"id": queries.gid("Product", product_id)} if product_id else None,
        "input": {
            "title": p["title"], "descriptionHtml": p.get("description") or "",
            "vendor": p.get("vendor") or "PodHub",
            "productOptions": [{"name": "Variant", "values": [
                {"name": v.get("option") or v["sku"]} for v in variants]}],
            "variants": [
                {"id": queries.gid("ProductVariant", linked[str(v.get("variant_id"))]),
                 "price": str(v.get("price") or "0"), "optionValues": option(v)}
                if str(v.get("variant_id")) in linked else
                {"sku": v["sku"], "price": str(v.get("price") or "0"),
                 "optionValues": option(v)}
                for v in variants],
        }})
    payload = data.get("productSet") or {}
    errors = user_errors(payload)
    if errors:
        raise _refused(errors)
    product = payload.get("product") or {}
    by_store_id = {store_id: int(vid) for vid, store_id in linked.items()}
    by_sku = {v["sku"]: v.get("variant_id") for v in variants}
    out = []
    for node in (product.get("variants") or {}).get("nodes") or []:
        store_id = queries.numeric_id(node.get("id"))
        out.append({"id": store_id, "sku": node.get("sku"),
                    "variant_id": by_store_id.get(store_id) or by_sku.get(node.get("sku"))})
    return {"product_id": queries.numeric_id(product.get("id")), "variants": out}


HANDLERS = {
    OutboxKind.FULFILLMENT_CREATE: fulfillment_create,
    OutboxKind.ORDER_CANCEL: order_cancel,
    OutboxKind.REFUND_CREATE: refund_create,
    OutboxKind.PRODUCT_CREATE: product_create,
}


# --- the platform -------------------------------------------------------------------------


# Seconds a push may wait for the store's cost bucket inside a worker (docs/shopify.md)
PUSH_MAX_WAIT = 2.0


class Shopify(StorePlatform):
    code = Platform.SHOPIFY.value
    label = "Shopify"
    auth_errors = (ShopifyAuthError,)
    refused_errors = (ShopifyUserError,)
    errors = (ShopifyError,)
    push_retries = 2

    def connect_fields(self):
        return [
            ConnectField("shop_domain", "Shop address", max_length=255,
                         placeholder="your-store.myshopify.com"),
            ConnectField("access_token", "Admin API access token", secret=True,
                         help="the custom app's token (shpat_…)"),
            ConnectField("webhook_secret", "Webhook signing secret", secret=True,
                         help="shown under the app's webhooks settings"),
        ]

    def operator_fields(self):
        return [ConnectField("api_base", "Admin API base URL", url=True, required=False,
                             max_length=255,
                             help="where the shop's Admin API is (the sandbox, a proxy); "
                                  "default: SHOPIFY_API_BASES, else https://SHOP. Checked by "
                                  "the outbound HTTP policy (docs/security.md)")]

    def connect_instructions(self) -> str:
        return ("In Shopify: Settings → Apps → Develop apps → create an app with the scopes "
                "read_orders, write_orders, read/write_merchant_managed_fulfillment_orders, "
                "read/write_products, install it, then paste its Admin API token and the "
                f"webhook signing secret. Point the webhooks ({', '.join(WEBHOOK_TOPICS)}) at "
                f"{webhook_url()}")

    def connect(self, *, workspace, name: str = "", start_import: bool = True,
                by_operator: bool = False, shop_domain: str = "", access_token: str = "",
                webhook_secret: str = "", api_base: str = "") -> StoreConnection:
        """A pasted custom-app token: asked of the store first when a seller pastes it
        (only someone holding a working token learns whether the shop can be connected);
        the operator may point the shop's API elsewhere (`api_base`), a seller never."""
        if api_base and not by_operator:
            raise ValidationFailed("Only the operator chooses where a shop's API is.",
                                   field="api_base")
        return store_connect_shopify(
            workspace=workspace, shop_domain=shop_domain, access_token=access_token,
            webhook_secret=webhook_secret, api_base=api_base, name=name,
            start_import=start_import, verify_token=not by_operator)

    def sandbox_connect(self, *, workspace, sandbox_url: str, name: str = ""):
        """A new shop of its own in the Shopify sandbox (sandboxes/shopify/server.py,
        `POST /_sandbox/shops`), with a few paid orders waiting and its webhooks pointed
        at PodHub, connected as the operator would (its API is under the sandbox)."""
        made = sandbox_post(f"{sandbox_url}/_sandbox/shops",
                            {"webhook_url": webhook_url(), "seed_orders": 3}, what=self.label)
        shop = clean_shop_domain(str(made.get("shop_domain") or ""))
        return self.connect(workspace=workspace, name=name or "Sandbox Shopify store",
                            shop_domain=shop, access_token=str(made.get("access_token") or ""),
                            webhook_secret=str(made.get("webhook_secret") or ""),
                            api_base=f"{sandbox_url}/shops/{shop}", by_operator=True)

    def sandbox_order(self, connection) -> str:
        made = sandbox_post(f"{connection.api_base}/_sandbox/orders", {}, what=self.label)
        return str(made.get("name") or made.get("id") or "")

    def disconnected(self, connection) -> None:
        forget_cached_connection(connection.shop_domain)

    def client(self, connection, **kwargs) -> AdminClient:
        return client_for(connection, **kwargs)

    def push(self, client, connection, msg):
        """A push waits at most PUSH_MAX_WAIT for the store's cost bucket: a longer wait
        is not slept in a worker slot (the fault drill found all but one asleep there,
        while thousands of other tasks queued) but handed back to the outbox, which tries
        again once the bucket has refilled, not counting it as a failed attempt."""
        client.max_wait = PUSH_MAX_WAIT
        try:
            return super().push(client, connection, msg)
        except ShopifyThrottled as exc:
            raise NotYet(str(exc), retry_after=exc.retry_after) from None

    def import_page(self, client: AdminClient, *, cursor: str, count_total: bool) -> ImportPage:
        total = None
        if count_total:
            data = client.execute(queries.ORDERS_COUNT, {"query": IMPORT_QUERY})
            total = int(((data.get("ordersCount") or {}).get("count")) or 0)
        data = client.execute(queries.ORDERS, {"first": queries.ORDERS_PAGE,
                                               "after": cursor or None, "query": IMPORT_QUERY})
        orders = data.get("orders") or {}
        info = orders.get("pageInfo") or {}
        return ImportPage(orders=list(orders.get("nodes") or []),
                          cursor=info.get("endCursor") or cursor,
                          finished=not info.get("hasNextPage"), total=total)

    def map_order(self, client: AdminClient, order: dict):
        return map_node(client, order)

    def changed_orders(self, client: AdminClient, *, since: datetime, max_pages: int):
        query = f"updated_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        after = None
        for _ in range(max_pages):
            data = client.execute(queries.ORDERS, {"first": queries.ORDERS_PAGE,
                                                   "after": after, "query": query})
            orders = data.get("orders") or {}
            yield from orders.get("nodes") or []
            info = orders.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    def updated_at(self, order: dict) -> str:
        return order.get("updatedAt") or ""

    # --- the bulk import (integrations/shopify/bulk.py, services/bulk_imports.py) ----

    bulk_import = True
    bulk_retryable_codes = bulk.RETRYABLE_CODES
    bulk_file_gone = (bulk.BulkFileGone,)

    def import_count(self, client: AdminClient) -> int:
        data = client.execute(queries.ORDERS_COUNT, {"query": IMPORT_QUERY})
        return int(((data.get("ordersCount") or {}).get("count")) or 0)

    def bulk_start(self, client: AdminClient):
        """bulkOperationRunQuery with the import's document. Refused because a bulk query
        of this app already runs in the shop: when it is ours (the same document — a
        worker died before saving its id) it is taken over, else (None, why)."""
        document = queries.bulk_orders_query(IMPORT_QUERY)
        data = client.execute(queries.BULK_RUN, {"query": document})
        payload = data.get("bulkOperationRunQuery") or {}
        errors = user_errors(payload)
        if not errors:
            state = bulk.BulkState.of(payload.get("bulkOperation"))
            if state is None:
                raise ShopifyUserError("bulkOperationRunQuery gave no operation")
            return state, ""
        current = self.bulk_current(client)
        if current is not None and current.running:
            if bulk.same_query(current.query, document):
                return current, ""
            return None, (f"Shopify runs another bulk query of this app ({current.id}): "
                          "the import starts when it ends")
        raise _refused(errors)

    def bulk_read(self, client: AdminClient, operation_id: str):
        data = client.execute(queries.BULK_OPERATION, {"id": operation_id})
        return bulk.BulkState.of(data.get("node"))

    def bulk_current(self, client: AdminClient):
        data = client.execute(queries.CURRENT_BULK_OPERATION)
        return bulk.BulkState.of(data.get("currentBulkOperation"))

    def bulk_file(self, url: str, *, start: int):
        return bulk.download(url, start=start, max_bytes=conf.BULK_MAX_BYTES)

    def bulk_orders(self, chunks, *, start: int):
        return bulk.orders_of(chunks, start=start)

    def read_order(self, client: AdminClient, external_id: str):
        data = client.execute(queries.ORDER, {"id": queries.gid(
            "Order", queries.numeric_id(external_id))})
        return data.get("order")

    def verify_webhook(self, *, body: bytes, signature: str, secrets: list[str]) -> bool:
        return hmac.verify_webhook(body, signature, secrets)

    def webhook_url(self, connection) -> str:
        return webhook_url()  # one app-wide URL: the shop-domain header says which store

    def handled_when_disconnected(self, topic: str) -> bool:
        return topic in PRIVACY_TOPICS  # shop/redact arrives 48 h after the uninstall

    def prefetch_delivery(self, connection, row):
        """orders/edited and refunds/create: read the order from the store. Returns a
        thunk that gives what store_order_read gave (or raises what it raised)."""
        if row.topic not in REREAD_TOPICS:
            return None
        try:
            payload = json.loads(row.body)
        except ValueError:
            return None
        order_id = order_id_of(row.topic, payload) if isinstance(payload, dict) else None
        if order_id in (None, ""):
            return None  # handle_delivery says why
        try:
            mapped = store_order_read(connection=connection, external_id=str(order_id))
        except Exception as exc:  # raised again inside the transaction, which records it
            error = exc

            def fail():
                raise error
            return fail
        return lambda: mapped

    def handle_delivery(self, connection, row, payload, *, now: datetime, prefetched=None):
        topic = row.topic
        if topic in PRIVACY_TOPICS:
            return privacy.handle(connection, row, payload, now=now)
        if topic == "app/uninstalled":
            connection_uninstalled(connection_id=connection.pk, now=now)
            return "uninstalled"
        if topic == BULK_FINISH:
            operation = payload.get("admin_graphql_api_id") if isinstance(payload, dict) \
                else None
            if not operation:
                raise ValidationFailed("The bulk_operations/finish delivery names no "
                                       "operation (admin_graphql_api_id).")
            return bulk_imports.bulk_operation_finished(connection=connection,
                                                        operation_id=str(operation), now=now)
        if topic not in ORDER_TOPICS | REREAD_TOPICS:
            return f"ignored: topic {topic} is not used"
        if not isinstance(payload, dict):
            raise ValidationFailed(f"The {topic} delivery is not a JSON object.")
        if topic in ORDER_TOPICS:
            return from_rest(payload)
        order_id = order_id_of(topic, payload)
        if order_id in (None, ""):
            raise ValidationFailed(f"The {topic} delivery names no order.")
        mapped = prefetched() if prefetched else store_order_read(
            connection=connection, external_id=str(order_id))
        if mapped is None:
            return f"ignored: the store has no order {order_id}"
        return mapped

    def push_handlers(self):
        return HANDLERS


PLATFORM = Shopify()
