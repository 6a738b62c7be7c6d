"""Etsy shops, as a store platform: Open API v3 (integrations/etsy/). Only Etsy is
spoken here; the loops around these calls are the generic services' (docs/etsy.md).

Etsy's documentation this follows:
- OAuth 2 with PKCE, refresh: https://developers.etsy.com/documentation/essentials/authentication
- requests (x-api-key, Bearer <user id>.<token>):
  https://developers.etsy.com/documentation/essentials/requests
- rate limits (QPS, sliding-window QPD, the x-limit-*/x-remaining-* headers, 429):
  https://developers.etsy.com/documentation/essentials/rate-limits
- getShopReceipts, getShopReceipt, createReceiptShipment, ShopReceipt, Money:
  https://developers.etsy.com/documentation/reference#tag/Shop-Receipt
- transaction personalisation (variations with property_id 54): Etsy's personalization
  migration guide, "Reading transaction personalization data" (developers.etsy.com)

Connecting is the seller granting access in Etsy (`authorizes`): the Stores page's
connect button sends the browser to Etsy's consent page, Etsy sends it back to
/stores/connect/etsy/callback/. New and changed receipts are read by a polling sweep on
`min_last_modified` every ETSY_POLL_SECONDS (`poll_seconds`).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from integrations.etsy import services as etsy
from integrations.etsy.client import (
    EtsyAuthError,
    EtsyClient,
    EtsyError,
    EtsyUserError,
)
from integrations.etsy.mapping import check_receipt, from_receipt, iso
from integrations.models import OutboxKind
from integrations.platforms.base import (
    ConnectField,
    ImportPage,
    StorePlatform,
    UnreadableOrder,
    sandbox_post,
)
from podhub.core.exceptions import ValidationFailed

PAGE = 100  # getShopReceipts' largest `limit`


class Etsy(StorePlatform):
    code = etsy.CODE
    label = etsy.LABEL
    auth_errors = (EtsyAuthError,)
    refused_errors = (EtsyUserError,)
    errors = (EtsyError,)
    authorizes = True
    # min_last_modified is inclusive and to the second: two minutes covers Etsy's clock
    # and indexing lag without re-reading the last quarter hour every minute
    sweep_overlap_seconds = 120

    @property
    def poll_seconds(self) -> int:
        return settings.ETSY_POLL_SECONDS

    def polled(self, connection) -> bool:
        return connection.token_expires_at is not None  # None: the grant was revoked

    def operator_fields(self):
        return [
            ConnectField("refresh_token", "Etsy refresh token", secret=True,
                         help="a grant made elsewhere (the sandbox's, a migration)"),
            ConnectField("api_base", "Etsy API base URL", url=True, required=False,
                         max_length=255, help="default: ETSY_API_BASE"),
        ]

    def connect_instructions(self) -> str:
        return ("PodHub sends you to Etsy to allow it to read your shop's orders and send "
                "tracking back (scopes: transactions_r transactions_w shops_r). Your paid, "
                "unshipped orders are imported; new ones arrive within "
                f"{max(1, settings.ETSY_POLL_SECONDS // 60)} minute(s).")

    def authorize(self, *, workspace, user) -> str:
        return etsy.oauth_begin(workspace=workspace, user=user)

    def authorized(self, *, workspace, user, params: dict):
        return etsy.oauth_complete(workspace=workspace, user=user, params=params)

    def connect(self, *, workspace, name: str = "", start_import: bool = True,
                by_operator: bool = False, refresh_token: str = "", api_base: str = ""):
        if not by_operator:
            raise ValidationFailed("Etsy shops are connected by allowing PodHub in Etsy.")
        return etsy.connect_with_refresh_token(
            workspace=workspace, refresh_token=refresh_token, base=api_base, name=name,
            start_import=start_import)

    def sandbox_connect(self, *, workspace, sandbox_url: str, name: str = ""):
        """A new shop of the Etsy sandbox (sandboxes/etsy/server.py, `POST /_sandbox/shops`)
        with a few paid receipts, connected with the grant the sandbox made for it."""
        made = sandbox_post(f"{sandbox_url}/_sandbox/shops", {"seed_receipts": 3},
                            what=self.label)
        return self.connect(workspace=workspace, name=name or "Sandbox Etsy shop",
                            refresh_token=str(made.get("refresh_token") or ""),
                            api_base=f"{sandbox_url}/v3", by_operator=True)

    def sandbox_order(self, connection) -> str:
        root = connection.api_base.removesuffix("/v3")
        made = sandbox_post(f"{root}/_sandbox/shops/{connection.shop_domain}/receipts",
                            {"personalization": "Ana"}, what=self.label)
        return str(made.get("receipt_id") or "")

    def client(self, connection, **kwargs) -> EtsyClient:
        return etsy.client_for(connection, **kwargs)

    def import_page(self, client: EtsyClient, *, cursor: str, count_total: bool) -> ImportPage:
        """Paid, unshipped, not canceled receipts, oldest first; the cursor is the offset."""
        offset = int(cursor or 0)
        page = client.receipts(was_paid="true", was_shipped="false", was_canceled="false",
                               sort_on="created", sort_order="asc", limit=PAGE, offset=offset)
        results = list(page.get("results") or [])
        total = int(page.get("count") or 0)
        return ImportPage(orders=results, cursor=str(offset + len(results)),
                          finished=not results or offset + len(results) >= total, total=total)

    def map_order(self, client, order: dict):
        return from_receipt(check_receipt(order))

    def changed_orders(self, client: EtsyClient, *, since: datetime, max_pages: int):
        """Every receipt changed since `since` (new, paid, shipped, canceled), oldest
        change first."""
        offset = 0
        for _ in range(max_pages):
            page = client.receipts(min_last_modified=int(since.timestamp()),
                                   sort_on="updated", sort_order="asc", limit=PAGE,
                                   offset=offset)
            results = list(page.get("results") or [])
            yield from results
            offset += len(results)
            if not results or offset >= int(page.get("count") or 0):
                return

    def updated_at(self, order: dict) -> str:
        if not isinstance(order, dict):
            return ""
        return iso(order.get("updated_timestamp") or order.get("update_timestamp"))

    # --- webhooks (the app's one endpoint, integrations/webhooks.py etsy_webhook) ----------

    ORDER_EVENTS = frozenset({"order.paid", "order.canceled", "order.shipped",
                              "order.delivered"})

    def prefetch_delivery(self, connection, row):
        """An order event: read the receipt it names (Etsy sends only its URL), before the
        inbox row is locked. A thunk giving the receipt, or raising what the read raised."""
        if row.topic not in self.ORDER_EVENTS or not row.resource_id:
            return None
        client = None
        try:
            client = self.client(connection)
            receipt = client.receipt(row.resource_id)
        except Exception as exc:  # raised again inside the transaction, which records it
            error = exc

            def fail():
                raise error
            return fail
        finally:
            if client is not None:
                client.close()
        return lambda: receipt

    def handle_delivery(self, connection, row, payload, *, now, prefetched=None):
        if row.topic not in self.ORDER_EVENTS:
            return f"ignored: Etsy event {row.topic} is not used"
        if not row.resource_id:
            raise ValidationFailed(f"The {row.topic} event names no receipt (resource_url "
                                   f"{str(payload.get('resource_url'))[:120]!r}).")
        if prefetched is not None:
            receipt = prefetched()
        else:
            client = self.client(connection)
            try:
                receipt = client.receipt(row.resource_id)
            finally:
                client.close()
        try:
            return from_receipt(check_receipt(receipt))
        except UnreadableOrder as exc:
            raise ValidationFailed(f"Receipt {row.resource_id} could not be read: {exc}") \
                from None

    def push_handlers(self):
        return {OutboxKind.FULFILLMENT_CREATE: etsy.fulfillment_create}

    # Why each push Etsy does not take is refused (docs/etsy.md "What Etsy's API does not
    # offer"): the Shop Receipt operations of Open API v3 are getShopReceipt,
    # getShopReceipts, updateShopReceipt (was_shipped / was_paid) and
    # createReceiptShipment (developers.etsy.com/documentation/reference#tag/Shop-Receipt).
    WHY_NOT = {
        OutboxKind.ORDER_CANCEL: "Etsy's Open API v3 has no call to cancel a receipt: "
        "cancel it in your Etsy shop manager (PodHub sees the cancellation in its next "
        "read)",
        OutboxKind.REFUND_CREATE: "Etsy's Open API v3 has no call to refund a receipt: "
        "refund it in your Etsy shop manager",
        OutboxKind.ORDER_NOTE: "Etsy's Open API v3 has no call to add a note to a receipt",
        OutboxKind.ORDER_COMPLETE: "Etsy completes a receipt itself when its tracking is "
        "sent (createReceiptShipment)",
        OutboxKind.PRODUCT_CREATE: "PodHub does not publish Etsy listings",
        OutboxKind.WEBHOOKS_REGISTER: "Etsy's webhooks are registered for the whole app in "
        "Etsy's developer portal, not per shop by API (docs/etsy.md)",
    }

    def not_supported(self, kind: str) -> str:
        why = self.WHY_NOT.get(kind)
        base = super().not_supported(kind)
        return f"{base[:-1]}: {why}." if why else base


PLATFORM = Etsy()
