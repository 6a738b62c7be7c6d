"""Gelato, order API v4 (docs/fulfillment.md, "Public providers").

`X-API-KEY`, `POST /v4/orders` with `orderReferenceId` = our reference and our line
id as each item's `itemReferenceId`; looked up by `POST /v4/orders:search`.
Webhooks are unsigned at Gelato, so the URL is guarded by a token of ours
(`X-PodHub-Webhook-Token`, or `?token=` when the dashboard cannot add a header),
and the poll sweep is the safety net (Gelato retries 3 times, 5 s apart).
"""

from __future__ import annotations

import hmac
import json

from fulfillment.providers.base import (
    WEBHOOK_TOKEN_HEADER,
    FactoryOrder,
    ProviderRefused,
    ProviderUpdate,
    RemoteOrder,
    RemoteShipment,
    _header,
)
from fulfillment.providers.registry import POLL_SAFETY_NET, ProviderSpec
from fulfillment.providers.rest import RestClient, country, line_id, split_name, state

GELATO_STATUS = {
    "created": "accepted", "uploading": "accepted", "passed": "accepted",
    "pending_approval": "accepted", "on_hold": "accepted", "not_connected": "accepted",
    "draft": "accepted", "printed": "in_production", "in_production": "in_production",
    "shipped": "shipped", "in_transit": "shipped", "delivered": "shipped",
    "canceled": "cancelled", "cancelled": "cancelled", "failed": "rejected",
}
GELATO_PARCEL = {"shipped": "shipped", "in_transit": "in_transit", "delivered": "delivered"}


class GelatoClient(RestClient):
    """Gelato order API v4. Provider SKU = Gelato `productUid`; our line item id is the
    `itemReferenceId`, so tracking maps back to our lines."""

    code = "gelato"
    # Gelato's Cancel order (dashboard.gelato.com/docs/orders/v4/cancel): "if the order
    # has moved to status printed or shipped the order can't be canceled" (409). Before
    # printed is our accepted (GELATO_STATUS).
    cancellable = frozenset({"accepted"})
    default_base = "https://order.gelatoapis.com"

    def _headers(self) -> dict:
        return {"X-API-KEY": self.api_key}

    def submit(self, order: FactoryOrder) -> RemoteOrder:
        existing = self.lookup(order.reference)
        if existing is not None:
            return existing
        r = order.recipient
        first, last = split_name(r)
        body = {
            "orderType": "order", "orderReferenceId": order.reference,
            "customerReferenceId": order.order_number or order.reference, "currency": "USD",
            "items": [{"itemReferenceId": str(i.line_item_id), "productUid": i.sku,
                       "quantity": i.quantity,
                       "files": [{"type": "back" if f.get("side") == "back" else "default",
                                  "url": f["url"]} for f in i.files]}
                      for i in order.items],
            "shipmentMethodUid": (order.shipping_method or "standard").lower(),
            "shippingAddress": {
                "firstName": first, "lastName": last, "companyName": r.get("company") or "",
                "addressLine1": r.get("address1") or "", "addressLine2": r.get("address2") or "",
                "city": r.get("city") or "", "state": state(r), "postCode": r.get("zip") or "",
                "country": country(r), "email": r.get("email") or "",
                "phone": r.get("phone") or ""},
        }
        try:
            data = self._request("POST", "/v4/orders", what="create order",
                                 headers=self._headers(), json=body)
        except ProviderRefused as exc:
            if getattr(exc, "status", 0) == 409:
                existing = self.lookup(order.reference)
                if existing is not None:
                    return existing
            raise
        return _gelato_order(data)

    def lookup(self, reference: str) -> RemoteOrder | None:
        data = self._request("POST", "/v4/orders:search", what="search orders",
                             headers=self._headers(),
                             json={"orderReferenceIds": [reference], "limit": 1, "offset": 0})
        for found in data.get("orders") or []:
            if str(found.get("orderReferenceId")) == reference:
                return _gelato_order(found)
        return None

    def fetch_status(self, external_id: str) -> RemoteOrder:
        data = self._request("GET", f"/v4/orders/{external_id}", what="order status",
                             headers=self._headers())
        return _gelato_order(data)

    def cancel(self, external_id: str) -> None:
        self._request("POST", f"/v4/orders/{external_id}:cancel", what="cancel order",
                      headers=self._headers())

    # --- webhooks: unsigned, so a shared token header guards the URL -------------
    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        given = _header(headers, WEBHOOK_TOKEN_HEADER)
        if not self.webhook_secret or not given:
            return False
        return hmac.compare_digest(given.encode(), self.webhook_secret.encode())

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        kind = str(event.get("event") or "")
        if not kind and event.get("object") == "orderStatus":  # older documented form
            kind = "order_status_updated"
        key = str(event.get("id") or "")
        reference = str(event.get("orderReferenceId") or "")
        external_id = str(event.get("orderId") or "")
        if kind == "order_item_tracking_code_updated":
            items = [{"itemReferenceId": event.get("itemReferenceId"),
                      "fulfillmentStatus": event.get("fulfillmentStatus") or "shipped",
                      "fulfillments": [{"trackingCode": event.get("trackingCode"),
                                        "trackingUrl": event.get("trackingUrl"),
                                        "shipmentMethodName":
                                        event.get("shipmentMethodName")}]}]
            status = "shipped"
        elif kind in ("order_status_updated", "order_item_status_updated"):
            items = event.get("items") or []
            status = GELATO_STATUS.get(str(event.get("fulfillmentStatus") or ""), "")
        else:
            return [ProviderUpdate(event_key=key, reference=reference, external_id=external_id,
                                   status="", message=kind or "unknown event")]
        parcels = _gelato_parcels(items)
        if parcels:
            return [ProviderUpdate(event_key=key, reference=reference, external_id=external_id,
                                   status=p.status, shipment=p) for p in parcels]
        if status in ("shipped",):  # shipped without any tracking yet: wait for it
            status = "in_production"
        return [ProviderUpdate(event_key=key, reference=reference, external_id=external_id,
                               status=status, message=kind)]


