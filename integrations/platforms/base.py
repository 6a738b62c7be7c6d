"""The store-platform interface: what a kind of store must answer for the shared loops.

The generic services (integrations/services/) own every row and every loop: the import
job (claim, pages, counters, cursor, progress, errors), the reconciliation sweep, the
inbox and the outbox dispatch. A platform module only speaks its platform: it makes a
client, reads a page of orders, maps an order to what `apply_store_order` takes, checks
and reads a webhook delivery, and makes one push. Errors are the platform client's
own classes, sorted here into what the loops do with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from django.conf import settings
from django.urls import reverse

from integrations.models import OutboxKind, OutboxMessage, StoreConnection
from podhub.core import outbound
from podhub.core.exceptions import ValidationFailed

#: What a webhook delivery handled by a platform gives the inbox: either a finished
#: outcome ("ignored: …", "uninstalled", a privacy request's result), or the mapped
#: order (data, facts) that the inbox applies through `apply_store_order`.
Handled = str | tuple[dict, Any]

#: Which order event makes which push; a platform pushes the events whose outbox kind it
#: takes (integrations.services.outbox.order_event_handle).
EVENT_PUSHES = {
    "shipment.shipped": OutboxKind.FULFILLMENT_CREATE,
    "order.cancelled": OutboxKind.ORDER_CANCEL,
    "order.shipped": OutboxKind.ORDER_COMPLETE,  # the last parcel left
    "order.submitted": OutboxKind.ORDER_NOTE,  # an "in production" note
}


class NotSupported(Exception):
    """The platform has no such call (e.g. publishing a product to WooCommerce)."""


class NotYet(Exception):
    """A push that must wait for something else (not an attempt): tried again later."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class PartlyDone(Exception):
    """A push the store took only in part (WooCommerce's variations batch refusing some
    items): `result` is what it made, kept on the message and acted on as for a done
    push (a publish links what was made); the push fails with the store's reasons, and
    trying it again sends only what is missing (integrations/services/outbox.py)."""

    def __init__(self, message: str, *, result: dict):
        super().__init__(message)
        self.result = result


class UnreadableOrder(ValueError):
    """A raw store order PodHub cannot read at all (not a JSON object, no id): `map_order`
    raises it with the reason; the import and the sweep store it as a refused inbox row
    (sync health shows it) and go on with the rest (integrations/services/imports.py)."""


UNREADABLE_TOPIC = "unreadable_order"


class WebhookRefused(Exception):
    """A delivery to the store's webhook URL refused: the HTTP status, a code, the reason."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Delivery:
    """What a webhook delivery is, for the inbox row (integrations.services.inbox)."""

    event_id: str  # the dedup key: the same delivery sent twice is stored once
    topic: str
    resource_id: str = ""
    webhook_id: str = ""
    api_version: str = ""
    triggered_at: str = ""


@dataclass(frozen=True)
class ConnectField:
    """One thing a seller gives to connect a store of a platform (`connect_fields()`):
    the Stores page's form, the `connect_store` CLI's options and the connect API's body
    are all built from these. `secret` is never shown back (a password input, never
    echoed after an error); `url` is an address (checked by the outbound HTTP policy in
    `connect`)."""

    name: str  # the keyword `connect` takes, the form field, the CLI's --option
    label: str
    help: str = ""
    secret: bool = False
    url: bool = False
    required: bool = True
    max_length: int = 500
    placeholder: str = ""


#: Every connect form ends with this one: what the store is called in PodHub.
NAME_FIELD = ConnectField("name", "Name in PodHub", required=False, max_length=120)


@dataclass
class ImportPage:
    """One page of the initial import: the store's raw orders and where the next starts."""

    orders: list = field(default_factory=list)
    cursor: str = ""  # stored on the job: a resumed job starts after it
    finished: bool = True  # no page after this one
    total: int | None = None  # how many orders the import will see, when the store says


