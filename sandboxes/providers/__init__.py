"""Local stand-ins for the public providers (Printful v2, CustomCat, Gelato v4,
ShineOn, Printify): small threaded HTTP servers that follow each provider's
documented API closely enough for its client (fulfillment/providers/<code>.py) to
be tested over real HTTP and for staff to try a connection
(`manage.py run_provider_standin`). Each provider's registry entry names its
stand-in (`ProviderSpec.standin`)."""

from __future__ import annotations


def standin_class(provider: str):
    from fulfillment.providers import registry

    return registry.get(provider).standin_class()
