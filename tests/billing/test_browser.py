"""Billing in a real headless Chromium, against the Stripe sandbox over real HTTP:
top up through the sandbox checkout, bulk-pay (one order more than the balance
covers is refused with the missing amount), see the holds, cancel an order and
see its release, download the invoice."""

import pytest
from django.core.cache import cache
from django_scopes import scope

from billing.models import Account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_sandbox(stripe_sandbox, live_server):
    stripe_sandbox.webhook_url = live_server.url + "/webhooks/stripe/"
    return stripe_sandbox


@pytest.fixture
def eager_tolerant(celery_eager):
    # Other apps react to the same order events in-process here; their own
    # failures must not fail the seller's request (as with a real worker).
    from podhub.celery import app

    app.conf.task_eager_propagates = False


def test_top_up_bulk_pay_hold_cancel_release_and_invoice(
        page, login, owner, make_order, live_sandbox, eager_tolerant, artifacts_dir):
    cache.clear()
    ws = owner.workspace
    orders = [make_order(ws, 1, number=f"#70{i}") for i in range(1, 5)]  # 18.00 each
    login(owner)
    page.on("dialog", lambda dialog: dialog.accept())

    # top up 60.00 through the sandbox's checkout page
    page.click("nav.mainnav >> text=Balance")
    page.wait_for_url("**/balance/")
    page.fill("[data-testid=top-up-form] input[name=amount]", "60")
    page.click("[data-testid=top-up-form] button[type=submit]")
    page.wait_for_url(live_sandbox.public_url + "/checkout/**")
    assert "Pay $60.00" in page.locator("h1").inner_text()
    page.click("button[value=pay]")
    page.wait_for_url("**/balance/")
    assert "Top-up of $60.00 received." in page.locator("ul.messages").inner_text()
    assert page.locator("[data-testid=balance]").inner_text() == "$60.00"

    # all four orders (72.00): refused, with the missing amount and a top-up offer
    page.goto("/pay/")
    for o in orders:
        page.check(f"input[name=orders][data-number='{o.number}']")
    page.click("text=Review payment")
    assert "$72.00" in page.locator("[data-testid=pay-total]").inner_text()
    assert "$12.00 missing" in page.locator("[data-testid=missing]").inner_text()
    page.click("[data-testid=confirm-pay]")
    assert "$12.00 missing" in page.locator("[data-testid=pay-error]").inner_text()
    assert page.locator("[data-testid=top-up-missing] input[name=amount]").input_value() == \
        "12.00"
    page.screenshot(path=f"{artifacts_dir}/billing-missing.png", full_page=True)
    with scope(workspace=ws):
        assert Account.objects.get().held_amount == 0

    # three of them (54.00) are paid in bulk
    page.goto("/pay/")
    for o in orders[:3]:
        page.check(f"input[name=orders][data-number='{o.number}']")
    page.click("text=Review payment")
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url("**/balance/?paid=*")
    assert "Paid 3 orders: $54.00 held" in page.locator("ul.messages").inner_text()
    assert page.locator("[data-testid=held]").inner_text() == "$54.00"
    assert page.locator("[data-testid=available]").inner_text() == "$6.00"
    assert page.locator("[data-testid=holds] tbody tr").count() == 6
    page.screenshot(path=f"{artifacts_dir}/billing-holds.png", full_page=True)

    # cancel one paid order: its holds are released
    cancelled = orders[0]
    page.goto(f"/orders/{cancelled.pk}/")
    page.click("[data-testid=cancel-form] button[type=submit]")
    page.wait_for_url(f"**/orders/{cancelled.pk}/")
    page.goto("/balance/")
    assert page.locator("[data-testid=held]").inner_text() == "$36.00"
    assert page.locator("[data-testid=available]").inner_text() == "$24.00"
    releases = page.locator("[data-testid=ledger] tr.entry-release").all_inner_texts()
    assert any(f"Order {cancelled.number} cancelled: product released" in r for r in releases)
    assert any(f"Order {cancelled.number} cancelled: shipping released" in r for r in releases)
    page.screenshot(path=f"{artifacts_dir}/billing-released.png", full_page=True)

    # the invoice of the payment: HTML and PDF download
    page.click("[data-testid=invoices] a >> nth=0")
    assert "$54.00" in page.locator("[data-testid=invoice]").inner_text()
    with page.expect_download() as download:
        page.click("[data-testid=invoice-pdf]")
    path = download.value.path()
    with open(path, "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert download.value.suggested_filename.endswith(".pdf")
