"""The one provider interface every factory implements.

PodHub hands a provider a `FactoryOrder` (our reference is the idempotency key
and the provider's external id for the order) and reads back `RemoteOrder`s
and `ProviderUpdate`s. Errors say what to do next:

- ProviderUnavailable: down, 5xx, timeout, 429 -> try again later (or fall back
  after a while);
- ProviderRefused: the provider will never take this order (4xx, unknown
  product, destination not served) -> fall back to the next provider now;
- CredentialsRejected (both at once): the provider refused our key (401/403).
  Not this order's fault, so the send waits like an outage (and falls back after
  a while); the connection records the problem (staff see it in admin →
  Provider connections) and no more calls go out until staff save a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from decimal import Decimal

# Shared-token header for providers that do not sign webhooks (Gelato); the
# provider webhook view also accepts it as `?token=` in the URL.
WEBHOOK_TOKEN_HEADER = "X-PodHub-Webhook-Token"


class ProviderError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProviderUnavailable(ProviderError):
    """Down, slow or overloaded: retry later (not before `retry_after` seconds
    when the provider said so: Retry-After / X-Ratelimit-Reset)."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRefused(ProviderError):
    """The provider will not make this order: route it elsewhere."""


class CredentialsRejected(ProviderUnavailable, ProviderRefused):
    """The provider refused our credentials (revoked, read-only, wrong shop). It is a
    ProviderUnavailable first (submission.py waits and falls back as for an outage:
    nothing is lost) and a ProviderRefused for callers asking "did it refuse?"."""


@dataclass(frozen=True)
class FactoryItem:
    line_item_id: int
    sku: str  # the provider's SKU
    quantity: int
    files: list[dict] = field(default_factory=list)  # [{"side", "url"}]
    title: str = ""
    #: the buyer's personalisation as entered ({"Name": "Ana"}), for providers that take
    #: line properties (ShineOn's engravings)
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FactoryOrder:
    reference: str  # our id: idempotency key, the provider's external_id
    recipient: dict  # PodHub's address dict (name, address1, city, zip, country_code, ...)
    items: list[FactoryItem]
    shipping_method: str = "standard"
    order_number: str = ""


@dataclass(frozen=True)
class RemoteShipment:
    external_id: str
    status: str  # shipped | in_transit | delivered
    carrier: str = ""
    number: str = ""
    url: str = ""
    line_item_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SkuShipment(RemoteShipment):
    """A parcel whose provider names the SKUs in it, not our line items (CustomCat,
    Printify): `shipments.apply_update` maps them back to the submission's lines
    (each compared through the client's `sku_key`)."""

    skus: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RemoteOrder:
    external_id: str  # the provider's id for the order
    reference: str  # ours
    status: str  # accepted | in_production | shipped | delivered | cancelled | rejected
    shipments: list[RemoteShipment] = field(default_factory=list)


@dataclass(frozen=True)
class ProviderUpdate:
    """One fact from a webhook or a poll, keyed so a replay is recognised."""

    event_key: str
    reference: str
    # accepted | in_production | shipped | in_transit | delivered | cancelled | rejected
    status: str
    external_id: str = ""
    shipment: RemoteShipment | None = None
    message: str = ""


@dataclass(frozen=True)
class ShippingOption:
    code: str
    name: str
    amount: Decimal
    currency: str = "USD"


