"""Home (`/`): the setup checklist, what needs the seller, today's flow, the balance.

The counts are the order list's own (tab_counts) and link to the list filtered the same
way; another workspace's rows never count; the page stays within its query budget.
"""

import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone
from django_scopes import scope

from billing import ledger
from billing.models import EntryKind, PaymentProfile, TopUp, TopUpKind, TopUpStatus
from fulfillment.models import Submission, SubmissionStatus
from integrations.models import OutboxKind, OutboxMessage, OutboxStatus
from orders import selectors as order_selectors
from orders.models import HoldReason
from podhub.workspaces import services as workspace_services
from tests.factories import OrderFactory, ProviderFactory, QuoteFactory, StoreFactory

# The whole page: session, user, workspace and memberships, the site-wide notices, the
# tabs' counts and Home's figures (one UNION ALL). docs/benchmarks.md, "Home".
HOME_QUERIES = 8


def _home(client):
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.content.decode()


def _steps(html: str) -> dict[str, bool]:
    return {key: cls == ' class="done"'
            for key, cls in re.findall(r'<li data-step="(\w+)"( class="done")?', html)}


def _needs(html: str) -> dict[str, tuple[str, str]]:
    """{key: (count, href)} of the "Needs you" lines."""
    found = re.findall(r'<li data-need="(\w+)">\s*<a href="([^"]+)">(?:<strong class="count">'
                       r'([^<]+)</strong>)?', html)
    return {key: (count, href) for key, href, count in found}


def test_a_new_workspace_sees_the_checklist_tick_off_and_then_disappear(
        workspace, owner, client_for):
    client = client_for(owner)
    html = _home(client)
    assert "Nothing here yet" not in html
    assert _steps(html) == {"store": False, "top_up": False, "first_paid": False,
                            "teammate": False}
    assert 'href="/stores/"' in html and "Connect a store" in html

    with scope(workspace=workspace):
        store = StoreFactory(workspace=workspace)
    assert _steps(_home(client))["store"] is True

    with scope(workspace=workspace):
        TopUp.objects.create(workspace=workspace, kind=TopUpKind.CHECKOUT, amount=D("50"),
                             status=TopUpStatus.PENDING)
    assert _steps(_home(client))["top_up"] is False  # an unpaid top-up is not a top-up
    with scope(workspace=workspace):
        TopUp.objects.update(status=TopUpStatus.PAID)
    assert _steps(_home(client))["top_up"] is True

    with scope(workspace=workspace):
        OrderFactory(workspace=workspace, store=store, state="awaiting_submission",
                     paid_at=timezone.now())
    steps = _steps(_home(client))
    assert steps == {"store": True, "top_up": True, "first_paid": True, "teammate": False}

    with scope(workspace=workspace):
        workspace_services.invitation_create(workspace=workspace, invited_by=owner,
                                             email="mate@acme.test")
    html = _home(client)
    assert 'data-testid="setup-checklist"' not in html
    assert _steps(html) == {}


@pytest.fixture
def busy(workspace, other_workspace):
    """Orders in every state of `workspace`, and more of the other workspace."""
    now = timezone.now()
    with scope(workspace=workspace):
        store = StoreFactory(workspace=workspace)
        for state, n in [("in_quotation", 2), ("to_order", 3), ("awaiting_submission", 1),
                         ("in_production", 2), ("shipped", 1), ("completed", 1),
                         ("cancelled", 1)]:
            for _ in range(n):
                OrderFactory(workspace=workspace, store=store, state=state)
        OrderFactory(workspace=workspace, store=store, state="on_hold", number="#HELD-1",
                     return_state="to_order", hold_reason=HoldReason.INFO_REQUESTED,
                     hold_message="Which colour?", info_due_at=now + timedelta(hours=30))
        OrderFactory(workspace=workspace, store=store, state="on_hold", number="#HELD-2",
                     return_state="awaiting_submission", hold_reason=HoldReason.PREFLIGHT)
        QuoteFactory(workspace=workspace, store=store, status="sent")
    with scope(workspace=other_workspace):
        other = StoreFactory(workspace=other_workspace)
        for state in ["to_order", "on_hold", "in_production"] * 4:
            OrderFactory(workspace=other_workspace, store=other, state=state,
                         hold_reason=HoldReason.PREFLIGHT if state == "on_hold" else "",
                         number="#OTHER", paid_at=now, submitted_at=now)
        QuoteFactory(workspace=other_workspace, store=other, status="sent")
    return workspace


