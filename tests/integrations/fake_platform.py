"""A third store platform, registered only in tests through the settings list: the proof
that a platform is one module and one line (docs/architecture.md, "Adding a store
platform: one module, one line"). It speaks to an in-memory store (`SHOP`); everything
else (the import job, the sweep, the inbox, the outbox) is the generic services'.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from integrations.models import ConnectionStatus, OutboxKind, StoreConnection
from integrations.platforms.base import (
    ConnectField,
    Delivery,
    ImportPage,
    StorePlatform,
    WebhookRefused,
)
from integrations.services.connections import (
    ShopUnavailable,
    connection_for_update,
    save_connected,
)
from integrations.services.imports import import_job_start
from integrations.shopify.mapping import StoreFacts
from podhub.core.crypto import Secret
from podhub.core.exceptions import Conflict, ValidationFailed


class FakeError(Exception):
    pass


class FakeAuthError(FakeError):
    pass


class FakeRefused(FakeError):
    pass


@dataclass
class FakeShop:
    """The store: its orders, its valid API key, and what PodHub pushed to it."""

    key: str = "fake-key"
    orders: list[dict] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (order id, text)
    page_size: int = 2


SHOP = FakeShop()


class FakeClient:
    def __init__(self, key: str):
        self.key = key
        self.closed = False

    def _check(self):
        if self.key != SHOP.key:
            raise FakeAuthError("401 invalid API key")

    def orders(self, page: int) -> tuple[list[dict], bool]:
        self._check()
        start = (page - 1) * SHOP.page_size
        return SHOP.orders[start:start + SHOP.page_size], start + SHOP.page_size < len(
            SHOP.orders)

    def add_note(self, order_id: str, text: str) -> None:
        self._check()
        if not any(o["id"] == order_id for o in SHOP.orders):
            raise FakeRefused(f"no order {order_id}")
        SHOP.notes.append((order_id, text))

    def close(self) -> None:
        self.closed = True


def _tracking(client: FakeClient, conn, msg) -> dict:
    p = msg.payload
    client.add_note(p["order_id"], f"Shipped: {p['carrier']} {p['number']}")
    return {"noted": True}


class FakeStore(StorePlatform):
    code = "fakestore"
    label = "Fake Store"
    auth_errors = (FakeAuthError,)
    refused_errors = (FakeRefused,)
    errors = (FakeError,)

    # connecting: the Stores page's form, the CLI's options and the API's body come from
    # these fields; the generic view, command and endpoint call `connect`
    def connect_fields(self):
        return [ConnectField("shop", "Shop name", placeholder="my-shop"),
                ConnectField("api_key", "API key", secret=True)]

    def connect(self, *, workspace, name="", start_import=True, by_operator=False, shop="",
                api_key=""):
        domain = shop.strip().lower()
        if not domain.isalnum():
            raise ValidationFailed("Use the shop's name: letters and digits.", field="shop")
        try:
            FakeClient(api_key)._check()  # the store first: nothing written on a refusal
        except FakeAuthError as exc:
            raise ValidationFailed(f"The store refused this key ({exc}).",
                                   field="api_key") from None
        with scopes_disabled():
            other = StoreConnection.objects.filter(platform=self.code, shop_domain=domain,
                                                   status=ConnectionStatus.ACTIVE).first()
        if other is not None and other.workspace_id == workspace.pk:
            raise Conflict(f"{domain} is already connected to this workspace.")
        if other is not None:
            raise ShopUnavailable(domain, workspace_id=other.workspace_id)
        with transaction.atomic():
            conn = connection_for_update(workspace=workspace, platform=self.code,
                                         domain=domain, name=name)
            conn.access_token = Secret(api_key)
            conn.webhook_secret = Secret("fake-hook-secret")
            save_connected(conn, now=timezone.now())
            if start_import:
                import_job_start(connection=conn)
        return conn

    def client(self, connection, **kwargs) -> FakeClient:
        return FakeClient(connection.access_token.reveal())

    def import_page(self, client, *, cursor, count_total):
        page = int(cursor or 0) + 1
        orders, more = client.orders(page)
        return ImportPage(orders=orders, cursor=str(page), finished=not more,
                          total=len(SHOP.orders) if count_total else None)

    def map_order(self, client, order):
        data = {"external_id": order["id"], "number": order["id"],
                "updated_at": order["updated_at"], "buyer_name": "Ana Buyer",
                "buyer_email": "ana@example.com", "currency": "EUR",
                "shipping_address": {"name": "Ana Buyer", "address1": "Rua 1",
                                     "city": "Lisboa", "zip": "1000-001",
                                     "country_code": "PT"},
                "line_items": [{"external_id": f"{order['id']}-1", "sku": order["sku"],
                                "title": "Mug", "quantity": 1, "unit_price": "12.00"}]}
        return data, StoreFacts(external_id=order["id"], updated_at=order["updated_at"],
                                financial_status="paid", fulfilled=False,
                                cancelled=order.get("cancelled", False), closed=False)

    def changed_orders(self, client, *, since, max_pages):
        return list(client.orders(1)[0])

    def updated_at(self, order):
        return order["updated_at"]

    # webhooks at /webhooks/fakestore/<store id>/: the generic door, no view of our own
    def verify_webhook(self, *, body, signature, secrets):
        return any(hmac.compare_digest(signature, sign(body, secret)) for secret in secrets)

    def check_webhook(self, connection, *, headers, body):
        if not self.verify_webhook(body=body, signature=headers.get("X-Fake-Signature", ""),
                                   secrets=[connection.webhook_secret.reveal()]):
            raise WebhookRefused(401, "bad_signature", "X-Fake-Signature does not match.")
        return True

    def describe_webhook(self, connection, *, headers, payload):
        return Delivery(event_id=f"{payload['id']}:{payload['updated_at']}",
                        topic=headers.get("X-Fake-Topic", "order"), resource_id=payload["id"])

    def handle_delivery(self, connection, row, payload, *, now, prefetched=None):
        return self.map_order(None, payload)

    def push_handlers(self):
        return {OutboxKind.FULFILLMENT_CREATE: _tracking}


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


PLATFORM = FakeStore()
