"""Seller pages: catalog, SKU rules, quotes (accept / decline), the order's price panel."""

from decimal import Decimal

import pytest
from django_scopes import scope

from orders.models import OrderState
from quotes import services
from quotes.models import Quote, QuoteLine, QuoteStatus, SkuRule

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def sent_quote(workspace, store, staff, catalog, import_order,
               django_capture_on_commit_callbacks):
    order = import_order(workspace, store, {"sku": "PLQ-S", "title": "Oak plaque",
                                            "variant_title": "Small", "quantity": 1,
                                            "unit_price": "30.00", "store_product_id": "900"})
    with scope(workspace=workspace):
        quote = Quote.objects.get(workspace=workspace)
        QuoteLine.objects.filter(quote=quote).update(
            unit_price_amount=D("15.00"), production_days=4, setup_fee_amount=D("20.00"),
            notes="Laser engraved")
        with django_capture_on_commit_callbacks(execute=True):
            services.quote_send(quote_id=quote.pk, by=staff)
    quote.order = order
    return quote


def test_catalog_page_shows_products_prices_tiers_and_shipping(owner, catalog, client_for):
    html = client_for(owner).get("/catalog/").content.decode()
    assert "Mug 11 oz" in html and "MUG11-WHITE" in html
    assert "$8.00" in html and "10-49: $7.00" in html
    assert "One-time setup fee: <strong>$30.00</strong>" in html
    assert "$5.00 first item" in html and "every other country" in html
    assert "3 days" in html


def test_catalog_search_and_empty_state(owner, catalog, client_for):
    html = client_for(owner).get("/catalog/?q=nothing-like-this").content.decode()
    assert "No product matches" in html


def test_quotes_page_accept_in_the_dashboard(workspace, owner, sent_quote, client_for,
                                             django_capture_on_commit_callbacks):
    client = client_for(owner)
    html = client.get("/quotes/").content.decode()
    assert "Oak plaque" in html and "$15.00" in html and "Laser engraved" in html
    assert "1 quote from PodHub waits for your answer" in html
    assert "1 order waiting" in html
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/quotes/{sent_quote.pk}/accept/")
    assert resp.status_code == 302 and resp["Location"] == "/quotes/?tab=answered"
    with scope(workspace=workspace):
        sent_quote.order.refresh_from_db()
        assert sent_quote.order.state == OrderState.TO_ORDER
    page = client.get("/quotes/?tab=answered").content.decode()
    assert "accepted: its waiting orders are priced" in page
    assert "orders of this product are priced automatically" in page


def test_declining_in_the_dashboard_and_cancelling_the_orders(
    workspace, owner, sent_quote, client_for
):
    client = client_for(owner)
    resp = client.post(f"/quotes/{sent_quote.pk}/decline/", {"reason": ""},
                       HTTP_REFERER="http://testserver/quotes/")
    assert resp.status_code == 302
    assert "Say why you decline" in client.get("/quotes/").content.decode()
    client.post(f"/quotes/{sent_quote.pk}/decline/", {"reason": "Too dear"})
    page = client.get("/quotes/?tab=declined").content.decode()
    assert "You declined: Too dear" in page and "Cancel the 1 waiting order" in page
    client.post(f"/quotes/{sent_quote.pk}/cancel-orders/")
    with scope(workspace=workspace):
        sent_quote.order.refresh_from_db()
        assert sent_quote.order.state == OrderState.CANCELLED
    client.post(f"/quotes/{sent_quote.pk}/request-again/", {"note": "cheaper wood?"})
    with scope(workspace=workspace):
        sent_quote.refresh_from_db()
        assert sent_quote.status == QuoteStatus.REQUESTED


def test_an_illegal_action_tells_the_seller_why(owner, sent_quote, client_for):
    client = client_for(owner)
    client.post(f"/quotes/{sent_quote.pk}/accept/")
    resp = client.post(f"/quotes/{sent_quote.pk}/accept/",
                       HTTP_REFERER="http://testserver/quotes/")
    assert resp.status_code == 302
    assert "is already accepted" in client.get("/quotes/").content.decode()
    htmx = client.post(f"/quotes/{sent_quote.pk}/accept/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 409 and "already accepted" in htmx.content.decode()


def test_order_price_panel_explains_an_unpriced_line(workspace, owner, sent_quote, client_for):
    html = client_for(owner).get(f"/orders/{sent_quote.order.pk}/price/").content.decode()
    assert 'data-testid="price-breakdown"' in html
    assert "Not connected" in html and "waiting for your answer under Quotes" in html


def test_order_price_panel_itemises_a_priced_order(workspace, owner, store, catalog,
                                                  import_order, client_for):
    order = import_order(workspace, store, ("MUG11-WHITE", 6), ("MUG11-BLACK", 6))
    client = client_for(owner)
    html = client.get(f"/orders/{order.pk}/price/").content.decode()
    assert "tier 10-49 mini-bulk (12 items)" in html
    assert "Standard to North America · 12 items" in html
    assert '<td data-testid="price-shipping">$27.00</td>' in html
    assert '<th data-testid="price-total">$118.00</th>' in html
    express = client.get(f"/orders/{order.pk}/price/?shipping_method=express",
                         HTTP_HX_REQUEST="true").content.decode()
    assert '<th data-testid="price-total">$136.00</th>' in express
    with scope(workspace=workspace):
        services.snapshot_order_price(workspace=workspace, order_id=order.pk)
    frozen = client.get(f"/orders/{order.pk}/price/").content.decode()
    assert "fixed at payment" in frozen and "$118.00" in frozen


def test_sku_rules_page(workspace, owner, catalog, client_for):
    client = client_for(owner)
    assert "No rules yet" in client.get("/catalog/rules/").content.decode()
    bad = client.post("/catalog/rules/", {"kind": "prefix", "pattern": "M",
                                          "variant": catalog.mug_white.pk})
    assert bad.status_code == 400 and "at least 2 characters" in bad.content.decode()
    resp = client.post("/catalog/rules/", {"kind": "prefix", "pattern": "MUG-",
                                           "variant": catalog.mug_white.pk})
    assert resp.status_code == 302
    with scope(workspace=workspace):
        rule = SkuRule.objects.get(workspace=workspace)
    assert "MUG-*" in client.get("/catalog/rules/").content.decode()
    client.post(f"/catalog/rules/{rule.pk}/delete/")
    with scope(workspace=workspace):
        assert not SkuRule.objects.filter(workspace=workspace).exists()


def test_pages_need_a_login(client):
    for url in ("/catalog/", "/quotes/", "/catalog/rules/"):
        assert client.get(url).status_code == 302
