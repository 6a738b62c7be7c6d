"""Provider adapters behind one interface (base.ProviderClient).

`client_for(provider)` picks the adapter: the provider's ProviderConnection
when staff configured one, else the in-house board for `own` providers and the
manual flow for `manual` ones. An `api` provider without a connection cannot
take orders (routing skips it).
"""

from __future__ import annotations

from fulfillment.models import Adapter, ProviderConnection
from fulfillment.providers.base import (
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

__all__ = ["FactoryItem", "FactoryOrder", "ProviderClient", "ProviderError", "ProviderRefused",
           "ProviderUnavailable", "ProviderUpdate", "RemoteOrder", "RemoteShipment",
           "adapter_for", "client_for", "connection_for"]

# Tests and benches may swap the HTTP transport of every client (httpx transport).
TRANSPORT = None


def _classes() -> dict[str, type[ProviderClient]]:
    from fulfillment.providers.local import ManualClient, OwnFactoryClient
    from fulfillment.providers.sandbox import SandboxFactoryClient

    classes: dict[str, type[ProviderClient]] = {
        Adapter.OWN: OwnFactoryClient, Adapter.MANUAL: ManualClient,
        Adapter.SANDBOX: SandboxFactoryClient,
    }
    try:
        from fulfillment.providers.public import CustomCatClient, GelatoClient, PrintfulClient
    except ImportError:  # pragma: no cover - the public clients are optional
        return classes
    classes.update({Adapter.PRINTFUL: PrintfulClient, Adapter.CUSTOMCAT: CustomCatClient,
                    Adapter.GELATO: GelatoClient})
    return classes


def connection_for(provider) -> ProviderConnection | None:
    try:
        return provider.connection
    except ProviderConnection.DoesNotExist:
        return None


def adapter_for(provider) -> str | None:
    conn = connection_for(provider)
    if conn is not None:
        return conn.adapter if conn.is_enabled else None
    return {"own": Adapter.OWN, "manual": Adapter.MANUAL}.get(provider.kind)


def client_for(provider=None, *, adapter: str | None = None,
               connection: ProviderConnection | None = None) -> ProviderClient:
    if provider is not None:
        connection = connection or connection_for(provider)
        adapter = adapter or adapter_for(provider)
    if not adapter:
        raise ProviderUnavailable(f"{provider}: no connection configured")
    cls = _classes()[adapter]
    if connection is None:
        return cls(transport=TRANSPORT)
    return cls(api_base=connection.api_base, api_key=connection.api_key.reveal()
               if connection.api_key else "",
               webhook_secret=connection.webhook_secret.reveal()
               if connection.webhook_secret else "", transport=TRANSPORT)