def test_needs_you_counts_agree_with_the_lists_they_link_to(busy, owner, client_for):
    client = client_for(owner)
    html = _home(client)
    needs = _needs(html)
    assert needs["to_pay"] == ("3", "/orders/?state=to_order")
    assert needs["on_hold"] == ("2", "/orders/?state=on_hold")
    assert needs["quotes"] == ("1", "/quotes/?tab=pending")
    assert "failed_syncs" not in needs  # nothing failed: not shown
    # the same selector as the list's tabs, and the list filtered as the link says
    with scope(workspace=busy):
        tabs = order_selectors.tab_counts(workspace=busy)
        page = order_selectors.order_list(workspace=busy, state="to_order")
    assert tabs["to_order"] == 3 == len(page.rows)
    # held orders with their reasons; the information request with its deadline
    assert "#HELD-1" in html and "#HELD-2" in html
    assert HoldReason.INFO_REQUESTED.label in html and HoldReason.PREFLIGHT.label in html
    assert "answer by" in html  # the information request's deadline
    assert "#OTHER" not in html  # another workspace's orders never show or count


def test_failed_syncs_and_late_orders_count(busy, owner, client_for):
    now = timezone.now()
    with scope(workspace=busy):
        order = OrderFactory(workspace=busy, state="in_production", submitted_at=now)
        for i, status in enumerate([OutboxStatus.FAILED, OutboxStatus.FAILED,
                                    OutboxStatus.PENDING]):
            OutboxMessage.objects.create(workspace=busy, store=order.store, order=order,
                                         kind=OutboxKind.FULFILLMENT_CREATE, key=f"k{i}",
                                         status=status)
        for due, status in [(now - timedelta(hours=1), SubmissionStatus.IN_PRODUCTION),
                            (now + timedelta(hours=5), SubmissionStatus.ACCEPTED),
                            (now - timedelta(hours=3), SubmissionStatus.CANCELLED)]:
            Submission.objects.create(workspace=busy, order=order, provider=ProviderFactory(),
                                      adapter="manual", status=status, due_at=due,
                                      reference=f"R-{due.timestamp()}")
    html = _home(client_for(owner))
    assert _needs(html)["failed_syncs"] == ("2", "/stores/")
    flow = dict(re.findall(r'data-label="(\w+)" data-value="(\d+)"', html))
    assert flow["Late"] == "1"
    assert flow["Submitted"] == "1"  # today's, of this workspace only


def test_todays_flow_counts_this_workspaces_orders_of_today(busy, owner, client_for):
    now = timezone.now()
    yesterday = now - timedelta(days=2)
    with scope(workspace=busy):
        store = StoreFactory(workspace=busy)
        OrderFactory(workspace=busy, store=store, state="shipped", paid_at=now,
                     submitted_at=now, shipped_at=now)
        OrderFactory(workspace=busy, store=store, state="awaiting_submission", paid_at=now)
        OrderFactory(workspace=busy, store=store, state="shipped", paid_at=yesterday,
                     submitted_at=yesterday, shipped_at=yesterday, created_at=yesterday)
    html = _home(client_for(owner))
    flow = dict(re.findall(r'data-label="(\w+)" data-value="(\d+)"', html))
    # 13 of the fixture + 2 made today (the third was imported two days ago)
    assert flow == {"Imported": "15", "Paid": "2", "Submitted": "1", "Shipped": "1",
                    "Late": "0"}
    assert '<svg class="chart" id="today-flow"' in html


def test_balance_and_auto_recharge_in_the_workspace_currency(workspace, owner, client_for):
    workspace.billing_currency = "EUR"
    workspace.save()
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("1234.5"),
                      key="t:home")
    client = client_for(owner)
    html = _home(client)
    assert "€1,234.50" in html
    assert "Auto-recharge off." in html
    assert "low_balance" not in _needs(html)
    with scope(workspace=workspace):
        PaymentProfile.objects.create(workspace=workspace, auto_recharge=True,
                                      recharge_threshold_amount=D("1500"),
                                      recharge_amount=D("2000"))
    html = _home(client)
    assert "Auto-recharge on: €2,000.00 when below €1,500.00" in html
    assert _needs(html)["low_balance"][1] == "/balance/"  # under its own threshold


def test_home_stays_within_its_query_budget(busy, owner, client_for,
                                            django_assert_max_num_queries):
    client = client_for(owner)
    _home(client)  # warm caches (content types, URL cache)
    with django_assert_max_num_queries(HOME_QUERIES):
        _home(client)
