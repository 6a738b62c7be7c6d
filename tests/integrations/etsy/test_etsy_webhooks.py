"""Etsy webhooks beyond the first delivery: the signing secret rotated without losing a
delivery, and Etsy's retries of a delivery PodHub did not acknowledge (docs/etsy.md,
"Webhooks").

Published material used as published, with its source:
- Standard Webhooks' test vector (the signing scheme Etsy's webhooks page names): secret
  `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp
  1614265330, body `{"test": 2432232314}`, signature
  `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=` (github.com/standard-webhooks/
  standard-webhooks, libraries/python/tests/test_webhooks.py, `test_sign_function`);
- Etsy's order.paid example, flat form (developers.etsy.com/documentation/essentials/
  webhooks and github.com/etsy/open-api discussion #1564), its placeholders filled in;
- Etsy's retry schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
  (the same webhooks page, as restated by the AsyncAPI description at
  apis.io/apis/etsy/webhooks).
"""

import base64
import json
import time

import pytest
import time_machine
from django_scopes import scope

from integrations.etsy.webhooks import sign, verify
from integrations.models import InboundWebhook, InboxStatus
from integrations.services.imports import reconcile_store
from integrations.services.inbox import inbox_drain
from orders.models import Order
from sandboxes.etsy.shop import RETRY_DELAYS

pytestmark = pytest.mark.django_db

OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks vector's secret
NEW = "whsec_" + base64.b64encode(b"podhub-rotated-etsy-secret-2026").decode()


def _order_paid(shop_id: int, receipt_id: int = 54321) -> bytes:
    return json.dumps({"event_type": "order.paid", "shop_id": shop_id,
                       "resource_url": "https://openapi.etsy.com/v3/application/shops/"
                                       f"{shop_id}/receipts/{receipt_id}"}).encode()


def _headers(body: bytes, *secrets: str, webhook_id: str) -> dict:
    stamp = str(int(time.time()))
    return {"webhook-id": webhook_id, "webhook-timestamp": stamp,
            "webhook-signature": " ".join(sign(s, webhook_id, stamp, body) for s in secrets)}


def test_the_standard_webhooks_vector_verifies_and_only_v1_entries_count():
    body = b'{"test": 2432232314}'
    published = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(OLD, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body) == published
    args = {"webhook_id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": "1614265330",
            "body": body, "now": 1614265330}
    # during a rotation the header carries several entries, space separated
    assert verify(secrets=[NEW, OLD], signature=f"v1,bm9wZQ== {published}", **args) == ""
    # an entry of another version is not a v1 signature, even with the right bytes
    assert verify(secrets=[OLD], signature="v2," + published[3:], **args) != ""


def test_a_secret_is_rotated_without_losing_a_delivery(etsy_shop, workspace, settings,
                                                       client):
    """The operator lists the new secret beside the old one (ETSY_WEBHOOK_SECRET="new,old"),
    rotates it in Etsy's portal, and removes the old one later: a delivery signed with the
    old secret is accepted while both are listed, and refused (401) once it is removed."""
    shop = int(etsy_shop.shop_domain)

    def post(body, headers):
        return client.post("/webhooks/etsy/", data=body, content_type="application/json",
                           headers=headers)

    settings.ETSY_WEBHOOK_SECRET = OLD
    before = _order_paid(shop, 1)
    assert post(before, _headers(before, OLD, webhook_id="msg_before")).status_code == 200

    # the rotation: both listed (commas, with or without spaces)
    settings.ETSY_WEBHOOK_SECRET = f"{NEW}, {OLD}"
    during_old, during_new, during_both = (_order_paid(shop, n) for n in (2, 3, 4))
    assert post(during_old, _headers(during_old, OLD, webhook_id="msg_old")).status_code == 200
    assert post(during_new, _headers(during_new, NEW, webhook_id="msg_new")).status_code == 200
    assert post(during_both, _headers(during_both, NEW, OLD, webhook_id="msg_both")
                ).status_code == 200

    # the old secret removed: what it signs is refused, what the new one signs is not
    settings.ETSY_WEBHOOK_SECRET = NEW
    late = _order_paid(shop, 5)
    refused = post(late, _headers(late, OLD, webhook_id="msg_late_old"))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the signature does not match"
    assert post(late, _headers(late, NEW, webhook_id="msg_late_new")).status_code == 200

    with scope(workspace=workspace):
        stored = sorted(InboundWebhook.objects.filter(connection=etsy_shop)
                        .values_list("resource_id", flat=True))
    assert stored == ["1", "2", "3", "4", "5"]  # every accepted delivery kept, once


# --- the sandbox retries as Etsy does ------------------------------------------------------


def test_the_sandbox_retries_on_etsys_schedule_with_the_same_webhook_id(etsy_sandbox):
    """Failures are retried at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the previous
    attempt; each attempt is signed afresh (its own timestamp) and keeps the webhook-id;
    after the eighth attempt the delivery is given up."""
    sandbox = etsy_sandbox.sandbox
    now = [1_800_000_000.0]
    sandbox.clock = lambda: now[0]
    attempts = []

    def down(url, body, headers):
        attempts.append((now[0], dict(headers)))
        return 503

    sandbox.sender = down
    sandbox.subscribe(url="http://podhub.test/webhooks/etsy/", secret=OLD)
    shop = sandbox.new_shop(name="RetryShop")
    receipt = sandbox.new_receipt(shop.shop_id)
    assert len(attempts) == 1  # "delivered immediately"
    for delay in RETRY_DELAYS:
        now[0] += delay - 1
        assert sandbox.deliver_due() == 0  # not yet due
        now[0] += 1
        assert sandbox.deliver_due() == 1
    assert RETRY_DELAYS == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert len(attempts) == 8
    assert {h["webhook-id"] for _, h in attempts} == {attempts[0][1]["webhook-id"]}
    assert [int(h["webhook-timestamp"]) for _, h in attempts] == [int(t) for t, _ in attempts]
    now[0] += 10 * 86400
    assert sandbox.deliver_due() == 0 and sandbox.pending() == []
    assert [s["status"] for s in sandbox.sent] == [503] * 8
    assert sandbox.sent[-1] == {"event_type": "order.paid", "receipt_id": receipt["receipt_id"],
                                "attempt": 8, "status": 503, "failed": True}


