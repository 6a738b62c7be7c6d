"""Issue 13, finding 2: a looping auto-recharge configuration charged a saved card 36
times in about 90 s in the Stripe sandbox.

Driven through the real code — the Balance page's form, the ledger's doorbell, the
Celery task, the beat sweep and the Stripe webhook — against the Stripe sandbox over
HTTP. Whatever the configuration and however often or concurrently the recharge is
rung, one need for money is one charge of the card (docs/security.md "Money actions
and caps", docs/billing.md "Limits").
"""

import threading
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_scopes import scope

from billing import ledger, topups
from billing.models import EntryKind, PaymentProfile, TopUp, TopUpKind, TopUpStatus
from billing.tasks import auto_recharge_task, billing_sweep_task
from tests.billing.helpers import balance_of, deliver, sandbox_submit

D = Decimal


@pytest.fixture
def seller(owner, client_for):
    return client_for(owner)


@pytest.fixture
def sandbox(stripe_sandbox):
    return stripe_sandbox


@pytest.fixture
def stripe_delivers(client, sandbox, celery_eager, django_capture_on_commit_callbacks):
    """Deliver each sandbox event not delivered yet to /webhooks/stripe/, as Stripe does,
    and run what the delivery queues (tasks run in-process, after commit)."""
    delivered: set[str] = set()

    def run() -> int:
        count = 0
        for event in list(sandbox.events):
            if event["id"] in delivered:
                continue
            delivered.add(event["id"])
            with django_capture_on_commit_callbacks(execute=True):
                assert deliver(client, sandbox, event["id"]).status_code == 200
            count += 1
        return count

    return run


def card_charges(sandbox) -> list[dict]:
    """Every PaymentIntent the sandbox created: each one is a charge of the card."""
    with sandbox._lock:
        return [o for o in sandbox.objects.values() if o.get("object") == "payment_intent"]


def save_card(seller, sandbox, stripe_delivers) -> None:
    resp = seller.post("/balance/card/")
    assert resp.status_code == 302
    status, _ = sandbox_submit(resp["Location"], card_number="4242 4242 4242 4242",
                               action="pay")
    assert status == 303
    stripe_delivers()


