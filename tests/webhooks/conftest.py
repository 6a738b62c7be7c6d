"""A real receiver on 127.0.0.1 that checks every request with the Standard Webhooks
reference verifier (`standardwebhooks.Webhook(secret).verify`), the way a seller's
system would; answers as the test says."""

import threading

import pytest
from django_scopes import scope
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orders.events import OrderEvents
from tests.factories import MembershipFactory, OrderFactory, UserFactory
from tests.stub_server import Answer, Received, StubServer
from webhooks import services


class Receiver(StubServer):
    """`secret`: what the seller's system holds; `answers`: statuses to give in turn
    (then 200); `retry_after`: the Retry-After it sends with a 429 or 503; `hold`: an
    Event the handler waits on before answering (a slow receiver, released by the
    test)."""

    def __init__(self):
        self.secret = ""
        self.answers: list[int] = []
        self.retry_after: str | None = None
        self.hold: threading.Event | None = None
        self.verified: list[dict] = []  # (webhook-id, payload) of each verified request
        self.refused: list[str] = []  # why verification failed
        super().__init__({"/hook": self._answer})

    def _answer(self, got: Received) -> Answer:
        try:
            payload = Webhook(self.secret).verify(got.body, got.headers)
            self.verified.append({"id": got.headers["webhook-id"], "payload": payload})
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
        if self.hold is not None:
            self.hold.wait(timeout=30)
        status = self.answers.pop(0) if self.answers else 200
        headers = ({"Retry-After": self.retry_after}
                   if self.retry_after and status in (429, 503) else {})
        return Answer(status, headers=headers,
                      body=b'{"ok": true}' if status < 300 else b"broken")

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def endpoint(owner, receiver):
    """An endpoint of the owner's workspace pointing at the receiver, which holds its
    secret; it wants every hold event."""
    with scope(workspace=owner.workspace):
        endpoint, secret = services.endpoint_create(
            workspace=owner.workspace, by=owner, url=receiver.hook_url,
            event_types=[OrderEvents.HELD_RULE, OrderEvents.PAID], description="ERP")
    receiver.secret = secret
    return endpoint


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(email="member@acme.test"),
                             role="member")


@pytest.fixture
def order(workspace):
    return OrderFactory(workspace=workspace, state="to_order", lines=2)
