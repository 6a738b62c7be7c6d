"""Printify: orders in the seller's Printify shop, made by one of Printify's print
providers (docs/fulfillment.md "Printify").

Sources:
- developers.printify.com (overview): Bearer token (personal access token or
  OAuth), a User-Agent header, one global limit of 600 requests a minute per
  account answered 429 beyond it, and errors under 5 % of all requests;
- the MIT SDK spencerlepine/printify-sdk-js, docs/API.md, which copies the
  reference's examples: `POST /v1/shops/{shop_id}/orders.json` with `external_id`,
  `label`, `line_items` (print on the fly: `{print_provider_id, blueprint_id,
  variant_id, print_areas: {front: <image URL>}, quantity}`), `shipping_method`
  (1 standard, 2 express/priority, 3 Printify Express, 4 economy),
  `send_shipping_notification`, `address_to`; answer `{"id": …}`; `GET
  …/orders.json` (page, limit, status) and `…/orders/{id}.json` (status,
  `line_items[].metadata.sku`, `metadata.shop_order_id` = our external id,
  `shipments[{carrier, number, url, delivered_at}]`); `POST
  …/orders/{id}/send_to_production.json`; `POST …/orders/{id}/cancel.json` (on-hold
  or payment-not-received only); `POST …/orders/shipping.json` (cents per method);
  `POST …/webhooks.json {topic, url, secret}`;
- the event topics order:created, order:updated, order:sent-to-production,
  order:shipment:created, order:shipment:delivered (webhook topics listed by the
  same SDK's docs and third-party receivers).

How PodHub uses it: the order is created with our reference as `external_id` (it
waits "on-hold") and sent to production at once. Printify documents no lookup by
external id, so `lookup` reads the newest pages of the shop's orders and matches
`external_id` / `metadata.shop_order_id` (a crash between the two calls leaves an
on-hold order, which the retry finds and sends to production). Provider SKU =
`<blueprint id>:<print provider id>:<variant id>`; each side's newest print file is
that side's print area (our signed link).

Guesses [verify against a Printify shop]: the webhook body (`{id, type,
created_at, resource: {id, type: "order", data: {shop_id, status | carrier {code,
tracking_number, tracking_url}, skus, shipped_at | delivered_at}}}`, as Printify's
Events section is quoted by third-party code) and its signature: `X-Pfy-Signature:
sha256=<hex HMAC-SHA256 of the raw body with the webhook's secret>` (third-party
receivers agree; we accept the bare hex too); that orders are listed newest first;
that a repeated external_id is refused; the shape of error bodies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from decimal import Decimal

from fulfillment.providers.base import (
    CredentialsRejected,
    FactoryOrder,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUpdate,
    RemoteOrder,
    ShippingOption,
    SkuShipment,
    _header,
)
from fulfillment.providers.registry import POLL_SAFETY_NET, ProviderSpec
from fulfillment.providers.rest import RestClient, country, split_name, state

PRINTIFY_STATUS = {
    "on-hold": "accepted", "pending": "accepted", "sending-to-production": "accepted",
    "in-production": "in_production", "partially-fulfilled": "in_production",
    "fulfilled": "shipped", "canceled": "cancelled", "cancelled": "cancelled",
    "unfulfillable": "rejected",
}
#: statuses that need a person at Printify (the shop's payment, an image it could not
#: fetch): said on the timeline, no state change
ATTENTION = {"payment-not-received", "has-issues", "had-issues", "source-check-failed"}
#: our shipping method -> Printify's code (the reference's table, as of July 2024)
SHIPPING = {"standard": 1, "express": 2, "priority": 2, "printify_express": 3, "economy": 4}
SIGNATURE_HEADER = "X-Pfy-Signature"


class MinuteBudget:
    """At most `per_minute` calls in any 60 s: Printify counts per account and answers
    429 beyond, and errors may not exceed 5 % of all calls, so we stop short of the
    limit ourselves and give the rest back to the sweep's backoff."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self.calls: deque[float] = deque()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when a call may go now (and counts it), else seconds until one may."""
        with self.lock:
            now = self.clock()
            while self.calls and self.calls[0] <= now - 60:
                self.calls.popleft()
            if len(self.calls) >= self.per_minute:
                return self.calls[0] + 60 - now
            self.calls.append(now)
            return 0.0


