"""The Etsy path in a real browser (issue 16, "Done when"): connect an Etsy sandbox shop
from the Stores page through Etsy's consent page (OAuth with PKCE), a personalised order
arrives by the polling sweep, ships, and the sandbox shop holds the tracking."""

import httpx
import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.models import OutboxMessage, OutboxStatus, StoreConnection
from integrations.services.imports import reconcile_store
from integrations.services.outbox import push_fulfillment
from orders.models import Order
from tests.integrations.etsy.conftest import control
from tests.live import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_an_etsy_shop_a_personalised_order_arrives_and_ships(
        page, login, owner, workspace, etsy_sandbox, live_server, settings, worker,
        artifacts_dir):
    settings.PUBLIC_BASE_URL = live_server.url  # where Etsy sends the seller back
    shop = control(etsy_sandbox, "shops", {"name": "AnaPrintsSandbox"})
    control(etsy_sandbox, f"shops/{shop['shop_id']}/receipts", {"personalization": "Bo"})

    login(owner)
    page.goto("/stores/")
    page.locator("[data-testid=connect-choices] a[data-platform=etsy]").click()
    page.locator("[data-testid=connect-form] button[type=submit]").click()
    # Etsy's consent page (the sandbox's): the seller allows PodHub for their shop
    page.wait_for_url(f"{etsy_sandbox.url}/oauth/connect?**")
    page.fill("input[name=shop_id]", str(shop["shop_id"]))
    page.click("button[value=allow]")
    page.wait_for_url("**/stores/*/")
    page.wait_for_selector("[data-testid=import-progress][data-status=done]", timeout=30_000)
    assert "Imported 1 order" in page.locator("[data-testid=import-progress]").inner_text()
    assert "AnaPrintsSandbox" in page.content()

    # a buyer pays for a personalised mug; the next sweep (time as a parameter) reads it
    receipt = control(etsy_sandbox, f"shops/{shop['shop_id']}/receipts",
                      {"personalization": "Für Zoë ❤", "quantity": 2})
    with scopes_disabled():
        conn = StoreConnection.objects.get(platform="etsy")
    with scope(workspace=workspace):
        stats = reconcile_store(connection_id=conn.pk, now=timezone.now())
        assert stats["created"] == 1, stats
        order = Order.objects.select_related("store").get(
            external_id=str(receipt["receipt_id"]))
    page.goto(f"/orders/{order.pk}/")
    page.wait_for_selector("dl.personalization")
    assert "Für Zoë ❤" in page.locator("dl.personalization").first.inner_text()

    with scope(workspace=workspace):
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="parcel-1",
                               carrier="usps", number="9400111899223197428490")
    remote = wait_for(lambda: httpx.get(
        f"{etsy_sandbox.url}/_sandbox/shops/{shop['shop_id']}/receipts/"
        f"{receipt['receipt_id']}").json()["shipments"], what="the shipment in the sandbox")
    assert (remote[0]["carrier_name"], remote[0]["tracking_code"]) == (
        "usps", "9400111899223197428490")
    with scope(workspace=workspace):
        wait_for(lambda: OutboxMessage.objects.get(pk=msg.pk).status == OutboxStatus.DONE,
                 what="the outbox row done")
    page.goto(f"/stores/{order.store_id}/")
    assert "9400111899223197428490" in page.locator("[data-testid=outbox]").inner_text()
    assert "calls left in the last 24 hours" in page.locator("[data-testid=api-budget]") \
        .inner_text()
    page.screenshot(path=f"{artifacts_dir}/etsy-sync-health.png", full_page=True)
