"""GET /api/v1/stores/ and /api/v1/stores/<id>/ with sync health (docs/api.md)."""

from django_scopes import scopes_disabled

from integrations.models import InboundWebhook, StoreConnection
from orders.models import Platform, Store


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
