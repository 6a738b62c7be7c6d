"""The seller's pages, the public balance API, exports, invoices and the staff admin."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scope

from billing import ledger, payments
from billing.models import Account, EntryKind, Invoice, LedgerEntry, OrderCharge
from tests.factories import UserFactory

D = Decimal
pytestmark = pytest.mark.django_db


def fund(workspace, amount, key="fund"):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D(amount),
                      key=f"{key}:{workspace.pk}")


def test_balance_api_contract(owner, api_client_for, workspace):
    fund(workspace, "40.00")
    with scope(workspace=workspace):
        ledger.hold_place(workspace_id=workspace.pk, amount=D("15.5"), key="h")
    resp = api_client_for(owner).get("/api/v1/balance/")
    assert resp.status_code == 200
    assert resp.json() == {"balance": "40.00", "available": "24.50", "currency": "USD"}


def test_balance_api_needs_a_token(client):
    assert client.get("/api/v1/balance/").status_code in (401, 403)


def test_balance_page_shows_totals_holds_and_filtered_ledger(owner, client_for, workspace,
                                                            make_order):
    fund(workspace, "100.00")
    order = make_order(workspace, 1)
    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key="k")
    seller = client_for(owner)
    page = seller.get("/balance/").content.decode()
    assert "$100.00" in page and "$82.00" in page and "$18.00" in page
    assert order.number in page
    holds_only = seller.get("/balance/?kind=hold").content.decode()
    assert "Order " + order.number + ": product" in holds_only
    assert "Card top-up" not in holds_only and "Top-up</td>" not in holds_only


def test_pay_page_refuses_with_the_missing_amount_and_offers_a_top_up(owner, client_for,
                                                                      workspace, make_order):
    fund(workspace, "20.00")
    a, b = make_order(workspace, 1), make_order(workspace, 1)
    seller = client_for(owner)
    review = seller.get("/pay/", {"orders": [a.pk, b.pk]}).content.decode()
    assert "$36.00" in review and "$16.00 missing" in review
    resp = seller.post("/pay/", {"orders": [a.pk, b.pk], "key": "x1",
                                 "expected_total": "36.00", f"ship_{a.pk}": "standard",
                                 f"ship_{b.pk}": "standard"})
    assert resp.status_code == 409
    body = resp.content.decode()
    assert "$16.00 missing" in body
    assert 'name="amount" value="16.00"' in body
    with scope(workspace=workspace):
        assert not OrderCharge.objects.exists()
    # one order fits: paid, and the seller lands on the Balance page
    resp = seller.post("/pay/", {"orders": [a.pk], "key": "x2", "expected_total": "18.00"})
    assert resp.status_code == 302 and resp["Location"].startswith("/balance/")
    with scope(workspace=workspace):
        assert Account.objects.get().held_amount == D("18.00")


def test_choose_page_lists_orders_to_pay(owner, client_for, workspace, make_order):
    order = make_order(workspace, 1)
    page = client_for(owner).get("/pay/").content.decode()
    assert order.number in page and 'name="orders"' in page


def test_ledger_csv_and_monthly_statement(owner, client_for, workspace):
    fund(workspace, "12.34")
    seller = client_for(owner)
    resp = seller.get("/balance/ledger.csv")
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert rows[0][:4] == ["id", "time_utc", "kind", "amount"]
    assert rows[1][2:5] == ["top_up", "12.34", "USD"]  # plain, in cents
    statement = seller.get("/balance/statement/").content.decode()
    assert "Opening balance" in statement and "12.34" in statement


def test_invoice_html_and_pdf(owner, client_for, workspace, make_order):
    fund(workspace, "50.00")
    order = make_order(workspace, 2)
    with scope(workspace=workspace):
        payment = payments.orders_pay(workspace=workspace, order_ids=[order.pk],
                                      shipping_methods=None, key="k")
        invoice = Invoice.objects.get(payment=payment)
    seller = client_for(owner)
    html = seller.get(f"/balance/invoices/{invoice.pk}/").content.decode()
    assert invoice.number in html and "$32.00" in html and order.number in html
    pdf = seller.get(f"/balance/invoices/{invoice.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert invoice.number.encode() in pdf["Content-Disposition"].encode()


def test_staff_adjust_a_balance_with_a_reason_in_the_admin(client, workspace):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    fund(workspace, "10.00")
    with scope(workspace=workspace):
        acct = Account.objects.get()
    url = reverse("admin:billing_account_adjust", args=[acct.pk])
    form = client.get(url)
    assert form.status_code == 200
    no_reason = client.post(url, {"amount": "5", "reason": "", "key": "a1"})
    assert no_reason.status_code == 200
    resp = client.post(url, {"amount": "-4.50", "reason": "Damaged parcel credit reversed",
                             "key": "a2"})
    assert resp.status_code == 302
    client.post(url, {"amount": "-4.50", "reason": "Damaged parcel credit reversed",
                      "key": "a2"})  # a double submit posts once
    with scope(workspace=workspace):
        entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
        assert entry.reason == "Damaged parcel credit reversed" and entry.actor == staff
        assert Account.objects.get().balance_amount == D("5.50")


def test_staff_refund_after_capture_is_limited_to_what_was_captured(
        client, workspace, make_order):
    from django_scopes import scopes_disabled

    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    fund(workspace, "50.00")
    order = make_order(workspace, 1)
    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key="k")
        from orders import services as order_services
        from orders.events import Actor

        order_services.order_submit(order_id=order.pk, actor=Actor.system("t"))
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)
    with scopes_disabled():
        charge = OrderCharge.objects.get()
    url = reverse("admin:billing_ordercharge_refund", args=[charge.pk])
    too_much = client.post(url, {"amount": "13", "reason": "Misprint", "key": "r1"})
    assert b"At most $12.00" in too_much.content
    ok = client.post(url, {"amount": "12", "reason": "Misprint", "key": "r2"})
    assert ok.status_code == 302
    with scope(workspace=workspace):
        acct = Account.objects.get()
        assert (acct.balance_amount, acct.held_amount) == (D("50.00"), D("6.00"))


def test_order_payment_panel(owner, client_for, workspace, make_order):
    fund(workspace, "50.00")
    paid, waiting = make_order(workspace, 1), make_order(workspace, 1)
    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[paid.pk], shipping_methods=None,
                            key="k")
    seller = client_for(owner)
    panel = seller.get(f"/balance/orders/{paid.pk}/panel/").content.decode()
    assert "Product cost" in panel and "12.00" in panel and "PH" in panel
    offer = seller.get(f"/balance/orders/{waiting.pk}/panel/").content.decode()
    assert "Not paid yet" in offer
    # the next step sits in the order page's Actions card, and comes back to the order
    page = seller.get(f"/orders/{waiting.pk}/").content.decode()
    assert f'href="/pay/?orders={waiting.pk}&amp;next=/orders/{waiting.pk}/"' in page
    assert 'data-testid="next-pay"' in page
    paid_page = seller.get(f"/orders/{paid.pk}/").content.decode()
    assert 'data-testid="next-pay"' not in paid_page


def test_paying_from_the_order_page_returns_to_the_order(owner, client_for, workspace,
                                                        make_order):
    fund(workspace, "50.00")
    a, b = make_order(workspace, 1), make_order(workspace, 1)
    seller = client_for(owner)
    review = seller.get("/pay/", {"orders": [a.pk], "next": f"/orders/{a.pk}/"})
    assert f'name="next" value="/orders/{a.pk}/"' in review.content.decode()
    resp = seller.post("/pay/", {"orders": [a.pk], "key": "n1", "expected_total": "18.00",
                                 "next": f"/orders/{a.pk}/"})
    assert resp.status_code == 302 and resp["Location"] == f"/orders/{a.pk}/"
    # another site is never a destination: the receipt on Balance instead
    resp = seller.post("/pay/", {"orders": [b.pk], "key": "n2", "expected_total": "18.00",
                                 "next": "https://evil.example/orders/"})
    assert resp.status_code == 302 and resp["Location"].startswith("/balance/?paid=")


def test_pay_api_all_or_nothing_with_the_missing_amount(owner, api_client_for, workspace,
                                                         make_order):
    fund(workspace, "20.00")
    a, b = make_order(workspace, 1), make_order(workspace, 1)
    api = api_client_for(owner)
    refused = api.post("/api/v1/payments/", {"order_ids": [a.pk, b.pk], "key": "p1"},
                       format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_funds"
    assert refused.json()["error"]["missing"] == "16.00"
    ok = api.post("/api/v1/payments/", {"order_ids": [a.pk], "key": "p2",
                                        "shipping_methods": {str(a.pk): "standard"}},
                  format="json")
    again = api.post("/api/v1/payments/", {"order_ids": [a.pk], "key": "p2"}, format="json")
    assert ok.status_code == 201 and again.status_code == 201
    assert ok.json()["total"] == "18.00" and ok.json()["order_ids"] == [a.pk]
    assert again.json()["id"] == ok.json()["id"]
    assert api.get("/api/v1/balance/").json()["available"] == "2.00"


def test_group_shipping_page_suggests_and_groups(owner, client_for, workspace, make_order):
    fund(workspace, "100.00")
    a, b = make_order(workspace, 1), make_order(workspace, 1)
    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[a.pk, b.pk], shipping_methods=None,
                            key="k")
    seller = client_for(owner)
    page = seller.get("/balance/groups/").content.decode()
    assert a.number in page and b.number in page and "you save $4.00" in page
    resp = seller.post("/balance/groups/", {"orders": [a.pk, b.pk]})
    assert resp.status_code == 302 and "/balance/invoices/" in resp["Location"]
    invoice = seller.get(resp["Location"]).content.decode()
    assert "Group shipment" in invoice and "$8.00" in invoice


def test_pay_selected_from_the_order_list_goes_to_their_review(owner, client_for, workspace,
                                                               make_order):
    fund(workspace, "100.00")
    a, b = make_order(workspace, 1), make_order(workspace, 2)
    client = client_for(owner)
    listing = client.get("/orders/")
    assert b'data-testid="bulk-pay"' in listing.content
    # htmx: the browser is sent on to the review of exactly these orders
    response = client.post("/orders/bulk/pay/", {"order_ids": [a.pk, b.pk]},
                           headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/pay/?orders={a.pk}&orders={b.pk}"
    review = client.get(response["HX-Redirect"])
    assert review.status_code == 200
    assert a.number.encode() in review.content and b.number.encode() in review.content
    # without htmx, a plain redirect; nothing selected is a clear 400
    plain = client.post("/orders/bulk/pay/", {"order_ids": [a.pk]})
    assert plain.status_code == 302 and plain["Location"] == f"/pay/?orders={a.pk}"
    empty = client.post("/orders/bulk/pay/", {}, headers={"HX-Request": "true"})
    assert empty.status_code == 400
    assert b"Select at least one order to pay" in empty.content