def configure(seller, threshold: str, amount: str, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return seller.post("/balance/auto-recharge/",
                           {"enabled": "on", "threshold": threshold, "amount": amount})


@pytest.mark.django_db
@pytest.mark.parametrize(("threshold", "amount"), [("1000", "50"), ("50", "50")])
def test_a_threshold_a_recharge_cannot_lift_available_above_is_refused(
        workspace, seller, sandbox, stripe_delivers, django_capture_on_commit_callbacks,
        threshold, amount):
    # given a saved card and an empty balance
    save_card(seller, sandbox, stripe_delivers)
    # when the owner asks to recharge 50 whenever available is below 1000 (or 50), and
    # Stripe then delivers whatever happens, round after round
    resp = configure(seller, threshold, amount, django_capture_on_commit_callbacks)
    for _ in range(10):
        if not stripe_delivers():
            break
    # then the card was never charged, and the settings are refused with the reason
    assert len(card_charges(sandbox)) == 0
    assert resp.status_code == 302
    page = seller.get("/balance/").content.decode()
    assert "Set the threshold below the recharge amount" in page
    assert balance_of(workspace) == (0, 0)
    with scope(workspace=workspace):
        assert PaymentProfile.objects.get().auto_recharge is False


@pytest.mark.django_db
def test_repeated_triggers_while_the_charge_is_unsettled_charge_once(
        workspace, seller, sandbox, stripe_delivers, django_capture_on_commit_callbacks):
    # given auto-recharge of 50 below 20, and 30 on the balance
    save_card(seller, sandbox, stripe_delivers)
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.ADJUSTMENT, amount=D("30.00"),
                      key="seed")
    assert configure(seller, "20", "50", django_capture_on_commit_callbacks).status_code == 302
    assert card_charges(sandbox) == []
    # when holds take available below 20, again and again, and the beat sweep runs,
    # while Stripe has not yet confirmed the first charge
    with scope(workspace=workspace):
        for i in range(6):
            with django_capture_on_commit_callbacks(execute=True):
                ledger.hold_place(workspace_id=workspace.pk, amount=D("2.50"), key=f"h{i}")
            billing_sweep_task()
    # then the card was charged once, and nothing new starts while it is unsettled
    assert len(card_charges(sandbox)) == 1
    with scope(workspace=workspace):
        assert TopUp.objects.get(kind=TopUpKind.AUTO_RECHARGE).status == TopUpStatus.PENDING
    # when Stripe confirms it (and redelivers), and more triggers come
    stripe_delivers()
    with scope(workspace=workspace):
        for i in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                ledger.hold_place(workspace_id=workspace.pk, amount=D("1.00"), key=f"g{i}")
        billing_sweep_task()
    stripe_delivers()
    # then it was credited once and no second charge started: 65 - 3 is above 20
    assert len(card_charges(sandbox)) == 1
    assert balance_of(workspace) == (D("80.00"), D("62.00"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_triggers_charge_the_card_once(
        workspace, owner, seller, sandbox, stripe_delivers):
    # given auto-recharge of 50 below 20 with available at 0; its doorbell is kept
    # (not run) so that eight workers can answer it at the same moment, as when the
    # broker redelivers one message and the ledger and the sweep ring as well
    save_card(seller, sandbox, stripe_delivers)
    rung = []
    with mock.patch.object(auto_recharge_task, "delay",
                           side_effect=lambda **kw: rung.append(kw)), \
            scope(workspace=workspace):
        topups.auto_recharge_configure(workspace=workspace, by=owner, enabled=True,
                                       threshold="20", amount="50")
    assert rung == [{"workspace_id": workspace.pk}]
    assert card_charges(sandbox) == []
    # when eight workers run the task at once, each with its own database connection
    start, errors = threading.Barrier(8), []

    def worker():
        try:
            start.wait(timeout=10)
            auto_recharge_task(**rung[0])
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then one charge reached Stripe, and it is credited once
    assert errors == []
    assert len(card_charges(sandbox)) == 1
    stripe_delivers()
    assert balance_of(workspace) == (D("50.00"), D("50.00"))
    with scope(workspace=workspace):
        assert TopUp.objects.filter(kind=TopUpKind.AUTO_RECHARGE).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("cap", ["count", "amount", "workspace"])
def test_the_daily_caps_stop_automatic_charges_until_the_window_frees(
        workspace, owner, seller, sandbox, stripe_delivers, settings,
        django_capture_on_commit_callbacks, cap):
    # given a cap of two recharges of 50 a day: by count, by total, or staff's own
    # cap for this workspace
    if cap == "count":
        settings.BILLING_RECHARGE_MAX_PER_DAY = 2
    elif cap == "amount":
        settings.BILLING_RECHARGE_MAX_AMOUNT_PER_DAY = D("120")
    save_card(seller, sandbox, stripe_delivers)
    if cap == "workspace":
        with scope(workspace=workspace):
            topups.recharge_caps_set(profile_id=PaymentProfile.objects.get().pk,
                                     max_per_day=2, max_amount_per_day=None)
    assert configure(seller, "20", "50", django_capture_on_commit_callbacks).status_code == 302
    stripe_delivers()
    assert balance_of(workspace) == (D("50.00"), D("50.00"))  # the first recharge
    mail.outbox.clear()
    # when orders spend the balance three times in a row (real spending, not a loop)
    with scope(workspace=workspace):
        for i in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                hold = ledger.hold_place(workspace_id=workspace.pk, amount=D("45.00"),
                                         key=f"spend{i}")
                ledger.hold_capture(workspace_id=workspace.pk, hold_id=hold.pk,
                                    key=f"spend{i}:capture")
            stripe_delivers()
    # then the second need was recharged, the third waits for the window: two charges
    assert len(card_charges(sandbox)) == 2
    assert balance_of(workspace) == (D("10.00"), D("10.00"))
    # the owner is told once, and the Balance page says so
    billing_sweep_task()
    billing_sweep_task()
    assert [m.subject for m in mail.outbox] == ["[PodHub] Auto-recharge paused for today"]
    assert "reached its daily cap" in seller.get("/balance/").content.decode()
    # when 24 hours have passed since those charges, the next check charges again
    later = timezone.now() + timedelta(hours=24, minutes=1)
    with scope(workspace=workspace):
        topups.auto_recharge_check(workspace_id=workspace.pk, now=later)
    assert len(card_charges(sandbox)) == 3
