"""ShineOn (personalised jewellery), Orders API v1 (docs/fulfillment.md "ShineOn").

Sources (ShineOn's own reference, https://api.shineon.com/docs, is not public):
- ShineOn's wiki, "Orders API Get Single Order"
  (https://github.com/ShineOnCom/api/wiki/Orders-API-Get-Single-Order): the order
  object (`id`, `status`, `on_hold_reason`, `source_id`, `store_order_id`,
  `shipment_notification_url`, `line_items[{store_line_item_id, sku "SO-…"}]`);
- the MIT SDK sellersmith/shineon-sdk (README, src/types/orders.ts, webhooks.ts,
  resources/orders.ts): `POST /v1/orders {"order": {source_id,
  shipment_notification_url, ready: 0|1, line_items[{store_line_item_id, sku,
  quantity, properties{print_url, "Engraving Line 1", …}}], shipping_address}}`,
  `GET /v1/orders?source_ids=`, `PUT /v1/orders/{id}` (on hold or awaiting payment
  only), `POST /v1/orders/{id}/hold | /ready | /cancel` (cancel answers 202), the
  statuses on_hold → awaiting_payment → in_production → shipped (cancelled), 429
  with `Retry-After`, and the shipment notification ShineOn POSTs to the order's
  URL: `{"order": {id, source_id, store_order_id, line_items[{store_line_item_id,
  sku, quantity, tracking_company, tracking_number}]}}`.

How PodHub uses it:
- `source_id` = our reference (the idempotency key): `submit` looks it up first
  (`GET /v1/orders?source_ids=`), so a retry never makes a second order.
- Held during our countdown (`holds_during_countdown`, fulfillment/holds.py): the
  order is created on hold (`ready: 0`) when its submit countdown starts, replaced
  (`PUT`, which the SDK allows on hold or awaiting payment) when the buyer or seller
  changes it, cancelled with it; at the countdown's end `submit` finds it by
  `source_id`, sends it as it is then and releases it (`POST …/ready`). Without a
  hold, `submit` creates on hold and releases in the same send: a crash between the
  two leaves an order ShineOn will not make, and the retry finds it and releases it.
- `store_line_item_id` = our line id and each line carries its own tracking, so a
  notification or a poll maps every parcel back to our lines.
- No signature is documented for notifications: the URL we give ShineOn carries a
  token of ours per order (HMAC of our reference with the connection's webhook
  secret), checked in `verify_webhook`, never stored.

Guesses [verify against a ShineOn account]: the error body (`{"error": …}`, as the
SDK reads it), a duplicate `source_id` refused with a validation error, a
notification carrying `order.status`, `shipping_method` values beyond the SDK's
"standard-us" / "international", `print_url_<side>` for sides other than the front.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from fulfillment.providers.base import (
    WEBHOOK_TOKEN_HEADER,
    FactoryOrder,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUpdate,
    RemoteOrder,
    RemoteShipment,
    ShippingOption,
    _header,
)
from fulfillment.providers.registry import POLL_ALWAYS, ProviderSpec
from fulfillment.providers.rest import RestClient, country, full_name, line_id, state

SHINEON_STATUS = {
    "on_hold": "accepted", "awaiting_payment": "accepted", "in_production": "in_production",
    "shipped": "shipped", "cancelled": "cancelled", "canceled": "cancelled",
}


def notification_token(secret: str, reference: str) -> str:
    """The token in the notification URL of one order: a leaked URL forges nothing else."""
    return hmac.new(secret.encode(), f"shineon:{reference}".encode(),
                    hashlib.sha256).hexdigest()[:40]


class ShineOnClient(RestClient):
    """Provider SKU = the ShineOn SKU (`SO-…`); our line id is `store_line_item_id`."""

    code = "shineon"
    # ShineOn takes `POST /v1/orders/{id}/cancel` until it ships (the SDK
    # sellersmith/shineon-sdk; its reference is not public). PodHub offers it only while
    # ShineOn holds the order or waits to make it (on_hold / awaiting_payment: our
    # accepted): a cancel in production is paid for, so PodHub would not refund it.
    cancellable = frozenset({"accepted"})
    # ShineOn keeps an order created with `ready: 0` on hold and takes `PUT` for it until
    # `POST …/ready` (the SDK: "on hold or awaiting payment only"): PodHub sends it so
    # when the submit countdown starts (fulfillment/holds.py).
    holds_during_countdown = True
    default_base = "https://api.shineon.com"

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def _call_json(self, method: str, path: str, *, what: str, **kwargs):
        return self._request(method, path, what=what, headers=self._headers(), **kwargs)

    def notification_url(self, reference: str) -> str:
        if not self.webhook_url or not self.webhook_secret:
            raise ProviderRefused("shineon: the connection needs a webhook secret (the "
                                  "notification URL's token)")
        sep = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{sep}token={notification_token(self.webhook_secret, reference)}"

    # --- orders -------------------------------------------------------------------
    def submit(self, order: FactoryOrder) -> RemoteOrder:
        """Send `order` to production. An order held under our reference (the countdown's
        hold, or a crash between create and release) is first replaced by the order as
        it is now (`PUT`: a change the countdown's last sync did not carry), then
        released; one ShineOn holds itself, or one already released, is the answer."""
        found = self._find(order.reference)
        if found is None:
            created, found = self._create(order)
            if created is not None:
                return self._release(created)
        if _held_by_us(found):
            found = self._put(str(found["id"]), order)
        return self._release(found)

    def _create(self, order: FactoryOrder) -> tuple[dict | None, dict | None]:
        """Create on hold; (created, None), or (None, the one a racing call made)."""
        try:
            return _order_of(self._call_json("POST", "/v1/orders", what="create order",
                                             json={"order": self._order_body(order, ready=0)})
                             ), None
        except ProviderRefused as exc:
            words = exc.message.lower()
            if getattr(exc, "status", 0) in (400, 409, 422) and any(
                    w in words for w in ("source", "taken", "already")):
                found = self._find(order.reference)
                if found is not None:
                    return None, found
            raise

    def _put(self, external_id: str, order: FactoryOrder) -> dict:
        return _order_of(self._call_json("PUT", f"/v1/orders/{external_id}",
                                         what="update order",
                                         json={"order": self._order_body(order, ready=0)}))

    def hold_order(self, order: FactoryOrder) -> RemoteOrder:
        """The countdown's hold: create on hold (`ready: 0`) or replace the held order
        (`PUT`, which ShineOn takes on hold or awaiting payment only)."""
        found = self._find(order.reference)
        if found is None:
            created, found = self._create(order)
            if created is not None:
                return _shineon_order(created)
        if not _held_by_us(found):
            raise ProviderRefused(f"shineon: order {found.get('id')} is "
                                  f"{found.get('status') or 'unknown'}, no longer held by us"
                                  + (f" ({found['on_hold_reason']})"
                                     if found.get("on_hold_reason") else ""))
        return _shineon_order(self._put(str(found["id"]), order))

    def cancel_hold(self, reference: str, external_id: str = "") -> bool:
        if not external_id:
            found = self._find(reference)
            if found is None:
                return False  # never made (the create did not reach ShineOn)
            if found.get("status") in ("cancelled", "canceled"):
                return True
            external_id = str(found["id"])
        try:
            self.cancel(external_id)
        except ProviderRefused:
            if self._get(external_id).get("status") in ("cancelled", "canceled"):
                return True  # cancelled already (a retry)
            raise
        return True

    def _order_body(self, order: FactoryOrder, *, ready: int) -> dict:
        r = order.recipient
        items = []
        for item in order.items:
            properties = {str(k): str(v) for k, v in item.properties.items()}
            for f in item.files:
                side = str(f.get("side") or "front")
                properties["print_url" if side == "front" else f"print_url_{side}"] = f["url"]
            items.append({"store_line_item_id": str(item.line_item_id), "sku": item.sku,
                          "quantity": item.quantity, "properties": properties})
        code = country(r)
        return {
            "source_id": order.reference, "email": r.get("email") or "",
            "shipment_notification_url": self.notification_url(order.reference),
            "shipping_method": "standard-us" if code == "US" else "international",
            "ready": ready, "line_items": items,
            "shipping_address": {
                "name": full_name(r), "company": r.get("company") or "",
                "address1": r.get("address1") or "", "address2": r.get("address2") or "",
                "city": r.get("city") or "", "province": state(r), "zip": r.get("zip") or "",
                "country_code": code, "phone": r.get("phone") or ""},
        }

    def _release(self, data: dict) -> RemoteOrder:
        """An order we left on hold goes to production (`ready`); one ShineOn itself put
        on hold (an `on_hold_reason`) is left for a person to look at."""
        if data.get("status") == "on_hold" and not data.get("on_hold_reason"):
            try:
                data = _order_of(self._call_json("POST", f"/v1/orders/{data['id']}/ready",
                                                 what="release order"))
            except ProviderRefused as exc:
                if getattr(exc, "status", 0) not in (409, 422):
                    raise
                data = self._get(str(data["id"]))  # released meanwhile (a concurrent retry)
        return _shineon_order(data)

    def _get(self, external_id: str) -> dict:
        return _order_of(self._call_json("GET", f"/v1/orders/{external_id}",
                                         what="order status"))

    def _find(self, reference: str) -> dict | None:
        data = self._call_json("GET", "/v1/orders", what="look up order",
                               params={"source_ids": reference, "limit": 5})
        for found in (data or {}).get("orders") or []:
            if isinstance(found, dict) and str(found.get("source_id")) == reference:
                return found
        return None

    def lookup(self, reference: str) -> RemoteOrder | None:
        """The order made under `reference`; None also for one we hold (the countdown's
        hold, or a crash between create and release): that one is not submitted yet,
        and `submit` sends it as it is now and releases it."""
        found = self._find(reference)
        if found is None or _held_by_us(found):
            return None
        return _shineon_order(found)

    def fetch_status(self, external_id: str) -> RemoteOrder:
        return _shineon_order(self._get(external_id))

    def cancel(self, external_id: str) -> None:
        self._call_json("POST", f"/v1/orders/{external_id}/cancel", what="cancel order")

    def hold(self, external_id: str) -> RemoteOrder:
        """Stop an order that waits for production (awaiting_payment -> on_hold)."""
        return _shineon_order(_order_of(self._call_json(
            "POST", f"/v1/orders/{external_id}/hold", what="hold order")))

    def release(self, external_id: str) -> RemoteOrder:
        return _shineon_order(_order_of(self._call_json(
            "POST", f"/v1/orders/{external_id}/ready", what="release order")))

    def update(self, external_id: str, order: FactoryOrder) -> RemoteOrder:
        """Replace a held (or awaiting) order's address and lines: ShineOn takes the
        whole order again (`PUT`), refused once it is in production."""
        body = self._order_body(order, ready=0)
        return _shineon_order(_order_of(self._call_json(
            "PUT", f"/v1/orders/{external_id}", what="update order", json={"order": body})))

    def shipping_methods(self, country: str) -> list[ShippingOption]:
        from decimal import Decimal

        if country.upper() == "US":
            return [ShippingOption("standard-us", "Standard (US)", Decimal("0"))]
        return [ShippingOption("international", "International", Decimal("0"))]

    # --- shipment notifications -------------------------------------------------------
    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        given = _header(headers, WEBHOOK_TOKEN_HEADER)
        if not self.webhook_secret or not given:
            return False
        try:
            reference = str(json.loads(body)["order"]["source_id"])
        except (ValueError, KeyError, TypeError):
            return False  # no order named: nothing the token could be checked against
        return hmac.compare_digest(given.encode(),
                                   notification_token(self.webhook_secret, reference).encode())

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        order = event["order"]
        if not isinstance(order, dict):
            raise ValueError("order is not an object")
        reference = str(order.get("source_id") or "")
        external_id = str(order.get("id") or "")
        # event_key "": the delivery is keyed by its body (a notification has no id)
        parcels = _parcels(order.get("line_items") or [])
        if parcels:
            return [ProviderUpdate(event_key="", reference=reference, external_id=external_id,
                                   status=p.status, shipment=p) for p in parcels]
        raw = str(order.get("status") or "")
        status = SHINEON_STATUS.get(raw, raw)  # an unknown one is kept, then refused by name
        if status == "shipped":  # shipped without any tracking yet: wait for it
            status = "in_production"
        return [ProviderUpdate(event_key="", reference=reference, external_id=external_id,
                               status=status, message=str(order.get("on_hold_reason") or "")
                               or raw or "notification without tracking")]


def _held_by_us(data: dict) -> bool:
    """On hold because we sent it so (`ready: 0`), not held by ShineOn for a reason of
    its own (an `on_hold_reason`, left for a person)."""
    return data.get("status") == "on_hold" and not data.get("on_hold_reason")


def _order_of(data) -> dict:
    order = data.get("order", data) if isinstance(data, dict) else None
    if not isinstance(order, dict) or "id" not in order:
        # maybe made anyway: the retry looks our reference up before creating again
        raise ProviderUnavailable(f"shineon: unexpected answer {str(data)[:200]}")
    return order


def _parcels(items) -> list[RemoteShipment]:
    """One parcel per tracking number, with our lines (store_line_item_id) in it."""
    if not isinstance(items, list):
        raise ValueError("line_items is not a list")
    parcels: dict[str, dict] = {}
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a line item is not an object")
        number = str(item.get("tracking_number") or "").strip()
        if not number:
            continue
        p = parcels.setdefault(number, {"carrier": str(item.get("tracking_company") or ""),
                                        "lines": []})
        line = line_id(item.get("store_line_item_id"))
        if line is not None and line not in p["lines"]:
            p["lines"].append(line)
    return [RemoteShipment(external_id=number, status="shipped", carrier=p["carrier"],
                           number=number, line_item_ids=p["lines"])
            for number, p in parcels.items()]


def _shineon_order(data: dict) -> RemoteOrder:
    raw = str(data.get("status") or "")
    return RemoteOrder(external_id=str(data.get("id") or ""),
                       reference=str(data.get("source_id") or ""),
                       status=SHINEON_STATUS.get(raw, raw or "accepted"),
                       shipments=_parcels(data.get("line_items") or []))


PROVIDER = ProviderSpec(
    code="shineon", label="ShineOn", client=ShineOnClient, polling=POLL_ALWAYS,
    standin="sandboxes.providers.shineon:ShineOnStandIn", standin_port=8034,
    standin_callback=False,  # the notification URL goes with each order
    key_help="The API token (Bearer).",
    secret_help="Any secret of yours: each order's notification URL carries a token made "
    "from it (ShineOn documents no signature).",
    sku_help="ShineOn SKU (SO-…); the print file goes as print_url, the buyer's "
    "personalisation as line properties.", demo_sku="SO-20021")
