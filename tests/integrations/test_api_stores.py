"""GET /api/v1/stores/ and /api/v1/stores/<id>/ with sync health (docs/api.md)."""

from datetime import UTC, datetime

import pytest
from django_scopes import scopes_disabled

from integrations.models import InboundWebhook, OutboxMessage, StoreConnection
from orders.models import Platform, Store
from tests.pages import assert_bad_cursor_refused, every_page


def test_stores_listed_and_one_with_its_sync_health(owner, api_client_for):
    with scopes_disabled():
        shop = Store.objects.create(workspace=owner.workspace, name="Acme Shopify",
                                    platform=Platform.SHOPIFY)
        conn = StoreConnection.objects.create(workspace=owner.workspace, store=shop,
                                              platform="shopify",
                                              shop_domain="acme.myshopify.com")
        InboundWebhook.objects.create(workspace=owner.workspace, connection=conn,
                                      event_id="e1", topic="orders/create", resource_id="1",
                                      body="{}",
                                      status="failed")
        outside = Store.objects.create(workspace=owner.workspace, name="Etsy",
                                       platform="manual")
    api = api_client_for(owner)
    page = api.get("/api/v1/stores/").json()
    assert [s["id"] for s in page["results"]] == [outside.pk, shop.pk]
    assert page["results"][0]["connection"] is None
    assert page["results"][1]["connection"]["shop_domain"] == "acme.myshopify.com"
    detail = api.get(f"/api/v1/stores/{shop.pk}/").json()
    assert detail["sync_health"]["failed_deliveries"] == 1
    assert detail["sync_health"]["healthy"] is False
    assert api.get(f"/api/v1/stores/{outside.pk}/").json()["sync_health"] is None


@pytest.fixture
def shop(owner):
    with scopes_disabled():
        store = Store.objects.create(workspace=owner.workspace, name="Acme Shopify",
                                     platform=Platform.SHOPIFY)
        return StoreConnection.objects.create(workspace=owner.workspace, store=store,
                                              platform="shopify",
                                              shop_domain="acme.myshopify.com")


# two rows at the same instant: the id orders them (the cursor holds both)
TIMES = [datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 2, 9, tzinfo=UTC),
         datetime(2026, 12, 2, 9, tzinfo=UTC), datetime(2026, 12, 3, 9, tzinfo=UTC)]
STATUSES = ["failed", "pending", "failed", "failed"]


def test_a_stores_deliveries_page_newest_first_keeping_the_status_filter(
    owner, shop, api_client_for
):
    with scopes_disabled():
        rows = [InboundWebhook.objects.create(
            workspace=owner.workspace, connection=shop, event_id=f"e{i}",
            topic="orders/create", resource_id=str(i), body="{}", status=status,
            created_at=at) for i, (at, status) in enumerate(zip(TIMES, STATUSES, strict=True))]
    api = api_client_for(owner)
    url = f"/api/v1/stores/{shop.store_id}/deliveries/"
    newest_first = [rows[3].pk, rows[2].pk, rows[1].pk, rows[0].pk]
    assert [d["id"] for d in every_page(api, url)] == newest_first
    assert [d["id"] for d in every_page(api, url, status="failed")] == \
        [rows[3].pk, rows[2].pk, rows[0].pk]
    assert_bad_cursor_refused(api, url)


def test_a_stores_pushes_page_newest_first_keeping_the_status_filter(
    owner, shop, api_client_for
):
    with scopes_disabled():
        rows = [OutboxMessage.objects.create(
            workspace=owner.workspace, store=shop.store, kind="fulfillment_create",
            key=f"k{i}", status=status, created_at=at)
            for i, (at, status) in enumerate(zip(TIMES, STATUSES, strict=True))]
    api = api_client_for(owner)
    url = f"/api/v1/stores/{shop.store_id}/pushes/"
    assert [p["id"] for p in every_page(api, url)] == \
        [rows[3].pk, rows[2].pk, rows[1].pk, rows[0].pk]
    assert [p["id"] for p in every_page(api, url, status="failed")] == \
        [rows[3].pk, rows[2].pk, rows[0].pk]
    assert_bad_cursor_refused(api, url)
