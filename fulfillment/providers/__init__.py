"""Provider adapters behind one interface (base.ProviderClient), found in the
registry (registry.py, built from settings.PODHUB_PROVIDERS).

`client_for(provider)` picks the adapter: the provider's ProviderConnection when
staff configured one, else the in-house board for `own` providers and the manual
flow for `manual` ones. An `api` provider without a connection cannot take orders
(routing skips it). A connection whose key the provider refused (its `problem`)
gets no client for orders or polls until staff save it again: the calls stop,
the submissions wait (and fall back after a while, as in an outage).
"""

from __future__ import annotations

import logging

from fulfillment.providers import registry
from fulfillment.providers.base import (
    CredentialsRejected,
    FactoryItem,
    FactoryOrder,
    ProviderClient,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUpdate,
    RemoteOrder,
    RemoteShipment,
)

__all__ = ["CredentialsRejected", "FactoryItem", "FactoryOrder", "ProviderClient",
           "ProviderError", "ProviderRefused", "ProviderUnavailable", "ProviderUpdate",
           "RemoteOrder", "RemoteShipment", "adapter_for", "client_for", "connection_for",
           "record_problem"]

log = logging.getLogger(__name__)

# Tests and benches may swap the HTTP transport of every client (httpx transport).
TRANSPORT = None

# fulfillment.models imports the registry (the adapter choices), so the models are
# imported where they are used, not here.


def connection_for(provider):
    from fulfillment.models import ProviderConnection

    try:
        return provider.connection
    except ProviderConnection.DoesNotExist:
        return None


def adapter_for(provider) -> str | None:
    from fulfillment.models import Adapter

    conn = connection_for(provider)
    if conn is not None:
        return conn.adapter if conn.is_enabled else None
    return {"own": Adapter.OWN, "manual": Adapter.MANUAL}.get(provider.kind)


def record_problem(connection_id: int, message: str) -> None:
    """The provider refused the connection's key: say so on the connection (once)."""
    from django.utils import timezone

    from fulfillment.models import ProviderConnection

    updated = ProviderConnection.objects.filter(pk=connection_id, problem="").update(
        problem=message[:255], problem_at=timezone.now())
    if updated:
        log.warning("provider connection %s: %s; no more calls until staff save it",
                    connection_id, message)


def clear_problems(connection_ids) -> int:
    """Staff: try these connections again (their problem cleared, calls go out again).
    How many had one."""
    from fulfillment.models import ProviderConnection

    return ProviderConnection.objects.filter(pk__in=list(connection_ids)).exclude(
        problem="").update(problem="", problem_at=None)


def _webhook_url(provider) -> str:
    from django.conf import settings
    from django.urls import reverse

    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
        "fulfillment:provider_webhook", args=[provider.code])


def client_for(provider=None, *, adapter: str | None = None,
               connection=None,
               for_webhooks: bool = False) -> ProviderClient:
    """The adapter's client with the connection's keys. `for_webhooks`: only to verify
    and read deliveries, which go on while a refused key waits for staff."""
    if provider is not None:
        connection = connection or connection_for(provider)
        adapter = adapter or adapter_for(provider)
    if not adapter:
        raise ProviderUnavailable(f"{provider}: no connection configured")
    try:
        cls = registry.get(adapter).client
    except LookupError as exc:
        raise ProviderUnavailable(f"{provider}: {exc}") from exc
    if connection is None:
        return cls(transport=TRANSPORT)
    if connection.problem and not for_webhooks:
        since = (f"since {connection.problem_at:%Y-%m-%d %H:%M} UTC; "
                 if connection.problem_at else "")
        raise CredentialsRejected(
            f"{connection.provider}: {connection.problem} ({since}staff: save a working key "
            "in admin → Provider connections)")
    client = cls(api_base=connection.api_base,
                 api_key=connection.api_key.reveal() if connection.api_key else "",
                 webhook_secret=connection.webhook_secret.reveal()
                 if connection.webhook_secret else "", transport=TRANSPORT)
    client.webhook_url = _webhook_url(connection.provider)
    connection_id = connection.pk
    client.credentials_rejected = lambda message: record_problem(connection_id, message)
    return client