def _door(client, answers: list):
    """A sender posting to PodHub's door in this test's transaction; `answers` says, per
    attempt, what the network does: "down" (never reaches PodHub), "lost" (reaches PodHub,
    the answer is lost), "ok"."""
    def send(url, body, headers):
        what = answers.pop(0) if answers else "ok"
        if what == "down":
            raise ConnectionError("connection refused")
        response = client.post("/webhooks/etsy/", data=body, content_type="application/json",
                               headers={k: v for k, v in headers.items()
                                        if k != "Content-Type"})
        if what == "lost":
            raise TimeoutError("read timed out")
        return response.status_code
    return send


@pytest.mark.parametrize("first", ["down", "lost"])
def test_after_a_failed_first_delivery_podhub_holds_the_receipt_once(
        first, etsy_sandbox, etsy_shop, workspace, settings, client,
        django_capture_on_commit_callbacks):
    """The first delivery fails (PodHub unreachable, or its answer lost); Etsy's retry 5 s
    later is accepted; the poll sweep reads the same receipt too: one order."""
    sandbox = etsy_sandbox.sandbox
    start = time.time()
    now = [start]
    sandbox.clock = lambda: now[0]
    sandbox.sender = _door(client, [first])
    sandbox.subscribe(url="http://podhub.test/webhooks/etsy/",
                      secret=settings.ETSY_WEBHOOK_SECRET)
    receipt = sandbox.new_receipt(int(etsy_shop.shop_domain), {"personalization": "Ana"})
    assert [s["status"] for s in sandbox.sent] == [0]
    with scope(workspace=workspace):
        stored = InboundWebhook.objects.filter(connection=etsy_shop).count()
    assert stored == (1 if first == "lost" else 0)

    now[0] += 5
    with time_machine.travel(now[0], tick=False):  # PodHub's clock agrees with Etsy's
        assert sandbox.deliver_due() == 1
    assert [(s["attempt"], s["status"]) for s in sandbox.sent] == [(1, 0), (2, 200)]
    assert sandbox.pending() == []
    with scope(workspace=workspace):
        [row] = InboundWebhook.objects.filter(connection=etsy_shop)
        with django_capture_on_commit_callbacks(execute=True):
            inbox_drain(connection_id=etsy_shop.pk)
        row.refresh_from_db()
        assert row.status == InboxStatus.PROCESSED, row.error
        reconcile_store(connection_id=etsy_shop.pk)  # the sweep reads it again: unchanged
        orders = list(Order.objects.filter(external_id=str(receipt["receipt_id"])))
    assert len(orders) == 1
    with scope(workspace=workspace):
        assert orders[0].line_items.get().personalization[0]["value"] == "Ana"


def test_waiting_deliveries_are_seen_and_sent_over_the_control_api_and_survive_a_restart(
        etsy_sandbox):
    """GET /_sandbox/webhooks lists what waits; POST /_sandbox/webhooks/deliver makes the
    attempts due; a restarted sandbox (its snapshot) keeps the waiting deliveries and never
    reuses a webhook-id (PodHub would take a new event for a retry of an old one)."""
    from sandboxes.etsy.shop import EtsySandbox
    from tests.integrations.etsy.conftest import control

    sandbox = etsy_sandbox.sandbox
    now = [1_800_000_000.0]
    sandbox.clock = lambda: now[0]
    answers = [503]
    sandbox.sender = lambda url, body, headers: answers.pop(0) if answers else 204
    control(etsy_sandbox, "webhooks", {"url": "http://podhub.test/webhooks/etsy/",
                                       "secret": OLD})
    shop = sandbox.new_shop(name="ControlShop")
    sandbox.new_receipt(shop.shop_id)
    [waiting] = control(etsy_sandbox, "webhooks", method="GET")["pending"]
    assert (waiting["attempts"], waiting["due"]) == (1, now[0] + 5)

    restarted = EtsySandbox(clock=lambda: now[0])
    restarted.restore(json.loads(json.dumps(sandbox.snapshot())))
    assert [d["webhook_id"] for d in restarted.pending()] == [waiting["webhook_id"]]
    restarted.subscribe(url="http://podhub.test/webhooks/etsy/", secret=OLD)
    ids = []
    restarted.sender = lambda url, body, headers: ids.append(headers["webhook-id"]) or 200
    restarted.new_receipt(shop.shop_id)
    assert restarted.sent[-1]["status"] == 200
    assert ids and ids[0] != waiting["webhook_id"]  # a new event, a new id
    assert restarted.pending()[0]["webhook_id"] == waiting["webhook_id"]  # not yet due

    now[0] += 5
    assert control(etsy_sandbox, "webhooks/deliver") == {"made": 1}
    assert control(etsy_sandbox, "webhooks", method="GET")["pending"] == []
    assert [(s["attempt"], s["status"]) for s in sandbox.sent] == [(1, 503), (2, 204)]
