"""Quotes: staff send, the seller accepts or declines; bad input is refused clearly."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_scopes import scope

from orders.models import CancelReason, LineItem, Order, OrderState
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from quotes import calc, pricing, services
from quotes.models import AcceptedPrice, ProductLink, Quote, QuoteLine, QuoteStatus
from tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState


def plaque(size="Small", **extra):
    """A store product the catalog does not know: store product 900, a variant per size."""
    return {"sku": f"PLQ-{size[0]}", "title": "Oak plaque", "variant_title": size,
            "store_product_id": "900", "store_variant_id": f"9{size[0]}", "quantity": 1,
            "unit_price": "30.00", **extra}


@pytest.fixture
def waiting(workspace, store, catalog, import_order):
    """Two orders of the oak plaque (a sibling of the same product), both in quotation."""
    first = import_order(workspace, store, plaque("Small"))
    sibling = import_order(workspace, store, plaque("Small", quantity=2), ("MUG11-WHITE", 1))
    with scope(workspace=workspace):
        quote = Quote.objects.get(workspace=workspace, product_key="p:900")
    return first, sibling, quote


def _price_lines(quote, *, unit="15.00", days=4, tiers="", setup="0", valid=None):
    for ln in QuoteLine.objects.filter(quote=quote):
        ln.unit_price_amount = D(unit)
        ln.setup_fee_amount = D(setup)
        ln.production_days = days
        ln.tiers = calc.tiers_to_json(calc.parse_tiers(tiers))
        ln.valid_until = valid
        ln.save()


def _send(quote, staff, capture):
    with capture(execute=True):
        return services.quote_send(quote_id=quote.pk, by=staff)


def test_staff_send_a_quote_and_the_seller_is_told(
    workspace, owner, staff, waiting, mailoutbox, django_capture_on_commit_callbacks
):
    first, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote, unit="15.00", tiers="10+: 12.00 bulk", setup="20.00")
        Quote.objects.filter(pk=quote.pk).update(staff_notes="Solid oak, laser engraved.")
        sent = _send(quote, staff, django_capture_on_commit_callbacks)
        assert sent.status == QuoteStatus.SENT and sent.sent_by == staff
        # a private catalog product was made for this workspace's development
        line = QuoteLine.objects.select_related("catalog_variant__product").get(quote=quote)
        assert line.catalog_variant.product.made_for_workspace_id == workspace.pk
        assert not line.catalog_variant.product.is_published
        # the waiting line now says a quote waits for the seller's answer
        reason = LineItem.objects.get(order=first).unmapped_reason
        assert "is waiting for your answer under Quotes" in reason
    assert mailoutbox[-1].to == [owner.user.email]
    assert "Oak plaque" in mailoutbox[-1].subject
    sent_mail = mailoutbox[-1]
    assert "$15.00 + one-time setup fee $20.00" in sent_mail.body
    # the staff's note reaches the seller, and the e-mail has an HTML part in PodHub's look
    assert "A note from PodHub: Solid oak, laser engraved." in sent_mail.body
    (html, mime), = sent_mail.alternatives
    assert mime == "text/html" and workspace.name in html
    assert "Solid oak, laser engraved." in html and "Review the quote" in html
    assert sent_mail.body.endswith(f"Review the quote: {settings.PUBLIC_BASE_URL}/quotes/")


def test_accepting_prices_every_waiting_order_and_the_next_import(
    workspace, owner, store, staff, waiting, import_order, django_capture_on_commit_callbacks
):
    first, sibling, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote, unit="15.00", setup="20.00")
        _send(quote, staff, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
        first.refresh_from_db()
        sibling.refresh_from_db()
        assert (first.state, sibling.state) == (S.TO_ORDER, S.TO_ORDER)
        assert AcceptedPrice.objects.filter(workspace=workspace).count() == 1
        assert ProductLink.objects.get(store=store, product_key="p:900").source == "quote"
        bd = pricing.price_order(order=sibling)
        plaque_line = bd.lines[0]
        assert (plaque_line.unit_price, plaque_line.total, plaque_line.source) == (
            D("15.00"), D("30.00"), f"quote #{quote.pk}")
        assert [f.amount for f in bd.setup_fees] == [D("20.00")]
    # the next order of that product is priced at import, no quote needed
    nxt = import_order(workspace, store, plaque("Small"))
    assert nxt.state == S.TO_ORDER
    with scope(workspace=workspace):
        assert Quote.objects.filter(workspace=workspace).count() == 1


def test_a_new_variant_of_an_accepted_product_reopens_its_quote(
    workspace, owner, store, staff, waiting, import_order, django_capture_on_commit_callbacks
):
    _, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
        services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
    large = import_order(workspace, store, plaque("Large"))
    with scope(workspace=workspace):
        assert large.state == S.IN_QUOTATION
        quote.refresh_from_db()
        assert quote.status == QuoteStatus.REQUESTED
        assert [h["what"] for h in quote.history][-1] == "reopened"
        assert QuoteLine.objects.filter(quote=quote).count() == 2


# --- bad input is refused with a clear message ----------------------------------------------


@pytest.mark.parametrize(("unit", "message"), [
    ("0", "the unit price must be above 0"),
    ("-5.00", "the unit price must be above 0"),
])
def test_zero_or_negative_prices_are_refused(workspace, staff, waiting, unit, message):
    _, _, quote = waiting
    with scope(workspace=workspace):
        QuoteLine.objects.filter(quote=quote).update(unit_price_amount=D("0"), production_days=3)
        if unit.startswith("-"):
            # the database refuses a negative price outright ...
            with pytest.raises(IntegrityError), transaction.atomic():
                QuoteLine.objects.filter(quote=quote).update(unit_price_amount=D(unit))
        # ... and the service refuses to send a line that is not above 0
        with pytest.raises(ValidationFailed, match=f"Oak plaque · Small: {message}"):
            services.quote_send(quote_id=quote.pk, by=staff)
        quote.refresh_from_db()
        assert quote.status == QuoteStatus.REQUESTED


def test_overlapping_tiers_are_refused(workspace, staff, waiting):
    _, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote, unit="15.00", tiers="10-49: 12.00; 20+: 10.00")
        with pytest.raises(ValidationFailed, match="tiers 10-49 and 20\\+ overlap"):
            services.quote_send(quote_id=quote.pk, by=staff)


def test_a_quote_cannot_use_a_product_made_for_another_workspace(
    workspace, other_workspace, staff, waiting
):
    _, _, quote = waiting
    theirs = VariantFactory(sku="THEIRS-1", product=ProductFactory(
        made_for_workspace=other_workspace, is_published=False))
    with scope(workspace=workspace):
        _price_lines(quote)
        QuoteLine.objects.filter(quote=quote).update(catalog_variant=theirs)
        with pytest.raises(ValidationFailed, match="catalog variant THEIRS-1 is a custom "
                           "product of another workspace"):
            services.quote_send(quote_id=quote.pk, by=staff)


def test_a_seller_cannot_answer_another_workspaces_quote(
    workspace, other_owner, staff, waiting, django_capture_on_commit_callbacks
):
    _, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
    ws_b = other_owner.workspace
    with scope(workspace=ws_b):
        with pytest.raises(NotFound, match="No such quote in this workspace"):
            services.quote_accept(workspace=ws_b, quote_id=quote.pk, by=other_owner.user)
        with pytest.raises(NotFound):
            services.quote_decline(workspace=ws_b, quote_id=quote.pk, by=other_owner.user,
                                   reason="no")


def test_accepting_an_expired_quote_is_refused(
    workspace, owner, staff, waiting, django_capture_on_commit_callbacks
):
    first, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote, valid=date(2026, 5, 10))
        with django_capture_on_commit_callbacks(execute=True):
            services.quote_send(quote_id=quote.pk, by=staff,
                                now=datetime(2026, 5, 1, tzinfo=UTC))
        late = datetime(2026, 5, 11, tzinfo=UTC)
        with pytest.raises(services.QuoteExpired,
                           match="expired on 2026-05-10: ask PodHub for a new one"):
            services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user,
                                  now=late)
        quote.refresh_from_db()
        first.refresh_from_db()
        assert quote.status == QuoteStatus.SENT and first.state == S.IN_QUOTATION
        # the seller may ask for a fresh quote instead
        services.quote_rerequest(workspace=workspace, quote_id=quote.pk, by=owner.user,
                                 now=late)
        quote.refresh_from_db()
        assert quote.status == QuoteStatus.REQUESTED


def test_a_quote_in_the_past_cannot_be_sent(workspace, staff, waiting):
    _, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote, valid=timezone.now().date() - timedelta(days=1))
        with pytest.raises(ValidationFailed, match="'valid until' .* is in the past"):
            services.quote_send(quote_id=quote.pk, by=staff)


def test_answers_only_fit_a_sent_quote(workspace, owner, staff, waiting,
                                       django_capture_on_commit_callbacks):
    _, _, quote = waiting
    with scope(workspace=workspace):
        with pytest.raises(Conflict, match="only a quote PodHub has sent can be accepted"):
            services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
        services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
        with pytest.raises(Conflict, match="is already accepted"):
            services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
        with pytest.raises(Conflict, match="only a requested quote can be sent"):
            services.quote_send(quote_id=quote.pk, by=staff)


# --- decline ----------------------------------------------------------------------------


def test_declining_needs_a_reason_and_then_lets_the_seller_cancel_the_orders(
    workspace, owner, staff, waiting, django_capture_on_commit_callbacks
):
    first, sibling, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
        with pytest.raises(ValidationFailed, match="Say why you decline"):
            services.quote_decline(workspace=workspace, quote_id=quote.pk, by=owner.user,
                                   reason="  ")
        with django_capture_on_commit_callbacks(execute=True):
            services.quote_decline(workspace=workspace, quote_id=quote.pk, by=owner.user,
                                   reason="Too expensive for my margins")
        quote.refresh_from_db()
        assert (quote.status, quote.decline_reason) == (QuoteStatus.DECLINED,
                                                        "Too expensive for my margins")
        assert "You declined its quote (Too expensive for my margins)" in \
            LineItem.objects.get(order=first).unmapped_reason
        assert Order.objects.get(pk=first.pk).state == S.IN_QUOTATION  # not cancelled yet
        assert services.quote_cancel_waiting_orders(workspace=workspace, quote_id=quote.pk,
                                                    by=owner.user) == 2
        for order in (first, sibling):
            order.refresh_from_db()
            assert (order.state, order.cancel_reason) == (S.CANCELLED, CancelReason.SELLER)


def test_declining_can_cancel_the_waiting_orders_at_once(
    workspace, owner, staff, waiting, django_capture_on_commit_callbacks
):
    first, sibling, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
        services.quote_decline(workspace=workspace, quote_id=quote.pk, by=owner.user,
                               reason="Not for me", cancel_orders=True)
        assert set(Order.objects.filter(pk__in=[first.pk, sibling.pk]).values_list(
            "state", flat=True)) == {S.CANCELLED}


def test_the_seller_may_link_a_quoted_product_to_the_catalog_instead(
    workspace, owner, catalog, waiting, django_capture_on_commit_callbacks
):
    first, _, quote = waiting
    with scope(workspace=workspace):
        line = QuoteLine.objects.get(quote=quote)
        with django_capture_on_commit_callbacks(execute=True):
            services.quote_link(workspace=workspace, quote_id=quote.pk, by=owner.user,
                                links={line.pk: catalog.mug_black.pk})
        quote.refresh_from_db()
        first.refresh_from_db()
        assert quote.status == QuoteStatus.LINKED
        assert first.state == S.TO_ORDER
        assert LineItem.objects.get(order=first).catalog_variant_id == catalog.mug_black.pk


def test_a_quote_staff_are_revising_cannot_be_accepted(
    workspace, owner, staff, waiting, django_capture_on_commit_callbacks
):
    _, _, quote = waiting
    with scope(workspace=workspace):
        _price_lines(quote)
        _send(quote, staff, django_capture_on_commit_callbacks)
        QuoteLine.objects.filter(quote=quote).update(unit_price_amount=D("0"))  # staff edit
        with pytest.raises(Conflict, match="PodHub is revising the quote for Oak plaque"):
            services.quote_accept(workspace=workspace, quote_id=quote.pk, by=owner.user)
