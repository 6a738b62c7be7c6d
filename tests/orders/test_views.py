"""The seller's order dashboard: list, tabs, search, filters, pages, order page, actions."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scope

from orders import selectors, services
from orders.events import Actor
from orders.models import CancelReason, HoldReason, Order, OrderEvent, OrderState
from tests.orders.dashboard_data import BASE_TIME, make_order, make_store

S = OrderState


@pytest.fixture
def store(workspace):
    return make_store(workspace)


@pytest.fixture
def seller(client_for, owner):
    return client_for(owner)


def _numbers(response) -> list[str]:
    return [row.number for row in response.context["page"].rows]


def _tab_count(response, key):
    return next(t["count"] for t in response.context["tabs"] if t["key"] == key)


# --- tabs and counts -------------------------------------------------------------------


def test_list_has_a_tab_per_state_with_counts(seller, workspace, store, other_owner):
    # given orders in several states, and one in another workspace
    for state, n in [(S.IN_QUOTATION, 2), (S.TO_ORDER, 3), (S.AWAITING_SUBMISSION, 1),
                     (S.CANCELLED, 1)]:
        for _ in range(n):
            make_order(workspace, store, state=state)
    make_order(other_owner.workspace, make_store(other_owner.workspace), state=S.TO_ORDER)
    # when
    response = seller.get("/orders/")
    # then
    assert response.status_code == 200
    body = response.content.decode()
    for label in ("In Quotation", "To Order", "Awaiting Submission", "In Production", "Shipped",
                  "Completed", "Cancelled", "On Hold"):
        assert label in body
    assert _tab_count(response, "all") == 7
    assert _tab_count(response, S.TO_ORDER) == 3
    assert _tab_count(response, S.IN_QUOTATION) == 2
    assert _tab_count(response, S.SHIPPED) == 0
    assert 'data-count="to_order">3<' in body


def test_tab_shows_only_its_state(seller, workspace, store):
    a = make_order(workspace, store, state=S.TO_ORDER)
    make_order(workspace, store, state=S.SHIPPED)
    response = seller.get("/orders/", {"state": S.TO_ORDER})
    assert _numbers(response) == [a.number]
    assert 'data-tab="to_order" aria-current="page"' in response.content.decode()


def test_tab_counts_are_capped_and_one_query(workspace, store, monkeypatch):
    # given more orders in one state than the cap
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    for _ in range(7):
        make_order(workspace, store, state=S.TO_ORDER)
    make_order(workspace, store, state=S.SHIPPED)
    # when
    with scope(workspace=workspace), CaptureQueriesContext(connection) as queries:
        counts = selectors.tab_counts(workspace=workspace)
    # then
    assert len(queries) == 1
    assert counts[S.TO_ORDER] == "5+"
    assert counts["all"] == "5+"
    assert counts[S.SHIPPED] == 1
    assert counts[S.ON_HOLD] == 0


def test_awaiting_submission_shows_the_countdown(seller, workspace, store):
    from django.utils import timezone

    make_order(workspace, store, state=S.AWAITING_SUBMISSION,
               submit_at=timezone.now() + timedelta(hours=5, minutes=30))
    body = seller.get("/orders/", {"state": S.AWAITING_SUBMISSION}).content.decode()
    assert re.search(r'class="countdown" data-deadline="[^"]+"[^>]*>submits in 5 h (29|30) min',
                     body), body


def test_the_order_page_and_the_list_count_items_alike(seller, workspace, store):
    from orders.models import LineItem

    with scope(workspace=workspace):
        order = make_order(workspace, store, skus=("MUG-11-WHITE",))
        LineItem.objects.filter(order=order).update(quantity=3)
    listing = seller.get("/orders/").content.decode()
    assert "1 item<br>" in listing
    page = seller.get(f"/orders/{order.pk}/").content.decode()
    assert "Items (1)" in page and "· 3 pieces" in page


# --- search and filters ------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [
    ("#4711", "#4711"), ("ZOË", "#4711"), ("zoe@shop.test", "#4711"), ("tee-black", "#4711"),
    ("Bruno", "#4712"), ("nothing-like-this", None),
])
def test_search_by_number_buyer_email_or_sku(seller, workspace, store, q, expected):
    make_order(workspace, store, number="#4711", buyer_name="Zoë Klein",
               buyer_email="zoe@shop.test", skus=("MUG-11", "TEE-BLACK-L"))
    make_order(workspace, store, number="#4712", buyer_name="Bruno Diaz", skus=("MUG-15",))
    response = seller.get("/orders/", {"q": q})
    assert _numbers(response) == ([expected] if expected else [])


def test_filter_by_store_and_date_range(seller, workspace, store):
    etsy = make_store(workspace, name="Etsy shop", platform="manual")
    old = make_order(workspace, store, placed_at=BASE_TIME - timedelta(days=10))
    mid = make_order(workspace, store, placed_at=BASE_TIME)
    make_order(workspace, etsy, placed_at=BASE_TIME)
    # store only
    response = seller.get("/orders/", {"store": etsy.pk})
    assert [r.store_id for r in response.context["page"].rows] == [etsy.pk]
    # store + dates (inclusive days)
    response = seller.get("/orders/", {"store": store.pk, "date_from": BASE_TIME.date(),
                                       "date_to": BASE_TIME.date()})
    assert _numbers(response) == [mid.number]
    response = seller.get("/orders/", {"date_to": (BASE_TIME - timedelta(days=5)).date()})
    assert _numbers(response) == [old.number]


def test_invalid_filters_are_ignored_not_an_error(seller, workspace, store):
    make_order(workspace, store)
    response = seller.get("/orders/", {"state": "bogus", "store": "x", "date_from": "nope",
                                       "after": "%%%"})
    assert response.status_code == 200
    assert len(response.context["page"].rows) == 1


# --- keyset pagination ----------------------------------------------------------------------


def test_pages_never_repeat_or_skip_a_row(seller, workspace, store):
    # given 130 orders, many sharing a placed_at (ties are broken by id)
    made = [make_order(workspace, store, placed_at=BASE_TIME + timedelta(minutes=i // 3))
            for i in range(130)]
    expected = [o.pk for o in sorted(made, key=lambda o: (o.placed_at, o.pk), reverse=True)]
    # when walking the pages
    seen, url, pages = [], "/orders/", 0
    while url:
        response = seller.get(url)
        seen += [row.id for row in response.context["page"].rows]
        url = response.context["next_url"]
        pages += 1
        if pages == 1:
            # an order arriving meanwhile does not shift the next pages
            make_order(workspace, store, placed_at=BASE_TIME + timedelta(days=1))
    # then
    assert pages == 3
    assert seen == expected
    assert response.context["first_url"] == "/orders/"


def test_next_page_keeps_the_filters(seller, workspace, store):
    for _ in range(55):
        make_order(workspace, store, state=S.TO_ORDER, buyer_name="Kim Park")
    make_order(workspace, store, state=S.SHIPPED, buyer_name="Kim Park")
    first = seller.get("/orders/", {"state": S.TO_ORDER, "q": "kim"})
    assert len(first.context["page"].rows) == 50
    assert "state=to_order" in first.context["next_url"]
    assert "q=kim" in first.context["next_url"]
    second = seller.get(first.context["next_url"])
    assert len(second.context["page"].rows) == 5
    assert second.context["next_url"] is None


def test_selector_cursor_is_opaque_and_round_trips():
    from datetime import UTC, datetime

    when = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    cursor = selectors.encode_cursor(when, 42)
    assert "|" not in cursor and "2026" not in cursor
    assert selectors.decode_cursor(cursor) == (when, 42)
    assert selectors.decode_cursor("garbage!") is None


# --- htmx ------------------------------------------------------------------------------


def test_htmx_request_swaps_only_the_list_and_the_tabs(seller, workspace, store):
    make_order(workspace, store, number="#9001")
    response = seller.get("/orders/", {"state": S.TO_ORDER}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="order-list")
    body = response.content.decode()
    assert "<html" not in body
    assert "#9001" in body
    assert 'id="order-tabs" class="tabs"' in body and 'hx-swap-oob="true"' in body
    assert "HX-Request" in response["Vary"]


def test_tabs_endpoint_renders_fresh_counts(seller, workspace, store):
    make_order(workspace, store, state=S.ON_HOLD)
    body = seller.get("/orders/tabs/").content.decode()
    assert 'data-count="on_hold">1<' in body


# --- query budget -----------------------------------------------------------------------


def _queries_for_list(client, **params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/orders/", params)
    assert response.status_code == 200
    return len(queries), len(response.context["page"].rows)


@pytest.mark.parametrize("params", [{"per_page": 100}, {"per_page": 100, "q": "mug"},
                                    {"per_page": 100, "state": S.TO_ORDER}])
def test_list_issues_the_same_few_queries_for_10_and_100_rows(
    client_for, owner, workspace, store, params
):
    # given 10 orders (1 to 4 lines each), one held for information (the site-wide banner)
    made = [make_order(workspace, store, skus=("MUG-A", "B", "C", "D")[: 1 + i % 4])
            for i in range(10)]
    with scope(workspace=workspace):
        services.order_request_info(order_id=made[0].pk, message="?", actor=Actor.system())
    held = 1 if params.get("state") == S.TO_ORDER else 0
    seller = client_for(owner)
    seller.get("/orders/")  # warm the session
    small, shown = _queries_for_list(seller, **params)
    assert shown == 10 - held
    # when 90 more orders across 90 stores make the page 100 rows
    for i in range(90):
        make_order(workspace, make_store(workspace, name=f"S{i}"),
                   skus=("MUG-A", "B", "C", "D")[: 1 + i % 4])
    big, shown = _queries_for_list(seller, **params)
    # then
    assert shown == 100 - held
    assert small == big
    assert big <= 10


def test_selector_queries_do_not_depend_on_page_size(workspace, store):
    for i in range(120):
        make_order(workspace, store, skus=("A", "B", "C", "D", "E")[: 1 + i % 5])
    for limit in (10, 100):
        with scope(workspace=workspace), CaptureQueriesContext(connection) as queries:
            page = selectors.order_list(workspace=workspace, limit=limit)
            for row in page.rows:
                _ = row.store_name, row.line_count, row.first_skus
        assert len(queries) == 2
        assert len(page.rows) == limit
    assert {row.line_count for row in page.rows} == {1, 2, 3, 4, 5}
    assert max(len(row.first_skus) for row in page.rows) == selectors.SKUS_SHOWN


# --- the order page ---------------------------------------------------------------------------


def test_order_page_shows_items_personalisation_slots_and_timeline(seller, owner, workspace,
                                                                    store):
    order = make_order(
        workspace, store, number="#5001", skus=("MUG-11",),
        personalization=[{"key": "Name", "value": "Ana"}, {"key": "Font", "value": "Serif"}],
        images=[{"key": "Photo", "url": "https://img.example/p.png"},
                {"key": "Bad", "url": "javascript:alert(1)"}],
    )
    with scope(workspace=workspace):
        services.order_hold(order_id=order.pk, reason=HoldReason.ADDRESS_INVALID,
                            message="Street number missing", actor=Actor.system("Address check"))
    response = seller.get(f"/orders/{order.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "#5001" in body and "MUG-11" in body
    assert "<dt>Name</dt><dd>Ana</dd>" in body and "<dt>Font</dt><dd>Serif</dd>" in body
    assert 'src="https://img.example/p.png"' in body
    assert "javascript:" not in body
    # the panels of the apps above orders load into the shell with htmx
    for url in (f"/orders/{order.pk}/print-files/", f"/orders/{order.pk}/fulfillment/",
                f"/balance/orders/{order.pk}/panel/"):
        assert f'hx-get="{url}"' in body
    # timeline: what, from -> to, who, why
    assert "On hold: shipping address invalid" in body
    assert "To order → On hold" in body
    assert "System · Address check" in body
    assert "Street number missing" in body


def test_order_of_another_workspace_is_404(client_for, other_owner, workspace, store):
    order = make_order(workspace, store)
    assert client_for(other_owner).get(f"/orders/{order.pk}/").status_code == 404


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_from_the_order_page(seller, user, workspace, store):
    order = make_order(workspace, store, state=S.AWAITING_SUBMISSION)
    response = seller.post(f"/orders/{order.pk}/cancel/", {"note": "Buyer changed mind"})
    assert response.status_code == 302
    with scope(workspace=workspace):
        order.refresh_from_db()
        event = OrderEvent.objects.get(order=order, type="order.cancelled")
    assert order.state == S.CANCELLED
    assert order.cancel_reason == CancelReason.SELLER
    assert event.actor_user == user and event.message == "Buyer changed mind"
    body = seller.get(f"/orders/{order.pk}/").content.decode()
    assert "Cancelled by the seller" in body and "Buyer changed mind" in body
    assert "Seller · owner@acme.test" in body


def test_cancel_in_production_is_refused_with_the_reason(seller, workspace, store):
    order = make_order(workspace, store, state=S.IN_PRODUCTION)
    response = seller.post(f"/orders/{order.pk}/cancel/", {"note": "x"}, follow=True)
    assert "already in production" in response.content.decode()
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.state == S.IN_PRODUCTION
    # htmx callers get the reason as a 409 body
    response = seller.post(f"/orders/{order.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "already in production" in response.content.decode()


def test_bulk_cancel_reports_each_order(seller, workspace, store):
    # given a mix of cancellable and non-cancellable orders
    ok1 = make_order(workspace, store, state=S.TO_ORDER, number="#B1")
    ok2 = make_order(workspace, store, state=S.IN_QUOTATION, number="#B2")
    busy = make_order(workspace, store, state=S.IN_PRODUCTION, number="#B3")
    shipped = make_order(workspace, store, state=S.SHIPPED, number="#B4")
    ids = [ok1.pk, ok2.pk, busy.pk, shipped.pk]
    # when
    response = seller.post("/orders/bulk/cancel/", {"order_ids": ids, "note": "bulk"},
                           HTTP_HX_REQUEST="true")
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger"] == "ordersChanged"
    assert re.search(r"Cancelled 2 orders", body)
    assert "#B1</a> cancelled" in body and "#B2</a> cancelled" in body
    assert "2 orders could not be cancelled" in body
    assert re.search(r"#B3</a>: .+", body) and re.search(r"#B4</a>: .+", body)
    with scope(workspace=workspace):
        states = dict(Order.objects.filter(pk__in=ids).values_list("number", "state"))
    assert states == {"#B1": S.CANCELLED, "#B2": S.CANCELLED, "#B3": S.IN_PRODUCTION,
                      "#B4": S.SHIPPED}


def test_bulk_cancel_without_htmx_redirects_with_messages(seller, workspace, store):
    ok = make_order(workspace, store, state=S.TO_ORDER, number="#C1")
    busy = make_order(workspace, store, state=S.IN_PRODUCTION, number="#C2")
    response = seller.post("/orders/bulk/cancel/", {"order_ids": [ok.pk, busy.pk],
                                                    "next": "/orders/?state=to_order"},
                           follow=True)
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == "/orders/?state=to_order"
    assert "Cancelled 1 order(s): #C1." in body
    assert "#C2:" in body


def test_bulk_cancel_cannot_touch_another_workspace(client_for, other_owner, workspace, store):
    order = make_order(workspace, store, state=S.TO_ORDER)
    client_for(other_owner).post("/orders/bulk/cancel/", {"order_ids": [order.pk]},
                                 HTTP_HX_REQUEST="true")
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.state == S.TO_ORDER


def test_bulk_cancel_needs_a_selection(seller):
    response = seller.post("/orders/bulk/cancel/", {}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Select at least one order" in response.content.decode()


# --- edit -----------------------------------------------------------------------------------


def test_locked_order_edit_is_refused_with_the_reason(seller, workspace, store):
    order = make_order(workspace, store, state=S.IN_PRODUCTION, buyer_name="Old Name")
    page = seller.get(f"/orders/{order.pk}/edit/")
    assert page.status_code == 200
    assert "can no longer be edited" in page.content.decode()
    assert 'data-testid="edit-form"' not in page.content.decode()
    response = seller.post(f"/orders/{order.pk}/edit/", {"buyer_name": "New"}, follow=True)
    assert "can no longer be edited" in response.content.decode()
    response = seller.post(f"/orders/{order.pk}/edit/", {"buyer_name": "New"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.buyer_name == "Old Name"


def test_edit_buyer_address_and_personalisation(seller, workspace, store):
    order = make_order(workspace, store, state=S.TO_ORDER, buyer_name="Ana Lima",
                       personalization=[{"key": "Name", "value": "Ana"}])
    with scope(workspace=workspace):
        line = order.line_items.get()
    form = seller.get(f"/orders/{order.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({
        "buyer_name": "Ana Maria Lima", "address_address1": "2 Elm St",
        f"p-{line.pk}-0-key": "Name", f"p-{line.pk}-0-value": "Ana Maria",
        f"p-{line.pk}-1-key": "Color", f"p-{line.pk}-1-value": "Red",
    })
    response = seller.post(f"/orders/{order.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    with scope(workspace=workspace):
        order.refresh_from_db()
        line.refresh_from_db()
    assert order.buyer_name == "Ana Maria Lima"
    assert order.shipping_address["address1"] == "2 Elm St"
    assert order.shipping_address["city"] == "Springfield"
    assert line.personalization == [{"key": "Name", "value": "Ana Maria"},
                                    {"key": "Color", "value": "Red"}]


def test_edit_shows_the_services_validation_errors(seller, workspace, store):
    order = make_order(workspace, store, state=S.TO_ORDER)
    form = seller.get(f"/orders/{order.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["address_zip"] = "not a zip"
    response = seller.post(f"/orders/{order.pk}/edit/", data)
    assert response.status_code == 400
    assert "ZIP" in response.content.decode()


# --- the request for information: banners -------------------------------------------------


def test_info_request_shows_banners_and_editing_answers_it(seller, workspace, store):
    order = make_order(workspace, store, state=S.TO_ORDER, number="#7007")
    with scope(workspace=workspace):
        services.order_request_info(order_id=order.pk, message="Which font for the name?",
                                    actor=Actor.system("Staff"))
        order.refresh_from_db()
    deadline = order.info_due_at.strftime("%Y-%m-%d %H:%M")
    # site-wide: on the dashboard home and the list
    for url in ("/", "/orders/", "/settings/"):
        body = seller.get(url).content.decode()
        assert 'data-testid="attention-banner"' in body, url
        assert "Which font for the name?" in body and f"answer before {deadline}" in body
    # on the order page
    body = seller.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-testid="order-banner"' in body and deadline in body
    # when the seller edits the order
    form = seller.get(f"/orders/{order.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["buyer_name"] = "Ana Answered"
    assert seller.post(f"/orders/{order.pk}/edit/", data).status_code == 302
    # then the hold is released and the banner is gone
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.state == S.TO_ORDER
    assert 'data-testid="attention-banner"' not in seller.get("/orders/").content.decode()


def test_attention_orders_selector(workspace, store):
    held = make_order(workspace, store, state=S.TO_ORDER)
    make_order(workspace, store, state=S.ON_HOLD, hold_reason=HoldReason.PREFLIGHT)
    with scope(workspace=workspace):
        services.order_request_info(order_id=held.pk, message="?", actor=Actor.system())
        assert [o.pk for o in selectors.attention_orders(workspace=workspace)] == [held.pk]


# --- orders from outside sources ------------------------------------------------------------


def test_manual_order_entry_creates_an_order(seller, workspace):
    data = {
        "number": "ETSY-1001", "channel": "etsy", "buyer_name": "Lea Roux",
        "buyer_email": "lea@example.com", "currency": "USD",
        "address_name": "Lea Roux", "address_address1": "5 Rue Haute", "address_city": "Lyon",
        "address_zip": "69001", "address_country_code": "fr",
        "line-0-sku": "MUG-11", "line-0-title": "Mug", "line-0-quantity": "2",
        "line-0-price": "12.50", "line-0-personalization": "Name: Lea\nColor: Blue",
    }
    response = seller.post("/orders/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    with scope(workspace=workspace):
        order = Order.objects.get(number="ETSY-1001")
        line = order.line_items.get()
    assert response["Location"] == f"/orders/{order.pk}/"
    assert order.buyer_name == "Lea Roux" and order.shipping_address["country_code"] == "FR"
    assert line.quantity == 2 and line.sku == "MUG-11"
    assert line.personalization == [{"key": "Name", "value": "Lea"},
                                    {"key": "Color", "value": "Blue"}]


def test_manual_order_entry_shows_errors(seller, workspace):
    response = seller.post("/orders/new/", {"number": "X-1", "buyer_name": "A",
                                            "currency": "USD"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Add at least one line item." in body
    with scope(workspace=workspace):
        assert not Order.objects.filter(number="X-1").exists()


CSV_HEADER = ("order_number,buyer_name,buyer_email,ship_name,ship_address1,ship_city,ship_zip,"
              "ship_country,sku,title,quantity,unit_price,personalization\n")


def test_csv_import_reports_created_duplicates_and_rejected(seller, workspace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = CSV_HEADER + (
        "A-1,Ana,ana@example.com,Ana,1 Main St,Springfield,62701,US,MUG-11,Mug,1,12.50,Name=Ana\n"
        "A-1,,,,,,,,TEE-L,Tee,2,20.00,\n"
        "A-2,Bo,bo@example.com,Bo,2 Main St,Springfield,62701,US,MUG-11,Mug,zero,12.50,\n"
    )
    upload = lambda: SimpleUploadedFile("orders.csv", body.encode(),  # noqa: E731
                                        content_type="text/csv")
    from orders import csv_jobs

    def imported(response) -> str:
        # the upload answers with the job's page; the worker's part runs here
        assert response.status_code == 302
        job_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
        with scope(workspace=workspace):
            csv_jobs.csv_import_process(job_id=job_id)
        return seller.get(response["Location"]).content.decode()

    page = imported(seller.post("/orders/import/", {"file": upload()}))
    assert 'data-testid="created-count">1<' in page
    assert 'data-testid="rejected-count">1<' in page
    assert "A-1" in page
    second = imported(seller.post("/orders/import/", {"file": upload()}))
    assert 'data-testid="created-count">0<' in second
    assert 'data-testid="duplicate-count">1<' in second
    with scope(workspace=workspace):
        assert Order.objects.filter(number="A-1").count() == 1
        assert not Order.objects.filter(number="A-2").exists()


def test_pages_need_a_login(client, workspace, store):
    order = make_order(workspace, store)
    for url in ("/orders/", f"/orders/{order.pk}/", "/orders/new/", "/orders/import/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_dates_are_parsed_as_whole_days(workspace, store):
    late = make_order(workspace, store, placed_at=BASE_TIME.replace(hour=23, minute=59))
    with scope(workspace=workspace):
        page = selectors.order_list(workspace=workspace, date_from=date(2026, 5, 1),
                                    date_to=date(2026, 5, 1))
    assert [r.id for r in page.rows] == [late.pk]


def test_another_workspace_never_sees_these_orders(client_for, other_owner, workspace, store):
    make_order(workspace, store, number="#SECRET-1", buyer_name="Hidden Buyer")
    other = client_for(other_owner)
    for params in ({}, {"q": "secret"}, {"q": "hidden"}, {"state": S.TO_ORDER}):
        response = other.get("/orders/", params)
        assert response.status_code == 200
        assert "SECRET-1" not in response.content.decode()
        assert response.context["page"].rows == []
    assert "Hidden Buyer" not in other.get("/orders/tabs/").content.decode()


def test_search_treats_like_wildcards_literally(workspace, store):
    make_order(workspace, store, buyer_name="Ana 50%_off")
    make_order(workspace, store, buyer_name="Bo 500 off")
    with scope(workspace=workspace):
        assert [r.buyer_name for r in selectors.order_list(workspace=workspace, q="50%_").rows] \
            == ["Ana 50%_off"]
        assert selectors.order_list(workspace=workspace, q="a_5").rows == []


def test_list_sql_honours_the_active_scope(workspace, store, other_workspace):
    from django_scopes import ScopeError, scopes_disabled

    make_order(workspace, store)
    with pytest.raises(ScopeError):
        selectors.order_list(workspace=workspace)  # no scope at all
    with scope(workspace=other_workspace), pytest.raises(ScopeError):
        selectors.order_list(workspace=workspace)
    with scope(workspace=other_workspace), pytest.raises(ScopeError):
        selectors.tab_counts(workspace=workspace)
    with scopes_disabled():
        assert len(selectors.order_list(workspace=workspace).rows) == 1