_budgets: dict[str, MinuteBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(token: str, per_minute: int, clock=time.monotonic) -> MinuteBudget:
    """One budget per Printify account (its token) per process."""
    key = hashlib.sha256(token.encode()).hexdigest()[:16]
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None or budget.per_minute != per_minute:
            budget = _budgets[key] = MinuteBudget(per_minute, clock)
        return budget


class PrintifyClient(RestClient):
    """`api_key` = `<token>:<shop id>`."""

    code = "printify"
    # Printify cancels only an unpaid order: "Status must be on-hold or
    # payment-not-received" (the reference's Cancel an order, as its SDKs copy it). PodHub
    # sends every order to production when it creates it, and our accepted also covers
    # sending-to-production, so a cancel is never offered.
    cancellable: frozenset[str] = frozenset()
    default_base = "https://api.printify.com"
    per_minute = 600  # the documented global limit
    lookup_pages = 5  # newest orders read when looking our reference up
    page_size = 10

    # --- plumbing -----------------------------------------------------------------
    def _shop(self) -> tuple[str, str]:
        token, _, shop = self.api_key.rpartition(":")
        if not token or not shop.isdigit():
            message = "printify: the key must be <API token>:<shop id>"
            self.credentials_rejected(message)
            raise CredentialsRejected(message)
        return token, shop

    def _request(self, method: str, path: str, **kwargs):
        token, _ = self._shop()
        wait = budget_for(token, self.per_minute).take()
        if wait:
            seconds = max(1, int(wait + 0.999))
            raise ProviderUnavailable(f"printify: {self.per_minute} calls a minute used; "
                                      f"retry in {seconds} s", retry_after=seconds)
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "PodHub",
                   "Accept": "application/json", **kwargs.pop("headers", {})}
        return super()._request(method, path, headers=headers, **kwargs)

    def _path(self, rest: str) -> str:
        return f"/v1/shops/{self._shop()[1]}/{rest}"

    # --- orders -------------------------------------------------------------------
    def submit(self, order: FactoryOrder) -> RemoteOrder:
        created, existing = self._create_or_find(order.reference, lambda: self._request(
            "POST", self._path("orders.json"), what="create order",
            json=self._order_body(order)), taken_words=("external", "already", "duplicate"))
        if existing is not None:  # made before: that one
            return existing
        if not isinstance(created, dict) or not created.get("id"):
            raise ProviderUnavailable(f"printify: no order id in {str(created)[:200]}")
        return self._to_production(str(created["id"]))

    def _order_body(self, order: FactoryOrder) -> dict:
        r = order.recipient
        items = []
        for item in order.items:
            try:
                blueprint, provider, variant = (int(x) for x in item.sku.split(":"))
            except ValueError as exc:
                raise ProviderRefused(
                    f"printify: SKU {item.sku!r} is not <blueprint id>:<print provider id>:"
                    "<variant id> (e.g. 6:99:12100)") from exc
            areas = {str(f.get("side") or "front"): f["url"] for f in item.files}
            if not areas:
                raise ProviderRefused(f"printify: line {item.line_item_id} has no print file")
            items.append({"blueprint_id": blueprint, "print_provider_id": provider,
                          "variant_id": variant, "print_areas": areas,
                          "quantity": item.quantity})
        first, last = split_name(r)
        return {
            "external_id": order.reference, "label": order.order_number or order.reference,
            "line_items": items,
            "shipping_method": SHIPPING.get((order.shipping_method or "").lower(), 1),
            "send_shipping_notification": False,  # the store tells the buyer, not Printify
            "address_to": {
                "first_name": first, "last_name": last, "email": r.get("email") or "",
                "phone": r.get("phone") or "", "country": country(r), "region": state(r),
                "address1": r.get("address1") or "", "address2": r.get("address2") or "",
                "city": r.get("city") or "", "zip": r.get("zip") or "",
                "company": r.get("company") or ""},
        }

    def _to_production(self, external_id: str) -> RemoteOrder:
        try:
            data = self._request("POST", self._path(f"orders/{external_id}/send_to_production"
                                                    ".json"), what="send to production")
        except ProviderRefused as exc:
            if getattr(exc, "status", 0) not in (400, 409, 422):
                raise
            data = self._get(external_id)  # sent meanwhile (a concurrent retry): read it
        return _printify_order(data if isinstance(data, dict) else {"id": external_id})

    def _get(self, external_id: str) -> dict:
        return self._request("GET", self._path(f"orders/{external_id}.json"),
                             what="order status")

    def lookup(self, reference: str) -> RemoteOrder | None:
        for page in range(1, self.lookup_pages + 1):
            data = self._request("GET", self._path("orders.json"), what="look up order",
                                 params={"page": page, "limit": self.page_size}) or {}
            for found in data.get("data") or []:
                if reference in (str(found.get("external_id") or ""),
                                 str((found.get("metadata") or {}).get("shop_order_id") or "")):
                    if found.get("status") == "on-hold":  # a crash before production
                        return self._to_production(str(found["id"]))
                    return _printify_order(found)
            if page >= int(data.get("last_page") or page):
                break
        return None

    def fetch_status(self, external_id: str) -> RemoteOrder:
        return _printify_order(self._get(external_id))

    def cancel(self, external_id: str) -> None:
        self._request("POST", self._path(f"orders/{external_id}/cancel.json"),
                      what="cancel order")

    def shipping_methods(self, country: str) -> list[ShippingOption]:
        return [ShippingOption("standard", "Standard", Decimal("0")),
                ShippingOption("priority", "Priority", Decimal("0")),
                ShippingOption("printify_express", "Printify Express", Decimal("0")),
                ShippingOption("economy", "Economy", Decimal("0"))]

    def shipping_quote(self, order: FactoryOrder) -> list[ShippingOption]:
        """What each method costs for these items and this address (Printify's cents)."""
        body = self._order_body(order)
        data = self._request("POST", self._path("orders/shipping.json"),
                             what="calculate shipping",
                             json={"line_items": body["line_items"],
                                   "address_to": body["address_to"]}) or {}
        return [ShippingOption(code, code.replace("_", " ").title(),
                               (Decimal(int(cents)) / 100).quantize(Decimal("0.01")))
                for code, cents in data.items() if isinstance(cents, int)]

    # --- webhooks ------------------------------------------------------------------
    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        given = _header(headers, SIGNATURE_HEADER).strip().lower().removeprefix("sha256=")
        if not self.webhook_secret or not given:
            return False
        expected = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, given)

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        kind = str(event["type"])
        resource = event["resource"]
        data = resource.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError("resource.data is not an object")
        key = str(event.get("id") or "")
        order_id = str(resource.get("id") or "")
        base = {"event_key": key, "reference": "", "external_id": order_id}
        if resource.get("type", "order") != "order":
            return [ProviderUpdate(status="", message=f"{kind} (not an order)", **base)]
        if kind in ("order:shipment:created", "order:shipment:delivered"):
            parcel = _event_parcel(kind, data, order_id)
            return [ProviderUpdate(status=parcel.status, shipment=parcel, **base)]
        if kind == "order:sent-to-production":
            return [ProviderUpdate(status="in_production", message=kind, **base)]
        if kind == "order:created":
            return [ProviderUpdate(status="accepted", message=kind, **base)]
        if kind == "order:updated":
            raw = str(data.get("status") or "")
            if raw in ATTENTION:
                return [ProviderUpdate(status="", message=f"Printify: {raw}", **base)]
            status = PRINTIFY_STATUS.get(raw, raw)  # an unknown one is refused by name
            if status == "shipped":  # only a shipment event says which parcel
                status = "in_production"
            return [ProviderUpdate(status=status, message=raw, **base)]
        return [ProviderUpdate(status="", message=f"{kind or 'an event'} (not used)", **base)]

    # --- a parcel's SKUs are Printify's: read the order to name ours ---------------------
    @staticmethod
    def sku_key(provider_sku: str) -> str:
        return ":".join(provider_sku.split(":")[-2:])  # <print provider id>:<variant id>

    def complete_update(self, update: ProviderUpdate) -> ProviderUpdate:
        parcel = update.shipment
        if not isinstance(parcel, SkuShipment) or not parcel.skus or parcel.line_item_ids:
            return update
        order = self._get(update.external_id)
        ours = {str((li.get("metadata") or {}).get("sku") or ""):
                f"{li.get('print_provider_id')}:{li.get('variant_id')}"
                for li in order.get("line_items") or []}
        skus = [ours.get(sku, sku) for sku in parcel.skus]
        return dataclasses.replace(update, shipment=dataclasses.replace(parcel, skus=skus))


