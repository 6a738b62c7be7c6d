"""What providers without an API share: the in-house factory (`own.py`: staff work
the orders on the production board in admin) and manual providers (`manual.py`:
the seller downloads the files, orders by hand and types the tracking in)."""

from __future__ import annotations

from fulfillment.providers.base import FactoryOrder, ProviderClient, RemoteOrder


class LocalClient(ProviderClient):
    remote = False

    def submit(self, order: FactoryOrder) -> RemoteOrder:
        return RemoteOrder(external_id=order.reference, reference=order.reference,
                           status="accepted")

    def lookup(self, reference: str) -> RemoteOrder | None:
        return None

    def cancel(self, external_id: str) -> None:
        return None

    def fetch_status(self, external_id: str) -> RemoteOrder:
        return RemoteOrder(external_id=external_id, reference=external_id, status="accepted")

    def verify_webhook(self, headers: dict, body: bytes) -> bool:
        return False  # nothing calls back: staff and sellers act in PodHub

    def parse_webhook(self, headers, body):
        return []
