"""The order API: list with filters and keyset pages, detail, manual entry, actions, errors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scope
from rest_framework.test import APIClient

from orders.models import Order, OrderState, Platform
from tests.factories import LineItemFactory, OrderFactory, StoreFactory
from tests.orders.service_data import order_at

S = OrderState
BASE = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def api(api_client_for, owner):
    return api_client_for(owner)


def _order(workspace, store, minutes=0, **fields):
    order = OrderFactory(workspace=workspace, store=store, lines=0,
                         placed_at=BASE + timedelta(minutes=minutes), **fields)
    return order


def _numbers(response) -> list[str]:
    return [o["number"] for o in response.json()["results"]]


def _manual_body(**overrides) -> dict:
    body = {
        "channel": "etsy", "number": "3141592653", "buyer_name": "Ana Lima",
        "buyer_email": "ana@example.com",
        "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                             "city": "Springfield", "province": "IL", "zip": "62701",
                             "country_code": "US"},
        "currency": "USD",
        "line_items": [{"sku": "MUG-11-WHITE", "title": "Mug 11oz", "quantity": 2,
                        "unit_price": "14.50",
                        "personalization": [{"key": "Name", "value": "Ana"}]}],
    }
    body.update(overrides)
    return body


# --- authentication and the error body -------------------------------------------------


def test_without_a_token_it_is_401_with_the_error_body(db):
    response = APIClient().get("/api/v1/orders/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_another_workspaces_order_is_404(api, other_workspace):
    foreign = OrderFactory(workspace=other_workspace)
    for method, path in [("get", ""), ("post", "cancel/"), ("post", "edit/")]:
        response = getattr(api, method)(f"/api/v1/orders/{foreign.pk}/{path}", {},
                                        format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    foreign.refresh_from_db()
    assert foreign.state == S.IN_QUOTATION


# --- list ------------------------------------------------------------------------------------


def test_list_shows_newest_first_with_status_totals_and_items(api, workspace, store):
    older = _order(workspace, store, 0, number="#1")
    LineItemFactory(order=older, sku="MUG", quantity=2)
    _order(workspace, store, 5, number="#2", state=S.TO_ORDER)
    response = api.get("/api/v1/orders/")
    assert response.status_code == 200
    body = response.json()
    assert _numbers(response) == ["#2", "#1"]
    assert body["next_cursor"] is None
    first = body["results"][1]
    assert first["status"] == "in_quotation"
    assert first["store"] == {"id": store.pk, "name": "Shop", "platform": "shopify"}
    assert first["totals"] == {"currency": "USD", "subtotal": "25.00", "discount": "0.00",
                               "shipping": "0.00", "tax": "0.00", "total": "25.00"}
    assert first["buyer"] == {"name": "Ana Buyer", "email": "ana@buyer.test"}
    assert first["shipping_address"]["country_code"] == "US"
    assert [(li["sku"], li["quantity"], li["unit_price"]) for li in first["line_items"]] == [
        ("MUG", 2, "25.00")]
    assert "timeline" not in first


@pytest.mark.parametrize(("params", "expected"), [
    ({"state": "to_order"}, ["#3"]),
    ({"q": "#2"}, ["#2"]),
    ({"q": "BOB@"}, ["#3"]),
    ({"q": "sku-x"}, ["#1"]),
    ({"date_from": "2026-05-02"}, ["#3", "#2"]),
    ({"date_to": "2026-05-01"}, ["#1"]),
])
def test_list_filters(api, workspace, store, params, expected):
    o1 = _order(workspace, store, 0, number="#1")
    LineItemFactory(order=o1, sku="SKU-X")
    with scope(workspace=workspace):
        Order.objects.filter(pk=o1.pk).update(search_text="#1 ana buyer ana@buyer.test sku-x")
    _order(workspace, store, 60 * 24, number="#2")
    _order(workspace, store, 60 * 48, number="#3", state=S.TO_ORDER, buyer_name="Bob",
           buyer_email="bob@x.test")
    assert _numbers(api.get("/api/v1/orders/", params)) == expected


def test_list_filters_by_store(api, workspace, store):
    other = StoreFactory(workspace=workspace, name="Other")
    _order(workspace, store, 0, number="#1")
    _order(workspace, other, 1, number="#2")
    assert _numbers(api.get("/api/v1/orders/", {"store": other.pk})) == ["#2"]


def test_list_never_shows_another_workspace(api, workspace, store, other_workspace):
    _order(workspace, store, 0, number="#mine")
    OrderFactory(workspace=other_workspace, number="#theirs")
    assert _numbers(api.get("/api/v1/orders/")) == ["#mine"]


def test_keyset_pages_never_repeat_or_skip(api, workspace, store):
    for i in range(7):
        _order(workspace, store, i // 2, number=f"#{i}")  # equal placed_at pairs
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"after": cursor} if cursor else {})}
        body = api.get("/api/v1/orders/", params).json()
        seen += [o["number"] for o in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"#{i}" for i in range(7)]
    assert len(seen) == 7


@pytest.mark.parametrize("params", [{"state": "lost"}, {"after": "!!garbage!!"},
                                    {"limit": 0}, {"date_from": "May 1st"}])
def test_bad_list_parameters_are_400_with_the_field(api, params):
    response = api.get("/api/v1/orders/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == set(params)


def test_list_costs_the_same_queries_for_10_and_50_orders(api, workspace, store):
    def queries(n):
        own = StoreFactory(workspace=workspace)
        for i in range(n):
            LineItemFactory.create_batch(2, order=_order(workspace, own, i))
        with CaptureQueriesContext(connection) as ctx:
            response = api.get("/api/v1/orders/", {"limit": 50, "store": own.pk})
        assert len(response.json()["results"]) == n
        return len(ctx.captured_queries)

    api.get("/api/v1/orders/")  # the token's first use also stamps last_used_at
    small, large = queries(10), queries(50)
    assert small == large
    assert large <= 8


# --- detail -------------------------------------------------------------------------------


def test_detail_has_items_and_the_timeline(api, workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.AWAITING_SUBMISSION)
    body = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["status"] == "awaiting_submission"
    assert body["submit_at"] is not None
    assert len(body["line_items"]) == 2
    assert body["line_items"][0]["personalization"] == [{"key": "Name", "value": "Ana"}]
    assert [(e["type"], e["to_status"]) for e in body["timeline"]] == [
        ("order.imported", "in_quotation"), ("order.priced", "to_order"),
        ("order.paid", "awaiting_submission")]
    assert body["timeline"][0]["actor"] == {"type": "store", "label": "shopify test"}


# --- manual entry --------------------------------------------------------------------------


def test_manual_order_is_created(api, workspace):
    response = api.post("/api/v1/orders/", _manual_body(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "in_quotation"
    assert body["auto_submit"] is False
    assert body["store"]["name"] == "Outside orders"
    assert body["totals"]["total"] == "29.00"
    assert body["timeline"][0]["type"] == "order.created"


def test_manual_order_with_bad_fields_is_400_naming_each(api, workspace):
    body = _manual_body(buyer_email="nope")
    body["line_items"][0]["quantity"] = -1
    response = api.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "line_items.0.quantity": "Enter a whole number from 1 to 10000.",
        "buyer_email": "'nope' is not a valid e-mail address.",
    }
    with scope(workspace=workspace):
        assert not Order.objects.exists()


def test_manual_order_must_be_json(api):
    response = api.post("/api/v1/orders/", {"number": "1"}, format="multipart")
    assert response.status_code == 400
    assert "application/json" in response.json()["error"]["message"]


def test_manual_order_twice_is_409(api):
    assert api.post("/api/v1/orders/", _manual_body(), format="json").status_code == 201
    response = api.post("/api/v1/orders/", _manual_body(), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_manual_order_into_a_store_of_another_workspace_is_400(api, other_workspace):
    foreign = StoreFactory(workspace=other_workspace, platform=Platform.MANUAL)
    response = api.post("/api/v1/orders/", _manual_body(store=foreign.pk), format="json")
    assert response.status_code == 400
    assert "store" in response.json()["error"]["fields"]


# --- actions ---------------------------------------------------------------------------------


def test_cancel(api, workspace, store):
    order = _order(workspace, store)
    response = api.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "duplicate"},
                        format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancel_reason"], body["cancel_note"]) == (
        "cancelled", "seller", "duplicate")
    assert body["timeline"][-1]["actor"]["type"] == "seller"


@pytest.mark.parametrize("state", [S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED])
def test_cancel_too_late_is_409_with_the_current_state(api, workspace, store, state):
    with scope(workspace=workspace):
        order = order_at(workspace, store, state)
    response = api.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["current_state"]) == ("illegal_transition", state)
    assert error["message"].startswith(f"Order {order.number} ")


def test_edit(api, workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        line_id = order.line_items.order_by("id").first().pk
    response = api.post(f"/api/v1/orders/{order.pk}/edit/", {
        "shipping_address": {"address2": "Apt 4"},
        "lines": {str(line_id): {"personalization": [{"key": "Name", "value": "Eve"}]}},
    }, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["shipping_address"]["address2"] == "Apt 4"
    assert body["line_items"][0]["personalization"] == [{"key": "Name", "value": "Eve"}]
    assert body["timeline"][-1]["type"] == "order.edited"


def test_edit_of_a_locked_order_is_409(api, workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.IN_PRODUCTION)
    response = api.post(f"/api/v1/orders/{order.pk}/edit/", {"buyer_name": "X"},
                        format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_locked"


def test_edit_with_a_bad_value_is_400(api, workspace, store):
    order = _order(workspace, store)
    response = api.post(f"/api/v1/orders/{order.pk}/edit/",
                        {"shipping_address": {"country_code": "Germany"}}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["shipping_address.country_code"]


def test_bulk_cancel(api, workspace, store):
    open_order = _order(workspace, store)
    with scope(workspace=workspace):
        making = order_at(workspace, store, S.IN_PRODUCTION)
    response = api.post("/api/v1/orders/bulk-cancel/",
                        {"order_ids": [open_order.pk, making.pk, 999999]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["done"] == [open_order.pk]
    assert [f["id"] for f in body["failed"]] == [making.pk, 999999]
    assert api.post("/api/v1/orders/bulk-cancel/", {"order_ids": []},
                    format="json").status_code == 400


def test_csv_import(api, workspace):
    csv = ("order_number,ship_name,ship_address1,ship_city,ship_zip,ship_country,sku,quantity,"
           "unit_price\n"
           "E-1,Ana,1 Main St,Springfield,62701,US,MUG,1,14.50\n"
           "E-2,Ben,2 Main St,Springfield,62701,US,MUG,many,14.50\n")
    upload = SimpleUploadedFile("orders.csv", csv.encode(), content_type="text/csv")
    response = api.post("/api/v1/orders/import-csv/", {"file": upload}, format="multipart")
    # the file is accepted and queued: 202 with the job's URL
    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["total_rows"]) == ("pending", 2)
    # the worker's part, run here
    from orders import csv_jobs

    with scope(workspace=workspace):
        csv_jobs.csv_import_process(job_id=job["id"])
    body = api.get(job["url"]).json()
    assert (body["status"], body["total_rows"], body["rows_done"]) == ("done", 2, 2)
    assert [c["number"] for c in body["created"]] == ["E-1"]
    assert body["rejected"] == [{"row": 3,
                                 "reason": "quantity: Enter a whole number from 1 to 10000."}]


def test_csv_import_of_a_non_csv_is_400(api):
    upload = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n\xff\xfe", content_type="image/png")
    response = api.post("/api/v1/orders/import-csv/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]
    assert api.post("/api/v1/orders/import-csv/", {}, format="multipart").status_code == 400


# --- the schema ------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_order_api(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/v1/orders/", "/api/v1/orders/{order_id}/",
                 "/api/v1/orders/{order_id}/cancel/", "/api/v1/orders/{order_id}/edit/",
                 "/api/v1/orders/import-csv/", "/api/v1/orders/bulk-cancel/",
                 "/api/v1/orders/imports/{import_id}/"]:
        assert path in paths
    assert "post" in paths["/api/v1/orders/"] and "get" in paths["/api/v1/orders/"]
