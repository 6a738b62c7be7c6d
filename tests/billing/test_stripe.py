"""Top-ups through the Stripe sandbox over real HTTP, and the webhook's defences."""

import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django_scopes import scope

from billing import ledger
from billing.models import (
    EntryKind,
    LedgerEntry,
    PaymentProfile,
    StripeEvent,
    TopUp,
    TopUpStatus,
)
from tests.billing.helpers import balance_of, deliver, sandbox_submit

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(owner, client_for):
    return client_for(owner)


@pytest.fixture
def webhook(client, stripe_sandbox, celery_eager, django_capture_on_commit_callbacks):
    """Deliver a sandbox event to /webhooks/stripe/ and run what it queues."""

    def send(event_id, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return deliver(client, stripe_sandbox, event_id, **kwargs)

    return send


def start_top_up(seller, amount="50.00"):
    resp = seller.post("/balance/top-up/", {"amount": amount})
    assert resp.status_code == 302, resp.content
    return resp["Location"]


def pay_checkout(sandbox, url, card="4242 4242 4242 4242", method="card"):
    status, location = sandbox_submit(url, card_number=card, method=method, action="pay")
    return status, location


def completed_event(sandbox, session_id):
    return next(e for e in sandbox.events_of("checkout.session.completed")
                if e["data"]["object"]["id"] == session_id)


def test_a_paid_checkout_credits_the_balance_once(workspace, seller, stripe_sandbox, webhook):
    # given a top-up started from the Balance page and paid on the sandbox's checkout page
    url = start_top_up(seller, "50.00")
    assert url.startswith("http://127.0.0.1:")
    status, location = pay_checkout(stripe_sandbox, url)
    assert status == 303 and "/balance/top-up/return/?top_up=" in location
    with scope(workspace=workspace):
        top_up = TopUp.objects.get()
    event = completed_event(stripe_sandbox, top_up.stripe_session_id)
    # when Stripe delivers the event, then again (a retry)
    first = webhook(event["id"])
    second = webhook(event["id"])
    # then the balance is credited exactly once
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert balance_of(workspace) == (D("50.00"), D("50.00"))
    with scope(workspace=workspace):
        top_up.refresh_from_db()
        assert top_up.status == TopUpStatus.PAID
        assert LedgerEntry.objects.filter(kind=EntryKind.TOP_UP).count() == 1
    assert StripeEvent.objects.get(event_id=event["id"]).status == "processed"
    with scope(workspace=workspace):  # one receipt
        from billing.models import Invoice

        assert Invoice.objects.get(top_up=top_up).total_amount == D("50.00")
    # and the seller sees it
    page = seller.get("/balance/")
    assert b"$50.00" in page.content


def test_payment_intent_events_of_a_checkout_do_not_credit_a_second_time(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "20.00")
    pay_checkout(stripe_sandbox, url)
    for event in stripe_sandbox.events:
        webhook(event["id"])
    assert balance_of(workspace) == (D("20.00"), D("20.00"))


def test_forged_and_stale_signatures_are_refused_and_stored_nowhere(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller)
    pay_checkout(stripe_sandbox, url)
    event = stripe_sandbox.events_of("checkout.session.completed")[0]
    forged = webhook(event["id"], secret="whsec_attacker")
    stale = webhook(event["id"], timestamp=int(time.time()) - 3600)  # outside 300 s
    future = webhook(event["id"], timestamp=int(time.time()) + 3600)
    assert (forged.status_code, stale.status_code, future.status_code) == (401, 401, 401)
    assert not StripeEvent.objects.exists()
    assert balance_of(workspace) == (0, 0)


def test_a_session_of_another_workspace_credits_nothing(
        workspace, owner, other_owner, client_for, stripe_sandbox, webhook):
    # given A and B each start a top-up; only A pays
    url_a = start_top_up(client_for(owner), "30.00")
    start_top_up(client_for(other_owner), "30.00")
    pay_checkout(stripe_sandbox, url_a)
    event = stripe_sandbox.events_of("checkout.session.completed")[0]
    # when the completed event is altered to name B (and re-signed: a leaked secret)
    obj = event["data"]["object"]
    obj["metadata"]["workspace_id"] = str(other_owner.workspace_id)
    resp = webhook(event["id"])
    # then nothing is credited anywhere
    assert resp.status_code == 200
    row = StripeEvent.objects.get(event_id=event["id"])
    assert row.status == "rejected" and "nothing credited" in row.note
    assert balance_of(workspace) == (0, 0)
    assert balance_of(other_owner.workspace) == (0, 0)


def test_a_session_podhub_did_not_create_credits_nothing(
        workspace, other_owner, client_for, stripe_sandbox, webhook):
    # given B has a pending top-up, and someone creates their own session naming it
    start_top_up(client_for(other_owner), "30.00")
    with scope(workspace=other_owner.workspace):
        b_top_up = TopUp.objects.get()
    import stripe
    from django.conf import settings

    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY,
                                 base_addresses={"api": settings.STRIPE_API_BASE})
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "http://x/", "line_items": [{"quantity": 1,
        "price_data": {"currency": "usd", "unit_amount": 3000,
                       "product_data": {"name": "x"}}}],
        "metadata": {"workspace_id": str(other_owner.workspace_id),
                     "top_up_id": str(b_top_up.pk)}})
    pay_checkout(stripe_sandbox, session.url)
    event = completed_event(stripe_sandbox, session.id)
    webhook(event["id"])
    assert StripeEvent.objects.get(event_id=event["id"]).status == "rejected"
    assert balance_of(other_owner.workspace) == (0, 0)


