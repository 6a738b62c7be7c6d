"""Finding 7 of issue #13: ids in API input must name objects the workspace may use.

The orders API took any `catalog_variant_id`: another workspace's private
(custom) variant, or one that does not exist, and priced the order with it.
Now every id in an API body is checked against what the token's workspace can
see, and a bad one is a 400 naming the field, never a 404 that confirms the
object exists elsewhere, nor a 500 (docs/security.md).
"""

import pytest
from django_scopes import scope, scopes_disabled

from orders.models import Order
from tests.factories import OrderFactory, StoreFactory


@pytest.fixture
def catalog(workspace, other_workspace):
    from quotes.models import Product, Variant

    def variant(sku, made_for=None):
        product = Product.objects.create(name=f"Product {sku}", made_for_workspace=made_for)
        return Variant.objects.create(product=product, sku=sku, price_amount="4.00")

    return {"public": variant("PUB-1"), "mine": variant("MINE-1", workspace),
            "theirs": variant("THEIRS-1", other_workspace)}


@pytest.fixture
def api(api_client_for, owner):
    return api_client_for(owner)


def _order_body(**line) -> dict:
    return {
        "number": "E-1", "currency": "USD",
        "shipping_address": {"name": "Ana", "address1": "1 Main St", "city": "Springfield",
                             "zip": "62701", "country_code": "US"},
        "line_items": [{"sku": "X-1", "unit_price": "10.00", **line}],
    }


def _fields(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("which", ["theirs", "missing"])
def test_an_order_cannot_name_a_variant_the_workspace_cannot_use(api, workspace, catalog,
                                                                 which):
    variant_id = catalog["theirs"].pk if which == "theirs" else 987654321
    response = api.post("/api/v1/orders/", _order_body(catalog_variant_id=variant_id),
                        format="json")
    assert "line_items.0.catalog_variant_id" in _fields(response)
    with scope(workspace=workspace):
        assert not Order.objects.exists()


@pytest.mark.parametrize("which", ["public", "mine"])
def test_an_order_may_name_a_public_variant_or_one_made_for_it(api, catalog, which):
    response = api.post("/api/v1/orders/", _order_body(catalog_variant_id=catalog[which].pk),
                        format="json")
    assert response.status_code == 201, response.content
    assert response.json()["line_items"][0]["catalog_variant_id"] == catalog[which].pk


def test_a_sku_rule_cannot_name_another_workspaces_variant_or_store(api, catalog,
                                                                    other_workspace):
    theirs = StoreFactory(workspace=other_workspace)
    response = api.post("/api/v1/catalog/sku-rules/",
                        {"kind": "exact", "pattern": "ABC", "variant_id": catalog["theirs"].pk},
                        format="json")
    assert "variant_id" in _fields(response)
    response = api.post("/api/v1/catalog/sku-rules/",
                        {"kind": "exact", "pattern": "ABC", "variant_id": catalog["public"].pk,
                         "store_id": theirs.pk}, format="json")
    assert "store_id" in _fields(response)


def test_an_order_or_csv_import_cannot_name_another_workspaces_store(api, other_workspace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    theirs = StoreFactory(workspace=other_workspace, platform="manual")
    response = api.post("/api/v1/orders/", {**_order_body(), "store": theirs.pk}, format="json")
    assert "store" in _fields(response)
    csv = SimpleUploadedFile("o.csv", b"order_number\n1\n", content_type="text/csv")
    response = api.post("/api/v1/orders/import-csv/", {"file": csv, "store": theirs.pk},
                        format="multipart")
    assert "store" in _fields(response)


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/orders/bulk-cancel/", {}),
    ("/api/v1/orders/submit/", {}),
    ("/api/v1/payments/", {"key": "k-1"}),
])
def test_actions_on_another_workspaces_orders_do_nothing_to_them(api, other_workspace, path,
                                                                 body):
    theirs = OrderFactory(workspace=other_workspace, state="to_order", lines=1)
    response = api.post(path, {"order_ids": [theirs.pk], **body}, format="json")
    assert response.status_code in (200, 400, 404, 409), response.content
    assert response["Content-Type"].startswith("application/json")
    with scopes_disabled():
        assert Order.objects.get(pk=theirs.pk).state == "to_order"