def _event_parcel(kind: str, data: dict, order_id: str) -> SkuShipment:
    carrier = data.get("carrier") or {}
    if not isinstance(carrier, dict):
        carrier = {"code": str(carrier)}
    number = str(carrier.get("tracking_number") or "")
    skus = data.get("skus") or []
    if not isinstance(skus, list):
        raise ValueError("skus is not a list")
    delivered = kind.endswith(":delivered")
    return SkuShipment(
        external_id=number or f"{order_id}:{data.get('shipped_at') or ''}",
        status="delivered" if delivered else "shipped",
        carrier=str(carrier.get("code") or ""),
        number=number, url=str(carrier.get("tracking_url") or ""),
        skus=[str(s) for s in skus])


def _printify_order(data: dict) -> RemoteOrder:
    raw = str(data.get("status") or "")
    parcels = [SkuShipment(external_id=str(s.get("number") or n),
                           status="delivered" if s.get("delivered_at") else "shipped",
                           carrier=str(s.get("carrier") or ""), number=str(s.get("number") or ""),
                           url=str(s.get("url") or ""))
               for n, s in enumerate(data.get("shipments") or [], 1) if isinstance(s, dict)]
    return RemoteOrder(
        external_id=str(data.get("id") or ""),
        reference=str(data.get("external_id")
                      or (data.get("metadata") or {}).get("shop_order_id") or ""),
        status=PRINTIFY_STATUS.get(raw, raw or "accepted"), shipments=parcels)


PROVIDER = ProviderSpec(
    code="printify", label="Printify", client=PrintifyClient, polling=POLL_SAFETY_NET,
    standin="sandboxes.providers.printify:PrintifyStandIn", standin_port=8035,
    key_help="<API token>:<shop id> (the personal access token, and the shop the orders "
    "go to: GET /v1/shops.json lists them).",
    secret_help="The secret given when creating each webhook (POST /v1/shops/{shop_id}/"
    "webhooks.json): Printify signs with it (X-Pfy-Signature).",
    sku_help="<blueprint id>:<print provider id>:<variant id> (print on the fly: our print "
    "files are the print areas).", demo_sku="6:99:12100")
