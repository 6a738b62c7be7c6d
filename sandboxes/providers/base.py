"""What the provider stand-ins share: in-memory orders moved along a compressed
clock, parcels with tracking, webhook sending, fault injection, revoked
credentials and a small threaded WSGI server. No Django: each stand-in is a
separate service.

Control endpoints (tests, demo), JSON:
  POST /_standin/faults   {"fail_next": 2, "fail_status": 500, "latency": 0, "down": false,
                           "revoked": false}
                          (latency: a hang of that many seconds; revoked: every API call
                          answers 401 as the provider does for a revoked key)
  POST /_standin/advance  {"order": "<id or our reference>", "to": "shipped"} or {} (due ones)
  GET  /_standin/stats    creates, duplicates, webhooks, orders
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from sandboxes import wsgi
from sandboxes.factory.factory import http_sender

log = logging.getLogger(__name__)

#: the life of an order at every stand-in (each names them its own way)
STAGES = ["received", "in_production", "shipped", "delivered"]
CARRIERS = [("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={}"),
            ("UPS", "https://www.ups.com/track?tracknum={}")]


@dataclass
class Faults:
    fail_next: int = 0  # the next N API calls answer fail_status
    fail_status: int = 500
    latency: float = 0.0  # seconds before answering (timeouts)
    down: bool = False  # every API call answers 503
    retry_after: int = 7  # the hint a 429 carries (Retry-After, X-Ratelimit-Reset)
    revoked: bool = False  # the key was revoked: 401 on every API call


@dataclass
class Order:
    id: str
    reference: str  # ours
    recipient: dict
    items: list[dict]  # [{"ref": our line id or sku, "sku", "quantity", "files"}]
    stage: int = 0
    next_at: float = 0.0
    draft: bool = False
    cancelled: bool = False
    shipments: list[dict] = field(default_factory=list)  # id, carrier, number, url, items

    @property
    def stage_name(self) -> str:
        return "cancelled" if self.cancelled else STAGES[self.stage]


@dataclass
class Reply:
    status: int
    data: object
    headers: dict = field(default_factory=dict)


class StandIn:
    """Subclasses implement `route`, `events_for` and `webhook_headers`."""

    name = "standin"
    id_prefix = "SI"

    def __init__(self, *, api_key: str, webhook_secret: str = "", callback_url: str = "",
                 step_seconds: float = 20.0, split_parcels: bool = True,
                 sender: Callable[[str, bytes, dict], int] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.callback_url = callback_url
        self.step_seconds = step_seconds
        self.split_parcels = split_parcels  # one parcel per item (else one per order)
        self.sender = sender or http_sender
        self.clock = clock
        self.faults = Faults()
        self.lock = threading.RLock()
        self.orders: dict[str, Order] = {}
        self.by_reference: dict[str, str] = {}
        self.stats = {"creates": 0, "duplicates": 0, "confirms": 0, "webhooks": 0,
                      "webhook_failures": 0, "calls": 0}
        self.outbox: list[dict] = []  # events caused by API calls, sent by the clock
        self._ids = itertools.count(1001)
        self._events = itertools.count(1)

    # --- for subclasses -----------------------------------------------------------------
    def route(self, method: str, parts: list[str], query: dict, headers: dict,
              data: dict) -> Reply:
        raise NotImplementedError

    def events_for(self, order: Order, stage: str) -> list[dict]:
        return []

    def webhook_headers(self, body: bytes) -> dict:
        return {}

    @classmethod
    def connection_key(cls, api_key: str) -> str:
        """What PodHub's connection stores as the key for this stand-in's `api_key`."""
        return api_key

    def signed_headers(self, event: dict, body: bytes) -> dict:
        """The headers one event goes with (a provider signing per subscription overrides)."""
        return self.webhook_headers(body)

    def unauthorized(self) -> Reply:
        """The provider's answer to a revoked or wrong key."""
        return Reply(401, {"message": "Unauthorized"})

    def destination(self, event: dict) -> str:
        """Where an event goes: one URL for all (else, e.g., a URL given with the order)."""
        return self.callback_url

    # --- shared state ---------------------------------------------------------------------
    def new_order(self, *, reference: str, recipient: dict, items: list[dict],
                  draft: bool = False) -> Order:
        with self.lock:
            order = Order(id=f"{self.id_prefix}{next(self._ids)}", reference=reference,
                          recipient=recipient, items=items, draft=draft,
                          next_at=self.clock() + self.step_seconds)
            self.orders[order.id] = order
            if reference:
                self.by_reference[reference] = order.id
            self.stats["creates"] += 1
            return order

    def find(self, key: str) -> Order | None:
        with self.lock:
            return self.orders.get(key) or self.orders.get(self.by_reference.get(key, ""))

    def event_id(self) -> int:
        return next(self._events)

    # --- the compressed clock ---------------------------------------------------------------
    def due(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        with self.lock:
            return [o.id for o in self.orders.values()
                    if not o.cancelled and not o.draft and o.stage < len(STAGES) - 1
                    and o.next_at <= now]

    def queue(self, event: dict) -> None:
        """An event caused by an API call (a cancel): sent by the next `flush`/`tick`,
        never from inside the request, as a provider sends it later, on its own."""
        with self.lock:
            self.outbox.append(event)

    def flush(self) -> int:
        with self.lock:
            events, self.outbox = self.outbox, []
        for event in events:
            self.send(event)
        return len(events)

    def tick(self, now: float | None = None) -> int:
        """Send queued events and advance every order whose step is due at `now`;
        returns how many orders moved."""
        self.flush()
        ids = self.due(now)
        for order_id in ids:
            self.advance(order_id, now=now)
        return len(ids)

    def advance(self, key: str, *, to: str | None = None, now: float | None = None,
                send: bool = True) -> list[dict]:
        """Move one order one step (or up to `to`), sending its webhooks per step."""
        sent: list[dict] = []
        while True:
            with self.lock:
                order = self.find(key)
                if (order is None or order.cancelled or order.draft
                        or order.stage >= len(STAGES) - 1 or order.stage_name == to):
                    break
                order.stage += 1
                order.next_at = (self.clock() if now is None else now) + self.step_seconds
                stage = order.stage_name
                if stage == "shipped":
                    self._make_parcels(order)
                events = self.events_for(order, stage)
            for event in events:
                sent.append(event)
                if send:
                    self.send(event)
            if to is None or stage == to:
                break
        return sent

    def _make_parcels(self, order: Order) -> None:
        groups = ([[item] for item in order.items] if self.split_parcels
                  else [list(order.items)])
        for n, items in enumerate(groups, 1):
            carrier, url = CARRIERS[(n - 1) % len(CARRIERS)]
            number = f"9400{order.id[-4:]}{n:02d}{abs(hash((order.id, n))) % 10**10:010d}"
            order.shipments.append({"id": f"{order.id}-P{n}", "carrier": carrier,
                                    "number": number, "url": url.format(number),
                                    "items": items})

    def send(self, event: dict) -> int:
        url = self.destination(event)
        if not url:
            return 0
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", **self.signed_headers(event, body)}
        status = 0
        for _ in range(3):  # like Gelato: a few quick attempts, then give up
            status = self.sender(url, body, headers)
            if 200 <= status < 300:
                self.stats["webhooks"] += 1
                return status
        self.stats["webhook_failures"] += 1
        log.warning("%s stand-in: webhook answered %s", self.name, status)
        return status

    def run_clock(self, stop: threading.Event, every: float = 1.0) -> None:
        while not stop.wait(every):
            try:
                self.tick()
            except Exception:  # the demo's clock must keep going
                log.exception("%s stand-in tick failed", self.name)

    # --- HTTP ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, headers: dict, raw: bytes) -> Reply:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return Reply(400, {"message": "body is not JSON"})
        if path.startswith("/_standin/"):
            return self._control(method, path, data)
        if self.faults.latency:
            time.sleep(self.faults.latency)  # fault injection: a slow provider
        with self.lock:
            self.stats["calls"] += 1
            if self.faults.down:
                return Reply(503, {"message": f"{self.name} is down"})
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                status = self.faults.fail_status
                hint = str(self.faults.retry_after)
                extra = ({"Retry-After": hint, "X-Ratelimit-Reset": hint} if status == 429
                         else {})
                return Reply(status, {"message": f"{self.name} hiccup"}, extra)
            if self.faults.revoked:
                return self.unauthorized()
        parts = [p for p in path.split("/") if p]
        return self.route(method, parts, query, headers, data if isinstance(data, dict) else {})

    def _control(self, method: str, path: str, data: dict) -> Reply:
        if path == "/_standin/faults" and method == "POST":
            for key, value in data.items():
                if hasattr(self.faults, key):
                    setattr(self.faults, key, value)
            return Reply(200, vars(self.faults))
        if path == "/_standin/advance" and method == "POST":
            ids = [data["order"]] if data.get("order") else self.due()
            for key in ids:
                self.advance(key, to=data.get("to"))
            return Reply(200, {"advanced": len(ids)})
        if path == "/_standin/stats":
            return Reply(200, {**self.stats, "orders": len(self.orders)})
        return Reply(404, {"message": "not found"})


def make_app(standin: StandIn):
    def app(environ, start_response):
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        raw = environ["wsgi.input"].read(size) if size else b""
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        reply = standin.handle(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                               query, headers, raw)
        body = b"" if reply.data is None else json.dumps(reply.data).encode()
        start_response(f"{reply.status} {'OK' if reply.status < 400 else 'Error'}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        *[(k, str(v)) for k, v in reply.headers.items()]])
        return [body]

    return app


class StandInServer:
    """`StandInServer(standin, port=0).start()`; `.url`, `.stop()`."""

    def __init__(self, standin: StandIn, *, host: str = "127.0.0.1", port: int = 0):
        self.standin = standin
        self.httpd = wsgi.serve(make_app(standin), host=host, port=port)
        self.url = f"http://{host}:{self.httpd.server_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> StandInServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