class ProviderClient:
    """Base class; adapters override what their provider supports."""

    code = ""
    #: True when the provider takes the order by API (the sweep sends it)
    remote = True
    #: an httpx.Client shared by many calls (kept-alive connections, see `shared_http`);
    #: None: `_call` opens a client per call
    http = None
    #: our webhook endpoint for this connection (`client_for` sets it), for providers
    #: told per order where to call back (ShineOn's shipment_notification_url)
    webhook_url = ""
    #: the submission statuses (ours: accepted, in_production, ...) in which the provider
    #: documents that an order can still be cancelled by API; each adapter cites its
    #: provider's words. Empty: PodHub never offers "Cancel at <provider>" (the default).
    cancellable: frozenset[str] = frozenset()
    #: the provider takes an order on hold and lets us change or cancel it until we
    #: release it: fulfillment/holds.py sends such an order on hold when its submit
    #: countdown starts, applies buyer changes to it, and the submission at the
    #: countdown's end (under the hold's reference) releases it. Such a client
    #: implements `hold_order` and `cancel_hold`, and its `submit` releases an order
    #: it finds held under the reference (after sending the order as it is then).
    holds_during_countdown = False

    def __init__(self, *, api_base: str = "", api_key: str = "", webhook_secret: str = "",
                 timeout: float = 10.0, transport=None):
        self.api_base = api_base.rstrip("/")
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.timeout = timeout
        self.transport = transport

    # --- orders ---------------------------------------------------------------
    def submit(self, order: FactoryOrder) -> RemoteOrder:
        raise NotImplementedError

    def lookup(self, reference: str) -> RemoteOrder | None:
        """The order we sent under `reference`, or None if the provider never got it."""
        raise NotImplementedError

    def cancel(self, external_id: str) -> None:
        """Stop the order at the provider; ProviderRefused when it is too late (the
        provider's reason in the message)."""
        raise NotImplementedError

    @classmethod
    def can_cancel(cls, status: str) -> bool:
        """Does the provider take a cancel of an order in this submission status?
        (fulfillment/provider_cancel.py offers it only then; the provider may still
        refuse when our status is behind its own.)"""
        return status in cls.cancellable

    def fetch_status(self, external_id: str) -> RemoteOrder:
        raise NotImplementedError

    def hold_order(self, order: FactoryOrder) -> RemoteOrder:
        """Create `order` on hold, or replace the held order made under its reference
        (idempotent: looked up by reference first). ProviderRefused once the provider
        no longer takes changes."""
        raise NotImplementedError

    def cancel_hold(self, reference: str, external_id: str = "") -> bool:
        """Cancel the held order made under `reference` (found by reference when
        `external_id` is unknown); False when the provider never got it."""
        raise NotImplementedError

    def shipping_methods(self, country: str) -> list[ShippingOption]:
        return [ShippingOption("standard", "Standard", Decimal("0"))]

    # --- webhooks -------------------------------------------------------------
    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        """Hex HMAC-SHA256 of the raw body with the webhook secret (Printful v2 style)."""
        secret = self.webhook_secret
        given = _header(headers, "X-PodHub-Signature") or _header(headers, "X-PF-Signature")
        if not secret or not given:
            return False
        given = given.removeprefix("sha256=")
        return hmac.compare_digest(sign(body, secret), given)

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        raise NotImplementedError

    def complete_update(self, update: ProviderUpdate) -> ProviderUpdate:
        """Called when a stored webhook is applied (after it was stored; again by the
        sweep if that failed), never while verifying it: a provider whose event names
        its own item SKUs reads the order to translate them (Printify). May raise
        ProviderUnavailable: the stored row is retried."""
        return update

    @staticmethod
    def sku_key(provider_sku: str) -> str:
        """What a parcel's `skus` are compared with, for one of our provider SKUs."""
        return provider_sku

    def credentials_rejected(self, message: str) -> None:
        """The provider refused our key; `client_for` makes this record it on the
        connection (so staff see it and no more calls go out)."""

    # --- helpers --------------------------------------------------------------
    def _http(self):
        import httpx

        return httpx.Client(base_url=self.api_base, timeout=self.timeout,
                            follow_redirects=False, transport=self.transport)

    def _call(self, method: str, path: str, **kwargs):
        """One HTTP call; maps transport errors and status codes to our errors."""
        import httpx

        try:
            if self.http is not None:
                response = self.http.request(method, f"{self.api_base}{path}",
                                             timeout=self.timeout, **kwargs)
            else:
                with self._http() as http:
                    response = http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.code}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"{self.code}: HTTP {response.status_code}",
                                      retry_after=retry_after(response))
        return response


_shared: dict[tuple[int, int], object] = {}
_shared_lock = threading.Lock()


def shared_http(transport=None):
    """One httpx.Client per process (and transport) for provider calls: connections are
    kept alive across calls and the client's set-up (~25 ms: its TLS context) is paid
    once. Created again after a fork (Celery's prefork children)."""
    import httpx

    key = (os.getpid(), id(transport))
    with _shared_lock:
        client = _shared.get(key)
        if client is None:
            if any(pid != key[0] for pid, _ in _shared):
                _shared.clear()  # inherited from the parent: never use its sockets
            client = httpx.Client(follow_redirects=False, transport=transport,
                                  limits=httpx.Limits(max_connections=64,
                                                      max_keepalive_connections=16))
            _shared[key] = client
        return client


def retry_after(response) -> int | None:
    """Seconds the provider asks us to wait (Retry-After, X-Ratelimit-Reset), if it says."""
    for name in ("Retry-After", "X-Ratelimit-Reset"):
        value = response.headers.get(name)
        if value:
            try:
                return max(0, int(float(value)))
            except ValueError:
                continue
    return None


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _header(headers: dict, name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


STATUS_RANK = {"accepted": 1, "in_production": 2, "shipped": 3, "in_transit": 4,
               "delivered": 5}
