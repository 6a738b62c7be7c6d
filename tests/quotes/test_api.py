"""The seller API: catalog, quotes (accept / decline), SKU rules, an order's price."""

from datetime import date
from decimal import Decimal

import pytest
from django_scopes import scope

from orders.models import OrderState
from quotes import services
from quotes.models import Quote, QuoteLine, QuoteStatus
from tests.factories import ProductFactory
from tests.pages import assert_bad_cursor_refused, every_page

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def quote(workspace, store, catalog, import_order):
    order = import_order(workspace, store, {"sku": "PLQ-S", "title": "Oak plaque",
                                            "store_product_id": "900", "quantity": 1})
    with scope(workspace=workspace):
        q = Quote.objects.get(workspace=workspace)
    q.waiting_order = order
    return q


def _price_and_send(workspace, quote, staff, capture, **line):
    with scope(workspace=workspace):
        QuoteLine.objects.filter(quote=quote).update(
            unit_price_amount=D("15.00"), production_days=4, **line)
        with capture(execute=True):
            services.quote_send(quote_id=quote.pk, by=staff)


def test_catalog_products_list_prices_tiers_and_production(owner, catalog, api_client_for):
    resp = api_client_for(owner).get("/api/v1/catalog/products/")
    assert resp.status_code == 200
    mug = next(p for p in resp.json()["results"] if p["name"] == "Mug 11 oz")
    white = next(v for v in mug["variants"] if v["sku"] == "MUG11-WHITE")
    assert white["price"] == "8.000" and white["production_days"] == 3
    assert mug["artwork_source"] == "either"  # a template renders; the seller's art may too
    assert white["tiers"] == [
        {"min_quantity": 10, "max_quantity": 49, "unit_price": "7.000", "label": "mini-bulk"},
        {"min_quantity": 50, "max_quantity": None, "unit_price": "6.000", "label": "bulk"}]
    shipping = api_client_for(owner).get("/api/v1/catalog/shipping/").json()["results"]
    assert {(r["method"], r["zone"], r["first_item"], r["additional_item"]) for r in shipping} \
        >= {("standard", "North America", "5.000", "2.000")}


def test_the_catalog_pages_through_every_product_once_keeping_the_name_filter(
    owner, catalog, api_client_for
):
    ProductFactory(name="Mug 15 oz", category="Drinkware")  # same category: the name decides
    api = api_client_for(owner)
    url = "/api/v1/catalog/products/"
    assert [p["name"] for p in every_page(api, url)] == ["Custom stamp", "Mug 11 oz",
                                                        "Mug 15 oz"]
    assert [p["name"] for p in every_page(api, url, q="mug")] == ["Mug 11 oz", "Mug 15 oz"]
    assert_bad_cursor_refused(api, url)


def test_shipping_rates_page_by_zone_then_method_the_rest_of_the_world_last(
    owner, catalog, api_client_for
):
    api = api_client_for(owner)
    rates = every_page(api, "/api/v1/catalog/shipping/")
    assert [(r["zone"], r["method"]) for r in rates] == [
        ("North America", "standard"), ("North America", "express"),
        ("Rest of world", "standard")]
    assert_bad_cursor_refused(api, "/api/v1/catalog/shipping/")


def test_quote_prices_stay_hidden_until_staff_send_them(
    workspace, owner, staff, quote, api_client_for, django_capture_on_commit_callbacks
):
    client = api_client_for(owner)
    with scope(workspace=workspace):
        QuoteLine.objects.filter(quote=quote).update(unit_price_amount=D("99.00"))
    body = client.get("/api/v1/quotes/").json()["results"]
    assert [q["status"] for q in body] == ["requested"]
    assert body[0]["variants"][0]["unit_price"] is None
    assert body[0]["waiting_order_ids"] == [quote.waiting_order.pk]
    _price_and_send(workspace, quote, staff, django_capture_on_commit_callbacks)
    detail = client.get(f"/api/v1/quotes/{quote.pk}/").json()
    assert detail["status"] == "sent" and detail["variants"][0]["unit_price"] == "15.000"


def test_accept_over_the_api_prices_the_waiting_order(
    workspace, owner, staff, quote, api_client_for, django_capture_on_commit_callbacks
):
    _price_and_send(workspace, quote, staff, django_capture_on_commit_callbacks)
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == QuoteStatus.ACCEPTED
    assert client.get(f"/api/v1/quotes/{quote.pk}/").json()["waiting_order_ids"] == []
    price = client.get(f"/api/v1/orders/{quote.waiting_order.pk}/price/").json()
    assert price["frozen"] is False and price["items_total"] == "15.00"
    assert price["total"] == "21.00"  # 15 + 5 shipping + 1 handling
    # accepting again is a conflict, with the one error body
    again = client.post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "already accepted" in again.json()["error"]["message"]


def test_accepting_an_expired_quote_is_a_409_with_its_reason(
    workspace, owner, staff, quote, api_client_for, django_capture_on_commit_callbacks
):
    _price_and_send(workspace, quote, staff, django_capture_on_commit_callbacks)
    with scope(workspace=workspace):
        QuoteLine.objects.filter(quote=quote).update(valid_until=date(2020, 1, 1))
    resp = api_client_for(owner).post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert resp.status_code == 409
    assert resp.json()["error"] == {
        "code": "quote_expired", "valid_until": "2020-01-01",
        "message": "The quote for Oak plaque expired on 2020-01-01: ask PodHub for a new one."}


