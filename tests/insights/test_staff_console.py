"""Issue 18 item 6, the staff console: the admin index shows what waits for staff — quote
requests (overdue after 24 h), information requests (overdue past their deadline), the
production board (late past its target), open claims, failed store webhooks, pushes and
imports — across every workspace, each linking to the admin list filtered to it; no bulk
"Delete selected" beside the business actions; quote statuses in staff's words."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone
from django_scopes import scopes_disabled

from fulfillment.models import Claim, Submission
from insights.staff import staff_queues
from integrations.models import OutboxMessage
from podhub.accounts.models import User
from quotes.models import Quote
from tests.factories import (
    OrderFactory,
    ProviderFactory,
    QuoteFactory,
    StoreFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = User.objects.create_superuser(email="staff@podhub.test", password="x" * 20)
    client.force_login(staff)
    return client


def _counts(html: str, key: str) -> str:
    import re

    match = re.search(rf'data-testid="count-{key}">(\d+)<', html)
    return match and match.group(1)


def test_the_admin_index_shows_the_queues_with_overdue_items(staff_client):
    now = timezone.now()
    a, b = WorkspaceFactory(), WorkspaceFactory()  # staff see every workspace
    with scopes_disabled():
        QuoteFactory(workspace=a)
        late = QuoteFactory(workspace=b)
        Quote.objects.filter(pk=late.pk).update(requested_at=now - timedelta(hours=30))
        OrderFactory(workspace=a, state="on_hold", hold_reason="info_requested",
                     info_due_at=now - timedelta(hours=1))
        OrderFactory(workspace=b, state="on_hold", hold_reason="info_requested",
                     info_due_at=now + timedelta(hours=20))
        order = OrderFactory(workspace=a, state="in_production")
        Submission.objects.create(workspace=a, order=order, provider=ProviderFactory(),
                                  adapter="own", reference="PH-late", status="in_production",
                                  due_at=now - timedelta(days=1))
        Claim.objects.create(workspace=b, order=OrderFactory(workspace=b, state="completed"),
                             kind="damaged")
        OutboxMessage.objects.create(workspace=a, store=StoreFactory(workspace=a),
                                     kind="fulfillment_create", key="k1", status="failed")
    html = staff_client.get("/admin/").content.decode()
    assert "What waits for PodHub's staff" in html
    assert _counts(html, "quotes") == "2" and "1 waiting over 24 h" in html
    assert _counts(html, "info") == "2" and "1 past their deadline" in html
    assert _counts(html, "board") == "1" and "1 past their target" in html
    assert _counts(html, "claims") == "1" and _counts(html, "outbox") == "1"
    assert _counts(html, "inbox") == "0"
    assert 'href="/admin/quotes/quote/?status__exact=requested"' in html
    assert 'href="/admin/fulfillment/submission/?late=late"' in html
    # each link opens a list that exists (not an admin error page)
    for url in ("/admin/quotes/quote/?status__exact=requested",
                "/admin/orders/order/?hold_reason__exact=info_requested",
                "/admin/fulfillment/submission/?late=late",
                "/admin/fulfillment/claim/?status__exact=open",
                "/admin/integrations/outboxmessage/?status__exact=failed",
                "/admin/integrations/inboundwebhook/?status__exact=failed",
                "/admin/integrations/importjob/?status__exact=failed"):
        resp = staff_client.get(url)
        assert resp.status_code == 200 and "?e=1" not in resp.get("Location", ""), url


def test_the_queues_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        queues = staff_queues()
    assert [q.key for q in queues] == ["quotes", "info", "board", "claims", "inbox",
                                       "outbox", "imports"]


def test_no_bulk_delete_beside_the_business_actions():
    request = RequestFactory().get("/admin/")
    request.user = User(is_staff=True, is_superuser=True)
    for model, model_admin in admin.site._registry.items():
        assert "delete_selected" not in model_admin.get_actions(request), model


def test_quote_statuses_are_in_staffs_words(staff_client):
    with scopes_disabled():
        quote = QuoteFactory(workspace=WorkspaceFactory())
    html = staff_client.get("/admin/quotes/quote/").content.decode()
    assert "To price (staff)" in html and "Waiting for PodHub" not in html
    form = staff_client.get(f"/admin/quotes/quote/{quote.pk}/change/").content.decode()
    assert "To price (staff)" in form and "Waiting for PodHub" not in form
