"""A provider adapter that exists only for the registry's tests: all that adding a
provider takes is a module like this one and its line in settings.PODHUB_PROVIDERS."""

import hmac
import json

from fulfillment.providers.base import (
    WEBHOOK_TOKEN_HEADER,
    FactoryOrder,
    ProviderClient,
    ProviderUpdate,
    RemoteOrder,
    _header,
)
from fulfillment.providers.registry import POLL_ALWAYS, ProviderSpec

SENT: list[FactoryOrder] = []  # what "the provider" received
STATUS: dict[str, str] = {}  # external id -> what a poll reads


class EchoClient(ProviderClient):
    code = "echo"

    def submit(self, order: FactoryOrder) -> RemoteOrder:
        SENT.append(order)
        STATUS[f"E-{order.reference}"] = "accepted"
        return RemoteOrder(external_id=f"E-{order.reference}", reference=order.reference,
                           status="accepted")

    def lookup(self, reference: str) -> RemoteOrder | None:
        return None

    def fetch_status(self, external_id: str) -> RemoteOrder:
        return RemoteOrder(external_id=external_id, reference="",
                           status=STATUS.get(external_id, "accepted"))

    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        given = _header(headers, WEBHOOK_TOKEN_HEADER)
        return bool(given) and hmac.compare_digest(given, self.webhook_secret)

    def parse_webhook(self, headers: dict, body: bytes) -> list[ProviderUpdate]:
        event = json.loads(body)
        return [ProviderUpdate(event_key=event["id"], reference=event["reference"],
                               status=event["status"])]


PROVIDER = ProviderSpec(code="echo", label="Echo (tests)", client=EchoClient,
                        polling=POLL_ALWAYS, key_help="Anything.", sku_help="Anything.")
