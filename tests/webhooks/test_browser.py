"""Issue 15 in a real headless Chromium: an owner adds a webhook endpoint under Settings →
Webhooks, copies the secret shown once into their receiver, sends a test event, reads the
attempt in the delivery log (htmx), and replays it; the receiver verifies every request
with the Standard Webhooks reference verifier. A failing receiver shows in the log."""

import pytest
from django.core.cache import cache

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_an_endpoint_send_a_test_event_read_the_log_and_replay(page, login, owner,
                                                                   receiver):
    cache.clear()  # login rate limits
    login(owner)
    page.goto("/settings/webhooks/")
    assert "No endpoints yet." in page.locator("[data-testid=endpoints]").inner_text()
    page.fill("input[name=url]", receiver.hook_url)
    page.fill("input[name=description]", "Our ERP")
    page.check("input[name=event_types][value='order.paid']")
    page.click("text=Add endpoint")

    secret = page.locator("[data-testid=new-secret] code").inner_text()
    assert secret.startswith("whsec_")
    receiver.secret = secret  # the seller puts it in their receiver
    page.click("text=Done")

    receiver.answers = [500]  # the receiver is broken at first
    page.click("text=Send test event")
    log = page.locator("[data-testid=deliveries]")
    assert "webhook.test" in log.inner_text()
    assert "HTTP 500" in log.inner_text() and "Waiting" in log.inner_text()
    assert len(receiver.verified) == 1  # signed correctly, answered 500

    page.click("[data-testid=deliveries] >> text=Details")  # htmx: the attempts open in place
    detail = page.locator("[data-testid=delivery-detail]")
    detail.wait_for()
    assert "webhook-signature" in detail.inner_text() and "HTTP 500" in detail.inner_text()
    assert secret not in page.content()  # the log shows signatures, never the secret

    page.click("[data-testid=deliveries] >> text=Replay")  # the receiver is fixed
    assert "Replay queued" in page.content()
    assert "Delivered" in page.locator("[data-testid=deliveries]").inner_text()
    assert [v["id"] for v in receiver.verified][0] == receiver.verified[1]["id"]
    assert receiver.verified[1]["payload"]["type"] == "webhook.test"

    page.goto("/settings/webhooks/")
    row = page.locator("[data-testid=endpoints]").inner_text()
    assert receiver.hook_url in row and "Our ERP" in row and "Enabled" in row
