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
from decimal import ROUND_HALF_UP, Decimal

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


ZERO = Decimal("0")


def _q(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _buyer(money_set: dict) -> Decimal:
    """The presentment (buyer's) amount of a REST money set."""
    return Decimal(money_set["presentment_money"]["amount"])


def gql_money(money_set: dict) -> dict:
    """REST {shop_money, presentment_money} -> GraphQL MoneyBag {shopMoney, presentmentMoney}."""
    return {"shopMoney": {"amount": money_set["shop_money"]["amount"],
                          "currencyCode": money_set["shop_money"]["currency_code"]},
            "presentmentMoney": {"amount": money_set["presentment_money"]["amount"],
                                 "currencyCode": money_set["presentment_money"]["currency_code"]}}


def public(order: dict) -> dict:
    """The order as Shopify shows it: without the sandbox's own notes."""
    return {k: v for k, v in order.items() if k != "_sandbox"}


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
    test: bool = False  # a test notification: X-Shopify-Test: true


@dataclass
class Settings:
    bucket_max: float = 1000.0
    restore_rate: float = 50.0
    max_query_cost: float = 1000.0
    throttled_status: int = 200  # Shopify answers THROTTLED in a 200; 429 can be emulated
    retry_schedule: list = field(default_factory=lambda: list(FAST_RETRIES))
    currency: str = "USD"  # the shop's currency; an order may be presented in another


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
        # the webhook topics the app subscribed to (None: every topic)
        self.topics: set[str] | None = None
        from sandboxes.shopify.bulk import BulkOperations

        self.bulk = BulkOperations(self)
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
        self._client = None  # httpx.Client for webhook deliveries, made on first use

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
        """The order as stored: its REST JSON plus the sandbox's own notes (`_sandbox`)."""
        row = self.db.execute("SELECT data FROM orders WHERE id=?", (int(order_id),)).fetchone()
        return json.loads(row[0]) if row else None

    def _save(self, order: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                        (order["id"], order["updated_at"],
                         int(not order["closed_at"] and not order["cancelled_at"]),
                         order["financial_status"], order["fulfillment_status"] or "",
                         json.dumps(order)))

    def _load(self, order_id: int) -> dict:
        order = self.order(order_id)
        if order is None:
            raise KeyError(order_id)
        return order

    def fulfillments(self, order_id: int) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT data FROM fulfillments WHERE order_id=? ORDER BY id", (int(order_id),))]

    def products(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT data FROM products ORDER BY id")]

    def refunds(self, order_id: int) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT data FROM refunds WHERE order_id=? ORDER BY id", (int(order_id),))]

    def add_product(self, spec: dict) -> dict:
        """A product with variants {sku, price (shop money), title}; as productCreate keeps it."""
        with self.lock:
            pid = self._next("product", 8_000_000)
            variants = [{"id": f"gid://shopify/ProductVariant/{self._next('variant', 50_000_000)}",
                         "sku": v.get("sku"), "price": v.get("price"),
                         "title": v.get("title") or ""}
                        for v in spec.get("variants") or []]
            product = {"id": f"gid://shopify/Product/{pid}", "title": spec.get("title"),
                       "vendor": spec.get("vendor"), "variants": variants}
            self.db.execute("INSERT INTO products VALUES (?, ?)", (pid, json.dumps(product)))
        return product

    def set_product(self, product_id, spec: dict) -> dict | None:
        """productSet on an existing product: the given fields replaced; `variants` is the
        whole list (an entry with an `id` updates that variant with the fields it gives, one
        without is created, a variant left out is deleted). None: no such product."""
        with self.lock:
            pid = int(str(product_id).rsplit("/", 1)[-1])
            row = self.db.execute("SELECT data FROM products WHERE id=?", (pid,)).fetchone()
            if row is None:
                return None
            product = json.loads(row[0])
            product.update({k: spec[k] for k in ("title", "vendor") if k in spec})
            if "variants" in spec:
                old = {v["id"]: v for v in product["variants"]}
                kept = []
                for v in spec["variants"]:
                    if v.get("id"):
                        current = dict(old[v["id"]])
                        current.update({k: v[k] for k in ("sku", "price", "title") if k in v})
                    else:
                        current = {"id": "gid://shopify/ProductVariant/"
                                   f"{self._next('variant', 50_000_000)}", "sku": v.get("sku"),
                                   "price": v.get("price"), "title": v.get("title") or ""}
                    kept.append(current)
                product["variants"] = kept
            self.db.execute("UPDATE products SET data=? WHERE id=?", (json.dumps(product), pid))
        return product

    def delete_product(self, product_id) -> None:
        """What a merchant does in the admin."""
        with self.lock:
            pid = int(str(product_id).rsplit("/", 1)[-1])
            self.db.execute("DELETE FROM products WHERE id=?", (pid,))

    def update_variant(self, variant_id, changes: dict) -> dict:
        """What a merchant changes on a variant in the admin (`sku`, `price`); the
        product's own row (productVariantsBulkUpdate keeps the same ids)."""
        with self.lock:
            found = self._variant(variant_id)
            if found is None:
                raise ValueError(f"No variant {variant_id}.")
            product, variant = found
            for v in product["variants"]:
                if v["id"] == variant["id"]:
                    v.update({k: changes[k] for k in ("sku", "price", "title") if k in changes})
                    variant = v
            pid = int(product["id"].rsplit("/", 1)[-1])
            self.db.execute("UPDATE products SET data=? WHERE id=?", (json.dumps(product), pid))
        return variant

    def _variant(self, variant_id) -> tuple[dict, dict] | None:
        wanted = str(variant_id).rsplit("/", 1)[-1]
        for product in self.products():
            for v in product["variants"]:
                if v["id"].rsplit("/", 1)[-1] == wanted:
                    return product, v
        return None

    # --- money: plain REST amounts are shop money; *_set carry both ---------------------

    @staticmethod
    def _rate(order: dict) -> Decimal:
        return Decimal(order["_sandbox"]["rate"])

    def _mset(self, order: dict, buyer: Decimal) -> dict:
        shop = _q(buyer * self._rate(order))
        return {"shop_money": {"amount": f"{shop:.2f}", "currency_code": order["currency"]},
                "presentment_money": {"amount": f"{_q(buyer):.2f}",
                                      "currency_code": order["presentment_currency"]}}

    def _money(self, order: dict, field_name: str, buyer: Decimal) -> None:
        """order[field] (shop money) and order[field_set] (both)."""
        mset = self._mset(order, buyer)
        order[field_name] = mset["shop_money"]["amount"]
        order[field_name + "_set"] = mset

    def _line_json(self, order: dict, lid: int, raw: dict, *, price: Decimal,
                   discount: Decimal) -> dict:
        found = self._variant(raw["variant_id"]) if raw.get("variant_id") else None
        if found is not None:  # a line of a product in the store: its SKU as it is now
            product, variant = found
            raw = {"sku": variant["sku"], "title": product["title"],
                   "product_id": int(product["id"].rsplit("/", 1)[-1]), **raw}
        qty = int(raw.get("quantity", 1))
        custom = bool(raw.get("custom"))
        sku = raw.get("sku", None if custom else "")
        mset = self._mset(order, price)
        disc = self._mset(order, discount)
        title = raw.get("title", "Custom item" if custom else "Item")
        return {
            "id": lid, "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}",
            "product_id": None if custom else raw.get(
                "product_id", 7_000_000 + abs(hash(sku)) % 1_000_000),
            "variant_id": None if custom else raw.get(
                "variant_id", 40_000_000 + abs(hash(sku)) % 1_000_000),
            "sku": sku, "title": title,
            "name": f"{title} - {raw.get('variant_title') or ''}".rstrip(" -"),
            "variant_title": raw.get("variant_title", None if custom else ""),
            "quantity": qty, "current_quantity": qty, "fulfillable_quantity": qty,
            "price": mset["shop_money"]["amount"], "price_set": mset,
            "total_discount": disc["shop_money"]["amount"], "total_discount_set": disc,
            "discount_allocations": ([{"amount": disc["shop_money"]["amount"], "amount_set": disc,
                                       "discount_application_index": 0}] if discount else []),
            "properties": raw.get("properties", []), "fulfillment_status": None,
            "requires_shipping": not custom or bool(raw.get("requires_shipping")),
            "vendor": None if custom else "Sandbox", "taxable": True, "gift_card": False,
            "product_exists": not custom,
        }

    def _recompute(self, order: dict) -> None:
        """The current_* totals and statuses after a change to lines, refunds or fulfilments."""
        sb = order["_sandbox"]
        goods = ZERO
        for ln in order["line_items"]:
            unit = _buyer(ln["price_set"])
            alloc = sum((_buyer(a["amount_set"]) for a in ln["discount_allocations"]), ZERO)
            share = alloc if ln["current_quantity"] >= ln["quantity"] else _q(
                alloc * ln["current_quantity"] / ln["quantity"]) if ln["quantity"] else ZERO
            goods += unit * ln["current_quantity"] - share
            shipped = self._shipped(order, ln["id"])
            ln["fulfillment_status"] = (None if shipped == 0 else "fulfilled"
                                        if ln["fulfillable_quantity"] == 0 else "partial")
        base = Decimal(sb["goods"])
        tax = Decimal(sb["tax"])
        tax = tax if goods == base else (_q(tax * goods / base) if base else ZERO)
        ship = sum((_buyer(s["price_set"]) for s in order["shipping_lines"]), ZERO)
        ship_disc = sum((_buyer(a["amount_set"]) for s in order["shipping_lines"]
                         for a in s["discount_allocations"]), ZERO)
        order_disc = Decimal(sb["order_discount"])
        subtotal = max(goods - order_disc, ZERO)
        self._money(order, "current_subtotal_price", subtotal)
        self._money(order, "current_total_tax", tax)
        self._money(order, "current_total_price", subtotal + ship - ship_disc + tax)
        order["current_shipping_price_set"] = self._mset(order, ship - ship_disc)
        self._money(order, "current_total_discounts", sum(
            (_buyer(a["amount_set"]) for ln in order["line_items"]
             for a in ln["discount_allocations"]), ZERO) + order_disc + ship_disc)
        left = sum(ln["fulfillable_quantity"] for ln in order["line_items"])
        shipped = sum(self._shipped(order, ln["id"]) for ln in order["line_items"])
        order["fulfillment_status"] = (None if shipped == 0 else "fulfilled" if left == 0
                                       else "partial")

    @staticmethod
    def _shipped(order: dict, line_id: int) -> int:
        return sum(it["quantity"] for f in order.get("fulfillments") or []
                   for it in f["line_items"] if it["id"] == line_id)

    # --- orders ------------------------------------------------------------------------

    def create_order(self, spec: dict | None = None, *, webhooks: bool = True,
                     delivery: dict | None = None) -> dict:
        """A new order from a spec (missing parts are generated); returns its REST JSON.

        Amounts in the spec are the buyer's (presentment) money; `presentment_currency`
        and `to_shop_rate` (shop amount = buyer amount x rate) make a multi-currency
        order. `shipping_address: null` makes an order without one (POS, digital);
        a line with `custom: true` has no product, variant or SKU ("custom item")."""
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
            if "shipping_address" in spec and spec["shipping_address"] is None:
                addr = None
            else:
                addr.update(spec.get("shipping_address") or {})
            raw_lines = spec.get("line_items") or [
                {"title": p[0], "sku": p[1], "variant_title": p[2], "price": p[3],
                 "quantity": rnd.randint(1, 2),
                 "properties": [{"name": "Name", "value": first},
                                {"name": "Font", "value": rnd.choice(["Serif", "Script"])}]}
                for p in rnd.sample(PRODUCTS, rnd.randint(1, 2))]
            currency = self.settings.currency
            presentment = spec.get("presentment_currency") or currency
            rate = Decimal(str(spec.get("to_shop_rate", "1"))) if presentment != currency \
                else Decimal(1)
            order = {"id": oid, "currency": currency, "presentment_currency": presentment,
                     "_sandbox": {"rate": str(rate)}}
            lines = []
            for raw in raw_lines:
                lines.append(self._line_json(
                    order, self._next("line", 13_000_000_000), raw,
                    price=Decimal(str(raw.get("price", "10.00"))),
                    discount=Decimal(str(raw.get("discount", "0")))))
            gross = sum(_buyer(ln["price_set"]) * ln["quantity"] for ln in lines)
            line_disc = sum((_buyer(a["amount_set"]) for ln in lines
                             for a in ln["discount_allocations"]), ZERO)
            order_disc = Decimal(str(spec.get("order_discount", "0")))
            shipping = Decimal(str(spec.get("shipping", "4.90")))
            ship_disc = min(Decimal(str(spec.get("shipping_discount", "0"))), shipping)
            tax = Decimal(str(spec.get("tax", "0")))
            total = gross - line_disc - order_disc + shipping - ship_disc + tax
            financial = spec.get("financial_status", "paid")
            email = spec.get("email", f"{_ascii(first).lower()}.{number}@example.com")
            ship_set = self._mset(order, shipping)
            ship_alloc = self._mset(order, ship_disc)
            order.update({
                "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
                "name": spec.get("name", f"#{number}"), "order_number": number,
                "email": email, "contact_email": email or None,
                "created_at": created, "updated_at": iso(now), "processed_at": created,
                "cancelled_at": None, "cancel_reason": None, "closed_at": None,
                "financial_status": financial, "fulfillment_status": None,
                "test": bool(spec.get("test", False)),
                "source_name": spec.get("source_name", "web"),
                "total_shipping_price_set": ship_set,
                "shipping_lines": [{
                    "id": self._next("shipping_line", 271_000_000), "title": "Standard",
                    "code": "Standard", "source": "shopify", "is_removed": False,
                    "price": ship_set["shop_money"]["amount"], "price_set": ship_set,
                    "discount_allocations": ([{"amount": ship_alloc["shop_money"]["amount"],
                                               "amount_set": ship_alloc,
                                               "discount_application_index": 1}]
                                             if ship_disc else [])}],
                "discount_codes": ([{"code": spec.get("discount_code", "WELCOME"),
                                     "amount": f"{_q(line_disc + order_disc + ship_disc):.2f}",
                                     "type": "fixed_amount"}]
                                   if line_disc + order_disc + ship_disc else []),
                "note": spec.get("note"), "note_attributes": spec.get("note_attributes", []),
                "customer": {"id": self._next("customer", 6_000_000), "email": email or None,
                             "first_name": first, "last_name": last},
                "line_items": lines, "fulfillments": [], "refunds": [],
            })
            if addr is not None:
                order["shipping_address"] = addr
                order["billing_address"] = addr
            self._money(order, "total_line_items_price", gross)
            self._money(order, "subtotal_price", gross - line_disc - order_disc)
            self._money(order, "total_discounts", line_disc + order_disc + ship_disc)
            self._money(order, "total_tax", tax)
            self._money(order, "total_price", total)
            order["_sandbox"].update({
                "goods": str(gross - line_disc), "tax": str(tax),
                "order_discount": str(order_disc),
                # what the buyer has paid the store, in their money
                "received": str(total if financial == "paid" else ZERO)})
            self._recompute(order)
            self._save(order)
            if spec.get("fulfillment_status") == "fulfilled":
                self._fulfill_all(order, webhooks=False)
                order = self.order(oid)
        if webhooks:
            self.emit("orders/create", order, delivery)
            if order["financial_status"] == "paid":
                self.emit("orders/paid", order, delivery)
        return public(order)

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
            order = self._load(order_id)
            for key, value in changes.items():
                if key == "shipping_address" and order.get("shipping_address") and value:
                    order["shipping_address"].update(value)
                else:
                    order[key] = value
            order["updated_at"] = iso(self._now())
            self._save(order)
        if webhooks:
            self.emit(topic, order, delivery)
        return public(order)

    def mark_paid(self, order_id: int, *, delivery: dict | None = None) -> dict:
        with self.lock:
            order = self._load(order_id)
            order["_sandbox"]["received"] = str(_buyer(order["current_total_price_set"]))
            self._save(order)
        order = self.update_order(order_id, {"financial_status": "paid"}, webhooks=False)
        self.emit("orders/paid", order, delivery)
        self.emit("orders/updated", order, delivery)
        return order

    def cancel_order(self, order_id: int, *, reason: str = "customer", refund: bool = False,
                     restock: bool = True, notify_customer: bool = False,
                     staff_note: str | None = None, delivery: dict | None = None,
                     webhooks: bool = True) -> dict:
        """Cancel as orderCancel does: nothing left to fulfil; with `refund` the buyer gets
        back what they paid (a refund with its transaction), an unpaid order is voided."""
        with self.lock:
            order = self._load(order_id)
            now = iso(self._now())
            made = None
            paid = order["financial_status"] in ("paid", "partially_paid", "partially_refunded")
            if refund and paid:
                lines = [{"line_item_id": ln["id"], "quantity": ln["fulfillable_quantity"],
                          "restock_type": "cancel" if restock else "no_restock"}
                         for ln in order["line_items"] if ln["fulfillable_quantity"] > 0]
                made = self._refund(order, lines, amount=Decimal(order["_sandbox"]["received"]),
                                    note=staff_note, notify=notify_customer)
            elif not paid:
                order["financial_status"] = "voided"
            for ln in order["line_items"]:
                ln["fulfillable_quantity"] = 0
            order.update({"cancelled_at": now, "cancel_reason": reason, "closed_at": now,
                          "updated_at": now})
            if staff_note:
                order["note"] = staff_note
            order["_sandbox"]["cancel"] = {"reason": reason, "refund": bool(refund),
                                           "restock": bool(restock),
                                           "notify_customer": bool(notify_customer),
                                           "staff_note": staff_note}
            self._recompute(order)
            self._save(order)
        if webhooks:
            self.emit("orders/cancelled", order, delivery)
            if made is not None:
                self.emit("refunds/create", made, delivery)
            self.emit("orders/updated", order, delivery)
        return public(order)

    # --- order edits, refunds, fulfilments (what a merchant does in the store) -----------

    def edit_order(self, order_id: int, changes: list[dict], *, notify_customer: bool = False,
                   staff_note: str = "", webhooks: bool = True) -> dict:
        """Commit an order edit: `{"line_item_id", "quantity"}` sets a line's quantity (0
        removes it), `{"variant_id", "quantity"}` adds a variant (a swap is both). Sends
        orders/edited (an order_edit body) and orders/updated. Returns the order_edit."""
        with self.lock:
            order = self._load(order_id)
            if order["cancelled_at"]:
                raise ValueError("The order is cancelled.")
            by_id = {ln["id"]: ln for ln in order["line_items"]}
            additions, removals = [], []
            for change in changes:
                qty = int(change.get("quantity", 0))
                if change.get("line_item_id") is not None:
                    ln = by_id.get(int(str(change["line_item_id"]).rsplit("/", 1)[-1]))
                    if ln is None:
                        raise ValueError(f"No line item {change['line_item_id']}.")
                    shipped = ln["current_quantity"] - ln["fulfillable_quantity"]
                    if qty < shipped:
                        raise ValueError("Fulfilled items can't be removed.")
                    delta = qty - ln["current_quantity"]
                    if delta > 0:
                        ln["quantity"] += delta
                        additions.append({"id": ln["id"], "delta": delta})
                    elif delta < 0:
                        removals.append({"id": ln["id"], "delta": -delta})
                    ln["current_quantity"] += delta
                    ln["fulfillable_quantity"] += delta
                else:
                    found = self._variant(change.get("variant_id"))
                    if found is None or qty <= 0:
                        raise ValueError(f"No variant {change.get('variant_id')}.")
                    product, variant = found
                    lid = self._next("line", 13_000_000_000)
                    price = _q(Decimal(str(variant["price"] or "0")) / self._rate(order))
                    line = self._line_json(order, lid, {
                        "title": product["title"], "sku": variant["sku"],
                        "variant_title": variant["title"], "quantity": qty,
                        "product_id": int(product["id"].rsplit("/", 1)[-1]),
                        "variant_id": int(variant["id"].rsplit("/", 1)[-1]),
                        "properties": change.get("properties", [])}, price=price, discount=ZERO)
                    order["line_items"].append(line)
                    by_id[lid] = line
                    additions.append({"id": lid, "delta": qty})
            now = iso(self._now())
            order["updated_at"] = now
            self._recompute(order)
            owed = _buyer(order["current_total_price_set"]) - Decimal(
                order["_sandbox"]["received"])
            if order["financial_status"] in ("paid", "partially_refunded") and owed > 0:
                order["financial_status"] = "partially_paid"  # the buyer owes the difference
            self._save(order)
            edit = {"order_edit": {
                "id": self._next("order_edit", 78_000_000), "app_id": None, "created_at": now,
                "committed_at": now, "notify_customer": bool(notify_customer),
                "order_id": order["id"], "staff_note": staff_note or "", "user_id": None,
                "line_items": {"additions": additions, "removals": removals},
                "discounts": {"line_item": {"additions": [], "removals": []}},
                "shipping_lines": {"additions": [], "removals": []},
            }}
        if webhooks:
            self.emit("orders/edited", edit)
            self.emit("orders/updated", order)
        return edit

    def _refund(self, order: dict, lines: list[dict], *, amount: Decimal | None = None,
                shipping: Decimal = ZERO, note: str | None = None,
                notify: bool = False) -> dict:
        """Record a refund on `order` (not saved): refunded units leave the line's current
        quantity, unfulfilled ones first; returns the REST refund (refunds/create body)."""
        by_id = {ln["id"]: ln for ln in order["line_items"]}
        rid = self._next("refund", 900_000)
        now = iso(self._now())
        items, due = [], ZERO
        for spec in lines:
            ln = by_id.get(int(str(spec["line_item_id"]).rsplit("/", 1)[-1]))
            qty = min(int(spec.get("quantity", 1)), ln["current_quantity"]) if ln else 0
            if ln is None or qty <= 0:
                raise ValueError(f"Line item {spec['line_item_id']} has nothing to refund.")
            unit = _buyer(ln["price_set"])
            alloc = sum((_buyer(a["amount_set"]) for a in ln["discount_allocations"]), ZERO)
            subtotal = unit * qty - (_q(alloc * qty / ln["quantity"]) if ln["quantity"] else 0)
            due += subtotal
            ln["current_quantity"] -= qty
            ln["fulfillable_quantity"] -= min(qty, ln["fulfillable_quantity"])
            items.append({"id": self._next("refund_line", 104_000_000), "line_item_id": ln["id"],
                          "location_id": None, "quantity": qty,
                          "restock_type": spec.get("restock_type") or "no_restock",
                          "subtotal": float(_q(subtotal * self._rate(order))),
                          "subtotal_set": self._mset(order, subtotal), "total_tax": 0.0,
                          "total_tax_set": self._mset(order, ZERO), "line_item": dict(ln)})
        amount = due + shipping if amount is None else amount
        received = Decimal(order["_sandbox"]["received"]) - amount
        order["_sandbox"]["received"] = str(max(received, ZERO))
        order["financial_status"] = "refunded" if received <= 0 else "partially_refunded"
        refund = {
            "id": rid, "admin_graphql_api_id": f"gid://shopify/Refund/{rid}",
            "order_id": order["id"], "created_at": now, "processed_at": now, "note": note,
            "restock": any(i["restock_type"] != "no_restock" for i in items),
            "user_id": None, "notify": bool(notify), "refund_line_items": items,
            "order_adjustments": [], "duties": [],
            "transactions": [{
                "id": self._next("transaction", 179_000_000), "order_id": order["id"],
                "kind": "refund", "status": "success", "gateway": "bogus", "test": False,
                "amount": f"{_q(amount):.2f}", "currency": order["presentment_currency"],
                "created_at": now}] if amount > 0 else [],
        }
        order["refunds"].append(refund)
        order["updated_at"] = now
        self._recompute(order)
        self.db.execute("INSERT INTO refunds VALUES (?, ?, ?)",
                        (rid, order["id"], json.dumps(refund)))
        return refund

    def refund_order(self, order_id: int, lines: list[dict], *, shipping: Decimal = ZERO,
                     note: str | None = None, notify: bool = False,
                     webhooks: bool = True) -> dict:
        """refundCreate: `lines` = [{line_item_id, quantity, restock_type}]; sends
        refunds/create (the refund) and orders/updated."""
        with self.lock:
            order = self._load(order_id)
            refund = self._refund(order, lines, shipping=shipping, note=note, notify=notify)
            self._save(order)
        if webhooks:
            self.emit("refunds/create", refund)
            self.emit("orders/updated", order)
        return refund

    def _fulfill_all(self, order: dict, *, webhooks: bool) -> None:
        items = [{"line_item_id": ln["id"], "quantity": ln["fulfillable_quantity"]}
                 for ln in order["line_items"] if ln["fulfillable_quantity"] > 0]
        self._fulfill(order["id"], items, tracking={"company": "USPS",
                                                     "number": f"9400{order['id']}"},
                      notify=False, webhooks=webhooks)

    def _fulfill(self, order_id: int, items: list[dict], *, tracking: dict, notify: bool,
                 webhooks: bool = True, message: str | None = None) -> dict:
        """A fulfillment of `items` ([{line_item_id, quantity}]), by PodHub or anyone else;
        sends orders/partially_fulfilled or orders/fulfilled, then orders/updated."""
        with self.lock:
            order = self._load(order_id)
            by_id = {ln["id"]: ln for ln in order["line_items"]}
            for it in items:
                ln = by_id[it["line_item_id"]]
                if not 0 < it["quantity"] <= ln["fulfillable_quantity"]:
                    raise ValueError(f"Invalid quantity for line item {ln['id']}.")
                ln["fulfillable_quantity"] -= it["quantity"]
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
            order["fulfillments"].append({
                "id": fid, "admin_graphql_api_id": fulfillment["admin_graphql_api_id"],
                "order_id": order_id, "status": "success", "created_at": order["updated_at"],
                "tracking_company": tracking.get("company"),
                "tracking_number": tracking.get("number"), "tracking_url": tracking.get("url"),
                "tracking_numbers": [tracking["number"]] if tracking.get("number") else [],
                "tracking_urls": [tracking["url"]] if tracking.get("url") else [],
                "notify_customer": bool(notify),
                "line_items": [{**by_id[it["line_item_id"]], "quantity": it["quantity"]}
                               for it in items]})
            self.db.execute("INSERT INTO fulfillments VALUES (?, ?, ?)",
                            (fid, order_id, json.dumps(fulfillment)))
            self._recompute(order)
            self._save(order)
        if webhooks:
            self.emit("orders/fulfilled" if order["fulfillment_status"] == "fulfilled"
                      else "orders/partially_fulfilled", order)
            self.emit("orders/updated", order)
        return fulfillment

    def test_notification(self, topic: str) -> str:
        """What the "Send test notification" button sends: a sample body for the topic,
        "test": true, and the X-Shopify-Test header; no order of the shop is touched."""
        with self.lock:
            sample = {"id": 820982911946154508, "currency": self.settings.currency,
                      "presentment_currency": self.settings.currency, "_sandbox": {
                          "rate": "1"}}
            line = self._line_json(sample, 487817672276298554, {
                "title": "Aviator sunglasses", "sku": "SKU2006-001", "quantity": 1},
                price=Decimal("89.99"), discount=ZERO)
        if topic == "orders/edited":
            payload = {"order_edit": {
                "id": 78912328, "app_id": None, "created_at": "2021-12-31T19:00:00-05:00",
                "committed_at": "2021-12-31T19:00:00-05:00", "notify_customer": False,
                "order_id": 820982911946154508, "staff_note": "", "user_id": None,
                "line_items": {"additions": [{"id": 487817672276298554, "delta": 1}],
                               "removals": []},
                "discounts": {"line_item": {"additions": [], "removals": []}},
                "shipping_lines": {"additions": [], "removals": []}}}
        elif topic.startswith("orders/"):
            payload = {**public(sample), "name": "#9999", "email": "jon@example.com",
                       "test": True, "created_at": "2021-12-31T19:00:00-05:00",
                       "updated_at": "2021-12-31T19:00:00-05:00", "cancelled_at": None,
                       "closed_at": None, "financial_status": "voided",
                       "fulfillment_status": None, "line_items": [line], "shipping_lines": [],
                       "admin_graphql_api_id": "gid://shopify/Order/820982911946154508"}
        elif topic == "refunds/create":
            payload = {"id": 890088186047892319, "order_id": 820982911946154508,
                       "created_at": "2021-12-31T19:00:00-05:00", "note": "Things were damaged",
                       "restock": False, "refund_line_items": [], "transactions": []}
        else:
            payload = {"id": 1, "test": True}
        return self.emit(topic, payload, test=True)

    # --- GraphQL representation ----------------------------------------------------------

    def gql_order(self, o: dict, *, lines_first: int = 10, lines_after: int = 0) -> dict:
        a = o.get("shipping_address") or None
        b = o.get("billing_address") or None
        fstatus = {None: "UNFULFILLED", "partial": "PARTIALLY_FULFILLED",
                   "fulfilled": "FULFILLED"}[o.get("fulfillment_status")]
        lines = o["line_items"][lines_after:lines_after + lines_first]
        has_next = len(o["line_items"]) > lines_after + lines_first
        ship = (o.get("shipping_lines") or [None])[0]
        return {
            "id": o["admin_graphql_api_id"], "name": o["name"], "email": o["email"],
            "createdAt": o["created_at"], "updatedAt": o["updated_at"],
            "cancelledAt": o["cancelled_at"], "closed": bool(o["closed_at"]),
            "test": bool(o.get("test")),
            "displayFinancialStatus": o["financial_status"].upper(),
            "displayFulfillmentStatus": fstatus, "currencyCode": o["currency"],
            "presentmentCurrencyCode": o.get("presentment_currency") or o["currency"],
            "totalDiscountsSet": gql_money(o["total_discounts_set"]),
            "totalShippingPriceSet": gql_money(o["total_shipping_price_set"]),
            "totalTaxSet": gql_money(o["total_tax_set"]),
            "totalPriceSet": gql_money(o["total_price_set"]),
            "currentTotalTaxSet": gql_money(o["current_total_tax_set"]),
            "currentTotalPriceSet": gql_money(o["current_total_price_set"]),
            "shippingLine": None if ship is None else {
                "originalPriceSet": gql_money(ship["price_set"]),
                "discountAllocations": [{"allocatedAmountSet": gql_money(x["amount_set"])}
                                        for x in ship["discount_allocations"]]},
            "billingAddress": None if b is None else {
                "name": b.get("name"), "firstName": b.get("first_name"),
                "lastName": b.get("last_name")},
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
                "nodes": [self.gql_line(ln) for ln in lines],
            },
        }

    @staticmethod
    def gql_line(ln: dict) -> dict:
        return {
            "id": ln["admin_graphql_api_id"], "sku": ln["sku"], "title": ln["title"],
            "variantTitle": ln["variant_title"], "quantity": ln["quantity"],
            "currentQuantity": ln["current_quantity"],
            "unfulfilledQuantity": ln["fulfillable_quantity"],
            "customAttributes": [{"key": p.get("name"), "value": p.get("value")}
                                 for p in ln.get("properties") or []],
            "originalUnitPriceSet": gql_money(ln["price_set"]),
            "discountAllocations": [{"allocatedAmountSet": gql_money(a["amount_set"])}
                                    for a in ln.get("discount_allocations") or []],
            "product": ({"id": f"gid://shopify/Product/{ln['product_id']}"}
                        if ln.get("product_id") else None),
            "variant": ({"id": f"gid://shopify/ProductVariant/{ln['variant_id']}"}
                        if ln.get("variant_id") else None),
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

    def emit(self, topic: str, payload: dict, delivery: dict | None = None, *,
             test: bool = False) -> str:
        """Queue one event. delivery: {"duplicate": n, "drop": bool}."""
        delivery = delivery or {}
        event_id = secrets.token_hex(12)
        if self.topics is not None and topic not in self.topics:
            return event_id  # the app is not subscribed to it: Shopify sends nothing
        body = json.dumps(public(payload), ensure_ascii=False).encode()
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
                             triggered_at=triggered, log_id=log_id, test=test)
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
        headers = {"Content-Type": "application/json",
                   "X-Shopify-Topic": d.topic, "X-Shopify-Shop-Domain": self.shop_domain,
                   "X-Shopify-Hmac-Sha256": sign(d.body, self.webhook_secret),
                   "X-Shopify-Event-Id": d.event_id, "X-Shopify-Webhook-Id": d.webhook_id,
                   "X-Shopify-API-Version": "2025-10",
                   "X-Shopify-Triggered-At": d.triggered_at}
        if d.test:
            headers["X-Shopify-Test"] = "true"
        return headers

    def _send(self, d: Delivery) -> int:
        headers = self._headers(d)
        if self.sender is not None:
            return self.sender(self.webhook_url or "", d.body, headers)
        import httpx

        if self._client is None:  # one for the store: a new client per delivery costs an
            self._client = httpx.Client()  # SSL context (~30 ms CPU), capping the rate
        try:
            resp = self._client.post(self.webhook_url, content=d.body, headers=headers,
                                     timeout=5.0)
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
        self.bulk.close()

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
