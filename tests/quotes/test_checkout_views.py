"""The made-to-order checkout from the dashboard (New order from the catalog: live tier
prices by htmx, the stamps choice, a review to confirm) and the API
(POST /api/v1/catalog/orders/), over quotes/checkout.py (test_checkout.py)."""

import pytest
from django_scopes import scope

from orders.models import Order, OrderState
from podhub.core.models import OutgoingEmail
from quotes.models import CatalogOrder, Stamps, StampsChoice

pytestmark = pytest.mark.django_db

SHIP = {"address_name": "Ana Lima", "address_address1": "1 Main St",
        "address_city": "Springfield", "address_zip": "62701", "address_province": "IL",
        "address_country_code": "US"}


def _post(catalog, *, variant=None, quantity=12, step="review", **extra):
    data = {"step": step, "line_0_variant": str((variant or catalog.mug_white).pk),
            "line_0_quantity": str(quantity), "line_0_personalization": "Ana",
            "billing_same": "on", **SHIP}
    data.update(extra)
    return data


def test_the_page_offers_the_catalog_and_prices_live_as_the_quantity_changes(
        client_for, owner, catalog):
    c = client_for(owner)
    page = c.get("/catalog/").content.decode()
    assert 'href="/catalog/order/"' in page
    page = c.get("/catalog/order/").content.decode()
    assert "New order from the catalog" in page
    assert f'<option value="{catalog.mug_white.pk}">White · MUG11-WHITE</option>' in page
    assert 'hx-post="/catalog/order/price/"' in page and 'hx-sync="this:replace"' in page

    def price(quantity):
        answer = c.post("/catalog/order/price/", {"line_0_variant": catalog.mug_white.pk,
                                                  "line_0_quantity": quantity},
                        HTTP_HX_REQUEST="true")
        assert answer.status_code == 200
        return answer.content.decode()

    assert "$8.00" in price(1)
    mini = price(12)
    assert "$7.00" in mini and "10-49 mini-bulk" in mini
    assert "$6.00" in price(60) and "50+ bulk" in price(60)
    assert "Choose a product to see its price." in c.post(
        "/catalog/order/price/", {}, HTTP_HX_REQUEST="true").content.decode()


def test_review_then_place_a_mini_bulk_order(client_for, owner, workspace, catalog):
    c = client_for(owner)
    review = c.post("/catalog/order/", _post(catalog))
    assert review.status_code == 200
    html = review.content.decode()
    assert "Confirm the specifications" in html
    assert "Yes, these specifications are right" in html
    assert "$7.00" in html and "Springfield" in html
    with scope(workspace=workspace):
        assert not Order.objects.exists()  # reviewing places nothing

    # not confirmed: refused with the reason, still nothing placed
    refused = c.post("/catalog/order/", _post(catalog, step="place"))
    assert refused.status_code == 400
    assert "Confirm the specifications to place the order." in refused.content.decode()
    with scope(workspace=workspace):
        assert not Order.objects.exists()

    placed = c.post("/catalog/order/", _post(catalog, step="place", confirm="yes"))
    with scope(workspace=workspace):
        order = Order.objects.get()
    assert placed.status_code == 302 and placed["Location"] == f"/orders/{order.pk}/"
    assert order.state == OrderState.TO_ORDER and order.channel == "catalog"
    page = c.get(placed["Location"]).content.decode()
    assert f"Order {order.number} is placed" in page
    assert OutgoingEmail.objects.filter(subject__contains=order.number).count() == 1


def test_the_stamps_choice_is_asked_on_the_first_order_and_remembered(
        client_for, owner, workspace, catalog):
    c = client_for(owner)
    stamp = {"variant": catalog.stamp_40, "quantity": 2}
    asked = c.post("/catalog/order/price/", {"line_0_variant": catalog.stamp_40.pk,
                                              "line_0_quantity": 2}).content.decode()
    assert f'name="stamps-{catalog.stamp.pk}" value="unlabeled"' in asked
    assert "Develop custom stamps ($30.00 once" in asked
    review = c.post("/catalog/order/", _post(catalog, **{f"stamps-{catalog.stamp.pk}": "custom"},
                                             **stamp)).content.decode()
    assert "Custom stamp: custom stamps are developed, a one-time fee of $30.00." in review
    assert f'name="stamps-{catalog.stamp.pk}" value="custom" checked' in review
    refused = c.post("/catalog/order/", _post(catalog, step="place", confirm="yes", **stamp))
    assert refused.status_code == 400
    assert "Custom stamp: choose “Unlabeled” or “Develop custom stamps”" in \
        refused.content.decode()
    placed = c.post("/catalog/order/", _post(catalog, step="place", confirm="yes",
                                               **{f"stamps-{catalog.stamp.pk}": "custom"},
                                               **stamp))
    assert placed.status_code == 302
    with scope(workspace=workspace):
        assert StampsChoice.objects.get().choice == Stamps.CUSTOM
    again = c.post("/catalog/order/price/", {"line_0_variant": catalog.stamp_40.pk,
                                             "line_0_quantity": 2}).content.decode()
    assert "stamps-" not in again  # remembered


