"""The page shell: site-wide notices in one query, a header that is reused but never stale."""

import re
from datetime import timedelta

from django.db import connection
from django.middleware.csrf import _unmask_cipher_token
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scope

from orders.models import HoldReason, OrderState
from tests.factories import MembershipFactory, QuoteFactory, WorkspaceFactory
from tests.orders.dashboard_data import make_order, make_store

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_both_notices_come_from_one_query(client_for, owner, workspace):
    store = make_store(workspace)
    due = timezone.now() + timedelta(hours=40)
    make_order(workspace, store, number="#H-1", state=OrderState.ON_HOLD,
               hold_reason=HoldReason.INFO_REQUESTED, hold_message="Which colour?",
               info_due_at=due)
    QuoteFactory(workspace=workspace, store=store, status="sent")
    QuoteFactory(workspace=workspace, store=store, status="sent")
    seller = client_for(owner)
    seller.get("/orders/")
    with CaptureQueriesContext(connection) as queries:
        page = seller.get("/orders/").content.decode()
    assert 'data-testid="attention-banner"' in page and "Which colour?" in page
    assert 'data-testid="quote-notice"' in page and "2 quotes" in page
    notice_queries = [q["sql"] for q in queries.captured_queries
                      if "quotes_quote" in q["sql"] or "info_requested" in q["sql"]]
    assert len(notice_queries) == 1


def test_no_notice_renders_nothing(client_for, owner):
    page = client_for(owner).get("/orders/").content.decode()
    assert "attention-banner" not in page and "quote-notice" not in page


def test_the_header_follows_renames_sections_and_workspaces(client_for, owner, workspace):
    seller = client_for(owner)
    first = seller.get("/orders/").content.decode()
    assert '<span class="wsname">Acme Prints</span>' in first
    assert re.search(r'href="/orders/" aria-current="page">Orders', first)
    # a rename shows at once: the name is part of what the reused header is keyed by
    workspace.name = "Acme Renamed"
    workspace.save()
    assert "Acme Renamed" in seller.get("/orders/").content.decode()
    # another section marks its own link
    home = seller.get("/").content.decode()
    assert not re.search(r'href="/orders/" aria-current="page"', home)
    # a second workspace brings the switcher, the current one selected
    MembershipFactory(workspace=WorkspaceFactory(name="Second Shop"), user=owner.user)
    page = seller.get("/orders/").content.decode()
    assert f'<option value="{workspace.pk}" selected>Acme Renamed</option>' in page
    assert "Second Shop</option>" in page


def test_every_response_has_its_own_valid_csrf_token(client_for, owner, other_owner):
    seller = client_for(owner)
    one = TOKEN.findall(seller.get("/orders/").content.decode())
    two = TOKEN.findall(seller.get("/orders/").content.decode())
    assert one and two and "placeholder" not in "".join(one + two)
    assert one[0] != two[0]  # masked afresh, never a kept copy
    assert _unmask_cipher_token(one[0]) == _unmask_cipher_token(two[0])
    # another user never gets this user's header or token
    other = client_for(other_owner).get("/orders/").content.decode()
    assert owner.user.email not in other
    assert _unmask_cipher_token(TOKEN.findall(other)[0]) != _unmask_cipher_token(one[0])


def test_held_orders_of_another_workspace_are_not_noticed(client_for, owner, other_owner):
    other = other_owner.workspace
    with scope(workspace=other):
        make_order(other, make_store(other), number="#OTHER", state=OrderState.ON_HOLD,
                   hold_reason=HoldReason.INFO_REQUESTED, hold_message="Not yours",
                   info_due_at=timezone.now() + timedelta(hours=4))
    page = client_for(owner).get("/orders/").content.decode()
    assert "Not yours" not in page and "attention-banner" not in page
