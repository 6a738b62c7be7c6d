"""The in-house factory: staff work its orders on the production board (admin →
Submissions, filter "In-house factory"); nothing is sent, nothing calls back."""

from fulfillment.providers.local import LocalClient
from fulfillment.providers.registry import POLL_NEVER, ProviderSpec


class OwnFactoryClient(LocalClient):
    code = "own"


PROVIDER = ProviderSpec(code="own", label="In-house factory (production board)",
                        client=OwnFactoryClient, polling=POLL_NEVER)
