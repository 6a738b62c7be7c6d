"""A CustomCat order API stand-in (docs/fulfillment.md; third-party sources, so
the shapes are our best reading of them).

  api_key in the query or the JSON body           401 unknown, 403 read-only key on a write
  POST   /api/v1/order/{order_id}                 our id is the idempotency key:
                                                  400 "Duplicate order_id" the second time
  GET    /api/v1/order/status/{order_id}          Pending / In Production / Shipped /
                                                  Cancelled, items, shipments + tracking
  DELETE /api/v1/order/{order_id}                 only before production (400 after)

No webhooks: PodHub polls the status call. The `/api/v1` prefix is optional.
"""

from __future__ import annotations

from sandboxes.providers.base import Order, Reply, StandIn

STATUS = {"received": "Pending", "in_production": "In Production", "shipped": "Shipped",
          "delivered": "Shipped", "cancelled": "Cancelled"}
REQUIRED = ["shipping_first_name", "shipping_address1", "shipping_city", "shipping_zip",
            "shipping_country", "shipping_email"]


class CustomCatStandIn(StandIn):
    name = "customcat"
    id_prefix = "CC"

    def __init__(self, *, read_only_key: str = "", **kwargs):
        super().__init__(**kwargs)
        self.read_only_key = read_only_key

    def unauthorized(self) -> Reply:
        return Reply(401, {"message": "Invalid api_key"})

    def route(self, method, parts, query, headers, data) -> Reply:
        if parts[:2] == ["api", "v1"]:
            parts = parts[2:]
        key = str(query.get("api_key") or data.get("api_key") or "")
        if key == self.read_only_key and key and method != "GET":
            return Reply(403, {"message": "This API key is read-only"})
        if key not in (self.api_key, self.read_only_key) or not key:
            return self.unauthorized()
        if len(parts) == 3 and parts[:2] == ["order", "status"] and method == "GET":
            order = self.find(parts[2])
            if order is None:
                return Reply(404, {"message": f"Order {parts[2]} not found"})
            return Reply(200, self.as_json(order))
        if len(parts) == 2 and parts[0] == "order" and method == "POST":
            return self._create(parts[1], data)
        if len(parts) == 2 and parts[0] == "order" and method == "DELETE":
            order = self.find(parts[1])
            if order is None:
                return Reply(404, {"message": f"Order {parts[1]} not found"})
            with self.lock:
                if order.stage > 0:
                    return Reply(400, {"message": "Order is in production and cannot be "
                                                  "cancelled"})
                order.cancelled = True
            return Reply(200, {"message": "Order cancelled"})
        return Reply(404, {"message": "Not found"})

    def _create(self, order_id: str, data: dict) -> Reply:
        if str(data.get("order_id") or order_id) != order_id:
            return Reply(400, {"message": "order_id in the body differs from the URL"})
        missing = [f for f in REQUIRED if not data.get(f)]
        if missing:
            return Reply(400, {"message": f"Missing required fields: {', '.join(missing)}"})
        items = []
        for n, item in enumerate(data.get("items") or [], 1):
            sku = str(item.get("catalog_sku") or item.get("sku") or "")
            if not sku:
                return Reply(400, {"message": f"Item {n}: sku or catalog_sku is required"})
            if item.get("catalog_sku") and not item.get("design_url"):
                return Reply(400, {"message": f"Item {n}: design_url is required with "
                                              "catalog_sku"})
            items.append({"ref": sku, "sku": sku, "quantity": int(item.get("quantity") or 1),
                          "design_url": item.get("design_url") or "",
                          "design_url_back": item.get("design_url_back") or ""})
        if not items:
            return Reply(400, {"message": "An order needs items"})
        with self.lock:
            if order_id in self.by_reference:
                self.stats["duplicates"] += 1
                return Reply(400, {"message": f"Duplicate order_id {order_id}"})
            if data.get("sandbox"):
                return Reply(200, {"message": "Order validated (sandbox)", "order_id": order_id})
            self.new_order(reference=order_id, recipient={
                k: v for k, v in data.items() if k.startswith("shipping_")}, items=items)
        return Reply(200, {"message": "Order added successfully", "order_id": order_id})

    def as_json(self, order: Order) -> dict:
        stage = order.stage_name
        return {
            "order_id": order.reference, "customcat_order_id": order.id,
            "status": STATUS[stage],
            "items": [{"catalog_sku": i["sku"], "quantity": i["quantity"],
                       "production_status": "Shipped" if order.shipments else STATUS[stage]}
                      for i in order.items],
            "shipments": [{"id": s["id"], "carrier": s["carrier"], "tracking_id": s["number"],
                           "tracking_url": s["url"], "ship_date": "",
                           "items": [{"catalog_sku": i["sku"], "quantity": i["quantity"]}
                                     for i in s["items"]]} for s in order.shipments],
            "shipping_address": order.recipient}
