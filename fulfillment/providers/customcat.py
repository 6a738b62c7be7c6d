"""CustomCat's order API (docs/fulfillment.md, "Public providers": third-party sources).

`api_key` in the query or the body; `POST /order/{our reference}` (our id is
CustomCat's `order_id`, so a duplicate is refused and looked up); no webhooks, so
the poll sweep (fulfillment/polling.py) reads `GET /order/status/{reference}`,
whose parcels name SKUs that are mapped back to our lines.
"""

from __future__ import annotations

from decimal import Decimal

from fulfillment.providers.base import (
    FactoryOrder,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUpdate,
    RemoteOrder,
    ShippingOption,
    SkuShipment,
)
from fulfillment.providers.registry import POLL_ALWAYS, ProviderSpec
from fulfillment.providers.rest import RestClient, country, split_name, state

CUSTOMCAT_STATUS = {
    "pending": "accepted", "verified": "accepted", "received": "accepted",
    "on hold": "accepted", "in production": "in_production", "printing": "in_production",
    "printed": "in_production", "partially shipped": "in_production",
    "shipped": "shipped", "delivered": "shipped", "cancelled": "cancelled",
    "canceled": "cancelled", "rejected": "rejected", "error": "rejected",
}


class CustomCatClient(RestClient):
    """CustomCat order API. Our reference is CustomCat's `order_id` (the idempotency
    key); provider SKU = the catalog SKU. No webhooks: polled."""

    code = "customcat"
    # CustomCat's API documents `DELETE /order/{reference}` for orders not in production
    # yet (docs/fulfillment.md); Pending/Verified/Received/On hold are our accepted.
    cancellable = frozenset({"accepted"})
    default_base = "https://customcat-beta.mylocker.net/api/v1"

    def submit(self, order: FactoryOrder) -> RemoteOrder:
        r = order.recipient
        first, last = split_name(r)
        items = []
        for item in order.items:
            line = {"catalog_sku": item.sku, "quantity": item.quantity}
            for f in item.files:
                side = str(f.get("side") or "front")
                line["design_url_back" if side == "back" else "design_url"] = f["url"]
            if "design_url" not in line:
                line = {"sku": item.sku, "quantity": item.quantity}
            items.append(line)
        body = {
            "api_key": self.api_key, "order_id": order.reference,
            "shipping_first_name": first, "shipping_last_name": last,
            "shipping_address1": r.get("address1") or "",
            "shipping_address2": r.get("address2") or "",
            "shipping_city": r.get("city") or "", "shipping_state": state(r),
            "shipping_zip": r.get("zip") or "", "shipping_country": country(r),
            "shipping_email": r.get("email") or "", "shipping_phone": r.get("phone") or "",
            "shipping_method": {"express": "Express", "priority": "Priority"}.get(
                (order.shipping_method or "").lower(), "Economy"),
            "items": items,
        }
        try:
            self._request("POST", f"/order/{order.reference}", what="create order", json=body)
        except ProviderRefused as exc:
            if "duplicate" not in exc.message.lower() and "already" not in exc.message.lower():
                raise
        remote = self.lookup(order.reference)
        if remote is None:
            raise ProviderUnavailable(f"customcat: order {order.reference} accepted but not "
                                      "found by its status call yet")
        return remote

    def lookup(self, reference: str) -> RemoteOrder | None:
        data = self._request("GET", f"/order/status/{reference}", what="order status",
                             ok_missing=True, params={"api_key": self.api_key})
        if data is None:
            return None
        return _customcat_order(data, reference)

    def fetch_status(self, external_id: str) -> RemoteOrder:
        remote = self.lookup(external_id)
        if remote is None:
            raise ProviderRefused(f"customcat: no order {external_id}")
        return remote

    def cancel(self, external_id: str) -> None:
        self._request("DELETE", f"/order/{external_id}", what="cancel order",
                      params={"api_key": self.api_key})

    def shipping_methods(self, country: str) -> list[ShippingOption]:
        return [ShippingOption("economy", "Economy", Decimal("0")),
                ShippingOption("priority", "Priority", Decimal("0")),
                ShippingOption("express", "Express", Decimal("0"))]

    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        return False  # CustomCat documents no webhooks: nothing may claim to be one

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        return []


def _customcat_order(data: dict, reference: str) -> RemoteOrder:
    status = CUSTOMCAT_STATUS.get(str(data.get("status") or "").strip().lower(), "accepted")
    shipments = []
    for n, s in enumerate(data.get("shipments") or [], 1):
        number = str(s.get("tracking_id") or s.get("tracking_number") or "")
        shipments.append(SkuShipment(
            external_id=str(s.get("id") or number or n), status="shipped",
            carrier=str(s.get("carrier") or s.get("shipping_carrier") or ""), number=number,
            url=str(s.get("tracking_url") or ""),
            skus=[str(i.get("catalog_sku") or i.get("sku") or "")
                  for i in s.get("items") or []]))
    return RemoteOrder(external_id=str(data.get("order_id") or reference),
                       reference=str(data.get("order_id") or reference), status=status,
                       shipments=shipments)


PROVIDER = ProviderSpec(
    code="customcat", label="CustomCat", client=CustomCatClient, polling=POLL_ALWAYS,
    standin="sandboxes.providers.customcat:CustomCatStandIn", standin_port=8032,
    standin_callback=False,
    key_help="The read-write API key.", secret_help="None: CustomCat has no webhooks (polled).",
    sku_help="Catalog SKU.", demo_sku="TEE-BLK-M")
