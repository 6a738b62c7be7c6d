"""A ShineOn Orders API v1 stand-in (docs/fulfillment.md, "ShineOn").

Written from: ShineOn's wiki page "Orders API Get Single Order"
(https://github.com/ShineOnCom/api/wiki/Orders-API-Get-Single-Order: the order
object's fields) and the MIT SDK sellersmith/shineon-sdk (README "Order Status
Flow", src/types/orders.ts, src/types/webhooks.ts, src/resources/orders.ts,
src/http-client.ts). ShineOn's reference (api.shineon.com/docs) is not public, so
the error wording and the validation are ours, in the Laravel style ShineOn's
answers use (`{"error": "…"}`); they are marked "ours" below.

  Authorization: Bearer <token>                   401 {"error": "Unauthenticated."} (ours)
  POST /v1/orders {"order": {...}}                 201 {"order": {...}}; `ready: 0` -> on_hold,
                                                   else awaiting_payment; 422 when the
                                                   source_id is taken (ours) or a field is bad
  GET  /v1/orders?source_ids=a,b&ids=&status=      {"orders": [...]}
  GET  /v1/orders/{id}                             {"order": {...}} | 404
  PUT  /v1/orders/{id} {"order": {...}}            on_hold / awaiting_payment only (422 after):
                                                   the whole order replaced (SDK
                                                   resources/orders.ts `update`); a held
                                                   order stays held
  POST /v1/orders/{id}/hold                        awaiting_payment -> on_hold
  POST /v1/orders/{id}/ready                       on_hold -> awaiting_payment
  POST /v1/orders/{id}/cancel                      202, empty; 422 once shipped

The compressed clock: awaiting_payment -> in_production -> shipped (one parcel per
item, each line with its own tracking_company / tracking_number); an order on
hold does not move. Shipment notifications go to each order's
`shipment_notification_url` (the SDK's `ShipmentNotification` shape, plus
`status`, ours): on production, on shipping and on a cancel. No signature (none is
documented): PodHub's URL carries its own token. SKUs are "SO-…"; "SO-99999" is
one this stand-in does not make.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sandboxes.providers.base import Order, Reply, StandIn

STATUS = {"received": "awaiting_payment", "in_production": "in_production",
          "shipped": "shipped", "delivered": "shipped", "cancelled": "cancelled"}
ADDRESS_REQUIRED = ["name", "address1", "city", "zip", "country_code"]


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ShineOnStandIn(StandIn):
    name = "shineon"
    id_prefix = ""
    discontinued = {"SO-99999"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra: dict[str, dict] = {}  # order id -> url, email, method, hold reason

    def unauthorized(self) -> Reply:
        return _error(401, "Unauthenticated.")

    def route(self, method, parts, query, headers, data) -> Reply:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return self.unauthorized()
        if parts[:2] != ["v1", "orders"]:
            return _error(404, "Not found")
        if len(parts) == 2 and method == "POST":
            return self._create(data.get("order"))
        if len(parts) == 2 and method == "GET":
            return self._list(query)
        order = self.orders.get(parts[2]) if len(parts) >= 3 else None
        if order is None:
            return _error(404, "Order not found")
        rest = parts[3:]
        if not rest and method == "GET":
            return Reply(200, {"order": self.as_json(order)})
        if not rest and method == "PUT":
            return self._update(order, data.get("order"))
        if rest == ["hold"] and method == "POST":
            with self.lock:
                if self.status(order) != "awaiting_payment":
                    return _error(422, f"The order is {self.status(order)} and cannot be held.")
                order.draft = True
            return Reply(200, {"order": self.as_json(order)})
        if rest == ["ready"] and method == "POST":
            with self.lock:
                if not order.draft or order.cancelled:
                    return _error(422, "The order is not on hold.")
                order.draft = False
                order.next_at = self.clock() + self.step_seconds
                self.extra[order.id]["on_hold_reason"] = None
                self.stats["confirms"] += 1
            return Reply(200, {"order": self.as_json(order)})
        if rest == ["cancel"] and method == "POST":
            with self.lock:
                if order.cancelled or order.stage >= 2:
                    return _error(422, f"The order is {self.status(order)} and cannot be "
                                       "cancelled.")
                order.cancelled = True
                self.extra[order.id]["cancelled_at"] = _stamp()
            self.queue(self.notification(order))
            return Reply(202, None)
        return _error(405, "Method not allowed")

    # --- orders --------------------------------------------------------------------------
    def _validate(self, body) -> tuple[Reply | None, list[dict], dict]:
        if not isinstance(body, dict):
            return _error(422, "The order field is required."), [], {}
        if not body.get("shipment_notification_url"):
            return _error(422, "The order.shipment notification url field is required."), [], {}
        address = body.get("shipping_address") or {}
        for field in ADDRESS_REQUIRED:
            if not address.get(field):
                return _error(422, f"The order.shipping address.{field} field is required."), \
                    [], {}
        lines = body.get("line_items") or []
        if not lines:
            return _error(422, "The order.line items field is required."), [], {}
        items = []
        for n, line in enumerate(lines):
            sku = str(line.get("sku") or "")
            if not sku.startswith("SO-"):
                return _error(422, f"The selected line_items.{n}.sku is invalid."), [], {}
            if sku in self.discontinued:
                return _error(422, f"line_items.{n}: {sku} is not available."), [], {}
            if not line.get("store_line_item_id"):
                return _error(422, f"The line_items.{n}.store_line_item_id field is "
                                   "required."), [], {}
            properties = line.get("properties") or {}
            url = str(properties.get("print_url") or "")
            if url and not url.startswith(("http://", "https://")):
                return _error(422, f"line_items.{n}.properties.print_url is not a URL."), [], {}
            items.append({"ref": str(line["store_line_item_id"]), "sku": sku,
                          "quantity": int(line.get("quantity") or 1),
                          "properties": properties, "line_id": 20000 + n})
        return None, items, address

    def _create(self, body) -> Reply:
        refused, items, address = self._validate(body)
        if refused:
            return refused
        source_id = str(body.get("source_id") or "")
        if not source_id:
            return _error(422, "The order.source id field is required.")
        with self.lock:
            if source_id in self.by_reference:
                self.stats["duplicates"] += 1
                return _error(422, "The source id has already been taken.")
            order = self.new_order(reference=source_id, recipient=address, items=items,
                                   draft=str(body.get("ready", 1)) == "0")
            self.extra[order.id] = {
                "url": body["shipment_notification_url"], "email": body.get("email") or "",
                "method": body.get("shipping_method") or "standard-us",
                "on_hold_reason": None, "cancelled_at": None}
        return Reply(201, {"order": self.as_json(order)})

    def _update(self, order: Order, body) -> Reply:
        refused, items, address = self._validate(body)
        if refused:
            return refused
        with self.lock:
            if self.status(order) not in ("on_hold", "awaiting_payment"):
                return _error(422, f"The order is {self.status(order)} and can no longer be "
                                   "updated.")
            order.items, order.recipient = items, address
            self.extra[order.id]["url"] = body["shipment_notification_url"]
            self.stats["updates"] = self.stats.get("updates", 0) + 1
        return Reply(200, {"order": self.as_json(order)})

    def _list(self, query: dict) -> Reply:
        wanted = {s for s in str(query.get("source_ids") or "").split(",") if s}
        ids = {s for s in str(query.get("ids") or "").split(",") if s}
        with self.lock:
            found = [self.as_json(o) for o in self.orders.values()
                     if (not wanted or o.reference in wanted) and (not ids or o.id in ids)
                     and (not query.get("status") or self.status(o) == query["status"])]
        return Reply(200, {"orders": found[:int(query.get("limit") or 50)]})

    # --- JSON ------------------------------------------------------------------------------
    def status(self, order: Order) -> str:
        return "on_hold" if order.draft and not order.cancelled else STATUS[order.stage_name]

    def as_json(self, order: Order) -> dict:
        extra = self.extra.get(order.id, {})
        tracking = {id(i): s for s in order.shipments for i in s["items"]}
        return {
            "id": int(order.id), "status": self.status(order),
            "on_hold_reason": extra.get("on_hold_reason"), "store_customer_id": None,
            "store_order_id": order.reference, "source_id": order.reference,
            "source_url": None, "source_name": None, "source_po_number": None,
            "packing_slip_url": None, "shipment_notification_url": extra.get("url"),
            "shipping_method": extra.get("method"), "email": extra.get("email"),
            "note": None, "test": False, "currency": "USD", "name": f"SHINE-{order.id}",
            "cancelled_at": extra.get("cancelled_at"),
            "cancel_reason": "canceled_by_seller" if order.cancelled else None,
            "line_items": [{
                "id": i["line_id"], "store_line_item_id": i["ref"], "sku": i["sku"],
                "title": i["sku"], "quantity": i["quantity"], "properties": i["properties"],
                "tracking_company": tracking[id(i)]["carrier"] if id(i) in tracking else None,
                "tracking_number": tracking[id(i)]["number"] if id(i) in tracking else None}
                for i in order.items],
            "shipping_address": order.recipient}

    def notification(self, order: Order) -> dict:
        data = self.as_json(order)
        return {"order": {k: data[k] for k in ("id", "source_id", "store_order_id", "status")}
                | {"line_items": [{k: li[k] for k in (
                    "id", "store_line_item_id", "sku", "quantity", "tracking_company",
                    "tracking_number")} for li in data["line_items"]]}}

    def events_for(self, order: Order, stage: str) -> list[dict]:
        if stage in ("in_production", "shipped"):
            return [self.notification(order)]
        return []  # no "delivered" at ShineOn

    def destination(self, event: dict) -> str:
        order = self.orders.get(str(event["order"]["id"]))
        return self.extra.get(order.id, {}).get("url", "") if order else ""