def test_a_missing_address_or_a_bad_item_keeps_the_form_with_the_reason(
        client_for, owner, workspace, catalog):
    c = client_for(owner)
    no_city = c.post("/catalog/order/", _post(catalog, address_city=""))
    assert no_city.status_code == 400
    html = no_city.content.decode()
    assert "This field is required." in html
    assert "$7.00" in html  # the items' price stays on the page
    too_many = c.post("/catalog/order/", _post(catalog, quantity=10_001))
    assert too_many.status_code == 400
    with scope(workspace=workspace):
        assert not Order.objects.exists()


def test_the_launch_setting_is_in_the_workspace_settings(client_for, owner, workspace):
    c = client_for(owner)
    assert "Launch catalog orders to production right after payment" in c.get(
        "/settings/").content.decode()
    saved = c.post("/settings/workspace/", {"name": workspace.name, "time_zone": "UTC",
                                            "launch_catalog_orders": "on"})
    assert saved.status_code == 302
    workspace.refresh_from_db()
    assert workspace.launch_catalog_orders is True


# --- the API ------------------------------------------------------------------------------


def _body(catalog, **over):
    return {"lines": [{"catalog_variant_id": catalog.mug_white.pk, "quantity": 60}],
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "province": "IL", "zip": "62701",
                                 "country_code": "US"},
            "confirm": True, **over}


def test_the_api_places_a_bulk_order_once_per_idempotency_key(api_client_for, owner,
                                                              workspace, catalog):
    api = api_client_for(owner)
    answer = api.post("/api/v1/catalog/orders/", _body(catalog), format="json",
                      HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["state"] == "to_order" and data["number"].startswith("MTO-")
    assert data["specifications"]["lines"][0]["unit_price"] == "6.00"
    assert data["specifications"]["lines"][0]["tier"] == "50+ bulk"
    again = api.post("/api/v1/catalog/orders/", _body(catalog), format="json",
                     HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert again.status_code == 201 and again.json()["order_id"] == data["order_id"]
    with scope(workspace=workspace):
        assert CatalogOrder.objects.count() == 1


@pytest.mark.parametrize(("over", "field"), [
    ({"confirm": False}, "confirm"),
    ({"lines": [{"catalog_variant_id": 999_999, "quantity": 1}]}, "lines.0.variant"),
    ({"shipping_address": {"name": "Ana"}}, "shipping_address.address1"),
])
def test_the_api_refuses_with_the_reason_and_places_nothing(api_client_for, owner, workspace,
                                                            catalog, over, field):
    answer = api_client_for(owner).post("/api/v1/catalog/orders/", _body(catalog, **over),
                                        format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["fields"]
    with scope(workspace=workspace):
        assert not Order.objects.exists()


def test_the_api_asks_for_the_stamps_choice_by_product(api_client_for, owner, catalog):
    api = api_client_for(owner)
    lines = [{"catalog_variant_id": catalog.stamp_40.pk, "quantity": 1}]
    refused = api.post("/api/v1/catalog/orders/", _body(catalog, lines=lines), format="json")
    assert refused.status_code == 400
    assert f"stamps.{catalog.stamp.pk}" in refused.json()["error"]["fields"]
    placed = api.post("/api/v1/catalog/orders/",
                      _body(catalog, lines=lines, stamps={str(catalog.stamp.pk): "unlabeled"}),
                      format="json")
    assert placed.status_code == 201
    assert placed.json()["specifications"]["setup_fees"][0]["stamps"] == "unlabeled"


def test_staff_see_catalog_orders_and_stamps_choices_in_the_admin(client, owner, workspace,
                                                                 catalog):
    from podhub.accounts.models import User
    from quotes.checkout import CheckoutLine, catalog_order_place

    with scope(workspace=workspace):
        order = catalog_order_place(
            workspace=workspace, by=owner, confirmed=True,
            lines=[CheckoutLine(variant_id=catalog.stamp_40.pk, quantity=2)],
            shipping_address={"name": "Ana Lima", "address1": "1 Main St",
                              "city": "Springfield", "province": "IL", "zip": "62701",
                              "country_code": "US"},
            stamps={catalog.stamp.pk: Stamps.UNLABELED})
        spec = CatalogOrder.objects.get(order=order)
    client.force_login(User.objects.create_superuser(email="staff@podhub.test", password="x"))
    listed = client.get("/admin/quotes/catalogorder/").content.decode()
    assert order.number in listed
    page = client.get(f"/admin/quotes/catalogorder/{spec.pk}/change/").content.decode()
    assert "Custom stamp" in page and "Springfield" in page
    choices = client.get("/admin/quotes/stampschoice/").content.decode()
    assert "Unlabeled (no setup fee)" in choices
    assert client.get("/admin/quotes/stampschoice/add/").status_code == 403
