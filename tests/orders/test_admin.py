"""Staff admin: the order list, the order with its timeline, and the two staff actions."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django_scopes import scope

from orders import events
from orders.models import CancelReason, HoldReason, OrderState, Platform
from tests.factories import StoreFactory
from tests.orders.service_data import order_at

S = OrderState
CHANGELIST = "/admin/orders/order/"


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def orders(workspace, store):
    """An open order and a shipped one (past the point of holding or cancelling)."""
    with scope(workspace=workspace):
        return order_at(workspace, store, S.TO_ORDER), order_at(workspace, store, S.SHIPPED)


@pytest.fixture
def only_orders_subscribers(monkeypatch):
    monkeypatch.setattr(events, "_subscriptions", [])


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_sellers_are_kept_out_of_the_admin(client_for, owner):
    response = client_for(owner).get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_order_list_with_filters_and_search(admin_client, orders, other_workspace):
    open_order, shipped = orders
    StoreFactory(workspace=other_workspace)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert open_order.number in response.text and shipped.number in response.text
    filtered = admin_client.get(CHANGELIST, {"state": "shipped", "store__platform": "shopify"})
    assert shipped.number in filtered.text and open_order.number not in filtered.text
    searched = admin_client.get(CHANGELIST, {"q": open_order.number})
    assert open_order.number in searched.text and shipped.number not in searched.text
    for name in ("hold_reason", "cancel_reason"):
        assert admin_client.get(CHANGELIST, {name: "copyright"}).status_code == 200


def test_order_page_shows_items_and_the_read_only_timeline(admin_client, orders):
    open_order, _ = orders
    response = admin_client.get(f"{CHANGELIST}{open_order.pk}/change/")
    assert response.status_code == 200
    assert "MUG-11-WHITE" in response.text
    assert "order.imported" in response.text and "order.priced" in response.text
    # state is shown, never an input
    assert 'name="state"' not in response.text


def test_request_information_asks_for_a_message_then_holds_and_emails(
    admin_client, admin_user, owner, orders, mailoutbox, django_capture_on_commit_callbacks,
    only_orders_subscribers,
):
    open_order, shipped = orders
    selected = {"action": "request_information", ACTION_CHECKBOX_NAME: [open_order.pk,
                                                                        shipped.pk]}
    # when staff pick the action, an intermediate page asks what is missing
    page = admin_client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert "<textarea" in page.text and open_order.number in page.text
    # when they submit the message
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(CHANGELIST, {**selected, "apply": "1",
                                                  "message": "Which font for the name?"},
                                     follow=True)
    # then the open order is held for information, the shipped one is reported
    messages = _messages(response)
    assert f"Information requested: {open_order.number}." in messages
    assert any(m.startswith(f"{shipped.number}: ") for m in messages)
    with scope(workspace=open_order.workspace):
        open_order.refresh_from_db()
        shipped.refresh_from_db()
        event = open_order.events.latest("id")
    assert (open_order.state, open_order.hold_reason) == (S.ON_HOLD, HoldReason.INFO_REQUESTED)
    assert open_order.hold_message == "Which font for the name?"
    assert (event.actor_type, event.actor_user_id) == ("staff", admin_user.pk)
    assert shipped.state == S.SHIPPED
    assert [m.to for m in mailoutbox] == [["owner@acme.test"]]


def test_request_information_without_a_message_changes_nothing(admin_client, orders):
    open_order, _ = orders
    response = admin_client.post(CHANGELIST, {"action": "request_information",
                                              ACTION_CHECKBOX_NAME: [open_order.pk],
                                              "apply": "1", "message": ""})
    assert response.status_code == 200
    assert "This field is required." in response.text
    with scope(workspace=open_order.workspace):
        open_order.refresh_from_db()
    assert open_order.state == S.TO_ORDER


def test_cancel_for_copyright(admin_client, orders):
    open_order, shipped = orders
    response = admin_client.post(CHANGELIST, {"action": "cancel_for_copyright",
                                              ACTION_CHECKBOX_NAME: [open_order.pk,
                                                                     shipped.pk]},
                                 follow=True)
    messages = _messages(response)
    assert f"Cancelled for copyright violation: {open_order.number}." in messages
    assert any(m.startswith(f"{shipped.number}: Order {shipped.number} is shipped")
               for m in messages)
    with scope(workspace=open_order.workspace):
        open_order.refresh_from_db()
        shipped.refresh_from_db()
    assert (open_order.state, open_order.cancel_reason) == (S.CANCELLED, CancelReason.COPYRIGHT)
    assert shipped.state == S.SHIPPED


def test_store_admin_checks_the_time_zone(admin_client, store):
    url = f"/admin/orders/store/{store.pk}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {
        "workspace": store.workspace_id, "name": store.name, "platform": store.platform,
        "currency": "USD", "submit_mode": "daily", "submit_after_hours": 6,
        "submit_daily_at": "09:00", "loss_policy": "hold", "timezone": "Mars/Olympus",
        "is_active": "on",
    })
    assert response.status_code == 200
    assert "is not a time zone name" in response.text
