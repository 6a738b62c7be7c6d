"""WooCommerce stores, as a store platform: the REST API v3 (integrations/woocommerce/).
Only WooCommerce is spoken here; the loops around these calls are the generic services'
(docs/woocommerce.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.platforms.base import ImportPage, StorePlatform
from integrations.woocommerce import services as woo
from integrations.woocommerce.client import WooAuthError, WooClient, WooError, WooUserError
from integrations.woocommerce.mapping import deleted_facts, gmt
from integrations.woocommerce.signature import verify
from orders.models import Platform
from podhub.core.exceptions import ValidationFailed

IMPORT_STATUSES = "processing,on-hold"


class WooCommerce(StorePlatform):
    code = Platform.WOOCOMMERCE.value
    label = woo.LABEL
    auth_errors = (WooAuthError,)
    refused_errors = (WooUserError,)
    errors = (WooError,)

    def connect(self, *, workspace, **credentials):
        return woo.store_connect_woocommerce(workspace=workspace, **credentials)

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


PLATFORM = WooCommerce()