def test_a_refund_arriving_before_the_payment_event_nets_out(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "40.00")
    pay_checkout(stripe_sandbox, url)
    with scope(workspace=workspace):
        top_up = TopUp.objects.get()
    session = stripe_sandbox.get(top_up.stripe_session_id)
    intent = stripe_sandbox.get(session["payment_intent"])
    import stripe
    from django.conf import settings

    stripe.StripeClient(settings.STRIPE_SECRET_KEY,
                        base_addresses={"api": settings.STRIPE_API_BASE}).v1.refunds.create(
        params={"charge": intent["latest_charge"], "amount": 1500})
    refunded = stripe_sandbox.events_of("charge.refunded")[0]
    # out of order: the refund first, then the completed session
    webhook(refunded["id"])
    assert balance_of(workspace) == (D("25.00"), D("25.00"))
    webhook(completed_event(stripe_sandbox, session["id"])["id"])
    webhook(refunded["id"])  # and a replay
    assert balance_of(workspace) == (D("25.00"), D("25.00"))
    with scope(workspace=workspace):
        assert LedgerEntry.objects.filter(kind=EntryKind.REVERSAL).count() == 1


def test_a_dispute_takes_the_money_back_and_a_won_dispute_returns_it(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "40.00")
    pay_checkout(stripe_sandbox, url)
    webhook(stripe_sandbox.events_of("checkout.session.completed")[0]["id"])
    charge = next(o for o in stripe_sandbox.objects.values() if o.get("object") == "charge")
    # the seller already holds 30 for orders: a dispute of 40 leaves a debt of 30
    with scope(workspace=workspace):
        ledger.hold_place(workspace_id=workspace.pk, amount=D("30.00"), key="h")
    dispute = stripe_sandbox._control("POST", "/sandbox/disputes",
                                      f"charge={charge['id']}")[1]
    webhook(stripe_sandbox.events_of("charge.dispute.created")[0]["id"])
    with scope(workspace=workspace):
        from billing.models import Account

        acct = Account.objects.get()
        assert (acct.available_amount, acct.debt_amount) == (D("0.00"), D("30.00"))
    stripe_sandbox._control("POST", f"/sandbox/disputes/{dispute['id']}/close", "status=won")
    webhook(stripe_sandbox.events_of("charge.dispute.closed")[0]["id"])
    assert balance_of(workspace) == (D("40.00"), D("10.00"))


