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