def _gelato_parcels(items: list[dict]) -> list[RemoteShipment]:
    """One parcel per tracking code, with the line items (itemReferenceId) in it."""
    parcels: dict[str, dict] = {}
    for item in items:
        parcel_status = GELATO_PARCEL.get(str(item.get("fulfillmentStatus") or ""), "shipped")
        for f in item.get("fulfillments") or []:
            code = str(f.get("trackingCode") or "")
            if not code:
                continue
            p = parcels.setdefault(code, {"url": str(f.get("trackingUrl") or ""),
                                          "carrier": str(f.get("shipmentMethodName") or ""),
                                          "lines": [], "status": parcel_status})
            line = line_id(item.get("itemReferenceId"))
            if line is not None and line not in p["lines"]:
                p["lines"].append(line)
    return [RemoteShipment(external_id=code, status=p["status"], carrier=p["carrier"],
                           number=code, url=p["url"], line_item_ids=p["lines"])
            for code, p in parcels.items()]


def _gelato_order(data: dict) -> RemoteOrder:
    return RemoteOrder(
        external_id=str(data.get("id") or ""), reference=str(data.get("orderReferenceId") or ""),
        status=GELATO_STATUS.get(str(data.get("fulfillmentStatus") or ""), "accepted"),
        shipments=_gelato_parcels(data.get("items") or []))


PROVIDER = ProviderSpec(
    code="gelato", label="Gelato", client=GelatoClient, polling=POLL_SAFETY_NET,
    standin="sandboxes.providers.gelato:GelatoStandIn", standin_port=8033,
    key_help="The API key (X-API-KEY).",
    secret_help="A token of your choice, sent by Gelato in X-PodHub-Webhook-Token (or as "
    "?token= in the webhook URL).",
    sku_help="Gelato productUid.", demo_sku="apparel_product_gca_t-shirt_m")