def test_a_delayed_payment_credits_on_async_success_only(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "60.00")
    pay_checkout(stripe_sandbox, url, method="bank_debit")
    webhook(stripe_sandbox.events_of("checkout.session.completed")[0]["id"])
    assert balance_of(workspace) == (0, 0)
    with scope(workspace=workspace):
        sid = TopUp.objects.get().stripe_session_id
    stripe_sandbox._control("POST", f"/sandbox/checkout/{sid}/settle", "outcome=succeeded")
    event = stripe_sandbox.events_of("checkout.session.async_payment_succeeded")[0]
    webhook(event["id"])
    webhook(event["id"])
    assert balance_of(workspace) == (D("60.00"), D("60.00"))


def test_a_failed_delayed_payment_is_shown_and_credits_nothing(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "60.00")
    pay_checkout(stripe_sandbox, url, method="bank_debit")
    with scope(workspace=workspace):
        sid = TopUp.objects.get().stripe_session_id
    stripe_sandbox._control("POST", f"/sandbox/checkout/{sid}/settle", "outcome=failed")
    webhook(stripe_sandbox.events_of("checkout.session.async_payment_failed")[0]["id"])
    assert balance_of(workspace) == (0, 0)
    with scope(workspace=workspace):
        assert TopUp.objects.get().status == TopUpStatus.FAILED
    assert b"The payment failed at the bank" in seller.get("/balance/").content


def test_leaving_the_checkout_ends_the_top_up_at_once(workspace, seller, stripe_sandbox,
                                                       webhook):
    url = start_top_up(seller, "40.00")
    status, location = sandbox_submit(url, action="cancel")  # "Cancel" on Stripe's page
    assert status == 303 and "/balance/top-up/cancel/?top_up=" in location
    back = urlsplit(location)
    resp = seller.get(f"{back.path}?{back.query}")
    assert resp.status_code == 302 and resp["Location"] == "/balance/"
    with scope(workspace=workspace):
        top_up = TopUp.objects.get()
    # not "Pending" for a day: expired, at Stripe too, so it can no longer be paid
    assert top_up.status == TopUpStatus.EXPIRED
    assert stripe_sandbox.objects[top_up.stripe_session_id]["status"] == "expired"
    page = seller.get("/balance/").content.decode()
    assert "cancelled: nothing was charged" in page and "Expired" in page
    # Stripe's own expired event changes nothing more
    webhook(stripe_sandbox.events_of("checkout.session.expired")[0]["id"])
    assert balance_of(workspace) == (0, 0)


def test_a_paid_session_left_by_the_back_button_stays_for_the_webhook(
        workspace, seller, stripe_sandbox, webhook):
    url = start_top_up(seller, "40.00")
    pay_checkout(stripe_sandbox, url)
    with scope(workspace=workspace):
        top_up = TopUp.objects.get()
    # the cancel URL opened after paying (another tab): Stripe refuses to expire it
    seller.get(f"/balance/top-up/cancel/?top_up={top_up.pk}")
    top_up.refresh_from_db()
    assert top_up.status == TopUpStatus.PENDING
    webhook(completed_event(stripe_sandbox, top_up.stripe_session_id)["id"])
    assert balance_of(workspace) == (D("40.00"), D("40.00"))


def save_card(seller, sandbox, webhook, card="4242 4242 4242 4242"):
    resp = seller.post("/balance/card/")
    assert resp.status_code == 302
    status, _ = sandbox_submit(resp["Location"], card_number=card, action="pay")
    assert status == 303
    webhook(sandbox.events_of("checkout.session.completed")[-1]["id"])


