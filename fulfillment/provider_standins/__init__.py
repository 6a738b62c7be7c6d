"""Local stand-ins for Printful (v2), CustomCat and Gelato (v4): small threaded
HTTP servers that follow each provider's documented API closely enough for the
clients in fulfillment/providers/public.py to be tested over real HTTP and for
staff to try a connection (`manage.py run_provider_standin`)."""

from __future__ import annotations


def standin_class(provider: str):
    from fulfillment.provider_standins.customcat import CustomCatStandIn
    from fulfillment.provider_standins.gelato import GelatoStandIn
    from fulfillment.provider_standins.printful import PrintfulStandIn

    return {"printful": PrintfulStandIn, "customcat": CustomCatStandIn,
            "gelato": GelatoStandIn}[provider]
