"""WooCommerce stores, as a store platform: the REST API v3 (integrations/woocommerce/).
Only WooCommerce is spoken here; the loops around these calls are the generic services'
(docs/woocommerce.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from integrations.platforms.base import (
    ConnectField,
    Delivery,
    ImportPage,
    StorePlatform,
    WebhookRefused,
    sandbox_post,
)
from integrations.woocommerce import services as woo
from integrations.woocommerce.client import WooAuthError, WooClient, WooError, WooUserError
from integrations.woocommerce.mapping import deleted_facts, gmt
from integrations.woocommerce.signature import verify
from orders.models import Platform
from podhub.core.exceptions import ValidationFailed

IMPORT_STATUSES = "processing,on-hold"
# the unsigned body WooCommerce sends when a webhook is created or activated
_PING = re.compile(rb"^webhook_id=\d+$")


class WooCommerce(StorePlatform):
    code = Platform.WOOCOMMERCE.value
    label = woo.LABEL
    auth_errors = (WooAuthError,)
    refused_errors = (WooUserError,)
    errors = (WooError,)

    def connect_fields(self):
        return [
            ConnectField("url", "Store address", url=True, max_length=255,
                         placeholder="https://shop.example.com"),
            ConnectField("consumer_key", "Consumer key", secret=True, max_length=200,
                         placeholder="ck_…"),
            ConnectField("consumer_secret", "Consumer secret", secret=True, max_length=200,
                         placeholder="cs_…"),
            ConnectField("webhook_secret", "Webhook secret (leave empty: PodHub makes one)",
                         secret=True, required=False,
                         help="the secret PodHub registers its webhooks with"),
        ]

    def connect_instructions(self) -> str:
        return ("In WordPress: WooCommerce → Settings → Advanced → REST API → Add key, with "
                "Read/Write permission; paste the consumer key and secret. PodHub checks them, "
                "registers its webhooks (order created, updated, deleted) pointing at "
                "/webhooks/woocommerce/<store id>/, imports the processing and on-hold orders, "
                "and re-reads recently modified orders every 10 minutes (WooCommerce does not "
                "retry a failed delivery).")

    def connect(self, *, workspace, name: str = "", start_import: bool = True,
                by_operator: bool = False, url: str = "", consumer_key: str = "",
                consumer_secret: str = "", webhook_secret: str = ""):
        return woo.store_connect_woocommerce(
            workspace=workspace, url=url, consumer_key=consumer_key,
            consumer_secret=consumer_secret, webhook_secret=webhook_secret, name=name,
            start_import=start_import)

    def sandbox_connect(self, *, workspace, sandbox_url: str, name: str = ""):
        """A new store of its own in the WooCommerce sandbox
        (sandboxes/woocommerce/server.py, `POST /_sandbox/stores`) with a few processing
        orders and its own REST keys, connected like a seller's: the keys checked, the
        webhooks registered through the REST API."""
        made = sandbox_post(f"{sandbox_url}/_sandbox/stores", {"seed_orders": 3},
                            what=self.label)
        url = str(made.get("url") or "")
        if not url.startswith(f"{sandbox_url}/"):
            raise ValidationFailed("The WooCommerce sandbox answered with another address.")
        return self.connect(workspace=workspace, name=name or "Sandbox WooCommerce store",
                            url=url, consumer_key=str(made.get("consumer_key") or ""),
                            consumer_secret=str(made.get("consumer_secret") or ""))

    def sandbox_order(self, connection) -> str:
        made = sandbox_post(f"{connection.api_base}/_sandbox/orders", SANDBOX_ORDER,
                            what=self.label)
        return str(made.get("number") or made.get("id") or "")

    def client(self, connection, **kwargs) -> WooClient:
        return woo.client_for(connection, **kwargs)

    def import_page(self, client: WooClient, *, cursor: str, count_total: bool) -> ImportPage:
        """Processing and on-hold orders, `per_page` at a time in id order; the cursor is
        the last page done, X-WP-Total the total."""
        page = int(cursor or 0) + 1
        orders, total, last_page = client.orders_page(
            page=page, status=IMPORT_STATUSES, orderby="id", order="asc")
        return ImportPage(orders=list(orders or []), cursor=str(page),
                          finished=page >= last_page or not orders, total=total)

    def map_order(self, client: WooClient, order: dict):
        return woo.map_order(client, order)

    def changed_orders(self, client: WooClient, *, since: datetime, max_pages: int):
        """WooCommerce never retries a failed delivery: every order modified since
        `since` (`modified_after`), plus those moved to the trash."""
        for status in ("any", "trash"):
            yield from client.iter_orders(
                max_pages=max_pages, status=status, orderby="id", order="asc", per_page=50,
                dates_are_gmt="true",
                modified_after=since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))

    def updated_at(self, order: dict) -> str:
        return gmt(order.get("date_modified_gmt"))

    def verify_webhook(self, *, body: bytes, signature: str, secrets: list[str]) -> bool:
        return any(verify(body, signature, secret) for secret in secrets)

    def check_webhook(self, connection, *, headers, body: bytes) -> bool:
        """X-WC-Webhook-Signature over the raw body; the unsigned `webhook_id=<id>` ping
        is acknowledged and not stored."""
        signature = headers.get("X-WC-Webhook-Signature", "")
        if not signature and not headers.get("X-WC-Webhook-Topic", "") \
                and _PING.match(body.strip()):
            return False
        if not signature:
            raise WebhookRefused(401, "unsigned", "X-WC-Webhook-Signature is missing.")
        secret = connection.webhook_secret.reveal() \
            if hasattr(connection.webhook_secret, "reveal") else (connection.webhook_secret or "")
        if not self.verify_webhook(body=body, signature=signature, secrets=[secret]):
            raise WebhookRefused(401, "bad_signature", "The HMAC signature does not match.")
        return True

    def webhook_url(self, connection) -> str:
        return woo.webhook_url(connection.store_id)

    def describe_webhook(self, connection, *, headers, payload) -> Delivery:
        """Keyed by (X-WC-Webhook-Source, order id, date_modified_gmt): WooCommerce never
        retries a failed delivery, the reconciliation sweep reads what was missed."""
        topic = headers.get("X-WC-Webhook-Topic", "").strip().lower()
        if not topic:
            raise WebhookRefused(400, "missing_headers",
                                 "Missing header(s): X-WC-Webhook-Topic")
        if not isinstance(payload, dict):
            raise WebhookRefused(400, "malformed_json", "The body is not a JSON object.")
        source = headers.get("X-WC-Webhook-Source", "") or connection.shop_domain
        return Delivery(event_id=woo.event_id_of(source=source, topic=topic, payload=payload),
                        topic=topic, resource_id=str(payload.get("id") or "")[:64],
                        webhook_id=headers.get("X-WC-Webhook-ID", ""), api_version="wc/v3",
                        triggered_at=headers.get("X-WC-Webhook-Delivery-ID", ""))

    def handle_delivery(self, connection, row, payload, *, now: datetime, prefetched=None):
        if not isinstance(payload, dict):
            raise ValidationFailed("The webhook body is not an order.")
        if row.topic in woo.ORDER_TOPICS:
            return woo.map_order(self.client(connection, max_retries=1), payload)
        if row.topic == "order.deleted":
            return deleted_facts(payload.get("id"))
        return f"ignored: topic {row.topic} is not used"

    def push_handlers(self):
        return woo.HANDLERS


# A personalised mug, as the demo's sandbox store sells (the demo's SKU rule maps it).
SANDBOX_ORDER = {"status": "processing", "line_items": [
    {"name": "Mug 11oz", "sku": "MUG-11-WHITE", "price": "14.00", "quantity": 1,
     "meta": {"Name": "Ana"}}]}


PLATFORM = WooCommerce()
