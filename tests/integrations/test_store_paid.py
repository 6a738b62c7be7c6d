"""Shopify's financial status -> Order.store_paid; orders/paid flips it; privacy redaction."""

import pytest
from django_scopes import scope

from integrations.services.inbox import inbox_drain
from integrations.shopify.mapping import from_graphql, from_rest
from orders.models import LineItem, Order, OrderEvent
from tests.integrations.conftest import post_webhook

pytestmark = pytest.mark.django_db


def _drain(conn, workspace):
    with scope(workspace=workspace):
        return inbox_drain(connection_id=conn.pk)


@pytest.mark.parametrize(("status", "paid"), [
    ("paid", True), ("partially_refunded", True), ("refunded", True),
    ("pending", False), ("authorized", False), ("unpaid", False), ("partially_paid", False),
    ("voided", False), ("expired", False), (None, True),
])
def test_the_financial_status_says_whether_the_buyer_paid_the_store(sandbox, status, paid):
    payload = sandbox.shop.create_order({}, webhooks=False)
    node = sandbox.shop.gql_order(payload)
    payload["financial_status"] = status
    _, facts = from_rest(payload)
    assert facts.store_paid is paid
    node["displayFinancialStatus"] = status.upper() if status else None
    _, facts = from_graphql(node)
    assert facts.store_paid is paid


def test_a_pending_order_is_imported_unpaid_and_orders_paid_flips_it(connection, sandbox,
                                                                     workspace):
    shop = sandbox.shop
    created = shop.create_order({"financial_status": "pending"})
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get(external_id=str(created["id"]))
        assert order.store_paid is False
    shop.mark_paid(created["id"])
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.store_paid is True
        event = OrderEvent.objects.get(order=order, type="order.store_paid")
        assert event.actor_type == "store"


def test_orders_paid_with_the_same_updated_at_still_flips_it(connection, sandbox, workspace,
                                                             webhook_client):
    payload = sandbox.shop.create_order({"financial_status": "authorized"}, webhooks=False)
    post_webhook(webhook_client, "orders/create", payload)
    post_webhook(webhook_client, "orders/paid", {**payload, "financial_status": "paid"})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().store_paid is True


def test_a_paid_order_is_imported_paid_and_a_later_pending_never_unpays_it(
        connection, sandbox, workspace, webhook_client):
    shop = sandbox.shop
    payload = shop.create_order({}, webhooks=False)
    post_webhook(webhook_client, "orders/create", payload)
    _drain(connection, workspace)
    later = shop.update_order(payload["id"], {"financial_status": "pending"}, webhooks=False)
    post_webhook(webhook_client, "orders/updated", later)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        assert order.store_paid is True
        assert not OrderEvent.objects.filter(order=order, type="order.store_paid").exists()


def test_customers_redact_goes_through_the_order_service(connection, sandbox, workspace,
                                                         webhook_client):
    payload = sandbox.shop.create_order({"email": "ana@example.com"})
    sandbox.shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        before = list(LineItem.objects.order_by("pk").values_list("personalization", flat=True))
    post_webhook(webhook_client, "customers/redact", {
        "shop_id": 1, "shop_domain": connection.shop_domain,
        "customer": {"id": 9, "email": "ana@example.com", "phone": None},
        "orders_to_redact": [payload["id"]]})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        event = OrderEvent.objects.get(order=order, type="order.buyer_data_redacted")
        after = list(LineItem.objects.order_by("pk").values_list("personalization", flat=True))
    assert (order.buyer_name, order.buyer_email, order.shipping_address) == ("", "", {})
    assert order.number.lower() in order.search_text
    assert "ana@example.com" not in order.search_text
    assert "customers/redact" in event.message and event.actor_type == "store"
    # the order is still to be made: its personalisation stays for production
    assert after == before
