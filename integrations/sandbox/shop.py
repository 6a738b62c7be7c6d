"""The sandbox store's state and behaviour (no HTTP here: see server.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

# Shopify's retry schedule is 8 tries over 4 hours; the sandbox's default is faster.
FAST_RETRIES = [0.2, 0.5, 1, 2, 4, 8, 15, 30]
SHOPIFY_RETRIES = [60, 120, 300, 600, 1200, 2400, 3600, 6120]

FIRST_NAMES = ["Ana", "José", "Zoë", "Łukasz", "Mia", "Noah", "Søren", "Chloé", "Ömer", "Yuki",
               "Björk", "Renée"]
LAST_NAMES = ["Lima", "García", "Müller", "Nowak", "Smith", "Dubois", "Øster", "Yılmaz",
              "Tanaka", "O'Brien"]
PRODUCTS = [("Custom mug 11oz", "MUG-11-WHITE", "White", "14.00"),
            ("Engraved necklace", "NECK-ENG-GOLD", "Gold", "39.00"),
            ("Photo canvas 30x40", "CANVAS-30X40", "30x40 cm", "49.00"),
            ("Name T-shirt", "TEE-NAME-M", "M / Black", "24.00"),
            ("Pet portrait poster", "POSTER-A3-PET", "A3", "29.00")]
CITIES = [("Springfield", "IL", "62701", "US", "United States"),
          ("Austin", "TX", "73301", "US", "United States"),
          ("Toronto", "ON", "M5V 2T6", "CA", "Canada"),
          ("Berlin", "", "10115", "DE", "Germany")]


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class GraphQLFailure(Exception):
    def __init__(self, status: int, body: dict):
        self.status = status
        self.body = body


@dataclass
class Delivery:
    event_id: str
    topic: str
    body: bytes
    due: float
    attempt: int = 0
    webhook_id: str = field(default_factory=lambda: secrets.token_hex(8))
    triggered_at: str = ""
    log_id: int = 0


@dataclass
class Settings:
    bucket_max: float = 1000.0
    restore_rate: float = 50.0
    max_query_cost: float = 1000.0
    throttled_status: int = 200  # Shopify answers THROTTLED in a 200; 429 can be emulated
    retry_schedule: list = field(default_factory=lambda: list(FAST_RETRIES))


class SandboxShop:
    def __init__(self, *, shop_domain: str = "podhub-sandbox.myshopify.com",
                 db_path: str = ":memory:", access_token: str = "shpat_sandbox",
                 app_key: str = "sandbox-app", app_secret: str = "sandbox-app-secret",
                 settings: Settings | None = None, clock: Callable[[], float] = time.time):
        self.shop_domain = shop_domain
        self.settings = settings or Settings()
        self.app_key = app_key
        self.app_secret = app_secret
        self.clock = clock
        self.lock = threading.RLock()
        self.db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._schema()
        self.tokens: dict[str, float | None] = {access_token: None}  # token -> expiry
        self.refresh_tokens: dict[str, str] = {}
        self.codes: dict[str, float] = {}
        # webhooks
        self.webhook_url: str | None = None
        self.webhook_secret: str = ""
        self.sender: Callable[[str, bytes, dict], int] | None = None
        self.hold_webhooks = False
        self.held: list[Delivery] = []
        self.queue: list[Delivery] = []
        self.queue_cv = threading.Condition(self.lock)
        # fault injection and throttle state
        self.down_until = 0.0
        self.fail_next = 0
        self.bucket = self.settings.bucket_max
        self.bucket_at = clock()
        self.stats = {"graphql_calls": 0, "throttled": 0, "http_429": 0, "http_5xx": 0,
                      "cost_actual": 0.0, "cost_requested": 0.0, "webhooks_sent": 0,
                      "webhooks_failed": 0}
        self._last_ts = 0.0
        self._stop = threading.Event()
        self._sender_thread: threading.Thread | None = None

    # --- storage -----------------------------------------------------------------------

    def _schema(self) -> None:
        self.db.executescript("""
        CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, updated_at TEXT,
            open INTEGER, financial_status TEXT, fulfillment_status TEXT, data TEXT);
        CREATE INDEX IF NOT EXISTS orders_upd ON orders(updated_at, id);
        CREATE TABLE IF NOT EXISTS fulfillments (id INTEGER PRIMARY KEY, order_id INTEGER,
                                                 data TEXT);
        CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, data TEXT);
        CREATE TABLE IF NOT EXISTS refunds (id INTEGER PRIMARY KEY, order_id INTEGER, data TEXT);
        CREATE TABLE IF NOT EXISTS webhook_log (id INTEGER PRIMARY KEY, event_id TEXT,
            topic TEXT, resource_id TEXT, status TEXT, attempts INTEGER, last_code INTEGER);
        CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER);
        """)

    def _next(self, name: str, start: int) -> int:
        with self.lock:
            row = self.db.execute("SELECT value FROM seq WHERE name=?", (name,)).fetchone()
            value = (row[0] if row else start) + 1
            self.db.execute("INSERT OR REPLACE INTO seq VALUES (?, ?)", (name, value))
            return value

    def _now(self) -> datetime:
        """Strictly increasing timestamps (ms precision), so every change is a new version."""
        with self.lock:
            t = max(self.clock(), self._last_ts + 0.001)
            self._last_ts = t
            return datetime.fromtimestamp(t, UTC)

    def order(self, order_id: int) -> dict | None:
        row = self.db.execute("SELECT data FROM orders WHERE id=?", (int(order_id),)).fetchone()
        return json.loads(row[0]) if row else None

    def _save(self, order: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                        (order["id"], order["updated_at"],
                         int(not order["closed_at"] and not order["cancelled_at"]),
                         order["financial_status"], order["fulfillment_status"] or "",
                         json.dumps(order)))

    def fulfillments(self, order_id: int) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT data FROM fulfillments WHERE order_id=? ORDER BY id", (int(order_id),))]

    def products(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT data FROM products ORDER BY id")]

    def refunds(self, order_id: int) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT data FROM refunds WHERE order_id=? ORDER BY id", (int(order_id),))]

    # --- orders ------------------------------------------------------------------------

    def create_order(self, spec: dict | None = None, *, webhooks: bool = True,
                     delivery: dict | None = None) -> dict:
        """A new order from a spec (missing parts are generated); returns its REST JSON."""
        spec = dict(spec or {})
        rnd = random.Random(spec.pop("seed", None))  # noqa: S311 - test data
        with self.lock:
            oid = self._next("order", 5_000_000_000)
            number = self._next("number", 1000)
            now = self._now()
            created = spec.get("created_at") or iso(now)
            first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
            city = rnd.choice(CITIES)
            addr = {"first_name": first, "last_name": last, "name": f"{first} {last}",
                    "company": None, "address1": f"{rnd.randint(1, 999)} Main Street",
                    "address2": "", "city": city[0], "province": city[1], "province_code":
                    city[1] or None, "zip": city[2], "country": city[4], "country_code": city[3],
                    "phone": "+1 555 0100"}
            addr.update(spec.get("shipping_address") or {})
            raw_lines = spec.get("line_items") or [
                {"title": p[0], "sku": p[1], "variant_title": p[2], "price": p[3],
                 "quantity": rnd.randint(1, 2),
                 "properties": [{"name": "Name", "value": first},
                                {"name": "Font", "value": rnd.choice(["Serif", "Script"])}]}
                for p in rnd.sample(PRODUCTS, rnd.randint(1, 2))]
            lines = []
            for raw in raw_lines:
                lid = self._next("line", 13_000_000_000)
                qty = int(raw.get("quantity", 1))
                price = Decimal(str(raw.get("price", "10.00")))
                disc = Decimal(str(raw.get("discount", "0")))
                lines.append({
                    "id": lid, "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}",
                    "product_id": raw.get("product_id", 7_000_000 + abs(hash(raw.get("sku")))
                                          % 1_000_000),
                    "variant_id": raw.get("variant_id", 40_000_000 + abs(hash(raw.get("sku")))
                                          % 1_000_000),
                    "sku": raw.get("sku", ""), "title": raw.get("title", "Item"),
                    "name": f"{raw.get('title', 'Item')} - {raw.get('variant_title') or ''}",
                    "variant_title": raw.get("variant_title", ""), "quantity": qty,
                    "current_quantity": qty, "fulfillable_quantity": qty,
                    "fulfilled_quantity": 0, "price": f"{price:.2f}",
                    "price_set": {"shop_money": {"amount": f"{price:.2f}",
                                                 "currency_code": "USD"}},
                    "total_discount": "0.00",
                    "discount_allocations": ([{"amount": f"{disc:.2f}",
                                               "discount_application_index": 0}]
                                             if disc else []),
                    "properties": raw.get("properties", []), "fulfillment_status": None,
                    "requires_shipping": True, "vendor": "Sandbox", "taxable": True,
                })
            gross = sum(Decimal(ln["price"]) * ln["quantity"] for ln in lines)
            line_disc = sum(Decimal(a["amount"]) for ln in lines
                            for a in ln["discount_allocations"])
            order_disc = Decimal(str(spec.get("order_discount", "0")))
            shipping = Decimal(str(spec.get("shipping", "4.90")))
            tax = Decimal(str(spec.get("tax", "0")))
            total = gross - line_disc - order_disc + shipping + tax
            order = {
                "id": oid, "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
                "name": spec.get("name", f"#{number}"), "order_number": number,
                "email": spec.get("email", f"{_ascii(first).lower()}.{number}@example.com"),
                "created_at": created, "updated_at": iso(now), "processed_at": created,
                "cancelled_at": None, "cancel_reason": None, "closed_at": None,
                "currency": "USD", "presentment_currency": "USD",
                "financial_status": spec.get("financial_status", "paid"),
                "fulfillment_status": None, "test": True,
                "total_line_items_price": f"{gross:.2f}",
                "subtotal_price": f"{gross - line_disc - order_disc:.2f}",
                "total_discounts": f"{line_disc + order_disc:.2f}",
                "total_tax": f"{tax:.2f}", "total_price": f"{total:.2f}",
                "total_shipping_price_set": {"shop_money": {"amount": f"{shipping:.2f}",
                                                            "currency_code": "USD"}},
                "shipping_lines": [{"title": "Standard", "price": f"{shipping:.2f}"}],
                "discount_codes": ([{"code": spec.get("discount_code", "WELCOME"),
                                     "amount": f"{line_disc + order_disc:.2f}",
                                     "type": "fixed_amount"}] if line_disc + order_disc else []),
                "note": spec.get("note"), "note_attributes": spec.get("note_attributes", []),
                "customer": {"id": self._next("customer", 6_000_000), "email": None,
                             "first_name": first, "last_name": last},
                "shipping_address": addr, "billing_address": addr, "line_items": lines,
            }
            order["customer"]["email"] = order["email"]
            self._save(order)
            if spec.get("fulfillment_status") == "fulfilled":
                self._fulfill_all(order, webhooks=False)
                order = self.order(oid)
        if webhooks:
            self.emit("orders/create", order, delivery)
            if order["financial_status"] == "paid":
                self.emit("orders/paid", order, delivery)
        return order

    def bulk_create(self, count: int, *, unpaid_every: int = 0, fulfilled_every: int = 0,
                    webhooks: bool = False) -> int:
        with self.lock:
            self.db.execute("BEGIN")
            try:
                for i in range(count):
                    spec = {"seed": i}
                    if unpaid_every and i % unpaid_every == 0:
                        spec["financial_status"] = "pending"
                    if fulfilled_every and i % fulfilled_every == 1:
                        spec["fulfillment_status"] = "fulfilled"
                    self.create_order(spec, webhooks=webhooks)
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
        return count

    def update_order(self, order_id: int, changes: dict, *, topic: str = "orders/updated",
                     webhooks: bool = True, delivery: dict | None = None) -> dict:
        with self.lock:
            order = self.order(order_id)
            if order is None:
                raise KeyError(order_id)
            for key, value in changes.items():
                if key == "shipping_address":
                    order["shipping_address"].update(value)
                else:
                    order[key] = value
            order["updated_at"] = iso(self._now())
            self._save(order)
        if webhooks:
            self.emit(topic, order, delivery)
        return order

    def mark_paid(self, order_id: int, *, delivery: dict | None = None) -> dict:
        order = self.update_order(order_id, {"financial_status": "paid"}, webhooks=False)
        self.emit("orders/paid", order, delivery)
        self.emit("orders/updated", order, delivery)
        return order

    def cancel_order(self, order_id: int, *, reason: str = "customer", refund: bool = False,
                     delivery: dict | None = None, webhooks: bool = True) -> dict:
        now = iso(self._now())
        changes = {"cancelled_at": now, "cancel_reason": reason, "closed_at": now}
        if refund:
            changes["financial_status"] = "refunded"
        order = self.update_order(order_id, changes, webhooks=False)
        if webhooks:
            self.emit("orders/cancelled", order, delivery)
            self.emit("orders/updated", order, delivery)
        return order

    def _fulfill_all(self, order: dict, *, webhooks: bool) -> None:
        items = [{"line_item_id": ln["id"], "quantity": ln["fulfillable_quantity"]}
                 for ln in order["line_items"] if ln["fulfillable_quantity"] > 0]
        self._fulfill(order["id"], items, tracking={"company": "USPS",
                                                     "number": f"9400{order['id']}"},
                      notify=False, webhooks=webhooks)

    def _fulfill(self, order_id: int, items: list[dict], *, tracking: dict, notify: bool,
                 webhooks: bool = True, message: str | None = None) -> dict:
        with self.lock:
            order = self.order(order_id)
            by_id = {ln["id"]: ln for ln in order["line_items"]}
            for it in items:
                ln = by_id[it["line_item_id"]]
                ln["fulfillable_quantity"] -= it["quantity"]
                ln["fulfilled_quantity"] += it["quantity"]
                ln["fulfillment_status"] = ("fulfilled" if ln["fulfillable_quantity"] == 0
                                            else "partial")
            left = sum(ln["fulfillable_quantity"] for ln in order["line_items"])
            order["fulfillment_status"] = "fulfilled" if left == 0 else "partial"
            order["updated_at"] = iso(self._now())
            fid = self._next("fulfillment", 4_000_000_000)
            fulfillment = {
                "id": fid, "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fid}",
                "order_id": order_id, "status": "success", "created_at": order["updated_at"],
                "tracking_company": tracking.get("company"),
                "tracking_number": tracking.get("number"), "tracking_url": tracking.get("url"),
                "notify_customer": bool(notify), "message": message,
                "line_items": items,
            }
            self.db.execute("INSERT INTO fulfillments VALUES (?, ?, ?)",
                            (fid, order_id, json.dumps(fulfillment)))
            self._save(order)
        if webhooks:
            self.emit("orders/updated", order)
        return fulfillment

    # --- GraphQL representation ----------------------------------------------------------

    def gql_order(self, o: dict, *, lines_first: int = 10, lines_after: int = 0) -> dict:
        def money(v):
            return {"shopMoney": {"amount": str(v), "currencyCode": o["currency"]}}

        a = o.get("shipping_address") or None
        fstatus = {None: "UNFULFILLED", "partial": "PARTIALLY_FULFILLED",
                   "fulfilled": "FULFILLED"}[o.get("fulfillment_status")]
        lines = o["line_items"][lines_after:lines_after + lines_first]
        has_next = len(o["line_items"]) > lines_after + lines_first
        return {
            "id": o["admin_graphql_api_id"], "name": o["name"], "email": o["email"],
            "createdAt": o["created_at"], "updatedAt": o["updated_at"],
            "cancelledAt": o["cancelled_at"], "closed": bool(o["closed_at"]), "test": True,
            "displayFinancialStatus": o["financial_status"].upper(),
            "displayFulfillmentStatus": fstatus, "currencyCode": o["currency"],
            "totalDiscountsSet": money(o["total_discounts"]),
            "totalShippingPriceSet": money(o["total_shipping_price_set"]["shop_money"][
                "amount"]),
            "totalTaxSet": money(o["total_tax"]), "totalPriceSet": money(o["total_price"]),
            "shippingAddress": None if a is None else {
                "name": a.get("name"), "firstName": a.get("first_name"),
                "lastName": a.get("last_name"), "company": a.get("company"),
                "address1": a.get("address1"), "address2": a.get("address2"),
                "city": a.get("city"), "province": a.get("province"),
                "provinceCode": a.get("province_code"), "zip": a.get("zip"),
                "countryCodeV2": a.get("country_code"), "phone": a.get("phone")},
            "lineItems": {
                "pageInfo": {"hasNextPage": has_next,
                             "endCursor": _cursor(lines_after + len(lines))},
                "nodes": [self.gql_line(ln, o["currency"]) for ln in lines],
            },
        }

    @staticmethod
    def gql_line(ln: dict, currency: str) -> dict:
        return {
            "id": ln["admin_graphql_api_id"], "sku": ln["sku"], "title": ln["title"],
            "variantTitle": ln["variant_title"], "quantity": ln["quantity"],
            "customAttributes": [{"key": p.get("name"), "value": p.get("value")}
                                 for p in ln.get("properties") or []],
            "originalUnitPriceSet": {"shopMoney": {"amount": ln["price"],
                                                   "currencyCode": currency}},
            "discountAllocations": [{"allocatedAmountSet": {"shopMoney": {
                "amount": a["amount"], "currencyCode": currency}}}
                for a in ln.get("discount_allocations") or []],
            "product": {"id": f"gid://shopify/Product/{ln['product_id']}"},
            "variant": {"id": f"gid://shopify/ProductVariant/{ln['variant_id']}"},
        }

    def search(self, query: str | None, *, first: int = 50,
               after: str | None = None) -> tuple[list[dict], bool, str | None]:
        """The search-syntax subset PodHub uses; keyset pages by (updated_at, id)."""
        where, args = [], []
        for term in (query or "").split():
            key, _, value = term.partition(":")
            value = value.strip("'\"")
            if key == "status" and value == "open":
                where.append("open = 1")
            elif key == "financial_status":
                where.append("financial_status = ?")
                args.append(value)
            elif key == "fulfillment_status" and value in ("unfulfilled", "unshipped"):
                where.append("fulfillment_status = ''")
            elif key == "updated_at":
                m = re.match(r"^(>=|<=|>|<)?'?(.+?)'?$", value)
                op = m.group(1) or "="
                where.append(f"updated_at {op} ?")
                args.append(iso(parse_iso(m.group(2))))
        if after:
            last_at, last_id = cursor_key(after)
            where.append("(updated_at > ? OR (updated_at = ? AND id > ?))")
            args += [last_at, last_at, last_id]
        sql = "SELECT data FROM orders" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.execute(sql + " ORDER BY updated_at, id LIMIT ?",
                               [*args, first + 1]).fetchall()
        orders = [json.loads(r[0]) for r in rows[:first]]
        end = keyset_cursor(orders[-1]) if orders else after
        return orders, len(rows) > first, end

    def count(self, query: str | None) -> int:
        n = 0
        after = None
        while True:
            page, more, after = self.search(query, first=5000, after=after)
            n += len(page)
            if not more:
                return n

    # --- webhooks ----------------------------------------------------------------------

    def subscribe(self, *, url: str | None = None, secret: str,
                  sender: Callable[[str, bytes, dict], int] | None = None) -> None:
        self.webhook_url = url
        self.webhook_secret = secret
        self.sender = sender

    def emit(self, topic: str, payload: dict, delivery: dict | None = None) -> str:
        """Queue one event. delivery: {"duplicate": n, "drop": bool}."""
        delivery = delivery or {}
        event_id = secrets.token_hex(12)
        body = json.dumps(payload, ensure_ascii=False).encode()
        resource = str(payload.get("id", ""))
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO webhook_log (event_id, topic, resource_id, status, attempts, "
                "last_code) VALUES (?, ?, ?, ?, 0, NULL)",
                (event_id, topic, resource, "dropped" if delivery.get("drop") else "queued"))
            log_id = cur.lastrowid
            if delivery.get("drop") or not (self.webhook_url or self.sender):
                return event_id
            triggered = iso(self._now())
            for _ in range(1 + int(delivery.get("duplicate", 0))):
                d = Delivery(event_id=event_id, topic=topic, body=body, due=self.clock(),
                             triggered_at=triggered, log_id=log_id)
                (self.held if self.hold_webhooks else self.queue).append(d)
            self.queue_cv.notify_all()
        return event_id

    def release_held(self, *, reverse: bool = False) -> int:
        """Send the held deliveries, in order or newest first (out of order)."""
        with self.lock:
            held, self.held = self.held, []
            if reverse:
                held.reverse()
            now = self.clock()
            for i, d in enumerate(held):
                d.due = now + i * 0.001
                self.queue.append(d)
            self.queue_cv.notify_all()
            return len(held)

    def _headers(self, d: Delivery) -> dict:
        return {"Content-Type": "application/json",
                "X-Shopify-Topic": d.topic, "X-Shopify-Shop-Domain": self.shop_domain,
                "X-Shopify-Hmac-Sha256": sign(d.body, self.webhook_secret),
                "X-Shopify-Event-Id": d.event_id, "X-Shopify-Webhook-Id": d.webhook_id,
                "X-Shopify-API-Version": "2025-10", "X-Shopify-Triggered-At": d.triggered_at,
                "X-Shopify-Test": "true"}

    def _send(self, d: Delivery) -> int:
        headers = self._headers(d)
        if self.sender is not None:
            return self.sender(self.webhook_url or "", d.body, headers)
        import httpx

        try:
            resp = httpx.post(self.webhook_url, content=d.body, headers=headers, timeout=5.0)
            return resp.status_code
        except httpx.HTTPError:
            return 0

    def deliver_due(self, *, wait: bool = False) -> int:
        """Send every delivery that is due now (retrying failures later); returns how many."""
        sent = 0
        while True:
            with self.lock:
                now = self.clock()
                due = [d for d in self.queue if d.due <= now]
                if not due:
                    return sent
                d = min(due, key=lambda x: x.due)
                self.queue.remove(d)
            code = self._send(d)
            sent += 1
            with self.lock:
                d.attempt += 1
                ok = 200 <= code < 300
                if ok:
                    self.stats["webhooks_sent"] += 1
                else:
                    self.stats["webhooks_failed"] += 1
                schedule = self.settings.retry_schedule
                status = "delivered" if ok else (
                    "retrying" if d.attempt <= len(schedule) else "failed")
                self.db.execute("UPDATE webhook_log SET status=?, attempts=attempts+1, "
                                "last_code=? WHERE id=?", (status, code, d.log_id))
                if not ok and d.attempt <= len(schedule):
                    d.due = self.clock() + schedule[d.attempt - 1]
                    d.webhook_id = d.webhook_id  # a retry keeps the same delivery ids
                    self.queue.append(d)

    def pending_deliveries(self) -> int:
        with self.lock:
            return len(self.queue)

    def start_sender(self) -> None:
        if self._sender_thread is not None:
            return

        def run():
            while not self._stop.is_set():
                self.deliver_due()
                with self.lock:
                    nxt = min((d.due for d in self.queue), default=None)
                    timeout = 0.5 if nxt is None else max(0.0, min(0.5, nxt - self.clock()))
                    if timeout > 0:
                        self.queue_cv.wait(timeout)

        self._sender_thread = threading.Thread(target=run, name="sandbox-webhooks", daemon=True)
        self._sender_thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            self.queue_cv.notify_all()
        if self._sender_thread is not None:
            self._sender_thread.join(timeout=5)

    def webhook_log(self) -> list[dict]:
        rows = self.db.execute("SELECT event_id, topic, resource_id, status, attempts, last_code "
                               "FROM webhook_log ORDER BY id").fetchall()
        return [dict(zip(("event_id", "topic", "resource_id", "status", "attempts",
                          "last_code"), r, strict=True)) for r in rows]

    # --- OAuth -------------------------------------------------------------------------

    def issue_code(self) -> str:
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = self.clock() + 60
        return code

    def token_response(self, data: dict) -> tuple[int, dict]:
        if data.get("client_id") != self.app_key or data.get("client_secret") != self.app_secret:
            return 400, {"error": "invalid_client"}
        now = self.clock()
        with self.lock:
            if data.get("grant_type") == "refresh_token":
                old = self.refresh_tokens.pop(data.get("refresh_token", ""), None)
                if old is None:
                    return 400, {"error": "invalid_grant"}
                self.tokens.pop(old, None)
            else:
                expiry = self.codes.pop(data.get("code", ""), None)
                if expiry is None or expiry < now:
                    return 400, {"error": "invalid_request",
                                 "error_description": "authorization code is invalid"}
            token = "shpat_" + secrets.token_hex(16)
            refresh = "shprt_" + secrets.token_hex(16)
            expiring = data.get("expiring") in (1, "1", True) or data.get(
                "grant_type") == "refresh_token"
            self.tokens[token] = now + 3600 if expiring else None
            body = {"access_token": token,
                    "scope": "read_orders,write_orders,read_merchant_managed_fulfillment_orders,"
                             "write_merchant_managed_fulfillment_orders,read_products,"
                             "write_products"}
            if expiring:
                self.refresh_tokens[refresh] = token
                body.update(expires_in=3600, refresh_token=refresh,
                            refresh_token_expires_in=90 * 86400)
            return 200, body

    def token_ok(self, token: str) -> bool:
        with self.lock:
            if token not in self.tokens:
                return False
            expiry = self.tokens[token]
            return expiry is None or expiry > self.clock()

    # --- throttling --------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        s = self.settings
        self.bucket = min(s.bucket_max, self.bucket + (now - self.bucket_at) * s.restore_rate)
        self.bucket_at = now

    def throttle_status(self) -> dict:
        return {"maximumAvailable": self.settings.bucket_max,
                "currentlyAvailable": round(self.bucket, 1),
                "restoreRate": self.settings.restore_rate}

    def charge(self, requested: float) -> dict | None:
        """Take the requested cost from the bucket; None when it does not fit (throttled)."""
        with self.lock:
            self._refill(self.clock())
            if requested > self.bucket:
                return None
            self.bucket -= requested
            return self.throttle_status()

    def refund_cost(self, amount: float) -> dict:
        with self.lock:
            self._refill(self.clock())
            self.bucket = min(self.settings.bucket_max, self.bucket + amount)
            return self.throttle_status()


def _ascii(text: str) -> str:
    import unicodedata

    out = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", out) or "buyer"


def _cursor(position: int) -> str:
    return base64.b64encode(json.dumps({"last": position}).encode()).decode()


def cursor_position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["last"])
    except (ValueError, KeyError, TypeError):
        return 0


def keyset_cursor(order: dict) -> str:
    return base64.b64encode(json.dumps([order["updated_at"], order["id"]]).encode()).decode()


def cursor_key(cursor: str) -> tuple[str, int]:
    try:
        at, oid = json.loads(base64.b64decode(cursor))
        return str(at), int(oid)
    except (ValueError, TypeError):
        return "", 0


def in_days(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)