class StorePlatform:
    """One kind of store. Subclass it in one module and declare `PLATFORM = YourPlatform()`.

    `code` is stored on `Store.platform` and `StoreConnection.platform` (16 characters).
    The three error tuples sort the client's exceptions for every loop alike:
    `auth_errors` (the store refuses our credentials: an import job fails with the reason
    and the connection is flagged; a push waits for the seller to reconnect),
    `refused_errors` (the store refuses this call for good: a push fails, an import job
    fails), `errors` (anything else from the store, an outage: retried).
    """

    code: ClassVar[str]
    label: ClassVar[str]  # the seller's word for it: "Shopify"
    auth_errors: ClassVar[tuple[type[Exception], ...]] = ()
    refused_errors: ClassVar[tuple[type[Exception], ...]] = ()
    errors: ClassVar[tuple[type[Exception], ...]] = ()
    #: retries of one push's HTTP calls inside the client (the outbox retries later)
    push_retries: ClassVar[int] = 1
    #: the note an order submitted to production leaves in the store (ORDER_NOTE)
    in_production_note: ClassVar[str] = "In production: PodHub sent this order to be made."
    #: connected by the seller allowing PodHub in the platform (OAuth), not by pasting
    #: credentials: the connect form sends the browser to `authorize()`, the platform sends
    #: it back to /stores/connect/<code>/callback/, which calls `authorized()`
    authorizes: ClassVar[bool] = False
    #: a platform without webhooks is read by the poll sweep every this many seconds
    #: (integrations.services.imports.connections_to_poll); None: webhooks + the
    #: 10-minute reconciliation
    poll_seconds: int | None = None
    #: how far before the last sweep's newest change the next one reads again (None:
    #: integrations.conf.SWEEP_OVERLAP_SECONDS, 15 minutes); a platform polled every minute
    #: keeps it short, or each sweep re-reads a quarter of an hour of orders
    sweep_overlap_seconds: ClassVar[int | None] = None

    # --- connect ---------------------------------------------------------------------

    def connect_fields(self) -> list[ConnectField]:
        """What a seller gives to connect a store (`NAME_FIELD` is added after these)."""
        return []

    def operator_fields(self) -> list[ConnectField]:
        """What only the operator may give, on the `connect_store` CLI (e.g. where the
        store's API is, for a sandbox or a proxy); `connect` gets them with
        `by_operator=True`."""
        return []

    def connect_instructions(self) -> str:
        """Where the seller finds what `connect_fields` ask for (plain text)."""
        return ""

    def authorize(self, *, workspace, user) -> str:
        """`authorizes` platforms: the platform's consent URL for this member (a state
        nonce remembered); the seller's browser goes there."""
        raise NotSupported(f"{self.label} stores are not connected by OAuth.")

    def authorized(self, *, workspace, user, params: dict) -> StoreConnection:
        """The platform sent the seller back (the callback's query): check the state,
        exchange the code, connect. ValidationFailed with the reason otherwise."""
        raise NotSupported(f"{self.label} stores are not connected by OAuth.")

    def polled(self, connection: StoreConnection) -> bool:
        """Whether the poll sweep reads this connection now (False: no live credentials)."""
        return True

    def connect(self, *, workspace, name: str = "", start_import: bool = True,
                by_operator: bool = False, **credentials) -> StoreConnection:
        """Check the credentials against the store, then connect (or reconnect) it: the
        secrets encrypted, the store's webhooks registered where PodHub registers them,
        the initial import started. A refusal raises ValidationFailed naming the field
        (`field=`) with the store's reason, Conflict when the store is connected already;
        nothing is written then. `credentials` are the `connect_fields` (and, with
        `by_operator`, the `operator_fields`); integrations.services.connections
        `store_connect` is the one caller for sellers (the role check)."""
        raise NotSupported(f"{self.label} stores cannot be connected in PodHub.")

    # --- sandbox stores (the embedded default's "Try a sandbox store") ----------------

    def sandbox_connect(self, *, workspace, sandbox_url: str, name: str = "") -> StoreConnection:
        """Ask the platform's sandbox at `sandbox_url` (the operator's
        settings.PODHUB_SANDBOX_STORES) over HTTP for a new store of its own, then
        connect it through `connect`. NotSupported when the platform has no sandbox."""
        raise NotSupported(f"There is no sandbox {self.label} store.")

    def sandbox_order(self, connection: StoreConnection) -> str:
        """Ask the sandbox to create one order in this sandbox store (it arrives as a
        webhook, as a buyer's would); returns the store's order number."""
        raise NotSupported(f"There is no sandbox {self.label} store.")

    def disconnected(self, connection: StoreConnection) -> None:
        """The store was disconnected or uninstalled: forget what is cached about it."""

    def client(self, connection: StoreConnection, **kwargs):
        """A client bound to this one store (closed by the caller with `.close()`)."""
        raise NotImplementedError

    # --- orders in -------------------------------------------------------------------

    def import_page(self, client, *, cursor: str, count_total: bool) -> ImportPage:
        """The page of open, paid, unfulfilled orders after `cursor` ("" = the first)."""
        raise NotImplementedError

    def map_order(self, client, order) -> tuple[dict, Any]:
        """A raw store order -> (data for orders.services.order_import, StoreFacts)."""
        raise NotImplementedError

    def changed_orders(self, client, *, since: datetime, max_pages: int) -> Iterable:
        """Raw orders the store changed since `since` (the reconciliation sweep)."""
        raise NotImplementedError

    def updated_at(self, order) -> str:
        """When the store last changed a raw order (ISO 8601), for the sweep's high water."""
        raise NotImplementedError

    # --- the bulk import of large stores (integrations.services.bulk_imports) ---------
    #: the store can export the import's orders in one background operation and a file
    bulk_import: ClassVar[bool] = False
    #: error codes of a failed operation worth starting again
    bulk_retryable_codes: ClassVar[frozenset[str]] = frozenset()
    #: what reading the file raises when it is gone (expired)
    bulk_file_gone: ClassVar[tuple[type[Exception], ...]] = ()

    def import_count(self, client) -> int | None:
        """How many orders the import will read, as the store counts them."""
        return None

    def bulk_start(self, client):
        """Start the export: (its state, "") — or (None, why) when the store is busy with
        another operation of this app (asked again later)."""
        raise NotSupported(f"{self.label} has no bulk export.")

    def bulk_read(self, client, operation_id: str):
        """The operation's state (status, error code, object count, file URL), or None."""
        raise NotSupported(f"{self.label} has no bulk export.")

    def bulk_file(self, url: str, *, start: int):
        """The operation's file from byte `start`, as chunks of bytes."""
        raise NotSupported(f"{self.label} has no bulk export.")

    def bulk_orders(self, chunks, *, start: int):
        """The file's orders, in order, each with the byte offset just past it."""
        raise NotSupported(f"{self.label} has no bulk export.")

    def read_order(self, client, external_id: str):
        """One raw order read again from the store (None: the store has no such order)."""
        raise NotSupported(f"{self.label} cannot read one order.")

    # --- webhooks --------------------------------------------------------------------

    def verify_webhook(self, *, body: bytes, signature: str, secrets: list[str]) -> bool:
        """Is `signature` the store's signature of the raw `body` with one of `secrets`?"""
        raise NotImplementedError

    def check_webhook(self, connection: StoreConnection, *, headers, body: bytes) -> bool:
        """A delivery to the store's own URL, `/webhooks/<code>/<store id>/`
        (integrations/webhooks.py `store_webhook`), before its JSON is read: True when
        it is signed by the store (`verify_webhook`), False for an unsigned ping to
        acknowledge and not store; raise WebhookRefused otherwise."""
        raise WebhookRefused(404, "no_webhooks", f"{self.label} stores send no webhooks here.")

    def describe_webhook(self, connection: StoreConnection, *, headers, payload) -> Delivery:
        """The checked delivery's parsed JSON as an inbox row, or WebhookRefused (400)."""
        raise NotImplementedError

    def webhook_url(self, connection: StoreConnection) -> str:
        """Where the store sends its webhooks: the one door, /webhooks/<code>/<store id>/."""
        return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
            "integrations:store_webhook",
            kwargs={"platform": self.code, "store_id": connection.store_id})

    def handled_when_disconnected(self, topic: str) -> bool:
        """Topics processed even for a store that is no longer connected (privacy)."""
        return False

    def prefetch_delivery(self, connection: StoreConnection, row):
        """Read from the store what a delivery needs, before its row is locked (an HTTP
        call must not hold a transaction open): a thunk giving it to `handle_delivery`,
        or None."""
        return

    def handle_delivery(self, connection: StoreConnection, row, payload, *, now: datetime,
                        prefetched=None) -> Handled:
        """One stored delivery (`row.topic`, its parsed JSON `payload`)."""
        raise NotImplementedError

    # --- orders out (the outbox) -----------------------------------------------------

    def push_handlers(self) -> dict[str, Any]:
        """{OutboxKind: callable(client, connection, message) -> result dict}."""
        return {}

    def takes(self, kind: str) -> bool:
        return kind in self.push_handlers()

    def push(self, client, connection: StoreConnection, msg: OutboxMessage) -> dict:
        """Make one outbox message's call(s); the result is kept on the message."""
        handler = self.push_handlers().get(msg.kind)
        if handler is None:
            raise NotSupported(self.not_supported(msg.kind))
        return handler(client, connection, msg)

    def not_supported(self, kind: str) -> str:
        return f"{OutboxKind(kind).label} is not supported for {self.label} stores."

    def pushed_events(self) -> frozenset[str]:
        return frozenset(e for e, kind in EVENT_PUSHES.items() if self.takes(kind))



def sandbox_post(url: str, body: dict, *, what: str) -> dict:
    """One request to the operator's sandbox store (`sandbox_connect`, `sandbox_order`),
    through the outbound HTTP policy; a sandbox that is down or refuses is a clear error."""
    try:
        with outbound.client(timeout=10) as http:
            response = http.post(url, json=body)
        if response.status_code >= 300:
            raise ValidationFailed(f"The {what} sandbox refused ({response.status_code}).")
        return response.json()
    except (outbound.OutboundError, httpx.HTTPError, ValueError) as exc:
        raise ValidationFailed(f"The {what} sandbox did not answer ({exc}): is it running "
                               "(make run)?") from None
