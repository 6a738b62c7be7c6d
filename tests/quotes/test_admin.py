"""Staff: the quote queue (waiting hours, send action) and the catalog forms."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_scopes import scopes_disabled

from quotes.forms import ShippingZoneAdminForm, VariantAdminForm
from quotes.models import Quote, QuoteLine, QuoteStatus
from tests.factories import QuoteFactory, QuoteLineFactory, StoreFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def admin_client_(staff):
    c = Client()
    c.force_login(staff)
    return c


def test_the_queue_lists_the_longest_waiting_first_with_the_hours(
    workspace, other_workspace, admin_client_
):
    now = timezone.now()
    QuoteFactory(workspace=workspace, title="Fresh request", requested_at=now - timedelta(
        hours=2), lines=1)
    QuoteFactory(workspace=other_workspace, title="Old request",
                 requested_at=now - timedelta(hours=30), lines=1)
    QuoteFactory(workspace=workspace, title="Done", status=QuoteStatus.ACCEPTED,
                 requested_at=now - timedelta(days=9))
    html = admin_client_.get("/admin/quotes/quote/").content.decode()
    assert html.index("Old request") < html.index("Fresh request") < html.index("Done")
    assert "30 h for us" in html and "2 h for us" in html
    filtered = admin_client_.get(f"/admin/quotes/quote/?workspace__id__exact={workspace.pk}")
    assert "Old request" not in filtered.content.decode()


def test_send_action_sends_priced_quotes_and_explains_the_rest(
    workspace, owner, admin_client_, mailoutbox
):
    ready = QuoteFactory(workspace=workspace, title="Ready one")
    QuoteLineFactory(quote=ready, unit_price_amount=D("12.00"), production_days=3)
    unpriced = QuoteFactory(workspace=workspace, title="Unpriced one", lines=1)
    resp = admin_client_.post("/admin/quotes/quote/", {
        "action": "send_quotes", "_selected_action": [ready.pk, unpriced.pk]}, follow=True)
    html = resp.content.decode()
    assert "Sent 1 quote(s): Ready one." in html
    assert "Unpriced one: not sent. Unpriced one · Size" in html
    assert "the unit price must be above 0" in html
    with scopes_disabled():
        assert Quote.objects.get(pk=ready.pk).status == QuoteStatus.SENT
        assert Quote.objects.get(pk=unpriced.pk).status == QuoteStatus.REQUESTED


def test_the_quote_page_has_one_inline_row_per_variant_and_save_and_send(
    workspace, admin_client_, django_capture_on_commit_callbacks
):
    quote = QuoteFactory(workspace=workspace, title="Oak plaque", lines=2,
                         images=[{"key": "", "url": "https://img.test/p.png"}],
                         personalization_sample=[{"key": "Name", "value": "Ana"}])
    url = f"/admin/quotes/quote/{quote.pk}/change/"
    html = admin_client_.get(url).content.decode()
    assert "Save and send quote to the seller" in html
    assert 'src="https://img.test/p.png"' in html and "<strong>Name</strong>: Ana" in html
    with scopes_disabled():
        lines = list(QuoteLine.objects.filter(quote=quote).order_by("pk"))
    form = {"staff_notes": "Made of solid oak", "lines-TOTAL_FORMS": "2",
            "lines-INITIAL_FORMS": "2", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000", "_send": "1"}
    for i, ln in enumerate(lines):
        form.update({f"lines-{i}-id": ln.pk, f"lines-{i}-quote": quote.pk,
                     f"lines-{i}-currency": "usd", f"lines-{i}-unit_price_amount": "15.00",
                     f"lines-{i}-setup_fee_amount": "0", f"lines-{i}-production_days": "4",
                     f"lines-{i}-tiers_text": "10-49: 12.00 mini-bulk; 50+: 10.00 bulk",
                     f"lines-{i}-valid_until": "", f"lines-{i}-notes": ""})
    bad = dict(form, **{"lines-1-tiers_text": "10-49: 12.00; 40+: 10.00"})
    resp = admin_client_.post(url, bad)
    assert resp.status_code == 200 and "tiers 10-49 and 40+ overlap" in resp.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        resp = admin_client_.post(url, form, follow=True)
    assert "Quote for Oak plaque sent to the seller." in resp.content.decode()
    with scopes_disabled():
        quote.refresh_from_db()
        assert (quote.status, quote.staff_notes) == (QuoteStatus.SENT, "Made of solid oak")
        line = QuoteLine.objects.filter(quote=quote).order_by("pk").first()
        assert line.currency == "USD"
        assert line.tiers[0] == {"min_quantity": 10, "max_quantity": 49,
                                 "unit_price": "12.00", "label": "mini-bulk"}


def test_negative_prices_are_refused_by_the_admin_form(workspace, admin_client_):
    quote = QuoteFactory(workspace=workspace, lines=1)
    with scopes_disabled():
        line = QuoteLine.objects.get(quote=quote)
    resp = admin_client_.post(f"/admin/quotes/quote/{quote.pk}/change/", {
        "staff_notes": "", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": line.pk, "lines-0-quote": quote.pk, "lines-0-currency": "USD",
        "lines-0-unit_price_amount": "-3", "lines-0-setup_fee_amount": "0",
        "lines-0-production_days": "3", "lines-0-tiers_text": ""})
    assert resp.status_code == 200
    assert "Ensure this value is greater than or equal to 0" in resp.content.decode()


def test_variant_form_refuses_overlapping_tiers_and_free_published_variants(catalog):
    data = {"product": catalog.mug.pk, "sku": "NEW-1", "options": '{"Colour": "Red"}',
            "weight_grams": 350, "production_days": 3, "price_amount": "8.00",
            "is_active": True, "tiers_text": "10-49: 7.00; 30-60: 6.00"}
    form = VariantAdminForm(data)
    assert not form.is_valid()
    assert form.errors["tiers_text"] == ["tiers 10-49 and 30-60 overlap: each quantity must "
                                         "fall in one tier only."]
    form = VariantAdminForm(dict(data, tiers_text="", price_amount="0"))
    assert not form.is_valid()
    assert form.errors["price_amount"] == ["A published variant needs a unit price above 0."]
    form = VariantAdminForm(dict(data, tiers_text="10-49: 7.00 mini-bulk"))
    assert form.is_valid(), form.errors
    variant = form.save()
    assert variant.tiers == [{"min_quantity": 10, "max_quantity": 49, "unit_price": "7.00",
                              "label": "mini-bulk"}]


def test_a_country_belongs_to_one_zone(catalog):
    form = ShippingZoneAdminForm({"name": "Americas", "countries": "mx, us br"})
    assert not form.is_valid()
    assert form.errors["countries"] == ["Already in another zone: US (North America)."]
    form = ShippingZoneAdminForm({"name": "Latin America", "countries": "mx, br BR x1"})
    assert not form.is_valid() and "Not two-letter ISO country codes: X1." in str(form.errors)
    form = ShippingZoneAdminForm({"name": "Latin America", "countries": "mx, br BR"})
    assert form.is_valid()
    assert form.cleaned_data["countries"] == "MX BR"


def test_catalog_admin_pages_render(admin_client_, catalog, workspace):
    StoreFactory(workspace=workspace)
    for url in ("/admin/quotes/product/", f"/admin/quotes/product/{catalog.mug.pk}/change/",
                f"/admin/quotes/variant/{catalog.mug_white.pk}/change/",
                "/admin/quotes/shippingmethod/", "/admin/quotes/shippingzone/",
                "/admin/quotes/exchangerate/add/", "/admin/quotes/provider/add/",
                "/admin/quotes/acceptedprice/", "/admin/quotes/setupfeecharge/",
                "/admin/quotes/orderprice/"):
        assert admin_client_.get(url).status_code == 200, url


def test_a_new_exchange_rate_rechecks_the_waiting_orders(
    workspace, catalog, admin_client_, import_order
):
    gbp = StoreFactory(workspace=workspace, currency="GBP")
    order = import_order(workspace, gbp, ("MUG11-WHITE", 1), currency="GBP")
    assert order.state == "in_quotation"
    resp = admin_client_.post("/admin/quotes/exchangerate/add/", {
        "from_currency": "gbp", "to_currency": "usd", "rate": "1.27"}, follow=True)
    assert "1 waiting order(s) will be re-checked" in resp.content.decode()
    from quotes.services import pricing_sweep

    assert pricing_sweep() == 1
    with scopes_disabled():
        order.refresh_from_db()
    assert order.state == "to_order"


def test_exchange_rate_form_refuses_nonsense(admin_client_):
    from quotes.models import ExchangeRate

    ExchangeRate.objects.create(from_currency="EUR", to_currency="USD", rate=D("1.1"))
    for data, message in (
        ({"from_currency": "eur", "to_currency": "usd", "rate": "1.2"},
         "Exchange rate with this From currency and To currency already exists"),
        ({"from_currency": "usd", "to_currency": "usd", "rate": "1"},
         "A rate converts between two different currencies."),
        ({"from_currency": "GBP", "to_currency": "USD", "rate": "0"}, "The rate must be above 0."),
        ({"from_currency": "G1", "to_currency": "USD", "rate": "1"}, "three-letter code"),
    ):
        html = admin_client_.post("/admin/quotes/exchangerate/add/", data).content.decode()
        assert message in html, data


def test_a_quote_for_a_template_product_without_a_template_is_refused(
    workspace, owner, admin_client_, mailoutbox
):
    """Issue 17: a product whose artwork must come from a design template cannot be quoted
    while it has none, or every order of it would be held for a print file nobody can make."""
    from fulfillment.models import DesignTemplate
    from quotes.models import ArtworkSource
    from tests.factories import ProductFactory, VariantFactory

    mug = ProductFactory(name="Mug 11oz", artwork_source=ArtworkSource.TEMPLATE)
    white = VariantFactory(product=mug, sku="MUG11-W", price="8.00")
    quote = QuoteFactory(workspace=workspace, title="Photo mug")
    QuoteLineFactory(quote=quote, unit_price_amount=D("12.00"), production_days=3,
                     catalog_variant=white)

    html = admin_client_.post("/admin/quotes/quote/", {
        "action": "send_quotes", "_selected_action": [quote.pk]}, follow=True).content.decode()

    assert "Photo mug: not sent." in html
    assert "Mug 11oz takes its artwork from a design template and has no active one" in html
    with scopes_disabled():
        assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.REQUESTED
    assert mailoutbox == []

    # staff set the product's artwork choice in the catalog admin, or add the template
    form = admin_client_.get(f"/admin/quotes/product/{mug.pk}/change/").content.decode()
    assert 'name="artwork_source"' in form and "From the seller" in form
    DesignTemplate.objects.create(product=mug, side="front", spec={"width_in": 3,
                                                                   "height_in": 3})
    html = admin_client_.post("/admin/quotes/quote/", {
        "action": "send_quotes", "_selected_action": [quote.pk]}, follow=True).content.decode()
    assert "Sent 1 quote(s): Photo mug." in html
