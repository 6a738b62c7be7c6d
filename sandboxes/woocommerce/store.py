"""The sandbox store's state and rules (no HTTP here; see server.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote, unquote

from integrations.woocommerce.signature import sign
from sandboxes.state import int_keys, next_ids, restore_ids
from sandboxes.woocommerce.products import ProductsMixin
from sandboxes.woocommerce.rest import RestError, fmt

STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded",
            "failed", "trash", "checkout-draft")
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures
# wc_get_order_status_name(), for the "Order status changed from … to …." note.
STATUS_NAMES = {"pending": "Pending payment", "processing": "Processing", "on-hold": "On hold",
                "completed": "Completed", "cancelled": "Cancelled", "refunded": "Refunded",
                "failed": "Failed", "checkout-draft": "Draft", "trash": "Trash"}
# Payment gateways (id -> title); only some refund through their API (supports('refunds')):
# WooCommerce's own bank transfer, cheque and cash on delivery do not.
GATEWAYS = {"stripe": "Credit Card (Stripe)", "woocommerce_payments": "WooPayments",
            "ppcp-gateway": "PayPal", "bacs": "Direct bank transfer",
            "cheque": "Check payments", "cod": "Cash on delivery"}
REFUND_GATEWAYS = frozenset({"stripe", "woocommerce_payments", "ppcp-gateway"})
REFUND_REFUSED = "woocommerce_rest_cannot_create_order_refund"
_ENTITY = re.compile(r"&(?!(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);)")


def parse(value: str) -> float:
    value = value.strip().replace("Z", "")
    if "+" in value[10:]:
        value = value[:value.rindex("+")]
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def wp_text(value, *, quotes: bool = False):
    """Text as WordPress stores and WooCommerce sends it: `&`, `<`, `>` as entities
    (entities already there kept), with `quotes` an apostrophe as `&#8217;` (the address
    in WooCommerce's iOS app fixture order-with-bundled-line-items.json). Not text: as is."""
    if not isinstance(value, str):
        return value
    value = _ENTITY.sub("&amp;", value).replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("'", "&#8217;") if quotes else value


def _money(value) -> str:
    return f"{Decimal(str(value or 0)):.2f}"


def _http_sender(url: str, body: bytes, headers: dict) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str) -> str:
    """What WC_REST_Authentication::check_oauth_signature computes (HMAC-SHA256)."""
    def enc(v: str) -> str:
        return quote(unquote(str(v)), safe="~").replace("%", "%25")

    pairs = sorted((enc(k), enc(v)) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(f"{k}%3D{v}" for k, v in pairs)
    base = f"{method.upper()}&{quote(url, safe='')}&{query}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WooStore(ProductsMixin):
    """One store. Timestamps are whole seconds like WooCommerce's, but every change gets
    a later second than the previous one (a store clock that never repeats), so each
    version of an order is distinguishable."""

    def __init__(self, *, home_url: str = "http://127.0.0.1", consumer_key: str,
                 consumer_secret: str, clock: Callable[[], float] = time.time,
                 sender: Callable[[str, bytes, dict], int] | None = None,
                 first_id: int = 1001):
        self.home_url = home_url.rstrip("/")
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.clock = clock
        self.sender = sender or _http_sender
        self.lock = threading.RLock()
        self.orders: dict[int, dict] = {}
        self.notes: dict[int, list[dict]] = {}
        self.refunds: dict[int, list[dict]] = {}  # newest first, as GET lists them
        self.webhooks: dict[int, dict] = {}
        self.products: dict[int, dict] = {}  # products.py
        self.queue: list[dict] = []  # deliveries waiting to be sent
        self.held: list[dict] = []  # deliveries held back (out-of-order on demand)
        self.log: list[dict] = []
        self.nonces: set[str] = set()
        self.plan: dict = {}  # for the next event: {"duplicate": n, "drop": bool}
        self.holding = False
        self.fail_next = 0  # REST answers 500 this many times
        self.lose_next = 0  # REST writes are done but answered 504 this many times
        self.lose_route = ""  # ... of the routes this regex finds ("": any)
        # REST answers `down_status` until this store-clock time: 503 (WordPress'
        # maintenance page) or 429 (a host's rate limit), each with Retry-After
        self.down_until = 0.0
        self.down_status = 503
        self.auto_deliver = False
        self._ids = itertools.count(first_id)
        self._line_ids = itertools.count(1)
        self._note_ids = itertools.count(1)
        self._meta_ids = itertools.count(1)
        self._hook_ids = itertools.count(1)
        self._last = 0.0
        self.requests = 0

    # --- on disk (sandboxes/state.py) ---------------------------------------------------

    _COUNTERS = ("_ids", "_line_ids", "_note_ids", "_meta_ids", "_hook_ids")

    def snapshot(self) -> dict:
        """What a restarted sandbox needs to go on as the same store: its keys, orders,
        notes, refunds, products, webhooks and next ids (not deliveries in flight)."""
        with self.lock:
            counters = next_ids(self, self._COUNTERS)
            return {"home_url": self.home_url, "consumer_key": self.consumer_key,
                    "consumer_secret": self.consumer_secret,
                    "auto_deliver": self.auto_deliver, "orders": self.orders,
                    "notes": self.notes, "refunds": self.refunds, "webhooks": self.webhooks,
                    "products": self.products, "counters": counters, "last": self._last}

    @classmethod
    def from_snapshot(cls, data: dict, **kwargs) -> WooStore:
        store = cls(home_url=data["home_url"], consumer_key=data["consumer_key"],
                    consumer_secret=data["consumer_secret"], **kwargs)
        store.auto_deliver = bool(data.get("auto_deliver"))
        for name in ("orders", "notes", "refunds", "webhooks", "products"):
            setattr(store, name, int_keys(data.get(name) or {}))
        restore_ids(store, cls._COUNTERS, data.get("counters"))
        store._last = float(data.get("last") or 0)
        return store

    # --- time ------------------------------------------------------------------------

    def _tick(self) -> float:
        now = float(int(self.clock()))
        self._last = max(now, self._last + 1)
        return self._last

    # --- auth (INTEGRATIONS.md §2.1) ------------------------------------------------------

    def authenticate(self, *, method: str, url: str, query: dict[str, str],
                     basic: tuple[str, str] | None) -> None:
        if basic is not None:
            key, secret = basic
        elif "consumer_key" in query:
            key, secret = query.get("consumer_key", ""), query.get("consumer_secret", "")
        elif "oauth_consumer_key" in query:
            self._check_oauth(method, url, query)
            return
        else:
            raise RestError(401, "woocommerce_rest_cannot_view",
                            "Sorry, you cannot list resources.")
        if key != self.consumer_key:
            raise RestError(401, "woocommerce_rest_authentication_error",
                            "Consumer key is invalid.")
        if not hmac.compare_digest(secret, self.consumer_secret):
            raise RestError(401, "woocommerce_rest_authentication_error",
                            "Consumer secret is invalid.")

    def _check_oauth(self, method: str, url: str, query: dict[str, str]) -> None:
        if query.get("oauth_consumer_key") != self.consumer_key:
            raise RestError(401, "woocommerce_rest_authentication_error",
                            "Consumer key is invalid.")
        missing = [p for p in ("oauth_timestamp", "oauth_nonce", "oauth_signature",
                               "oauth_signature_method") if not query.get(p)]
        if missing:
            raise RestError(401, "woocommerce_rest_authentication_missing_parameter",
                            f"Missing OAuth parameter {missing[0]}")
        if query["oauth_signature_method"] not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise RestError(401, "woocommerce_rest_authentication_error",
                            "Invalid signature method")
        if query["oauth_signature_method"] == "HMAC-SHA256":
            expected = oauth_signature(method, url, query, self.consumer_secret)
            if not hmac.compare_digest(expected, query["oauth_signature"]):
                raise RestError(401, "woocommerce_rest_authentication_error",
                                "Invalid signature - provided signature does not match.")
        try:
            ts = int(query["oauth_timestamp"])
        except ValueError:
            ts = 0
        if abs(self.clock() - ts) > 15 * 60:
            raise RestError(401, "woocommerce_rest_authentication_error",
                            "Invalid timestamp.")
        with self.lock:
            nonce = f"{ts}:{query['oauth_nonce']}"
            if nonce in self.nonces:
                raise RestError(401, "woocommerce_rest_authentication_error",
                                "Invalid nonce - nonce has already been used.")
            self.nonces.add(nonce)

    # --- orders ------------------------------------------------------------------------

    def _item(self, ln: dict) -> dict:
        """An order line as WooCommerce stores it: the name as WordPress saved the product
        title (`&` -> `&amp;`), a variation's name followed by ` &ndash; ` and its
        attributes (the REST docs' "Ship Your Idea &ndash; Color: Black, Size: M Test"),
        variation attributes as `pa_*` meta (slug value, label and name to display), other
        meta with a display value of the same JSON type (text entity-encoded)."""
        found = self.find_variation(ln["variation_id"]) if ln.get("variation_id") else None
        if found is not None:  # a line of a product in the store: its SKU as it is now
            product, variation = found
            ln = {"name": product["name"], "sku": variation["sku"], "product_id": product["id"],
                  "price": variation["regular_price"] or "0", **ln}
        qty = int(ln.get("quantity") or 1)
        price = Decimal(str(ln.get("price") or 0))
        subtotal = price * qty
        total = Decimal(str(ln.get("total"))) if ln.get("total") is not None else subtotal
        attributes = ln.get("attributes") or {}
        meta = [{"id": next(self._meta_ids), "key": k,
                 "value": str(v).strip().lower().replace(" ", "-"),
                 "display_key": k.removeprefix("pa_").replace("_", " ").title(),
                 "display_value": wp_text(v)} for k, v in attributes.items()]
        meta += [{"id": next(self._meta_ids), "key": k, "value": v, "display_key": wp_text(k),
                  "display_value": wp_text(v) if isinstance(v, str) else v}
                 for k, v in (ln.get("meta") or {}).items()]
        name = wp_text(ln.get("name", "Item"))
        if attributes:
            name += " &ndash; " + ", ".join(f"{m['display_key']}: {m['display_value']}"
                                           for m in meta[:len(attributes)])
        return {"id": next(self._line_ids), "name": name,
                "product_id": ln.get("product_id", 10),
                "variation_id": ln.get("variation_id", 0), "quantity": qty, "tax_class": "",
                "subtotal": _money(subtotal), "subtotal_tax": "0.00", "total": _money(total),
                "total_tax": "0.00", "taxes": [], "meta_data": meta, "sku": ln.get("sku", ""),
                "price": float(total / qty)}

    def create_order(self, spec: dict | None = None, *, webhooks: bool = True) -> dict:
        """spec: status, currency, payment_method (stripe refunds through the gateway;
        bacs, cheque and cod cannot), line_items [{name, sku, price, quantity, total,
        meta {k: any JSON}, attributes {pa_color: ...}, product_id, variation_id}],
        shipping {...} (None: no shipping address), billing {...}, no_address (neither
        address nor e-mail, like a POS or digital order), shipping_total."""
        spec = spec or {}
        with self.lock:
            now = self._tick()
            oid = next(self._ids)
            status = spec.get("status", "processing")
            lines = [self._item(ln) for ln in spec.get("line_items") or [
                {"name": "Mug", "sku": "MUG-11-WHITE", "price": "12.00", "quantity": 1}]]
            address = {"first_name": "Ana", "last_name": "Lima", "company": "",
                       "address_1": "Rua Augusta 10", "address_2": "", "city": "Lisboa",
                       "state": "", "postcode": "1100-048", "country": "PT", "phone": ""}
            empty = dict.fromkeys(address, "")
            shipping = {**address, **(spec.get("shipping") or {})} \
                if spec.get("shipping", {}) is not None else dict(empty)
            billing = {**address, "email": "ana@example.com", "phone": "+351 900 000 000",
                       **(spec.get("billing") or {})}
            if spec.get("no_address"):
                shipping, billing = dict(empty), {**empty, "email": ""}
            shipping = {k: wp_text(v, quotes=True) for k, v in shipping.items()}
            billing = {k: wp_text(v, quotes=True) if k != "email" else v
                       for k, v in billing.items()}
            ship_total = Decimal(str(spec.get("shipping_total", "5.00")))
            method = spec.get("payment_method") or ("bacs" if status == "on-hold"
                                                    else "stripe")
            order = {
                "id": oid, "parent_id": 0, "number": str(oid),
                "order_key": f"wc_order_{oid:x}", "created_via": "checkout",
                "version": "9.4.0", "status": status,
                "currency": spec.get("currency", "EUR"),
                "date_created": fmt(now), "date_created_gmt": fmt(now),
                "date_modified": fmt(now), "date_modified_gmt": fmt(now),
                "discount_total": "0.00", "discount_tax": "0.00",
                "shipping_total": _money(ship_total), "shipping_tax": "0.00",
                "cart_tax": "0.00", "total": "0.00",
                "total_tax": "0.00", "prices_include_tax": False, "customer_id": 0,
                "customer_ip_address": "127.0.0.1", "customer_user_agent": "Mozilla/5.0",
                "customer_note": "", "billing": billing, "shipping": shipping,
                "payment_method": method,
                "payment_method_title": GATEWAYS.get(method, method),
                "transaction_id": "", "date_paid": None, "date_paid_gmt": None,
                "date_completed": None, "date_completed_gmt": None, "cart_hash": "",
                "meta_data": [], "line_items": lines, "tax_lines": [],
                "shipping_lines": [{"id": next(self._line_ids), "method_title": "Flat rate",
                                    "method_id": "flat_rate", "total": _money(ship_total),
                                    "total_tax": "0.00", "taxes": [], "meta_data": []}],
                "fee_lines": [], "coupon_lines": [], "refunds": [],
            }
            self._totals(order)
            self._status_dates(order, status, now)
            self.orders[oid] = order
            self.notes[oid] = []
            self.refunds[oid] = []
            if webhooks:
                self._event("order.created", oid)
            return self._copy(order)

    @staticmethod
    def _totals(order: dict) -> None:
        """The order's totals from its lines (after a line edit)."""
        lines = order["line_items"]
        items = sum((Decimal(ln["total"]) for ln in lines), Decimal(0))
        discount = sum((Decimal(ln["subtotal"]) - Decimal(ln["total"]) for ln in lines),
                       Decimal(0))
        order["discount_total"] = _money(discount)
        order["total"] = _money(items + Decimal(order["shipping_total"]))

    def _status_dates(self, order: dict, status: str, now: float) -> None:
        if status in ("processing", "completed", "refunded") and not order["date_paid_gmt"]:
            order["date_paid"] = order["date_paid_gmt"] = fmt(now)
        if status == "completed" and not order["date_completed_gmt"]:
            order["date_completed"] = order["date_completed_gmt"] = fmt(now)

    def _set_status(self, order: dict, status: str, now: float) -> None:
        """A status change, with the note WooCommerce writes for it (and logged)."""
        old = order["status"]
        if status == old:
            return
        order["status"] = status
        self._system_note(order["id"], f"Order status changed from {STATUS_NAMES.get(old, old)}"
                                       f" to {STATUS_NAMES.get(status, status)}.", now)
        self.log.append({"status": status, "from": old, "order_id": order["id"]})

    def _copy(self, order: dict) -> dict:
        import copy

        return copy.deepcopy(order)

    def _live(self, oid: int) -> dict:
        order = self.orders.get(int(oid))
        if order is None or order["status"] == "deleted":
            raise RestError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return order

    def get_order(self, oid: int) -> dict:
        with self.lock:
            return self._copy(self._live(oid))

    def update_order(self, oid: int, changes: dict, *, webhooks: bool = True) -> dict:
        """PUT /orders/<id>: status, meta_data (by id, or by key: update_meta_data),
        customer_note, billing/shipping parts, set_paid, payment_method, line_items (by
        id: quantity, variation_id, sku, name, price; `quantity: 0` or `product_id: null`
        removes the line, WC_REST_Orders_V2_Controller::item_is_null_or_zero; without id:
        a new line)."""
        with self.lock:
            order = self._live(oid)
            now = self._tick()
            status = changes.get("status")
            if status is not None and status not in STATUSES:
                raise RestError(400, "rest_invalid_param", "Invalid parameter(s): status")
            if changes.get("line_items") is not None:
                self._edit_lines(order, changes["line_items"])
            for meta in changes.get("meta_data") or []:
                self._set_meta(order, meta)
            for part in ("billing", "shipping"):
                if isinstance(changes.get(part), dict):
                    order[part].update(changes[part])
            if "customer_note" in changes:
                order["customer_note"] = str(changes["customer_note"])
            if changes.get("payment_method"):
                order["payment_method"] = changes["payment_method"]
                order["payment_method_title"] = GATEWAYS.get(changes["payment_method"],
                                                             changes["payment_method"])
            if changes.get("set_paid") and order["status"] in ("pending", "on-hold",
                                                               "failed"):
                status = "processing"
            if status is not None:
                self._set_status(order, status, now)
            self._status_dates(order, order["status"], now)
            if status == "refunded":  # wc_order_fully_refunded: the rest, refunded by hand
                left = Decimal(order["total"]) - self._refunded(order)
                if left > 0:
                    self._add_refund(order, {"amount": str(left), "api_refund": False,
                                             "reason": "Order fully refunded."}, now)
            order["date_modified"] = order["date_modified_gmt"] = fmt(now)
            if webhooks:
                self._event("order.updated", order["id"])
            return self._copy(order)

    def _edit_lines(self, order: dict, edits: list) -> None:
        for edit in edits:
            if not isinstance(edit, dict):
                continue
            if not edit.get("id"):
                order["line_items"].append(self._item(edit))
                continue
            line = next((ln for ln in order["line_items"] if ln["id"] == int(edit["id"])), None)
            if line is None:
                raise RestError(400, "woocommerce_rest_invalid_item_id",
                                "Order item ID provided is not associated with order.")
            if edit.get("quantity") == 0 or ("product_id" in edit
                                              and edit["product_id"] is None):
                order["line_items"].remove(line)
                continue
            unit = Decimal(str(edit["price"])) if edit.get("price") is not None \
                else Decimal(line["subtotal"]) / line["quantity"]
            qty = int(edit.get("quantity") or line["quantity"])
            ratio = Decimal(line["total"]) / Decimal(line["subtotal"]) \
                if Decimal(line["subtotal"]) else Decimal(1)
            for field in ("variation_id", "product_id", "sku"):
                if field in edit:
                    line[field] = edit[field]
            if "name" in edit:
                line["name"] = wp_text(edit["name"])
            line.update(quantity=qty, subtotal=_money(unit * qty),
                        total=_money(unit * qty * ratio), price=float(unit * ratio))
        self._totals(order)

    def _set_meta(self, order: dict, meta: dict) -> None:
        key, value, mid = meta.get("key"), meta.get("value"), meta.get("id")
        for m in order["meta_data"]:
            if (mid and m["id"] == mid) or (not mid and m["key"] == key):
                m["value"] = m["display_value"] = value
                return
        order["meta_data"].append({"id": next(self._meta_ids), "key": key, "value": value,
                                   "display_key": key, "display_value": value})

    def meta(self, oid: int, key: str):
        for m in self.get_order(oid)["meta_data"]:
            if m["key"] == key:
                return m["value"]
        return None

    def delete_order(self, oid: int, *, force: bool = False, webhooks: bool = True) -> dict:
        with self.lock:
            order = self.get_order(oid)
            live = self.orders[int(oid)]
            now = self._tick()
            live["status"] = "deleted" if force else "trash"
            live["date_modified"] = live["date_modified_gmt"] = fmt(now)
            if webhooks:
                self._event("order.deleted", live["id"])
            return order

    # --- refunds (wc_create_refund, WC_REST_Order_Refunds_Controller) ----------------------

    def _refunded(self, order: dict) -> Decimal:
        return sum((Decimal(r["amount"]) for r in self.refunds[order["id"]]), Decimal(0))

    def create_refund(self, oid: int, data: dict, *, webhooks: bool = True) -> dict:
        """POST /orders/<id>/refunds: amount (or the sum of the lines' refund_total and
        refund_tax), reason, line_items [{id, quantity, refund_total, refund_tax}],
        api_refund (default true: the payment gateway pays the buyer back; a gateway
        without refunds fails the whole refund), api_restock (default true), meta_data.
        Errors as WooCommerce answers them: HTTP 500 woocommerce_rest_cannot_create_order_
        refund with the reason ("Invalid refund amount.", "The payment gateway for this
        order does not support automatic refunds."). The whole amount refunded -> status
        `refunded`. Every refund sends order.updated (woocommerce_order_refunded)."""
        with self.lock:
            order = self._live(oid)
            amount = data.get("amount")
            if amount in (None, ""):
                amount = sum((Decimal(str(li.get("refund_total") or 0)) + sum(
                    (Decimal(str(t.get("refund_total") or 0)) for t in li.get("refund_tax")
                     or []), Decimal(0)) for li in data.get("line_items") or []), Decimal(0))
            try:
                amount = Decimal(str(amount))
            except ArithmeticError:
                raise RestError(400, "rest_invalid_param",
                                "Invalid parameter(s): amount") from None
            if amount < 0:
                raise RestError(400, "woocommerce_rest_invalid_order_refund",
                                "Refund amount must be greater than zero.")
            if amount > Decimal(order["total"]) - self._refunded(order):
                raise RestError(500, REFUND_REFUSED, "Invalid refund amount.")
            if data.get("api_refund", True) is not False:
                method = order.get("payment_method") or ""
                if method not in GATEWAYS:
                    raise RestError(500, REFUND_REFUSED,
                                    "The payment gateway for this order does not exist.")
                if method not in REFUND_GATEWAYS:
                    raise RestError(500, REFUND_REFUSED, "The payment gateway for this order "
                                                         "does not support automatic refunds.")
            now = self._tick()
            refund = self._add_refund(order, {**data, "amount": str(amount)}, now)
            if Decimal(order["total"]) - self._refunded(order) <= 0:
                self._set_status(order, "refunded", now)
                self._status_dates(order, "refunded", now)
            order["date_modified"] = order["date_modified_gmt"] = fmt(now)
            if webhooks:
                self._event("order.updated", order["id"])
            return dict(refund)

    def _add_refund(self, order: dict, data: dict, now: float) -> dict:
        lines = []
        restock = data.get("api_restock", True) is not False
        for li in data.get("line_items") or []:
            item = next((ln for ln in order["line_items"] if ln["id"] == int(li.get("id") or 0)),
                        None)
            qty = int(li.get("quantity") or li.get("qty") or 0)
            total = Decimal(str(li.get("refund_total") or 0))
            if item is None or not (qty or total):
                continue
            lines.append({
                "id": next(self._line_ids), "name": item["name"],
                "product_id": item["product_id"], "variation_id": item["variation_id"],
                "quantity": -qty, "tax_class": "", "subtotal": _money(-total),
                "subtotal_tax": "0.00", "total": _money(-total), "total_tax": "0.00",
                "taxes": [], "meta_data": [{"id": next(self._meta_ids),
                                            "key": "_refunded_item_id",
                                            "value": str(item["id"])}],
                "sku": item["sku"], "price": float(-total / qty) if qty else 0})
            if restock and qty:  # wc_restock_refunded_items
                self._line_meta(item, "_restock_refunded_items", qty)
                self.log.append({"restock": item["id"], "quantity": qty,
                                 "order_id": order["id"]})
        api = data.get("api_refund", True) is not False
        rid = next(self._ids)  # refunds are posts: they share the orders' ids
        refund = {"id": rid, "date_created": fmt(now), "date_created_gmt": fmt(now),
                  "amount": _money(data["amount"]), "reason": data.get("reason") or "",
                  "refunded_by": 1, "refunded_payment": api,
                  "meta_data": [{"id": next(self._meta_ids), "key": m.get("key"),
                                 "value": m.get("value")} for m in data.get("meta_data") or []
                                if isinstance(m, dict)],
                  "line_items": lines}
        self.refunds[order["id"]].insert(0, refund)
        order["refunds"].insert(0, {"id": rid, "reason": refund["reason"],
                                    "total": _money(-Decimal(refund["amount"]))})
        self.log.append({"refund": rid, "order_id": order["id"], "amount": refund["amount"],
                         "gateway": api})
        return refund

    def _line_meta(self, item: dict, key: str, add: int) -> None:
        for m in item["meta_data"]:
            if m["key"] == key:
                m["value"] = m["display_value"] = str(int(m["value"]) + add)
                return
        item["meta_data"].append({"id": next(self._meta_ids), "key": key, "value": str(add),
                                  "display_key": key, "display_value": str(add)})

    def refund(self, oid: int, *, lines: dict | None = None, amount=None, restock: bool = True,
               reason: str = "", api_refund: bool = False, webhooks: bool = True) -> dict:
        """Test control: the seller refunds line items in the admin ({line id: quantity},
        each at its paid price), with or without restock; `amount` alone refunds money
        without items."""
        with self.lock:
            order = self._live(oid)
            items = []
            for line_id, qty in (lines or {}).items():
                line = next(ln for ln in order["line_items"] if ln["id"] == int(line_id))
                paid = Decimal(line["total"]) / line["quantity"] * int(qty)
                items.append({"id": line["id"], "quantity": int(qty),
                              "refund_total": str(paid)})
        return self.create_refund(oid, {
            "amount": None if amount is None else str(amount), "reason": reason,
            "line_items": items, "api_refund": api_refund, "api_restock": restock},
            webhooks=webhooks)

    def list_refunds(self, oid: int) -> list[dict]:
        with self.lock:
            self._live(oid)
            return [self._copy(r) for r in self.refunds[int(oid)]]

    def get_refund(self, oid: int, rid: int) -> dict:
        for refund in self.list_refunds(oid):
            if refund["id"] == int(rid):
                return refund
        raise RestError(404, "woocommerce_rest_invalid_order_refund_id",
                        "Invalid order refund ID.")

    def delete_refund(self, oid: int, rid: int, *, webhooks: bool = True) -> dict:
        """DELETE /orders/<id>/refunds/<rid>: the lines come back; order.updated
        (woocommerce_delete_order_refund)."""
        with self.lock:
            refund = self.get_refund(oid, rid)
            order = self._live(oid)
            self.refunds[order["id"]] = [r for r in self.refunds[order["id"]]
                                         if r["id"] != refund["id"]]
            order["refunds"] = [r for r in order["refunds"] if r["id"] != refund["id"]]
            now = self._tick()
            order["date_modified"] = order["date_modified_gmt"] = fmt(now)
            if webhooks:
                self._event("order.updated", order["id"])
            return refund

    def list_orders(self, params: dict[str, str]) -> tuple[list[dict], int, int]:
        try:
            page = int(params.get("page") or 1)
            per_page = int(params.get("per_page") or 10)
        except ValueError:
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): page") from None
        if page < 1:
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): page")
        if not 1 <= per_page <= 100:
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        wanted = [s for s in (params.get("status") or "any").split(",") if s]
        for s in wanted:
            if s != "any" and s not in STATUSES:
                raise RestError(400, "rest_invalid_param", "Invalid parameter(s): status")
        after = params.get("modified_after")
        since = parse(after) if after else None
        created_after = parse(params["after"]) if params.get("after") else None
        with self.lock:
            rows = [o for o in self.orders.values() if o["status"] not in ("deleted",)]
        if "any" in wanted:
            rows = [o for o in rows if o["status"] != "trash"]
        else:
            rows = [o for o in rows if o["status"] in wanted]
        if since is not None:
            rows = [o for o in rows if parse(o["date_modified_gmt"]) > since]
        if created_after is not None:
            rows = [o for o in rows if parse(o["date_created_gmt"]) > created_after]
        orderby = params.get("orderby") or "date"
        keyf = {"id": lambda o: o["id"],
                "modified": lambda o: (o["date_modified_gmt"], o["id"]),
                "date": lambda o: (o["date_created_gmt"], o["id"])}.get(orderby)
        if keyf is None:
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        rows.sort(key=keyf, reverse=(params.get("order") or "desc") == "desc")
        total = len(rows)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            raise RestError(400, "woocommerce_rest_invalid_page_number",
                            "The page number requested is larger than the number of pages "
                            "available.")
        chunk = rows[(page - 1) * per_page: page * per_page]
        return [self._copy(o) for o in chunk], total, pages

    # --- notes ------------------------------------------------------------------------

    def add_note(self, oid: int, data: dict) -> dict:
        with self.lock:
            self.get_order(oid)
            note_text = str(data.get("note") or "")
            if not note_text:
                raise RestError(400, "rest_missing_callback_param",
                                "Missing parameter(s): note")
            now = self._tick()
            note = {"id": next(self._note_ids), "author": "WooCommerce",
                    "date_created": fmt(now), "date_created_gmt": fmt(now),
                    "note": note_text, "customer_note": bool(data.get("customer_note")),
                    "added_by_user": bool(data.get("added_by_user"))}
            self.notes[int(oid)].append(note)
            if note["customer_note"]:  # "customer note" e-mail to the buyer
                self.log.append({"email": "customer_note", "order_id": int(oid),
                                 "note": note_text})
            return dict(note)

    def _system_note(self, oid: int, text: str, now: float) -> None:
        self.notes[int(oid)].append({
            "id": next(self._note_ids), "author": "system", "date_created": fmt(now),
            "date_created_gmt": fmt(now), "note": text, "customer_note": False})

    def list_notes(self, oid: int) -> list[dict]:
        with self.lock:
            self.get_order(oid)
            return [dict(n) for n in reversed(self.notes[int(oid)])]

    # --- webhooks ----------------------------------------------------------------------

    def create_webhook(self, data: dict) -> dict:
        topic, url = data.get("topic"), data.get("delivery_url")
        if topic not in TOPICS:
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): topic")
        if not url or not str(url).startswith(("http://", "https://")):
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): delivery_url")
        with self.lock:
            now = self._tick()
            hook = {"id": next(self._hook_ids), "name": data.get("name") or topic,
                    "status": data.get("status") or "active", "topic": topic,
                    "resource": topic.split(".")[0], "event": topic.split(".")[1],
                    "hooks": [], "delivery_url": url, "secret": data.get("secret") or "",
                    "failure_count": 0, "api_version": "wp_api_v3",
                    "date_created": fmt(now), "date_created_gmt": fmt(now),
                    "date_modified": fmt(now), "date_modified_gmt": fmt(now)}
        if hook["status"] == "active":
            self._ping(hook)
        with self.lock:
            self.webhooks[hook["id"]] = hook
            return self._public(hook)

    def _ping(self, hook: dict) -> None:
        """WC_Webhook::deliver_ping: webhook_id=<id>, form-encoded, unsigned; not 200 fails."""
        body = f"webhook_id={hook['id']}".encode()
        status = self.sender(hook["delivery_url"], body, {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"})
        self.log.append({"ping": hook["id"], "status": status})
        if status != 200:
            raise RestError(400, "woocommerce_rest_webhook_ping_failed",
                            f"Error: Delivery URL returned response code: {status}")

    @staticmethod
    def _public(hook: dict) -> dict:
        return {k: v for k, v in hook.items() if k != "secret"}

    def list_webhooks(self) -> list[dict]:
        with self.lock:
            return [self._public(h) for h in self.webhooks.values()]

    def get_webhook(self, hid: int) -> dict:
        with self.lock:
            hook = self.webhooks.get(int(hid))
            if hook is None:
                raise RestError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            return hook

    def update_webhook(self, hid: int, data: dict) -> dict:
        hook = self.get_webhook(hid)
        with self.lock:
            for field in ("name", "status", "delivery_url", "secret", "topic"):
                if field in data:
                    hook[field] = data[field]
            if hook["status"] == "active":
                hook["failure_count"] = 0
            hook["date_modified"] = hook["date_modified_gmt"] = fmt(self._tick())
            return self._public(hook)

    def delete_webhook(self, hid: int) -> dict:
        hook = self.get_webhook(hid)
        with self.lock:
            del self.webhooks[hook["id"]]
            return self._public(hook)

    # --- deliveries ----------------------------------------------------------------------

    def next_delivery(self, *, duplicate: int = 0, drop: bool = False) -> None:
        """What happens to the deliveries of the next event (sandbox control)."""
        self.plan = {"duplicate": int(duplicate), "drop": bool(drop)}

    def _event(self, topic: str, oid: int) -> None:
        plan, self.plan = self.plan, {}
        for hook in list(self.webhooks.values()):
            if hook["topic"] != topic or hook["status"] != "active":
                continue
            item = {"hook_id": hook["id"], "topic": topic, "order_id": oid}
            if plan.get("drop"):
                self.log.append({**item, "dropped": True})
                continue
            if self.holding:  # a delivery built now and held back in transit
                item["body"] = self._body(topic, oid)
                self.held.append(item)
                continue
            for _ in range(1 + plan.get("duplicate", 0)):
                self.queue.append(dict(item))
        if self.auto_deliver:
            threading.Thread(target=self.deliver_due, daemon=True).start()

    def _body(self, topic: str, oid: int) -> bytes:
        import json

        if topic == "order.deleted":
            return json.dumps({"id": oid}).encode()
        with self.lock:
            order = self.orders[oid]
            return json.dumps(order, ensure_ascii=False).encode()

    def hold(self) -> None:
        self.holding = True

    def release(self, *, newest_first: bool = False) -> int:
        with self.lock:
            held, self.held, self.holding = self.held, [], False
            if newest_first:
                held.reverse()
            self.queue.extend(held)
        return self.deliver_due()

    def deliver_due(self) -> int:
        """Send what is queued, oldest first. The payload is built now (as WooCommerce
        builds it at delivery time) unless the delivery was held with its body."""
        sent = 0
        while True:
            with self.lock:
                if not self.queue:
                    return sent
                item = self.queue.pop(0)
                hook = self.webhooks.get(item["hook_id"])
                if hook is None or hook["status"] != "active":
                    continue
                body = item.get("body") or self._body(item["topic"], item["order_id"])
                resource, event = item["topic"].split(".")
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
                    "X-WC-Webhook-Source": self.home_url + "/",
                    "X-WC-Webhook-Topic": item["topic"],
                    "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
                    "X-WC-Webhook-Signature": sign(body, hook["secret"]),
                    "X-WC-Webhook-ID": str(hook["id"]),
                    "X-WC-Webhook-Delivery-ID": hashlib.md5(  # noqa: S324 - wp_hash-like
                        f"{hook['id']}{time.time()}".encode()).hexdigest(),
                }
                url = hook["delivery_url"]
            status = self.sender(url, body, headers)
            sent += 1
            with self.lock:
                self.log.append({**{k: v for k, v in item.items() if k != "body"},
                                 "status": status})
                if 200 <= status < 303:
                    hook["failure_count"] = 0
                else:  # no retry: count it, disable after MAX_FAILURES in a row
                    hook["failure_count"] += 1
                    if hook["failure_count"] > MAX_FAILURES:
                        hook["status"] = "disabled"
