"""A manual provider: the seller downloads the print files and the packing sheet,
orders by hand and types carrier + tracking into the order's fulfillment panel."""

from fulfillment.providers.local import LocalClient
from fulfillment.providers.registry import POLL_NEVER, ProviderSpec


class ManualClient(LocalClient):
    code = "manual"


PROVIDER = ProviderSpec(code="manual", label="Manual (files + tracking by hand)",
                        client=ManualClient, polling=POLL_NEVER)
