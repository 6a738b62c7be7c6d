"""Printful, API v2 (docs/fulfillment.md, "Public providers").

Bearer token (+ `X-PF-Store-Id` for account-level tokens), draft `POST /v2/orders`
with `external_id` = our reference, then `POST /v2/orders/{id}/confirmation`; a draft
left by a crash is found by `GET /v2/orders/@{reference}` and confirmed, never made
twice. Webhooks v2 are signed (`x-pf-webhook-signature`, hex HMAC-SHA256 of the
body with the configuration's secret key).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

from fulfillment.providers.base import (
    FactoryOrder,
    ProviderRefused,
    ProviderUpdate,
    RemoteOrder,
    RemoteShipment,
    _header,
)
from fulfillment.providers.registry import POLL_SAFETY_NET, ProviderSpec
from fulfillment.providers.rest import RestClient, country, line_id, split_name, state

PRINTFUL_STATUS = {
    "draft": "accepted", "pending": "accepted", "onhold": "accepted",
    "inprocess": "in_production", "partial": "in_production",
    "fulfilled": "shipped", "canceled": "cancelled", "failed": "rejected",
}


class PrintfulClient(RestClient):
    """Printful API v2. `api_key` is the private token, or `<token>:<store id>` for an
    account-level token (sent as `X-PF-Store-Id`). Provider SKU = the catalog variant
    id, optionally `<variant id>:<technique>` (default dtg)."""

    code = "printful"
    # Printful's order statuses (API v2 reference, as the SDK spencerlepine/printful-sdk-js-v2
    # copies it, OrderSummary.status): draft, pending, failed and onhold orders can be
    # cancelled; "inprocess - order is being fulfilled and is no longer cancellable".
    # draft/pending/onhold are our accepted (PRINTFUL_STATUS); failed ones are rerouted.
    cancellable = frozenset({"accepted"})
    default_base = "https://api.printful.com"

    def _headers(self) -> dict:
        token, _, store = self.api_key.partition(":")
        headers = {"Authorization": f"Bearer {token}"}
        if store:
            headers["X-PF-Store-Id"] = store
        return headers

    def _get(self, path: str, *, what: str, ok_missing: bool = False):
        data = self._request("GET", path, what=what, ok_missing=ok_missing,
                             headers=self._headers())
        return None if data is None else data.get("data", data)

    # --- orders ---------------------------------------------------------------------
    def submit(self, order: FactoryOrder) -> RemoteOrder:
        existing = self.lookup(order.reference)  # also confirms a draft left by a crash
        if existing is not None:
            return existing
        try:
            created = self._request("POST", "/v2/orders", what="create order",
                                    headers=self._headers(), json=self._order_body(order))
        except ProviderRefused as exc:
            # a concurrent or earlier create with the same external_id: use that one
            if getattr(exc, "status", 0) in (400, 409):
                existing = self.lookup(order.reference)
                if existing is not None:
                    return existing
            raise
        draft = created.get("data", created)
        return self._confirm(draft)

    def _confirm(self, data: dict) -> RemoteOrder:
        if data.get("status") == "draft":
            try:
                confirmed = self._request("POST", f"/v2/orders/{data['id']}/confirmation",
                                          what="confirm order", headers=self._headers())
            except ProviderRefused as exc:
                if getattr(exc, "status", 0) != 409:
                    raise
                # confirmed meanwhile (a concurrent retry): read what it is now
                confirmed = self._request("GET", f"/v2/orders/{data['id']}",
                                          what="order status", headers=self._headers())
            data = confirmed.get("data", confirmed)
        return _printful_order(data)

    def _order_body(self, order: FactoryOrder) -> dict:
        r = order.recipient
        items = []
        for item in order.items:
            variant, _, technique = item.sku.partition(":")
            try:
                variant_id = int(variant)
            except ValueError as exc:
                raise ProviderRefused(f"printful: SKU {item.sku!r} is not a catalog variant "
                                      "id (expected e.g. 4012 or 4012:embroidery)") from exc
            placements: dict[str, list] = {}
            for f in item.files:
                side = str(f.get("side") or "front")
                placements.setdefault(side, []).append({"type": "file", "url": f["url"]})
            items.append({
                "source": "catalog", "catalog_variant_id": variant_id,
                "quantity": item.quantity, "external_id": str(item.line_item_id),
                "name": item.title[:100],
                "placements": [{"placement": side, "technique": technique or "dtg",
                                "layers": layers} for side, layers in placements.items()]})
        return {
            "external_id": order.reference,
            "shipping": (order.shipping_method or "standard").upper(),
            "recipient": {
                "name": r.get("name") or " ".join(split_name(r)).strip(),
                "company": r.get("company") or "", "address1": r.get("address1") or "",
                "address2": r.get("address2") or "", "city": r.get("city") or "",
                "state_code": state(r), "country_code": country(r),
                "zip": r.get("zip") or "", "phone": r.get("phone") or "",
                "email": r.get("email") or ""},
            "order_items": items,
        }

    def lookup(self, reference: str) -> RemoteOrder | None:
        data = self._get(f"/v2/orders/@{reference}", what="look up order", ok_missing=True)
        if data is None:
            return None
        return self._confirm(data)

    def fetch_status(self, external_id: str) -> RemoteOrder:
        data = self._get(f"/v2/orders/{external_id}", what="order status")
        shipments = self._get(f"/v2/orders/{external_id}/shipments", what="shipments") or []
        remote = _printful_order(data)
        return RemoteOrder(external_id=remote.external_id, reference=remote.reference,
                           status=remote.status,
                           shipments=[s for s in (_printful_shipment(x, data)
                                                  for x in shipments) if s is not None])

    def cancel(self, external_id: str) -> None:
        self._request("DELETE", f"/v2/orders/{external_id}", what="cancel order",
                      headers=self._headers())

    # --- webhooks (v2: hex HMAC-SHA256 of the raw body) -----------------------------
    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        given = _header(headers, "x-pf-webhook-signature").strip().lower()
        secret = self.webhook_secret
        if not secret or not given:
            return False
        keys = [secret.encode()]
        # [verify] whether Printful means the secret hex-decoded: accept either form
        with contextlib.suppress(ValueError):
            keys.append(bytes.fromhex(secret))
        ok = False
        for key in keys:
            expected = hmac.new(key, body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected, given) or ok
        return ok

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        kind = str(event.get("type") or "")
        data = event.get("data") or {}
        order = data.get("order") or {}
        reference = str(order.get("external_id") or "")
        external_id = str(order.get("id") or "")
        shipment = data.get("shipment")
        if kind.startswith("shipment_") and isinstance(shipment, dict):
            key = f"{kind}:{shipment.get('id')}"
            if kind != "shipment_sent":  # returned / out of stock: nothing moves forward
                return [ProviderUpdate(event_key=key, reference=reference,
                                       external_id=external_id, status="",
                                       message=kind.replace("_", " "))]
            remote = _printful_shipment(shipment, order, sent=True)
            return [ProviderUpdate(event_key=key, reference=reference, external_id=external_id,
                                   status="shipped", shipment=remote)]
        key = f"{kind}:{external_id}:{event.get('occurred_at') or event.get('created') or ''}"
        status = {"order_failed": "rejected", "order_canceled": "cancelled"}.get(kind)
        if status is None:
            status = PRINTFUL_STATUS.get(str(order.get("status") or ""), "")
            if status in ("shipped", "rejected", "cancelled"):  # only the events above say so
                status = ""
        reason = str(data.get("reason") or "")
        return [ProviderUpdate(event_key=key, reference=reference, external_id=external_id,
                               status=status, message=reason or kind.replace("_", " "))]


def _printful_order(data: dict) -> RemoteOrder:
    status = str(data.get("status") or "")
    return RemoteOrder(external_id=str(data.get("id") or ""),
                       reference=str(data.get("external_id") or ""),
                       status=PRINTFUL_STATUS.get(status, "accepted"))


def _printful_shipment(s: dict, order: dict, *, sent: bool = False) -> RemoteShipment | None:
    delivery = str(s.get("delivery_status") or "")
    shipped = (sent or str(s.get("shipment_status") or s.get("status") or "") == "shipped"
               or bool(s.get("shipped_at")))
    if delivery == "delivered" or s.get("delivered_at"):
        status = "delivered"
    elif delivery in ("in_transit", "out_for_delivery", "available_for_pickup"):
        status = "in_transit"
    elif shipped:
        status = "shipped"
    else:
        return None  # packaged or pending: not a parcel on its way yet
    by_item = {str(i.get("id")): i.get("external_id") for i in order.get("order_items") or []}
    lines = []
    for item in s.get("shipment_items") or s.get("items") or []:
        line = line_id(item.get("order_item_external_id")
                        or by_item.get(str(item.get("order_item_id"))))
        if line is not None and line not in lines:
            lines.append(line)
    return RemoteShipment(external_id=str(s.get("id") or ""), status=status,
                          carrier=str(s.get("carrier") or ""),
                          number=str(s.get("tracking_number") or ""),
                          url=str(s.get("tracking_url") or ""), line_item_ids=lines)


PROVIDER = ProviderSpec(
    code="printful", label="Printful", client=PrintfulClient, polling=POLL_SAFETY_NET,
    standin="sandboxes.providers.printful:PrintfulStandIn", standin_port=8031,
    key_help="Private token, or <token>:<store id> for an account-level token.",
    secret_help="The webhook configuration's secret key (POST /v2/webhooks): signatures.",
    sku_help="Catalog variant id, optionally <id>:<technique> (default dtg).",
    demo_sku="4012")
