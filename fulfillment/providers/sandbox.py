"""The sandbox factory's client (sandboxes/factory/factory.py documents the API)."""

from __future__ import annotations

import json

from fulfillment.providers.base import (
    FactoryOrder,
    ProviderClient,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUpdate,
    RemoteOrder,
    RemoteShipment,
    ShippingOption,
)
from fulfillment.providers.registry import POLL_SAFETY_NET, ProviderSpec


def _remote(data: dict) -> RemoteOrder:
    return RemoteOrder(
        external_id=str(data.get("id", "")), reference=str(data.get("external_id", "")),
        status=str(data.get("status", "")),
        shipments=[_shipment(s) for s in data.get("shipments") or []])


def _shipment(s: dict) -> RemoteShipment:
    lines = []
    for item in s.get("items") or []:
        try:
            lines.append(int(item.get("external_line_id")))
        except (TypeError, ValueError):
            continue
    return RemoteShipment(external_id=str(s.get("id", "")), status=str(s.get("status", "")),
                          carrier=str(s.get("carrier", "")),
                          number=str(s.get("tracking_number", "")),
                          url=str(s.get("tracking_url", "")), line_item_ids=lines)


class SandboxFactoryClient(ProviderClient):
    code = "sandbox"
    # sandboxes/factory/factory.py: a cancel is taken before production (409
    # once in production), as the providers above document.
    cancellable = frozenset({"accepted"})

    def _headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.api_key}", **extra}

    def submit(self, order: FactoryOrder) -> RemoteOrder:
        body = {"external_id": order.reference, "recipient": order.recipient,
                "shipping": order.shipping_method,
                "items": [{"external_line_id": i.line_item_id, "sku": i.sku,
                           "quantity": i.quantity, "files": i.files, "name": i.title}
                          for i in order.items]}
        r = self._call("POST", "/v1/orders", json=body,
                       headers=self._headers(**{"Idempotency-Key": order.reference}))
        if r.status_code >= 400:
            raise ProviderRefused(f"sandbox factory refused: {_error(r)}")
        return _remote(r.json())

    def lookup(self, reference: str) -> RemoteOrder | None:
        r = self._call("GET", f"/v1/orders/@{reference}", headers=self._headers())
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise ProviderUnavailable(f"sandbox factory lookup: {_error(r)}")
        return _remote(r.json())

    def fetch_status(self, external_id: str) -> RemoteOrder:
        r = self._call("GET", f"/v1/orders/{external_id}", headers=self._headers())
        if r.status_code >= 400:
            raise ProviderUnavailable(f"sandbox factory status: {_error(r)}")
        return _remote(r.json())

    def cancel(self, external_id: str) -> None:
        r = self._call("POST", f"/v1/orders/{external_id}/cancel", headers=self._headers())
        if r.status_code >= 400:
            raise ProviderRefused(f"sandbox factory cannot cancel: {_error(r)}")

    def shipping_methods(self, country: str) -> list[ShippingOption]:
        from decimal import Decimal

        r = self._call("GET", "/v1/shipping-rates", params={"country": country},
                       headers=self._headers())
        return [ShippingOption(m["id"], m["name"], Decimal(m["rate"]), m["currency"])
                for m in r.json().get("result", [])]

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        data = event.get("data") or {}
        order = data.get("order") or {}
        shipment = data.get("shipment")
        remote = _shipment(shipment) if isinstance(shipment, dict) else None
        status = str(order.get("status", ""))
        if remote is not None:
            status = event.get("type", "").removeprefix("shipment_") or status
        return [ProviderUpdate(event_key=str(event.get("id", "")),
                               reference=str(order.get("external_id", "")),
                               external_id=str(order.get("id", "")), status=status,
                               shipment=remote)]


def _error(response) -> str:
    try:
        return str(response.json().get("error") or response.status_code)
    except ValueError:
        return f"HTTP {response.status_code}"


PROVIDER = ProviderSpec(
    code="sandbox", label="Sandbox factory (local)", client=SandboxFactoryClient,
    polling=POLL_SAFETY_NET, key_help="The sandbox factory's API key (Bearer).",
    secret_help="The secret its callbacks are signed with (X-PodHub-Signature).",
    sku_help="Any SKU (the sandbox makes everything).")