def test_decline_needs_a_reason_and_can_cancel_the_orders(
    workspace, owner, staff, quote, api_client_for, django_capture_on_commit_callbacks
):
    _price_and_send(workspace, quote, staff, django_capture_on_commit_callbacks)
    client = api_client_for(owner)
    bad = client.post(f"/api/v1/quotes/{quote.pk}/decline/", {}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["error"]["fields"]
    resp = client.post(f"/api/v1/quotes/{quote.pk}/decline/",
                       {"reason": "Too dear", "cancel_orders": True}, format="json")
    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["decline_reason"]) == ("declined", "Too dear")
    with scope(workspace=workspace):
        quote.waiting_order.refresh_from_db()
        assert quote.waiting_order.state == OrderState.CANCELLED


def test_another_workspaces_quote_is_not_found(
    workspace, other_owner, staff, quote, api_client_for, django_capture_on_commit_callbacks
):
    _price_and_send(workspace, quote, staff, django_capture_on_commit_callbacks)
    client = api_client_for(other_owner)
    assert client.get(f"/api/v1/quotes/{quote.pk}/").status_code == 404
    resp = client.post(f"/api/v1/quotes/{quote.pk}/accept/")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/orders/{quote.waiting_order.pk}/price/").status_code == 404
    assert client.get("/api/v1/quotes/").json() == {"results": [], "next_cursor": None}


def test_bad_status_filter_is_refused(owner, api_client_for):
    resp = api_client_for(owner).get("/api/v1/quotes/?status=maybe")
    assert resp.status_code == 400 and "status" in resp.json()["error"]["fields"]


def test_sku_rules_over_the_api(workspace, owner, catalog, api_client_for):
    client = api_client_for(owner)
    made = client.post("/api/v1/catalog/sku-rules/", {
        "kind": "prefix", "pattern": "MUG-", "variant_id": catalog.mug_white.pk}, format="json")
    assert made.status_code == 201, made.content
    assert client.get("/api/v1/catalog/sku-rules/").json()["results"][0]["pattern"] == "MUG-"
    dup = client.post("/api/v1/catalog/sku-rules/", {
        "kind": "prefix", "pattern": "MUG-", "variant_id": catalog.mug_black.pk}, format="json")
    assert dup.status_code == 409
    gone = client.delete(f"/api/v1/catalog/sku-rules/{made.json()['id']}/")
    assert gone.status_code == 204
    assert client.delete(f"/api/v1/catalog/sku-rules/{made.json()['id']}/").status_code == 404


def test_sku_rules_page_by_kind_and_pattern(workspace, owner, catalog, api_client_for):
    api = api_client_for(owner)
    for kind, pattern in [("prefix", "MUG-"), ("exact", "MUG11-W"), ("prefix", "CUP-")]:
        assert api.post("/api/v1/catalog/sku-rules/", {
            "kind": kind, "pattern": pattern, "variant_id": catalog.mug_white.pk},
            format="json").status_code == 201
    rules = every_page(api, "/api/v1/catalog/sku-rules/")
    assert [(r["kind"], r["pattern"]) for r in rules] == [
        ("exact", "MUG11-W"), ("prefix", "CUP-"), ("prefix", "MUG-")]
    assert_bad_cursor_refused(api, "/api/v1/catalog/sku-rules/")


def test_quotes_page_newest_first_keeping_the_status_filter(
    workspace, owner, staff, store, catalog, import_order, api_client_for,
    django_capture_on_commit_callbacks
):
    for i in range(3):  # three unknown products, three quotes
        import_order(workspace, store, {"sku": f"X-{i}", "title": f"Thing {i}", "quantity": 1})
    with scope(workspace=workspace):
        made = list(Quote.objects.order_by("-requested_at", "-pk"))
    _price_and_send(workspace, made[1], staff, django_capture_on_commit_callbacks)
    api = api_client_for(owner)
    assert [q["id"] for q in every_page(api, "/api/v1/quotes/")] == [q.pk for q in made]
    assert [q["id"] for q in every_page(api, "/api/v1/quotes/", status="requested")] == \
        [made[0].pk, made[2].pk]
    assert_bad_cursor_refused(api, "/api/v1/quotes/")


def test_quote_list_query_budget(workspace, owner, store, catalog, import_order,
                                 api_client_for, django_assert_max_num_queries):
    for i in range(8):
        import_order(workspace, store, {"sku": f"X-{i}", "title": f"Thing {i}",
                                        "quantity": 1})
    client = api_client_for(owner)
    with django_assert_max_num_queries(14):
        resp = client.get("/api/v1/quotes/")
    assert len(resp.json()["results"]) == 8


def test_the_openapi_schema_documents_the_quotes_api(client):
    schema = client.get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/catalog/products/", "/api/v1/quotes/{quote_id}/accept/",
                 "/api/v1/quotes/{quote_id}/decline/", "/api/v1/orders/{order_id}/price/"):
        assert path in schema
    assert "QuoteDeclineInput" in schema and "SkuRuleInput" in schema
