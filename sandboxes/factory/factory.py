"""The sandbox factory's state and clock (no Django: it is a separate service).

HTTP API (JSON; `Authorization: Bearer <api key>`):

  POST /v1/orders                  create; `external_id` (our reference) is the
                                   idempotency key: the same one again returns
                                   the existing order (200), never a second one
  GET  /v1/orders/@<external_id>   look an order up by our reference (404: never got it)
  GET  /v1/orders/<id>             one order
  POST /v1/orders/<id>/cancel      409 once in production (as Printful, Gelato)
  GET  /v1/shipping-rates?country=US
  /_sandbox/config, /_sandbox/advance, /_sandbox/stats, /_sandbox/orders
                                   control (tests, demo, bench)
  POST /_faults {"mode": "500" | "timeout" | "none", "hang_seconds": 30}
  GET  /_faults                    the outage switch, at runtime (also /_sandbox/faults):
                                   "500": every /v1/ call answers 500; "timeout": every
                                   /v1/ call hangs `hang_seconds` (longer than a client's
                                   timeout) and then answers 504; "none": back to normal.
                                   Calls already hanging finish their hang.

Run it as its own process (no Django): `python -m sandboxes.factory --port 8020
[--fault 500|timeout] [--hang-seconds 30] [--callback-url URL]`; it prints its URL.
The server speaks HTTP/1.1 with keep-alive, one thread per connection, and never
sleeps per request unless a fault or `latency` says so.

Production: accepted -> in_production -> shipped -> in_transit -> delivered,
one step every `step_seconds` (compressed clock). Each step is sent as a signed
webhook (hex HMAC-SHA256 of the body in `X-PodHub-Signature`) to `callback_url`.
An order with items of several `parcel` groups (or `split_parcels`) ships as
several parcels, each with its own carrier and tracking number.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

STAGES = ["accepted", "in_production", "shipped", "in_transit", "delivered"]
CARRIERS = [("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={}"),
            ("UPS", "https://www.ups.com/track?tracknum={}")]


@dataclass
class Config:
    step_seconds: float = 20.0
    split_parcels: bool = False  # one parcel per item
    fail_next: int = 0  # the next N create calls answer `fail_status`
    fail_status: int = 500
    down: bool = False  # every call answers 503
    refuse_skus: list[str] = field(default_factory=lambda: ["REFUSE"])  # prefixes
    countries: list[str] = field(default_factory=list)  # empty: everywhere
    latency: float = 0.0
    fault: str = "none"  # "none" | "500" | "timeout": the outage switch (POST /_faults)
    hang_seconds: float = 30.0  # how long a call hangs in "timeout" mode


FAULT_MODES = ("none", "500", "timeout")


@dataclass
class FactoryOrder:
    id: str
    external_id: str
    recipient: dict
    items: list[dict]
    stage: int = 0
    next_at: float = 0.0
    cancelled: bool = False
    shipments: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "cancelled" if self.cancelled else STAGES[self.stage]

    def as_json(self) -> dict:
        return {"id": self.id, "external_id": self.external_id, "status": self.status,
                "recipient": self.recipient, "items": self.items,
                "shipments": self.shipments}


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_client = None


def http_sender(url: str, body: bytes, headers: dict) -> int:
    """POST a callback; the status code, or 0 when PodHub could not be reached. One client
    for the process (thread-safe): a new one per callback builds an SSL context each time,
    about 30 ms of CPU, which made the factory the bottleneck of the fault drill."""
    global _client
    import httpx

    if _client is None:
        _client = httpx.Client()
    try:
        return _client.post(url, content=body, headers=headers, timeout=10).status_code
    except httpx.HTTPError:
        return 0


class SandboxFactory:
    def __init__(self, *, api_key: str = "sandbox-factory-key", webhook_secret: str = "",
                 callback_url: str = "", config: Config | None = None,
                 sender: Callable[[str, bytes, dict], int] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.callback_url = callback_url
        self.config = config or Config()
        self.sender = sender or http_sender
        self.clock = clock
        self.lock = threading.Lock()
        self.orders: dict[str, FactoryOrder] = {}
        self.by_external: dict[str, str] = {}
        self.stats = {"creates": 0, "duplicates": 0, "webhooks": 0, "webhook_failures": 0,
                      "calls": 0, "faults": 0}
        self.stopping = threading.Event()  # ends hanging calls when the server stops
        self._ids = itertools.count(1)
        self._events = itertools.count(1)

    # --- faults -----------------------------------------------------------------------
    def set_fault(self, mode: str, *, hang_seconds: float | None = None) -> dict:
        mode = str(mode or "none")
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode must be one of {', '.join(FAULT_MODES)}")
        with self.lock:
            self.config.fault = mode
            if hang_seconds is not None:
                self.config.hang_seconds = float(hang_seconds)
        return self.fault_state()

    def fault_state(self) -> dict:
        return {"mode": self.config.fault, "hang_seconds": self.config.hang_seconds}

    def fault(self) -> tuple[int, dict] | None:
        """What an API call answers under the current fault mode (None: no fault).
        "timeout" hangs first, so the caller's own timeout fires."""
        mode = self.config.fault
        with self.lock:
            self.stats["calls"] += 1
            if mode != "none":
                self.stats["faults"] += 1
        if mode == "500":
            return 500, {"error": "factory fault: internal error"}
        if mode == "timeout":
            self.stopping.wait(self.config.hang_seconds)
            return 504, {"error": "factory fault: timed out"}
        return None

    # --- API ------------------------------------------------------------------------
    def create(self, data: dict) -> tuple[int, dict]:
        external_id = str(data.get("external_id") or "").strip()
        items = data.get("items") or []
        recipient = data.get("recipient") or {}
        if not external_id:
            return 400, {"error": "external_id is required"}
        if not items:
            return 400, {"error": "an order needs items"}
        with self.lock:
            if self.config.fail_next > 0:
                self.config.fail_next -= 1
                return self.config.fail_status, {"error": "factory hiccup"}
            existing = self.by_external.get(external_id)
            if existing:
                self.stats["duplicates"] += 1
                return 200, self.orders[existing].as_json()
            for item in items:
                sku = str(item.get("sku") or "")
                if any(sku.startswith(p) for p in self.config.refuse_skus if p):
                    return 422, {"error": f"we do not make {sku}"}
            country = str(recipient.get("country_code") or "").upper()
            if self.config.countries and country not in self.config.countries:
                return 422, {"error": f"we do not ship to {country or 'an empty country'}"}
            order = FactoryOrder(id=f"SF{next(self._ids):07d}", external_id=external_id,
                                 recipient=recipient, items=items,
                                 next_at=self.clock() + self.config.step_seconds)
            self.orders[order.id] = order
            self.by_external[external_id] = order.id
            self.stats["creates"] += 1
            return 200, order.as_json()

    def get(self, order_id: str) -> tuple[int, dict]:
        with self.lock:
            if order_id.startswith("@"):
                order_id = self.by_external.get(order_id[1:], "")
            order = self.orders.get(order_id)
            return (200, order.as_json()) if order else (404, {"error": "no such order"})

    def cancel(self, order_id: str) -> tuple[int, dict]:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, {"error": "no such order"}
            if order.stage >= STAGES.index("in_production"):
                return 409, {"error": f"order {order.id} is already {order.status}: it can no "
                             "longer be cancelled"}
            order.cancelled = True
            return 200, order.as_json()

    def rates(self, country: str) -> list[dict]:
        return [{"id": "standard", "name": "Standard (5-8 days)", "rate": "4.50",
                 "currency": "USD"},
                {"id": "express", "name": "Express (2-3 days)", "rate": "12.00",
                 "currency": "USD"}]

    # --- the compressed clock ---------------------------------------------------------
    def due(self) -> list[str]:
        now = self.clock()
        with self.lock:
            return [o.id for o in self.orders.values()
                    if not o.cancelled and o.stage < len(STAGES) - 1 and o.next_at <= now]

    def tick(self) -> int:
        """Advance every order whose step is due; returns how many moved."""
        moved = 0
        for order_id in self.due():
            self.advance(order_id)
            moved += 1
        return moved

    def advance(self, order_id: str, *, to: str | None = None) -> list[dict]:
        """Move one order one step (or up to `to`), sending a webhook per step."""
        sent = []
        while True:
            with self.lock:
                order = self.orders.get(order_id) or self.orders.get(
                    self.by_external.get(order_id, ""))
                if order is None or order.cancelled or order.stage >= len(STAGES) - 1:
                    break
                order.stage += 1
                order.next_at = self.clock() + self.config.step_seconds
                status = order.status
                if status == "shipped":
                    self._make_parcels(order)
                for s in order.shipments:
                    s["status"] = status if status != "in_production" else s["status"]
                events = self._events_for(order, status)
            for event in events:
                sent.append(event)
                self._send(event)
            if to is None or status == to:
                break
        return sent

    def _make_parcels(self, order: FactoryOrder) -> None:
        groups: dict[str, list] = {}
        for i, item in enumerate(order.items):
            key = str(i) if self.config.split_parcels else str(item.get("parcel") or "1")
            groups.setdefault(key, []).append(item)
        for n, (_, items) in enumerate(sorted(groups.items()), 1):
            carrier, url = CARRIERS[(n - 1) % len(CARRIERS)]
            number = f"9400{abs(hash((order.id, n))) % 10**16:016d}"
            order.shipments.append({
                "id": f"{order.id}-P{n}", "carrier": carrier, "tracking_number": number,
                "tracking_url": url.format(number), "status": "shipped",
                "items": [{"external_line_id": it.get("external_line_id"),
                           "quantity": it.get("quantity", 1)} for it in items]})

    def _events_for(self, order: FactoryOrder, status: str) -> list[dict]:
        base = {"order": {"id": order.id, "external_id": order.external_id, "status": status}}
        if status in ("shipped", "in_transit", "delivered"):
            return [{"id": f"evt_{next(self._events)}", "type": f"shipment_{status}",
                     "data": {**base, "shipment": dict(s)}} for s in order.shipments]
        return [{"id": f"evt_{next(self._events)}", "type": "order_updated", "data": base}]

    def _send(self, event: dict) -> int:
        if not self.callback_url:
            return 0
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json",
                   "X-PodHub-Signature": sign(body, self.webhook_secret),
                   "X-PodHub-Event": event["type"]}
        status = 0
        for _ in range(3):
            status = self.sender(self.callback_url, body, headers)
            if 200 <= status < 300:
                self.stats["webhooks"] += 1
                return status
        self.stats["webhook_failures"] += 1
        log.warning("sandbox factory: webhook %s answered %s", event["id"], status)
        return status

    def run_clock(self, stop: threading.Event, every: float = 1.0) -> None:
        while not stop.wait(every):
            try:
                self.tick()
            except Exception:  # the demo's clock must keep going
                log.exception("sandbox factory tick failed")
