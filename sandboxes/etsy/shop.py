"""The sandbox's state: Etsy shops, their receipts, the OAuth grants and the app's rate
limits, in memory (one lock). The shapes are Etsy Open API v3's, from its reference:

- ShopReceipt, ShopReceiptTransaction, TransactionVariations, Money, ShopReceiptShipment:
  https://developers.etsy.com/documentation/reference#tag/Shop-Receipt
- OAuth 2 with PKCE (S256), tokens `<user id>.<token>`, an hour's access token, refresh:
  https://developers.etsy.com/documentation/essentials/authentication
- x-limit-per-second / x-remaining-this-second / x-limit-per-day / x-remaining-today, and
  429 without those headers when a limit is reached:
  https://developers.etsy.com/documentation/essentials/rate-limits
- webhooks: the flat payload, Standard Webhooks signing, and retries of a delivery not
  answered 2xx (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h):
  https://developers.etsy.com/documentation/essentials/webhooks (the schedule as restated
  by the AsyncAPI description at https://apis.io/apis/etsy/webhooks/)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

from sandboxes.state import int_keys, next_ids, restore_ids

ACCESS_SECONDS = 3600  # Etsy: "access tokens ... valid for one hour"
CODE_SECONDS = 600
PERSONALIZATION_PROPERTY = 54  # the property id Etsy gives a listing's personalization
# Etsy's retries of a delivery not answered 2xx, each counted from the attempt before: the
# first attempt is immediate, then these seven, then the delivery is given up (8 attempts).
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)


class EtsyApiError(Exception):
    """An answer other than 2xx: the status and Etsy's error body."""

    def __init__(self, status: int, error: str, description: str = "", *,
                 headers: list | None = None):
        super().__init__(description or error)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or []

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def challenge_of(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def money(cents: int, currency: str) -> dict:
    return {"amount": int(cents), "divisor": 100, "currency_code": currency}


@dataclass
class Shop:
    shop_id: int
    user_id: int
    shop_name: str
    currency: str = "USD"
    receipts: dict[int, dict] = field(default_factory=dict)
    #: entries answered as they are, after the real receipts of every getShopReceipts
    #: page (a test's broken answer: not an object, a receipt without its fields)
    broken: list = field(default_factory=list)


@dataclass
class Delivery:
    """One webhook message: its id and body stay the same on every attempt; each attempt
    is signed afresh with its own webhook-timestamp (a retry 10 hours later must still
    pass a receiver's five-minute window)."""
    webhook_id: str
    event_type: str
    receipt_id: int
    body: str
    due: float
    attempt: int = 0  # attempts made


@dataclass
class Limits:
    per_second: int = 10  # Etsy's default for a new app
    per_day: int = 10_000
    seconds: dict[int, int] = field(default_factory=dict)  # epoch second -> calls
    day: list[float] = field(default_factory=list)  # call times in the sliding 24 h
    refused: int = 0  # 429s answered
    peak: int = 0  # the most calls answered in one second


def _signature(secret: str, webhook_id: str, stamp: str, body: bytes) -> str:
    """Standard Webhooks, as Etsy's webhooks page describes: HMAC-SHA256 keyed with the
    base64-decoded part of `whsec_…`, over `id.timestamp.body`, base64, prefixed `v1,`
    (written here on its own, not borrowed from PodHub's check)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, webhook_id.encode() + b"." + stamp.encode() + b"." + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _post(url: str, body: bytes, headers: dict) -> int:
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


class EtsySandbox:
    def __init__(self, *, keystring: str = "podhub-sandbox-keystring",
                 shared_secret: str = "podhub-sandbox-secret", clock=time.time):
        self.keystring, self.shared_secret = keystring, shared_secret
        self.clock = clock
        self.lock = threading.RLock()
        self.shops: dict[int, Shop] = {}
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}  # token -> {user_id, expires}
        self.refresh: dict[str, int] = {}  # token -> user_id (one use: rotated)
        self.limits = Limits()
        self.log: list[dict] = []
        first = int(clock())
        self._ids = itertools.count(first)
        self._receipt_ids = itertools.count(first * 10)
        self._tx_ids = itertools.count(first * 100)
        self._ship_ids = itertools.count(first * 1000)
        # the app's webhook endpoint, as set up in Etsy's developer portal (`subscribe`):
        # the URL and its signing secret (`whsec_…`); `sender(url, body, headers)` posts
        self.webhook_url, self.webhook_secret = "", ""
        self.sender = None
        self._event_ids = itertools.count(1)
        self.sent: list[dict] = []  # every attempt: {"event_type", "attempt", "status"}
        self.outbox: list[Delivery] = []  # deliveries waiting for their next attempt

    # --- webhooks (https://developers.etsy.com/documentation/essentials/webhooks) ---------

    def subscribe(self, *, url: str, secret: str) -> None:
        self.webhook_url, self.webhook_secret = url, secret

    def emit(self, event_type: str, shop_id: int, receipt_id: int) -> None:
        """One delivery as Etsy sends it: the flat payload (etsy/open-api discussion
        #1564), signed in the Standard Webhooks form (webhook-id, webhook-timestamp,
        webhook-signature = v1,base64 HMAC-SHA256 of id.timestamp.body with the secret's
        base64 part). Its first attempt is made now ("delivered immediately"); a failure
        is retried by `deliver_due` on Etsy's schedule (RETRY_DELAYS)."""
        if not self.webhook_url:
            return
        body = json.dumps({
            "event_type": event_type, "shop_id": int(shop_id),
            "resource_url": f"https://api.etsy.com/v3/application/shops/{shop_id}/receipts/"
                            f"{receipt_id}"})
        with self.lock:
            self.outbox.append(Delivery(
                webhook_id=f"msg_sandbox{next(self._event_ids):08d}", event_type=event_type,
                receipt_id=int(receipt_id), body=body, due=self.clock()))
        self.deliver_due()

    def deliver_due(self) -> int:
        """Make every attempt due by the sandbox's clock, oldest first; returns how many were
        made. Not 2xx (or no answer): the next attempt is due RETRY_DELAYS[n] later, and
        after the last one the delivery is given up. Sends happen outside the lock."""
        made = 0
        while True:
            with self.lock:
                now = self.clock()
                due = [d for d in self.outbox if d.due <= now]
                if not due:
                    return made
                d = min(due, key=lambda x: x.due)
                self.outbox.remove(d)
                url, secret = self.webhook_url, self.webhook_secret
            stamp = str(int(now))
            body = d.body.encode()
            headers = {"Content-Type": "application/json", "webhook-id": d.webhook_id,
                       "webhook-timestamp": stamp,
                       "webhook-signature": _signature(secret, d.webhook_id, stamp, body)}
            try:
                status = (self.sender or _post)(url, body, headers)
            except Exception:  # noqa: BLE001 - unreachable, or the answer lost: a failure
                status = 0
            made += 1
            with self.lock:
                d.attempt += 1
                record = {"event_type": d.event_type, "receipt_id": d.receipt_id,
                          "attempt": d.attempt, "status": status}
                if not 200 <= status < 300:
                    if d.attempt <= len(RETRY_DELAYS):
                        d.due = self.clock() + RETRY_DELAYS[d.attempt - 1]
                        self.outbox.append(d)
                    else:
                        record["failed"] = True
                self.sent.append(record)
                del self.sent[:-1000]  # a demo sandbox runs for days: the recent ones

    def pending(self) -> list[dict]:
        """The deliveries waiting for a retry: webhook-id, event, attempts made, when next."""
        with self.lock:
            return [{"webhook_id": d.webhook_id, "event_type": d.event_type,
                     "receipt_id": d.receipt_id, "attempts": d.attempt, "due": d.due}
                    for d in sorted(self.outbox, key=lambda x: x.due)]

    # --- on disk (sandboxes/state.py) ---------------------------------------------------

    # the webhook ids too: a restarted sandbox reusing one would be taken for a retry
    _COUNTERS = ("_ids", "_receipt_ids", "_tx_ids", "_ship_ids", "_event_ids")

    def snapshot(self) -> dict:
        """Shops with their receipts, the live grants and the next ids: what a restarted
        sandbox needs so a connected shop's refresh token still works."""
        with self.lock:
            counters = next_ids(self, self._COUNTERS)
            return {"shops": {k: asdict(v) for k, v in self.shops.items()},
                    "access": self.access, "refresh": self.refresh, "counters": counters,
                    "outbox": [asdict(d) for d in self.outbox]}

    def restore(self, data: dict) -> None:
        with self.lock:
            self.shops = {int(k): Shop(**{**v, "receipts": int_keys(v.get("receipts") or {})})
                          for k, v in (data.get("shops") or {}).items()}
            self.access = dict(data.get("access") or {})
            self.refresh = dict(data.get("refresh") or {})
            restore_ids(self, self._COUNTERS, data.get("counters"))
            self.outbox = [Delivery(**d) for d in data.get("outbox") or []]

    # --- shops and receipts -------------------------------------------------------------

    def new_shop(self, *, name: str = "", currency: str = "USD", seed_receipts: int = 0) -> Shop:
        with self.lock:
            shop_id = next(self._ids)
            shop = Shop(shop_id=shop_id, user_id=shop_id + 7_000_000,
                        shop_name=name or f"PodhubSandbox{shop_id}", currency=currency)
            self.shops[shop_id] = shop
            # the shop's waiting orders were paid over the last hour (before it connects)
            seeds = max(0, min(seed_receipts, 10_000))
            for n in range(seeds):
                self.new_receipt(shop_id, {"personalization": ["Ana", "Bo", "Chen"][n % 3],
                                           "age_seconds": 3600 - n * 3000 // max(seeds, 1)})
            return shop

    def shop(self, shop_id: int) -> Shop:
        shop = self.shops.get(int(shop_id))
        if shop is None:
            raise EtsyApiError(404, "Shop not found", f"No shop {shop_id}.")
        return shop

    def new_receipt(self, shop_id: int, spec: dict | None = None) -> dict:
        """A paid, unshipped receipt with one transaction (a personalised mug unless the
        spec says otherwise): `personalization`, `sku`, `quantity`, `price_cents`,
        `buyer_name`, `country_iso`, `age_seconds` (paid that long ago)."""
        spec = spec or {}
        with self.lock:
            shop = self.shop(shop_id)
            now = int(self.clock()) - int(spec.get("age_seconds") or 0)
            rid = next(self._receipt_ids)
            qty = int(spec.get("quantity") or 1)
            price = int(spec.get("price_cents") or 1400)
            variations = []
            if spec.get("personalization"):
                variations.append({"property_id": PERSONALIZATION_PROPERTY, "value_id": None,
                                   "formatted_name": "Personalization",
                                   "formatted_value": str(spec["personalization"])})
            if spec.get("colour"):
                variations.append({"property_id": 200, "value_id": 1213,
                                   "formatted_name": "Primary color",
                                   "formatted_value": str(spec["colour"])})
            tx = {"transaction_id": next(self._tx_ids), "title": spec.get("title") or "Mug 11oz",
                  "description": "", "seller_user_id": shop.user_id,
                  "buyer_user_id": 5_550_001, "create_timestamp": now,
                  "created_timestamp": now, "paid_timestamp": now, "shipped_timestamp": None,
                  "quantity": qty, "listing_image_id": None, "receipt_id": rid,
                  "is_digital": False, "file_data": "", "listing_id": 1_000_001,
                  "transaction_type": "listing", "product_id": 2_000_001,
                  "sku": spec.get("sku", "MUG-11-WHITE"),
                  "price": money(price, shop.currency),
                  "shipping_cost": money(0, shop.currency), "variations": variations,
                  "product_data": [], "shipping_profile_id": None,
                  "min_processing_days": 1, "max_processing_days": 3,
                  "shipping_method": None, "shipping_upgrade": None,
                  "expected_ship_date": now + 3 * 86400, "buyer_coupon": 0,
                  "shop_coupon": 0}
            total = price * qty + 450
            receipt = {
                "receipt_id": rid, "receipt_type": 0, "seller_user_id": shop.user_id,
                "seller_email": "seller@example.com", "buyer_user_id": 5_550_001,
                "buyer_email": spec.get("buyer_email", "buyer@example.com"),
                "name": spec.get("buyer_name") or "Ana Buyer",
                "first_line": "1 Main Street", "second_line": "", "city": "Springfield",
                "state": "IL", "zip": "62701", "status": "Paid",
                "formatted_address": "Ana Buyer\n1 Main Street\nSpringfield, IL 62701\n"
                                     "United States",
                "country_iso": spec.get("country_iso") or "US", "payment_method": "cc",
                "payment_email": "", "message_from_seller": None,
                "message_from_buyer": None, "message_from_payment": None, "is_paid": True,
                "is_shipped": False, "create_timestamp": now, "created_timestamp": now,
                "update_timestamp": now, "updated_timestamp": now, "is_gift": False,
                "gift_message": "", "gift_sender": "",
                "grandtotal": money(total, shop.currency),
                "subtotal": money(price * qty, shop.currency),
                "total_price": money(price * qty, shop.currency),
                "total_shipping_cost": money(450, shop.currency),
                "total_tax_cost": money(0, shop.currency),
                "total_vat_cost": money(0, shop.currency),
                "discount_amt": money(0, shop.currency),
                "gift_wrap_price": money(0, shop.currency),
                "shipments": [], "transactions": [tx], "refunds": []}
            shop.receipts[rid] = receipt
        self.emit("order.paid", shop_id, rid)  # "delivered immediately" (Etsy's words)
        return receipt

    def _touch(self, receipt: dict) -> None:
        # a change is always newer than what was read before, even within one second
        now = max(int(self.clock()), int(receipt["update_timestamp"]) + 1)
        receipt["update_timestamp"] = receipt["updated_timestamp"] = now

    def cancel_receipt(self, shop_id: int, receipt_id: int) -> dict:
        with self.lock:
            receipt = self.receipt(shop_id, receipt_id)
            receipt["status"] = "Canceled"
            self._touch(receipt)
        self.emit("order.canceled", shop_id, receipt_id)
        return receipt

    def receipt(self, shop_id: int, receipt_id: int) -> dict:
        receipt = self.shop(shop_id).receipts.get(int(receipt_id))
        if receipt is None:
            raise EtsyApiError(404, "Receipt not found", f"No receipt {receipt_id}.")
        return receipt

    def receipts(self, shop_id: int, query: dict) -> dict:
        """getShopReceipts: min/max_created, min/max_last_modified, limit (1-100, 25),
        offset, sort_on (created|updated|receipt_id), sort_order, was_paid, was_shipped,
        was_canceled."""
        shop = self.shop(shop_id)

        def number(name, default=None, low=None, high=None):
            raw = query.get(name)
            if raw in (None, ""):
                return default
            try:
                value = int(raw)
            except ValueError:
                raise EtsyApiError(400, f"{name} must be an integer") from None
            if (low is not None and value < low) or (high is not None and value > high):
                raise EtsyApiError(400, f"{name} must be between {low} and {high}")
            return value

        def flag(name):
            raw = query.get(name)
            return None if raw in (None, "") else raw.lower() in ("true", "1")

        limit = number("limit", 25, 1, 100)
        offset = number("offset", 0, 0)
        rows = list(shop.receipts.values())
        for name, key, op in (("min_created", "created_timestamp", int.__ge__),
                              ("max_created", "created_timestamp", int.__le__),
                              ("min_last_modified", "updated_timestamp", int.__ge__),
                              ("max_last_modified", "updated_timestamp", int.__le__)):
            bound = number(name, None, 946684800)
            if bound is not None:
                rows = [r for r in rows if op(int(r[key]), bound)]
        for name, test in (("was_paid", lambda r: r["is_paid"]),
                           ("was_shipped", lambda r: r["is_shipped"]),
                           ("was_canceled", lambda r: r["status"] == "Canceled")):
            wanted = flag(name)
            if wanted is not None:
                rows = [r for r in rows if bool(test(r)) == wanted]
        sort_on = query.get("sort_on") or "created"
        key = {"created": "created_timestamp", "updated": "updated_timestamp",
               "receipt_id": "receipt_id"}.get(sort_on)
        if key is None:
            raise EtsyApiError(400, "sort_on must be one of created, updated, receipt_id")
        descending = (query.get("sort_order") or "desc") in ("desc", "descending", "down")
        rows.sort(key=lambda r: (r[key], r["receipt_id"]), reverse=descending)
        rows += shop.broken
        return {"count": len(rows), "results": rows[offset:offset + limit]}

    def add_tracking(self, shop_id: int, receipt_id: int, form: dict) -> dict:
        """createReceiptShipment: a ShopReceiptShipment per call; without tracking_code
        and carrier_name the receipt is only marked shipped."""
        with self.lock:
            receipt = self.receipt(shop_id, receipt_id)
            if receipt["status"] == "Canceled":
                raise EtsyApiError(400, "Cannot ship a canceled receipt")
            code, carrier = form.get("tracking_code", ""), form.get("carrier_name", "")
            if bool(code) != bool(carrier):
                raise EtsyApiError(400, "tracking_code and carrier_name go together")
            now = int(self.clock())
            if code:
                receipt["shipments"].append({
                    "receipt_shipping_id": next(self._ship_ids),
                    "shipment_notification_timestamp": now, "carrier_name": carrier,
                    "tracking_code": code})
            receipt["is_shipped"] = True
            receipt["status"] = "Completed"
            for tx in receipt["transactions"]:
                tx["shipped_timestamp"] = now
            self._touch(receipt)
            return receipt

    # --- OAuth ----------------------------------------------------------------------------

    def grant(self, *, shop_id: int, client_id: str, redirect_uri: str, challenge: str,
              method: str, scope: str) -> str:
        """The seller allowed access: a one-use code bound to the PKCE challenge."""
        if client_id != self.keystring:
            raise EtsyApiError(400, "invalid_client", "Unknown client_id.")
        if method != "S256" or not challenge:
            raise EtsyApiError(400, "invalid_request", "code_challenge_method must be S256.")
        with self.lock:
            shop = self.shop(shop_id)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"user_id": shop.user_id, "redirect_uri": redirect_uri,
                                "challenge": challenge, "scope": scope,
                                "expires": self.clock() + CODE_SECONDS}
            return code

    def _tokens(self, user_id: int) -> dict:
        access = f"{user_id}.{secrets.token_urlsafe(48)}"
        refresh = f"{user_id}.{secrets.token_urlsafe(48)}"
        self.access[access] = {"user_id": user_id, "expires": self.clock() + ACCESS_SECONDS}
        self.refresh[refresh] = user_id
        return {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_SECONDS,
                "refresh_token": refresh}

    def token(self, form: dict) -> dict:
        """POST /v3/public/oauth/token, grant_type authorization_code or refresh_token."""
        grant = form.get("grant_type")
        if form.get("client_id") != self.keystring:
            raise EtsyApiError(401, "invalid_client", "Unknown client_id.")
        with self.lock:
            if grant == "authorization_code":
                code = self.codes.pop(form.get("code") or "", None)
                if code is None or code["expires"] < self.clock():
                    raise EtsyApiError(400, "invalid_grant", "code has expired or was used")
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise EtsyApiError(400, "invalid_grant", "redirect_uri does not match")
                if challenge_of(form.get("code_verifier") or "") != code["challenge"]:
                    raise EtsyApiError(400, "invalid_grant", "code_verifier is invalid")
                return self._tokens(code["user_id"])
            if grant == "refresh_token":
                user_id = self.refresh.pop(form.get("refresh_token") or "", None)
                if user_id is None:
                    raise EtsyApiError(400, "invalid_grant", "refresh token is invalid")
                return self._tokens(user_id)
        raise EtsyApiError(400, "unsupported_grant_type", f"grant_type {grant!r}")

    def revoke(self, shop_id: int) -> None:
        """The seller removed the app's access in Etsy: every token of the shop is dead."""
        with self.lock:
            user_id = self.shop(shop_id).user_id
            self.access = {k: v for k, v in self.access.items() if v["user_id"] != user_id}
            self.refresh = {k: v for k, v in self.refresh.items() if v != user_id}

    def expire_access(self) -> None:
        with self.lock:
            for value in self.access.values():
                value["expires"] = 0

    # --- every API call ---------------------------------------------------------------------

    def check_key(self, api_key: str) -> None:
        """x-api-key: the keystring, or `keystring:shared_secret` (Etsy's newer form)."""
        if api_key not in (self.keystring, f"{self.keystring}:{self.shared_secret}"):
            raise EtsyApiError(403, "Invalid API key")

    def authenticate(self, authorization: str) -> int:
        """The user id of a live `Bearer <user id>.<token>`."""
        token = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        with self.lock:
            grant = self.access.get(token)
            if grant is None:
                raise EtsyApiError(401, "invalid_token", "access token is invalid")
            if grant["expires"] < self.clock():
                raise EtsyApiError(401, "invalid_token", "access token is expired")
            return grant["user_id"]

    def count_call(self) -> list[tuple[str, str]]:
        """One call against the app's limits: its rate-limit headers, or 429 (no headers,
        a retry-after) when the second's or the sliding day's calls are spent."""
        with self.lock:
            now = self.clock()
            second = int(now)
            lim = self.limits
            lim.seconds = {s: n for s, n in lim.seconds.items() if s == second}
            cutoff = now - 86400
            if lim.day and lim.day[0] <= cutoff:
                lim.day = [t for t in lim.day if t > cutoff]
            if len(lim.day) >= lim.per_day:
                lim.refused += 1
                wait = int(lim.day[0] - cutoff) + 1
                raise EtsyApiError(429, "You have exceeded your quota of requests per day",
                                   headers=[("retry-after", str(wait))])
            if lim.seconds.get(second, 0) >= lim.per_second:
                lim.refused += 1
                raise EtsyApiError(429, "You have exceeded your quota of requests per second",
                                   headers=[("retry-after", "1")])
            lim.seconds[second] = lim.seconds.get(second, 0) + 1
            lim.peak = max(lim.peak, lim.seconds[second])
            lim.day.append(now)
            return [("x-limit-per-second", str(lim.per_second)),
                    ("x-remaining-this-second", str(lim.per_second - lim.seconds[second])),
                    ("x-limit-per-day", str(lim.per_day)),
                    ("x-remaining-today", str(lim.per_day - len(lim.day)))]

    def user_shop(self, user_id: int) -> Shop:
        for shop in self.shops.values():
            if shop.user_id == user_id:
                return shop
        raise EtsyApiError(404, "User has no shop")
