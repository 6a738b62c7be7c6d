"""The provider registry: every adapter PodHub can talk to, built from settings.

Each adapter is one module that declares itself with a module-level `PROVIDER =
ProviderSpec(...)` (its code, its label for staff, its client class, how it is
polled, its local stand-in); `settings.PODHUB_PROVIDERS` lists the modules, one
line each. Everything that needs to know the adapters asks here: the adapter
choices of `ProviderConnection` / `Submission`, `client_for`, the provider
webhook endpoint, the poll sweep, the admin's help texts and
`manage.py run_provider_standin`. Adding a provider is one new module and one
line in that list (docs/architecture.md, "Adding a provider").
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How a provider's open orders are polled (fulfillment/polling.py):
POLL_ALWAYS = "always"  # no (trustworthy) webhooks: every FULFILLMENT_POLL_MINUTES
POLL_SAFETY_NET = "safety_net"  # webhooks first; polled after FULFILLMENT_POLL_SAFETY_NET_HOURS
POLL_NEVER = "never"  # nothing to ask (the in-house board, manual providers)


@dataclass(frozen=True)
class ProviderSpec:
    code: str  # stored on ProviderConnection.adapter and Submission.adapter (16 chars)
    label: str  # what staff pick in the admin
    client: type  # a fulfillment.providers.base.ProviderClient subclass
    polling: str = POLL_SAFETY_NET
    #: "module:Class" of the protocol-faithful local stand-in (sandboxes/providers)
    standin: str = ""
    standin_port: int = 0
    #: whether the stand-in (and the provider) call a fixed webhook URL (else: none, or a
    #: URL of ours sent with each order, as ShineOn's shipment_notification_url)
    standin_callback: bool = True
    #: staff help in the connection form: the key, the webhook secret, the provider SKU
    key_help: str = ""
    secret_help: str = ""
    sku_help: str = ""
    #: a provider SKU the demo (`run_provider_standin --route-product`) maps variants to
    demo_sku: str = ""

    @property
    def remote(self) -> bool:
        return self.client.remote

    def standin_class(self):
        if not self.standin:
            raise LookupError(f"{self.code} has no local stand-in")
        module, _, name = self.standin.partition(":")
        return getattr(importlib.import_module(module), name)


def _paths() -> tuple[str, ...]:
    paths = getattr(settings, "PODHUB_PROVIDERS", None)
    if not paths:
        raise ImproperlyConfigured("settings.PODHUB_PROVIDERS lists no provider module "
                                   "(podhub/settings/base.py has the built-in ones)")
    return tuple(paths)


@functools.lru_cache(maxsize=8)
def _load(paths: tuple[str, ...]) -> dict[str, ProviderSpec]:
    found: dict[str, ProviderSpec] = {}
    for path in paths:
        try:
            spec = importlib.import_module(path).PROVIDER
        except (ImportError, AttributeError) as exc:
            raise ImproperlyConfigured(
                f"PODHUB_PROVIDERS: {path!r} is not a provider module with a PROVIDER "
                f"declaration ({exc})") from exc
        if spec.code in found:
            raise ImproperlyConfigured(f"PODHUB_PROVIDERS: two modules declare {spec.code!r}")
        if len(spec.code) > 16:
            raise ImproperlyConfigured(f"provider code {spec.code!r} is longer than 16")
        found[spec.code] = spec
    return found


def providers() -> dict[str, ProviderSpec]:
    """Every registered adapter, by code, in the settings' order."""
    return _load(_paths())


def get(code: str) -> ProviderSpec:
    try:
        return providers()[code]
    except KeyError:
        raise LookupError(f"no provider adapter {code!r} is registered "
                          "(settings.PODHUB_PROVIDERS)") from None


def adapter_choices() -> list[tuple[str, str]]:
    """The model fields' choices (a callable: migrations keep the reference, not the list)."""
    return [(spec.code, spec.label) for spec in providers().values()]


def with_standins() -> dict[str, ProviderSpec]:
    return {code: spec for code, spec in providers().items() if spec.standin}


__all__ = ["POLL_ALWAYS", "POLL_NEVER", "POLL_SAFETY_NET", "ProviderSpec",
           "adapter_choices", "get", "providers", "with_standins"]
