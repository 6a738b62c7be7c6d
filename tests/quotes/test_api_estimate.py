"""POST /api/v1/estimates/: what an order or a draft would cost, holding no money
(docs/api.md "Estimates"; prices as in docs/pricing.md's worked examples)."""

from django_scopes import scope

from billing.models import Hold, LedgerEntry
from tests.factories import StoreFactory

URL = "/api/v1/estimates/"


def _money_rows(workspace) -> tuple[int, int]:
    with scope(workspace=workspace):
        return (LedgerEntry.objects.filter(workspace=workspace).count(),
                Hold.objects.filter(workspace=workspace).count())


def test_a_draft_is_priced_without_holding_money(owner, api_client_for, catalog):
    api = api_client_for(owner)
    balance = api.get("/api/v1/balance/").json()
    before = _money_rows(owner.workspace)
    answer = api.post(URL, {"country_code": "us", "lines": [
        {"catalog_variant_id": catalog.mug_white.pk, "quantity": 2}]}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    # 2 × 8.00 + standard to the US (5.00 + 2.00) + 1.00 handling
    assert (body["currency"], body["items_total"], body["shipping_total"],
            body["handling_total"], body["total"]) == ("USD", "16.00", "7.00", "1.00", "24.00")
    assert body["is_complete"] is True
    express = api.post(URL, {"country_code": "US", "shipping_method": "express", "lines": [
        {"catalog_variant_id": catalog.mug_white.pk, "quantity": 2}]}, format="json").json()
    assert express["shipping_total"] == "15.00"  # 12.00 + 3.00
    assert api.get("/api/v1/balance/").json() == balance
    assert _money_rows(owner.workspace) == before


def test_an_order_is_estimated_as_it_stands(owner, api_client_for, catalog, import_order):
    store = StoreFactory(workspace=owner.workspace, currency="USD")
    order = import_order(owner.workspace, store, ("MUG11-BLACK", 1))
    before = _money_rows(owner.workspace)
    body = api_client_for(owner).post(URL, {"order_id": order.pk}, format="json").json()
    assert body["items_total"] == "9.00" and body["total"] == "15.00"
    assert _money_rows(owner.workspace) == before


def test_bad_input_names_the_field(owner, other_owner, api_client_for, catalog, import_order):
    api = api_client_for(owner)
    empty = api.post(URL, {}, format="json")
    assert empty.status_code == 400
    assert set(empty.json()["error"]["fields"]) == {"country_code", "lines"}
    unknown = api.post(URL, {"country_code": "US", "lines": [
        {"catalog_variant_id": 999999, "quantity": 1}]}, format="json")
    assert unknown.status_code == 400
    assert "lines.0.catalog_variant_id" in unknown.json()["error"]["fields"]
    theirs = import_order(other_owner.workspace,
                          StoreFactory(workspace=other_owner.workspace), ("MUG11-WHITE", 1))
    hidden = api.post(URL, {"order_id": theirs.pk}, format="json")
    assert hidden.status_code == 400 and "order_id" in hidden.json()["error"]["fields"]


def test_a_draft_by_sku_maps_as_an_order_line_would(owner, api_client_for, catalog):
    from quotes.models import RuleKind, SkuRule

    api = api_client_for(owner)
    store = StoreFactory(workspace=owner.workspace, currency="USD")
    with scope(workspace=owner.workspace):
        SkuRule.objects.create(workspace=owner.workspace, store=store, kind=RuleKind.PREFIX,
                               pattern="MY-MUG-", variant=catalog.mug_black)
    # the catalog's own SKU maps without a rule: 2 × 8.00 as by variant id
    by_sku = api.post(URL, {"country_code": "US", "lines": [
        {"sku": "MUG11-WHITE", "quantity": 2}]}, format="json").json()
    assert (by_sku["items_total"], by_sku["total"]) == ("16.00", "24.00")
    # the store's prefix rule applies only when the store is named
    body = {"country_code": "US", "lines": [{"sku": "MY-MUG-RED", "quantity": 1},
                                            {"catalog_variant_id": catalog.mug_white.pk,
                                             "quantity": 1}]}
    unmapped = api.post(URL, body, format="json")
    assert unmapped.status_code == 400
    assert list(unmapped.json()["error"]["fields"]) == ["lines.0.sku"]
    assert "MY-MUG-RED" in unmapped.json()["error"]["message"]
    mapped = api.post(URL, {**body, "store_id": store.pk}, format="json")
    assert mapped.status_code == 200, mapped.json()
    assert mapped.json()["items_total"] == "17.00"  # 9.00 black + 8.00 white


def test_a_draft_line_names_one_variant(owner, other_owner, api_client_for, catalog):
    api = api_client_for(owner)
    both = api.post(URL, {"country_code": "US", "lines": [
        {"sku": "MUG11-WHITE", "catalog_variant_id": catalog.mug_white.pk, "quantity": 1}]},
        format="json")
    assert both.status_code == 400 and "lines" in both.json()["error"]["fields"]
    neither = api.post(URL, {"country_code": "US", "lines": [{"quantity": 1}]}, format="json")
    assert neither.status_code == 400
    theirs = StoreFactory(workspace=other_owner.workspace)
    hidden = api.post(URL, {"country_code": "US", "store_id": theirs.pk, "lines": [
        {"sku": "MUG11-WHITE", "quantity": 1}]}, format="json")
    assert hidden.status_code == 400 and "store_id" in hidden.json()["error"]["fields"]
