"""A Printful API v2 stand-in (docs/fulfillment.md, "Public providers").

  Authorization: Bearer <token>                     401 otherwise
  POST   /v2/orders                                 draft; 409 if external_id is taken
  GET    /v2/orders/{id} | /v2/orders/@{external_id}
  POST   /v2/orders/{id}/confirmation               draft -> pending (409 if not a draft)
  GET    /v2/orders/{id}/shipments
  DELETE /v2/orders/{id}                            cancel before shipping (409 after)

Every answer carries `X-Ratelimit-*` headers; a 429 fault adds `Retry-After`.
Webhooks v2: `{type, occurred_at, retries, store_id, data}` signed with
`x-pf-webhook-signature` = hex HMAC-SHA256(raw body, secret): `order_updated`
when production starts, one `shipment_sent` per parcel, `order_canceled`,
`order_failed` (see `fail`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sandboxes.providers.base import Order, Reply, StandIn

STATUS = {"received": "pending", "in_production": "inprocess", "shipped": "fulfilled",
          "delivered": "fulfilled", "cancelled": "canceled"}
STORE_ID = 4242


def _error(status: int, message: str, reason: str = "BadRequest") -> Reply:
    return Reply(status, {"code": status, "error": {"reason": reason, "message": message}})


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class PrintfulStandIn(StandIn):
    name = "printful"
    id_prefix = ""
    refuse_variants = {999999}  # catalog variants this stand-in "does not make"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.failed: dict[str, str] = {}

    def unauthorized(self) -> Reply:
        return _error(401, "Invalid or missing access token", "Unauthorized")

    def route(self, method, parts, query, headers, data) -> Reply:
        reply = self._route(method, parts, headers, data)
        reply.headers.update({"X-Ratelimit-Policy": "120;w=60;", "X-Ratelimit-Limit": "120",
                              "X-Ratelimit-Remaining": "119", "X-Ratelimit-Reset": "0"})
        return reply

    def _route(self, method, parts, headers, data) -> Reply:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return self.unauthorized()
        if parts[:2] != ["v2", "orders"]:
            return _error(404, "Not found", "NotFound")
        if parts == ["v2", "orders"] and method == "POST":
            return self._create(data)
        order = self.find(parts[2].removeprefix("@")) if len(parts) >= 3 else None
        if order is None or (parts[2].startswith("@") and order.reference != parts[2][1:]):
            return _error(404, "Order not found", "NotFound")
        rest = parts[3:]
        if not rest and method == "GET":
            return Reply(200, {"data": self.as_json(order)})
        if not rest and method == "DELETE":
            with self.lock:
                if order.stage >= 2:
                    return _error(409, "Order is already fulfilled", "Conflict")
                order.cancelled = True
            self.queue(self._event("order_canceled", order))
            return Reply(200, {"data": self.as_json(order)})
        if rest == ["confirmation"] and method == "POST":
            with self.lock:
                if not order.draft:
                    return _error(409, "Only draft orders can be confirmed", "Conflict")
                order.draft = False
                order.next_at = self.clock() + self.step_seconds
                self.stats["confirms"] += 1
            return Reply(200, {"data": self.as_json(order)})
        if rest == ["shipments"] and method == "GET":
            return Reply(200, {"data": [self.shipment_json(order, s) for s in order.shipments]})
        return _error(405, "Method not allowed", "MethodNotAllowed")

    def _create(self, data: dict) -> Reply:
        external_id = str(data.get("external_id") or "")
        items = data.get("order_items") or []
        recipient = data.get("recipient") or {}
        if not recipient.get("country_code"):
            return _error(400, "Recipient country_code is required")
        parsed = []
        for n, item in enumerate(items, 1):
            variant = item.get("catalog_variant_id")
            if item.get("source") != "catalog" or not isinstance(variant, int):
                return _error(400, f"order_items[{n}]: catalog_variant_id is required")
            if variant in self.refuse_variants:
                return _error(400, f"Catalog variant {variant} is discontinued")
            parsed.append({"ref": item.get("external_id"), "sku": str(variant),
                           "quantity": int(item.get("quantity") or 1),
                           "placements": item.get("placements") or [], "item_id": 50000 + n})
        with self.lock:
            if external_id and external_id in self.by_reference:
                self.stats["duplicates"] += 1
                return _error(409, f"Order with external_id {external_id} already exists",
                              "Conflict")
            order = self.new_order(reference=external_id, recipient=recipient, items=parsed,
                                   draft=True)
        return Reply(200, {"data": self.as_json(order)})

    def fail(self, key: str, reason: str = "Print file could not be processed") -> None:
        """The factory gives up on an order: status failed and an `order_failed` event."""
        order = self.find(key)
        with self.lock:
            order.cancelled = True
            self.failed[order.id] = reason
        self.send(self._event("order_failed", order, reason=reason))

    # --- JSON ----------------------------------------------------------------------------
    def as_json(self, order: Order) -> dict:
        if order.id in self.failed:
            status = "failed"
        else:
            status = "draft" if order.draft else STATUS[order.stage_name]
        return {
            "id": int(order.id), "external_id": order.reference, "store_id": STORE_ID,
            "status": status, "recipient": order.recipient,
            "order_items": [{"id": i["item_id"], "external_id": i["ref"],
                             "catalog_variant_id": int(i["sku"]), "quantity": i["quantity"],
                             "placements": i["placements"]} for i in order.items]}

    def shipment_json(self, order: Order, s: dict) -> dict:
        return {
            "id": int(s["id"].rsplit("-P", 1)[1]) + int(order.id) * 100,
            "order_id": int(order.id), "order_external_id": order.reference,
            "carrier": s["carrier"], "service": f"{s['carrier']} Ground",
            "shipment_status": "shipped", "shipped_at": _stamp(),
            "delivery_status": "delivered" if order.stage_name == "delivered" else "pre_transit",
            "tracking_number": s["number"], "tracking_url": s["url"], "is_reshipment": False,
            "shipment_items": [{"id": 70000 + n, "order_item_id": i["item_id"],
                                "order_item_external_id": i["ref"],
                                "quantity": i["quantity"]}
                               for n, i in enumerate(s["items"], 1)]}

    def _event(self, kind: str, order: Order, **data) -> dict:
        return {"type": kind, "occurred_at": _stamp(), "retries": 0, "store_id": STORE_ID,
                "data": {"order": self.as_json(order), **data}}

    def events_for(self, order: Order, stage: str) -> list[dict]:
        if stage == "in_production":
            return [self._event("order_updated", order)]
        if stage == "shipped":
            return [self._event("shipment_sent", order, shipment=self.shipment_json(order, s))
                    for s in order.shipments]
        return []

    def webhook_headers(self, body: bytes) -> dict:
        return {"x-pf-webhook-signature": hmac.new(self.webhook_secret.encode(), body,
                                                   hashlib.sha256).hexdigest(),
                "x-pf-webhook-public-key": "c3RhbmQtaW4="}