def test_auto_recharge_charges_the_saved_card_when_available_falls_below_the_threshold(
        workspace, owner, seller, stripe_sandbox, webhook, django_capture_on_commit_callbacks):
    # given a saved card, 30 on the balance and auto-recharge below 20 by 50
    save_card(seller, stripe_sandbox, webhook)
    with scope(workspace=workspace):
        profile = PaymentProfile.objects.get()
        assert profile.card_last4 == "4242"
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.ADJUSTMENT, amount=D("30.00"),
                      key="seed")
    with django_capture_on_commit_callbacks(execute=True):
        resp = seller.post("/balance/auto-recharge/",
                           {"enabled": "on", "threshold": "20", "amount": "50"})
    assert resp.status_code == 302
    assert stripe_sandbox.events_of("payment_intent.succeeded") == []  # 30 is not below 20
    # when a hold brings available to 15
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        ledger.hold_place(workspace_id=workspace.pk, amount=D("15.00"), key="h")
    # then the card was charged off-session, and the webhook credits it once
    [succeeded] = stripe_sandbox.events_of("payment_intent.succeeded")
    webhook(succeeded["id"])
    webhook(succeeded["id"])
    assert balance_of(workspace) == (D("80.00"), D("65.00"))


def test_a_declined_auto_recharge_is_shown_and_emailed(
        workspace, owner, seller, stripe_sandbox, webhook, django_capture_on_commit_callbacks):
    save_card(seller, stripe_sandbox, webhook, card="4000 0000 0000 0002")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        seller.post("/balance/auto-recharge/", {"enabled": "on", "threshold": "20",
                                                "amount": "50"})
    assert balance_of(workspace) == (0, 0)
    with scope(workspace=workspace):
        assert TopUp.objects.get(kind="auto_recharge").status == TopUpStatus.FAILED
        assert PaymentProfile.objects.get().recharge_failure == "Your card was declined."
    assert [m.to for m in mail.outbox] == [[owner.user.email]]
    assert "Auto-recharge failed" in mail.outbox[0].subject
    assert b"Your card was declined." in seller.get("/balance/").content
    # the payment_failed event changes nothing more
    webhook(stripe_sandbox.events_of("payment_intent.payment_failed")[0]["id"])
    assert len(mail.outbox) == 1


def test_an_event_whose_task_was_lost_is_applied_by_the_sweep(
        workspace, seller, client, stripe_sandbox, celery_eager):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from billing.services import billing_sweep

    url = start_top_up(seller, "25.00")
    pay_checkout(stripe_sandbox, url)
    event = stripe_sandbox.events_of("checkout.session.completed")[0]
    # stored and acknowledged, but the on-commit task never runs (a killed worker)
    assert deliver(client, stripe_sandbox, event["id"]).status_code == 200
    assert StripeEvent.objects.get(event_id=event["id"]).status == "received"
    assert balance_of(workspace) == (0, 0)
    with scopes_disabled():
        assert billing_sweep()["stripe_events"] == 0  # too fresh: its task may still come
        with time_machine.travel(timezone.now() + timedelta(minutes=2)):
            assert billing_sweep()["stripe_events"] == 1
    assert balance_of(workspace) == (D("25.00"), D("25.00"))
    assert StripeEvent.objects.get(event_id=event["id"]).status == "processed"


def test_a_signed_body_that_is_not_json_is_refused(client, settings):
    from sandboxes.stripe.server import sign

    body = b"not json"
    resp = client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(body, settings.STRIPE_WEBHOOK_SECRET))
    assert resp.status_code == 400
    assert not StripeEvent.objects.exists()


def test_staff_process_an_event_again_and_it_credits_once(
        workspace, seller, client, admin_client, stripe_sandbox, celery_eager):
    url = start_top_up(seller, "25.00")
    pay_checkout(stripe_sandbox, url)
    event = stripe_sandbox.events_of("checkout.session.completed")[0]
    assert deliver(client, stripe_sandbox, event["id"]).status_code == 200
    # stored, but set aside (ignored, its attempts used up): nothing credited
    StripeEvent.objects.filter(event_id=event["id"]).update(status="ignored", attempts=5)
    row = StripeEvent.objects.get(event_id=event["id"])
    # when staff process it again (admin → Stripe events), twice
    for _ in range(2):
        response = admin_client.post("/admin/billing/stripeevent/", {
            "action": "reprocess", "_selected_action": [row.pk]})
        assert response.status_code == 302
    # then the top-up is credited, once
    assert balance_of(workspace) == (D("25.00"), D("25.00"))
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("processed", 1)
