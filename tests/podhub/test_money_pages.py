"""Real pages and e-mails of a EUR and a JPY workspace show amounts in their currency's
own format (docs/money.md): the order page, the Balance page with its ledger, the invoice
of a top-up, the quote e-mail; in the browser's locale when it asks for one. The API
keeps its decimal strings and currency codes."""

from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope

from billing import ledger, topups
from billing.models import EntryKind, Invoice, TopUp, TopUpKind
from quotes import services as quote_services
from quotes.models import Quote, QuoteLine
from tests.factories import MembershipFactory, OrderFactory, UserFactory, WorkspaceFactory

D = Decimal
NBSP = "\u00a0"
pytestmark = pytest.mark.django_db

# What each workspace holds, and how it reads in English (LANGUAGE_CODE "en-us") and in
# German (a browser sending Accept-Language: de-DE).
CASES = {
    "EUR": {"top_up": "1234.5", "spent": "34.5", "order_total": "1234.5", "discount": "10",
            "plain": "1234.50", "placeholder": "100.00",
            "en": {"top_up": "€1,234.50", "balance": "€1,200.00", "spent": "-€34.50",
                   "order_total": "€1,234.50", "discount": "-€10.00", "quote": "€15.00",
                   "setup": "€20.00"},
            "de": {"top_up": f"1.234,50{NBSP}€", "balance": f"1.200,00{NBSP}€",
                   "order_total": f"1.234,50{NBSP}€", "discount": f"-10,00{NBSP}€"}},
    "JPY": {"top_up": "150000", "spent": "3500", "order_total": "4980", "discount": "500",
            "plain": "150000", "placeholder": "100",
            "en": {"top_up": "¥150,000", "balance": "¥146,500", "spent": "-¥3,500",
                   "order_total": "¥4,980", "discount": "-¥500", "quote": "¥15",
                   "setup": "¥20"},
            "de": {"top_up": f"150.000{NBSP}¥", "balance": f"146.500{NBSP}¥",
                   "order_total": f"4.980{NBSP}¥", "discount": f"-500{NBSP}¥"}},
}


@pytest.fixture(params=sorted(CASES))
def currency(request):
    return request.param


@pytest.fixture
def shop(currency, client_for):
    """A workspace billed in `currency`, its owner's dashboard client, a paid top-up
    (through the real credit path, which also issues its receipt) and one spending."""
    case = CASES[currency]
    ws = WorkspaceFactory(name=f"{currency} Prints", billing_currency=currency)
    owner = MembershipFactory(workspace=ws, user=UserFactory(email=f"owner@{currency}.test"))
    with scope(workspace=ws):
        ledger.ensure_account(ws.pk, currency)
        top_up = TopUp.objects.create(workspace=ws, kind=TopUpKind.CHECKOUT,
                                      amount=D(case["top_up"]), currency=currency)
        topups.top_up_credit(top_up_id=top_up.pk, workspace_id=ws.pk)
        hold = ledger.hold_place(workspace_id=ws.pk, amount=D(case["spent"]), key="spend")
        ledger.hold_capture(workspace_id=ws.pk, hold_id=hold.pk, key="spend:capture")
    return ws, owner, client_for(owner), case


