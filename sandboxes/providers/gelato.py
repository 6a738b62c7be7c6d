"""A Gelato order API v4 stand-in (docs/fulfillment.md, "Public providers").

  X-API-KEY: <key>                                 401 otherwise
  POST  /v4/orders                                 orderType order|draft; 409 when the
                                                   orderReferenceId is already used
  POST  /v4/orders:search {"orderReferenceIds": [...]}  -> {"orders": [...]}
  GET   /v4/orders/{id}
  PATCH /v4/orders/{id} {"orderType": "order"}     drafts only
  POST  /v4/orders/{id}:cancel                     409 once printed

Webhooks (unsigned at Gelato; PodHub's URL is guarded by a shared token sent in
`X-PodHub-Webhook-Token`): `order_status_updated` on every change (with
`legacy_object_form`, the older `"object": "orderStatus"` shape), and with
`item_tracking_events` one `order_item_tracking_code_updated` per item.
"""

from __future__ import annotations

from sandboxes.providers.base import Order, Reply, StandIn

WEBHOOK_TOKEN_HEADER = "X-PodHub-Webhook-Token"  # as fulfillment.providers.base

STATUS = {"received": "passed", "in_production": "printed", "shipped": "shipped",
          "delivered": "delivered", "cancelled": "canceled"}


class GelatoStandIn(StandIn):
    name = "gelato"
    id_prefix = "gel-"

    def __init__(self, *, legacy_object_form: bool = False, item_tracking_events: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.legacy_object_form = legacy_object_form
        self.item_tracking_events = item_tracking_events

    def unauthorized(self) -> Reply:
        return Reply(401, {"code": "unauthorized", "message": "Invalid API key"})

    def route(self, method, parts, query, headers, data) -> Reply:
        if headers.get("x-api-key") != self.api_key:
            return self.unauthorized()
        if parts == ["v4", "orders"] and method == "POST":
            return self._create(data)
        if parts == ["v4", "orders:search"] and method == "POST":
            refs = set(map(str, data.get("orderReferenceIds") or []))
            with self.lock:
                found = [self.as_json(o) for o in self.orders.values()
                         if not refs or o.reference in refs]
            return Reply(200, {"orders": found[:int(data.get("limit") or 50)]})
        if len(parts) == 3 and parts[:2] == ["v4", "orders"]:
            order_id, _, action = parts[2].partition(":")
            order = self.orders.get(order_id)
            if order is None:
                return Reply(404, {"code": "not_found", "message": f"Order {order_id} not found"})
            if not action and method == "GET":
                return Reply(200, self.as_json(order))
            if not action and method == "PATCH":
                with self.lock:
                    if not order.draft:
                        return Reply(409, {"code": "conflict",
                                           "message": "Only draft orders can be patched"})
                    if data.get("orderType") == "order":
                        order.draft = False
                        order.next_at = self.clock() + self.step_seconds
                return Reply(200, self.as_json(order))
            if action == "cancel" and method == "POST":
                with self.lock:
                    if order.stage >= 1:
                        return Reply(409, {"code": "conflict", "message":
                                           "The order is printed and cannot be cancelled"})
                    order.cancelled = True
                    events = self.events_for(order, "cancelled")
                for event in events:
                    self.queue(event)
                return Reply(200, {})
        return Reply(404, {"code": "not_found", "message": "Not found"})

    def _create(self, data: dict) -> Reply:
        reference = str(data.get("orderReferenceId") or "")
        if not reference or not data.get("customerReferenceId"):
            return Reply(400, {"code": "invalid", "message":
                               "orderReferenceId and customerReferenceId are required"})
        address = data.get("shippingAddress") or {}
        if not address.get("country"):
            return Reply(400, {"code": "invalid", "message": "shippingAddress.country is "
                                                             "required"})
        items = []
        for n, item in enumerate(data.get("items") or [], 1):
            if not item.get("productUid") or not item.get("itemReferenceId"):
                return Reply(400, {"code": "invalid", "message":
                                   f"items[{n}]: productUid and itemReferenceId are required"})
            if str(item["productUid"]).startswith("unknown"):
                return Reply(400, {"code": "invalid",
                                   "message": f"Product {item['productUid']} does not exist"})
            items.append({"ref": str(item["itemReferenceId"]), "sku": str(item["productUid"]),
                          "quantity": int(item.get("quantity") or 1),
                          "files": item.get("files") or []})
        if not items:
            return Reply(400, {"code": "invalid", "message": "An order needs items"})
        with self.lock:
            if reference in self.by_reference:
                self.stats["duplicates"] += 1
                return Reply(409, {"code": "conflict", "message":
                                   f"Order with orderReferenceId {reference} already exists"})
            order = self.new_order(reference=reference, recipient=address, items=items,
                                   draft=data.get("orderType") == "draft")
        return Reply(201, self.as_json(order))

    # --- JSON ----------------------------------------------------------------------------
    def as_json(self, order: Order) -> dict:
        status = "draft" if order.draft else STATUS[order.stage_name]
        parcel_of = {id(i): s for s in order.shipments for i in s["items"]}
        items = []
        for n, item in enumerate(order.items, 1):
            parcel = parcel_of.get(id(item))
            items.append({
                "id": f"{order.id}-i{n}", "itemReferenceId": item["ref"],
                "productUid": item["sku"], "quantity": item["quantity"],
                "fulfillmentStatus": status,
                "fulfillments": [{"trackingCode": parcel["number"], "trackingUrl": parcel["url"],
                                  "shipmentMethodName": parcel["carrier"],
                                  "shipmentMethodUid": "standard", "fulfillmentCountry": "US"}]
                if parcel else []})
        return {"id": order.id, "orderType": "draft" if order.draft else "order",
                "orderReferenceId": order.reference, "fulfillmentStatus": status,
                "financialStatus": "paid" if not order.draft else "draft",
                "shippingAddress": order.recipient, "items": items}

    def events_for(self, order: Order, stage: str) -> list[dict]:
        data = self.as_json(order)
        head = ({"object": "orderStatus"} if self.legacy_object_form
                else {"event": "order_status_updated"})
        events = [{"id": f"os_{self.event_id()}", **head, "orderId": order.id,
                   "storeId": None, "orderReferenceId": order.reference,
                   "fulfillmentStatus": data["fulfillmentStatus"], "items": data["items"]}]
        if stage == "shipped" and self.item_tracking_events:
            for item in data["items"]:
                for f in item["fulfillments"]:
                    events.append({"id": f"oi_{self.event_id()}",
                                   "event": "order_item_tracking_code_updated",
                                   "orderId": order.id, "orderReferenceId": order.reference,
                                   "itemReferenceId": item["itemReferenceId"],
                                   "fulfillmentStatus": "shipped", **f})
        return events

    def webhook_headers(self, body: bytes) -> dict:
        return {WEBHOOK_TOKEN_HEADER: self.webhook_secret}
