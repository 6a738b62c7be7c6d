"""A Printify API v1 stand-in (orders and webhooks; docs/fulfillment.md, "Printify").

Written from: developers.printify.com's overview (Bearer token, User-Agent, one
global limit of 600 requests a minute answered 429) and the MIT SDK
spencerlepine/printify-sdk-js, docs/API.md, which copies the reference's examples
(the order body for print on the fly, the order object with `metadata.shop_order_id`
and `shipments[{carrier, number, url, delivered_at}]`, send_to_production, cancel of
an on-hold order, the shipping calculation, webhooks `{topic, url, secret}`). The
error bodies, the refusal of a repeated external_id and the webhook body are ours,
after what third-party receivers of Printify's events read (`{id, type, created_at,
resource: {id, type, data}}`, signed `X-Pfy-Signature: sha256=<hex HMAC-SHA256 of
the body with the webhook's secret>`) [verify].

  Authorization: Bearer <token>                    401 otherwise; another shop id: 403
  POST /v1/shops/{shop}/orders.json               {"id"}; the order waits "on-hold"
  GET  /v1/shops/{shop}/orders.json?page&limit     newest first, {current_page, last_page, data}
  GET  /v1/shops/{shop}/orders/{id}.json
  POST /v1/shops/{shop}/orders/{id}/send_to_production.json   on-hold only
  POST /v1/shops/{shop}/orders/{id}/cancel.json    on-hold / payment-not-received only
  POST /v1/shops/{shop}/orders/shipping.json       cents per method
  GET|POST /v1/shops/{shop}/webhooks.json          subscriptions {topic, url, secret}

The clock: sending-to-production -> in-production (`order:sent-to-production`) ->
fulfilled, one parcel per item (`order:shipment:created` each, naming Printify's
SKUs) -> delivered (`order:shipment:delivered`). More than `per_minute` calls in a
minute answer 429 with `Retry-After`. Variant 999999 is one no provider makes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from collections import deque
from datetime import UTC, datetime

from sandboxes.providers.base import Order, Reply, StandIn

STATUS = {"received": "sending-to-production", "in_production": "in-production",
          "shipped": "fulfilled", "delivered": "fulfilled", "cancelled": "canceled"}
SHOP_ID = 815256
ADDRESS_REQUIRED = ["first_name", "last_name", "country", "address1", "city", "zip"]


def _error(status: int, reason: str, code: int = 8150) -> Reply:
    return Reply(status, {"status": "error", "code": code, "message": "Validation failed.",
                          "errors": {"reason": reason, "code": code}})


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


class PrintifyStandIn(StandIn):
    name = "printify"
    id_prefix = "5a96f649b2439217d070"  # + 4 digits: Printify's 24-hex ids
    unavailable_variants = {999999}

    def __init__(self, *, shop_id: int = SHOP_ID, per_minute: int = 600, **kwargs):
        super().__init__(**kwargs)
        self.shop_id = shop_id
        self.per_minute = per_minute
        self.calls: deque[float] = deque()
        self.hooks: dict[str, dict] = {}  # topic -> {"id", "topic", "url", "secret"}
        self.extra: dict[str, dict] = {}  # order id -> label, created_at, ...
        self._skus = itertools.count(10_000_001)

    @classmethod
    def connection_key(cls, api_key: str) -> str:
        return f"{api_key}:{SHOP_ID}"  # PrintifyClient's <token>:<shop id>

    def unauthorized(self) -> Reply:
        return Reply(401, {"status": "error", "code": 401, "message": "Unauthenticated."})

    def _rate_limited(self) -> Reply | None:
        now = self.clock()
        with self.lock:
            while self.calls and self.calls[0] <= now - 60:
                self.calls.popleft()
            if len(self.calls) >= self.per_minute:
                wait = str(max(1, int(self.calls[0] + 60 - now + 0.999)))
                return Reply(429, {"status": "error", "code": 429,
                                   "message": "Too Many Attempts."}, {"Retry-After": wait})
            self.calls.append(now)
        return None

    def route(self, method, parts, query, headers, data) -> Reply:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return self.unauthorized()
        limited = self._rate_limited()
        if limited:
            return limited
        if parts[:2] != ["v1", "shops"] or len(parts) < 4:
            return Reply(404, {"status": "error", "message": "Not found"})
        if parts[2] != str(self.shop_id):
            return Reply(403, {"status": "error", "code": 403,
                               "message": f"Shop {parts[2]} is not yours"})
        rest = parts[3:]
        if rest == ["orders.json"]:
            return self._create(data) if method == "POST" else self._list(query)
        if rest == ["orders", "shipping.json"] and method == "POST":
            n = sum(int(li.get("quantity") or 1) for li in data.get("line_items") or [])
            extra = max(0, n - 1)
            return Reply(200, {"standard": 400 + 200 * extra, "express": 1200 + 300 * extra,
                               "priority": 1200 + 300 * extra, "printify_express": 799,
                               "economy": 300 + 150 * extra})
        if rest == ["webhooks.json"]:
            if method == "POST":
                hook = {"id": uuid.uuid4().hex[:24], "topic": str(data.get("topic") or ""),
                        "url": str(data.get("url") or ""), "shop_id": str(self.shop_id),
                        "secret": str(data.get("secret") or "")}
                self.hooks[hook["topic"]] = hook
                return Reply(200, {k: v for k, v in hook.items() if k != "secret"})
            return Reply(200, [{k: v for k, v in h.items() if k != "secret"}
                               for h in self.hooks.values()])
        if len(rest) >= 2 and rest[0] == "orders":
            order = self.orders.get(rest[1].removesuffix(".json"))
            if order is None:
                return Reply(404, {"status": "error", "code": 404, "message": "Not found"})
            if len(rest) == 2 and method == "GET":
                return Reply(200, self.as_json(order))
            if rest[2:] == ["send_to_production.json"] and method == "POST":
                with self.lock:
                    if not order.draft or order.cancelled:
                        return _error(400, f"Order {order.id} is {self.status(order)}, not "
                                           "on-hold", 8502)
                    order.draft = False
                    order.next_at = self.clock() + self.step_seconds
                    self.stats["confirms"] += 1
                return Reply(200, self.as_json(order))
            if rest[2:] == ["cancel.json"] and method == "POST":
                with self.lock:
                    if not order.draft or order.cancelled:
                        return _error(400, f"Only on-hold orders can be canceled; {order.id} "
                                           f"is {self.status(order)}", 8503)
                    order.cancelled = True
                self.queue(self._event("order:updated", order,
                                       {"status": "canceled"}))
                return Reply(200, self.as_json(order))
        return Reply(404, {"status": "error", "message": "Not found"})

    # --- orders ----------------------------------------------------------------------------
    def _create(self, data: dict) -> Reply:
        external_id = str(data.get("external_id") or "")
        address = data.get("address_to") or {}
        missing = [f for f in ADDRESS_REQUIRED if not address.get(f)]
        if missing:
            return _error(400, f"address_to.{missing[0]} is required")
        items = []
        for n, li in enumerate(data.get("line_items") or []):
            try:
                blueprint, provider, variant = (int(li[k]) for k in (
                    "blueprint_id", "print_provider_id", "variant_id"))
            except (KeyError, TypeError, ValueError):
                return _error(400, f"line_items.{n}: blueprint_id, print_provider_id and "
                                   "variant_id are required for print on the fly")
            areas = li.get("print_areas") or {}
            if not isinstance(areas, dict) or not areas or not all(
                    str(u).startswith(("http://", "https://")) for u in areas.values()):
                return _error(400, f"line_items.{n}.print_areas needs image URLs")
            if variant in self.unavailable_variants:
                return _error(400, f"Variant {variant} is not available from print provider "
                                   f"{provider}", 8253)
            items.append({"ref": None, "sku": str(next(self._skus)), "blueprint": blueprint,
                          "provider": provider, "variant": variant, "areas": areas,
                          "quantity": int(li.get("quantity") or 1),
                          "product_id": uuid.uuid4().hex[:24]})
        if not items:
            return _error(400, "line_items is required")
        with self.lock:
            if external_id and external_id in self.by_reference:
                self.stats["duplicates"] += 1
                return _error(400, f"An order with external_id {external_id} already exists")
            order = self.new_order(reference=external_id, recipient=address, items=items,
                                   draft=True)
            self.extra[order.id] = {"label": data.get("label") or "", "created_at": _stamp(),
                                    "method": int(data.get("shipping_method") or 1)}
        self.queue(self._event("order:created", order, {}))
        return Reply(200, {"id": order.id})

    def _list(self, query: dict) -> Reply:
        limit = min(int(query.get("limit") or 10), 10)
        page = max(int(query.get("page") or 1), 1)
        with self.lock:
            newest = sorted(self.orders.values(), key=lambda o: o.id, reverse=True)
            if query.get("status"):
                newest = [o for o in newest if self.status(o) == query["status"]]
            chunk = [self.as_json(o) for o in newest[(page - 1) * limit:page * limit]]
        last = max(1, -(-len(newest) // limit))
        return Reply(200, {"current_page": page, "last_page": last, "total": len(newest),
                           "data": chunk})

    # --- JSON and events ---------------------------------------------------------------------
    def status(self, order: Order) -> str:
        return "on-hold" if order.draft and not order.cancelled else STATUS[order.stage_name]

    def as_json(self, order: Order) -> dict:
        extra = self.extra.get(order.id, {})
        status = self.status(order)
        delivered = order.stage_name == "delivered"
        return {
            "id": order.id, "address_to": order.recipient,
            "line_items": [{
                "product_id": i["product_id"], "quantity": i["quantity"],
                "variant_id": i["variant"], "print_provider_id": i["provider"],
                "blueprint_id": i["blueprint"], "cost": 1050, "shipping_cost": 400,
                "status": status, "metadata": {"title": f"API {order.reference}",
                                               "variant_label": str(i["variant"]),
                                               "sku": i["sku"], "country": "United States"}}
                for i in order.items],
            "metadata": {"order_type": "api", "shop_order_id": order.reference,
                         "shop_order_label": extra.get("label", "")},
            "total_price": 1050 * len(order.items), "total_shipping": 400, "total_tax": 0,
            "status": status, "shipping_method": extra.get("method", 1),
            "shipments": [{"carrier": s["carrier"].lower(), "number": s["number"],
                           "url": s["url"], "delivered_at": _stamp() if delivered else None}
                          for s in order.shipments],
            "created_at": extra.get("created_at")}

    def _event(self, kind: str, order: Order, data: dict) -> dict:
        return {"id": str(uuid.uuid4()), "type": kind, "created_at": _stamp(),
                "resource": {"id": order.id, "type": "order",
                             "data": {"shop_id": self.shop_id, **data}}}

    def _parcel_event(self, kind: str, order: Order, parcel: dict) -> dict:
        stamp = {"delivered_at" if kind.endswith("delivered") else "shipped_at": _stamp()}
        return self._event(kind, order, {
            **stamp, "carrier": {"code": parcel["carrier"].lower(),
                                 "tracking_number": parcel["number"],
                                 "tracking_url": parcel["url"]},
            "skus": [i["sku"] for i in parcel["items"]]})

    def events_for(self, order: Order, stage: str) -> list[dict]:
        if stage == "in_production":
            return [self._event("order:sent-to-production", order, {})]
        if stage == "shipped":
            return [self._parcel_event("order:shipment:created", order, p)
                    for p in order.shipments]
        if stage == "delivered":
            return [self._parcel_event("order:shipment:delivered", order, p)
                    for p in order.shipments]
        return []

    def destination(self, event: dict) -> str:
        hook = self.hooks.get(event["type"])
        return hook["url"] if hook else self.callback_url

    def signed_headers(self, event: dict, body: bytes) -> dict:
        hook = self.hooks.get(event["type"])
        return self.webhook_headers(body, secret=hook["secret"] if hook else None)

    def webhook_headers(self, body: bytes, *, secret: str | None = None) -> dict:
        key = (self.webhook_secret if secret is None else secret).encode()
        return {"X-Pfy-Signature": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()}