def test_balance_page_and_ledger_in_the_workspaces_currency(shop):
    ws, _, seller, case = shop
    page = seller.get("/balance/").content.decode()
    en = case["en"]
    assert f'data-testid="balance">{en["balance"]}<' in page
    assert f'data-testid="available">{en["balance"]}<' in page
    assert f"+{en['top_up']}" in page  # the top-up in the ledger, signed
    assert en["spent"] in page  # the capture, negative
    # the top-up field suggests a plain amount in the currency's minor units
    assert f'placeholder="{case["placeholder"]}"' in page
    # the same page for a German browser
    de = seller.get("/balance/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert f'data-testid="balance">{case["de"]["balance"]}<' in de
    assert f"+{case['de']['top_up']}" in de
    # the CSV export stays data: plain numbers in the currency's minor units, and its code
    csv = seller.get("/balance/ledger.csv")
    text = b"".join(csv.streaming_content).decode()
    assert f",top_up,{case['plain']},{ws.billing_currency}," in text
    assert not any(sym in text for sym in ("€", "¥", "$"))


def test_top_up_invoice_in_the_workspaces_currency(shop):
    ws, _, seller, case = shop
    with scope(workspace=ws):
        invoice = Invoice.objects.get(workspace=ws)
    html = seller.get(f"/balance/invoices/{invoice.pk}/").content.decode()
    assert invoice.number in html
    assert html.count(case["en"]["top_up"]) >= 3  # unit, amount, total
    assert "floatformat" not in html and f"{case['top_up']} {ws.billing_currency}" not in html
    pdf = seller.get(f"/balance/invoices/{invoice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_order_page_in_the_orders_currency(shop, currency):
    ws, _, seller, case = shop
    order = OrderFactory(workspace=ws, currency=currency, store__currency=currency,
                         subtotal_amount=D(case["order_total"]) + D(case["discount"]),
                         discount_amount=D(case["discount"]),
                         total_amount=D(case["order_total"]))
    html = seller.get(f"/orders/{order.pk}/").content.decode()
    assert f"<th>{case['en']['order_total']}</th>" in html
    assert f"<td>{case['en']['discount']}</td>" in html
    de = seller.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert f"<th>{case['de']['order_total']}</th>" in de
    assert f"<td>{case['de']['discount']}</td>" in de


def test_quote_email_in_the_workspaces_currency(shop, currency, mailoutbox,
                                                django_capture_on_commit_callbacks):
    ws, owner, _, case = shop
    staff = UserFactory(email=f"staff@{currency}.test", is_staff=True)
    order = OrderFactory(workspace=ws, currency=currency, store__currency=currency)
    with scope(workspace=ws):
        quote = Quote.objects.create(workspace=ws, store=order.store, product_key="p:900",
                                     title="Oak plaque", sample_order=order)
        QuoteLine.objects.create(workspace=ws, quote=quote, variant_key="v:9S",
                                 variant_title="Small", unit_price_amount=D("15"),
                                 setup_fee_amount=D("20"), currency=currency,
                                 production_days=4)
        with django_capture_on_commit_callbacks(execute=True):
            quote_services.quote_send(quote_id=quote.pk, by=staff, now=timezone.now())
    (mail,) = [m for m in mailoutbox if m.to == [owner.user.email]]
    assert f"Small: {case['en']['quote']} + one-time setup fee {case['en']['setup']}" in mail.body


def test_the_api_keeps_decimal_strings_and_codes(shop, api_client_for, currency):
    _, owner, _, case = shop
    body = api_client_for(owner).get("/api/v1/balance/").json()
    assert body["currency"] == currency
    assert D(body["balance"]) == D(case["top_up"]) - D(case["spent"])
    assert not any(sym in body["balance"] for sym in ("€", "¥", ","))


def test_a_correction_back_to_the_balance(shop):
    ws, _, seller, case = shop
    with scope(workspace=ws):
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.ADJUSTMENT, amount=D(case["spent"]),
                      key="back", memo="Correction")
    page = seller.get("/balance/").content.decode()
    assert f'data-testid="balance">{case["en"]["top_up"]}<' in page


def test_admin_lists_and_detail_pages_in_the_currency(shop, currency, client):
    ws, _, _, case = shop
    staff = UserFactory(email=f"admin@{currency}.test", is_staff=True, is_superuser=True)
    order = OrderFactory(workspace=ws, currency=currency, store__currency=currency,
                         total_amount=D(case["order_total"]))
    client.force_login(staff)
    entries = client.get("/admin/billing/ledgerentry/").content.decode()
    assert case["en"]["top_up"] in entries
    accounts = client.get("/admin/billing/account/").content.decode()
    assert case["en"]["balance"] in accounts
    detail = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert case["en"]["order_total"] in detail
    with scope(workspace=ws):
        acct_pk = ledger.ensure_account(ws.pk).pk
    form = client.get(f"/admin/billing/account/{acct_pk}/adjust/").content.decode()
    assert f"Balance {case['en']['balance']}, available {case['en']['balance']}." in form
