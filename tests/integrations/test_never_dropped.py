"""No acknowledged delivery vanishes (issue 12, PRODUCT.md "never dropped"): each ends as
an order (on hold with the precise reason when its data needs fixing), a deliberate skip
with its reason, or a visible failure that the seller, the API or the operator replays.

The odd orders start from the sandbox store's order body, which follows Shopify's REST
Order resource (docs/shopify.md), and change only what makes them odd."""

import json

import pytest
from django.core.management import call_command
from django_scopes import scope

from integrations.models import InboundWebhook, InboxStatus
from integrations.services import inbox as inbox_services
from integrations.services.inbox import inbox_drain
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, LineItem, Order, OrderState
from tests.integrations.conftest import post_webhook

pytestmark = pytest.mark.django_db
S = OrderState


def _drain(conn, workspace):
    with scope(workspace=workspace):
        return inbox_drain(connection_id=conn.pk)


def _odd(sandbox, **changes):
    order = sandbox.shop.create_order({}, webhooks=False)
    for key, value in changes.items():
        if key == "line":
            order["line_items"][0].update(value)
        else:
            order[key] = value
    return order


ODD = {
    "no shipping address": ({"shipping_address": None}, "shipping_address",
                            "There is no shipping address: add one."),
    "empty e-mail": ({"email": "", "contact_email": None, "customer": None}, "buyer_email",
                     "The buyer's e-mail is missing"),
    "custom item without SKU": ({"line": {"sku": None, "product_id": None,
                                          "variant_id": None, "title": "Custom engraving"}},
                                "line_items.0.sku", "“Custom engraving” has no SKU"),
    "unparseable price": ({"line": {"price": "twelve", "price_set": None}},
                          "line_items.0.unit_price", "Enter an amount such as 12.50"),
    "unreadable quantity": ({"line": {"quantity": "two"}}, "line_items.0.quantity",
                            "Enter a whole number"),
    "unknown country": ({"shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                         "city": "Springfield", "zip": "62701",
                                         "country": "Narnia", "country_code": None}},
                   "shipping_address.country_code", "Enter the two-letter ISO country code"),
}


@pytest.mark.parametrize("case", list(ODD))
def test_an_odd_order_is_imported_on_hold_with_the_precise_reason(
    case, connection, sandbox, workspace, webhook_client
):
    changes, field, reason = ODD[case]
    post_webhook(webhook_client, "orders/create", _odd(sandbox, **changes))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
        order = Order.objects.get()
    assert (row.status, row.result) == (InboxStatus.PROCESSED, "created")
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.DATA_PROBLEM)
    assert reason in order.data_problems[field]
    assert reason in order.hold_message


def test_the_seller_fixes_the_address_and_the_order_goes_on(connection, sandbox, workspace,
                                                            owner, client_for, webhook_client):
    post_webhook(webhook_client, "orders/create", _odd(sandbox, shipping_address=None))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
    # the order list shows it on hold, with why
    page = client_for(owner).get("/orders/?state=on_hold").content.decode()
    assert order.number in page
    # when the seller enters the address in the order's edit form
    response = client_for(owner).post(f"/orders/{order.pk}/edit/", {
        "buyer_name": order.buyer_name, "buyer_email": order.buyer_email,
        "address_name": "Ana Lima", "address_address1": "1 Main St",
        "address_city": "Springfield", "address_zip": "62701", "address_country_code": "US",
    })
    assert response.status_code in (200, 302)
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.data_problems == {}
    assert order.state == S.IN_QUOTATION  # back where it was held from


def test_a_custom_item_gets_its_sku_from_the_seller(connection, sandbox, workspace,
                                                    webhook_client):
    post_webhook(webhook_client, "orders/create", _odd(
        sandbox, line={"sku": None, "product_id": None, "variant_id": None}))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        line = LineItem.objects.filter(order=order).order_by("pk").first()
        order_services.order_edit(order_id=order.pk, actor=Actor.system(),
                                  changes={"lines": {str(line.pk): {"sku": "MUG-11"}}})
        order.refresh_from_db()
        line.refresh_from_db()
    assert line.sku == "MUG-11"
    assert order.state == S.IN_QUOTATION and not order.data_problems


def test_a_later_store_version_keeps_what_the_seller_fixed(connection, sandbox, workspace,
                                                           webhook_client):
    body = _odd(sandbox, shipping_address=None)
    post_webhook(webhook_client, "orders/create", body)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "zip": "62701", "country_code": "US"}})
    # the store sends a newer version, still without an address
    newer = dict(body, updated_at="2031-01-01T00:00:00Z", note="gift")
    post_webhook(webhook_client, "orders/updated", newer)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.shipping_address["address1"] == "1 Main St"
    assert order.state == S.IN_QUOTATION and not order.data_problems


def test_an_unknown_topic_is_a_deliberate_skip(connection, workspace, webhook_client):
    post_webhook(webhook_client, "orders/risk_assessment_changed", {"id": 1, "order_id": 2})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
    assert row.status == InboxStatus.IGNORED
    assert "not used" in row.result


# --- failures are visible and replayed ------------------------------------------------


@pytest.fixture
def failed_delivery(connection, sandbox, workspace, webhook_client, monkeypatch, settings):
    """A delivery that failed for a reason PodHub could not classify (an outage that
    outlasted every retry), and the order it carries."""
    body = sandbox.shop.create_order({}, webhooks=False)
    post_webhook(webhook_client, "orders/create", body)
    monkeypatch.setattr(inbox_services.conf, "INBOX_MAX_ATTEMPTS", 1)

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(inbox_services, "apply_store_order", broken)
    _drain(connection, workspace)
    monkeypatch.undo()
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
    assert row.status == InboxStatus.FAILED
    assert "the database went away" in row.error
    return row, body


def test_the_seller_sees_a_failed_delivery_and_replays_it(
    failed_delivery, connection, workspace, owner, client_for, django_capture_on_commit_callbacks
):
    row, body = failed_delivery
    seller = client_for(owner)
    page = seller.get(f"/stores/{connection.store_id}/").content.decode()
    assert 'data-testid="failed-deliveries"' in page
    assert "the database went away" in page
    with django_capture_on_commit_callbacks(execute=False):
        seller.post(f"/stores/{connection.store_id}/deliveries/replay/", {"ids": [row.pk]})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row.refresh_from_db()
        assert Order.objects.get().external_id == str(body["id"])
    assert (row.status, row.result, row.error) == (InboxStatus.PROCESSED, "created", "")


def test_the_api_lists_and_replays_failed_deliveries(failed_delivery, connection, workspace,
                                                     owner, api_client_for):
    row, _ = failed_delivery
    api = api_client_for(owner)
    listed = api.get(f"/api/v1/stores/{connection.store_id}/deliveries/?status=failed").json()
    assert [(d["id"], d["status"]) for d in listed["results"]] == [(row.pk, "failed")]
    answer = api.post(f"/api/v1/stores/{connection.store_id}/deliveries/replay/",
                      {"ids": [row.pk, 999999]}, format="json")
    assert answer.status_code == 200 and answer.json() == {"ids": [row.pk]}
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 1


def test_the_operator_replays_every_failed_delivery(failed_delivery, connection, workspace,
                                                    capsys):
    row, _ = failed_delivery
    call_command("replay_deliveries", "--store", str(connection.store_id), "--all-failed",
                 "--json")
    assert json.loads(capsys.readouterr().out) == {"store_id": connection.store_id,
                                                   "replayed": [row.pk]}
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 1


def test_another_workspace_cannot_replay(failed_delivery, connection, other_owner,
                                         api_client_for):
    row, _ = failed_delivery
    answer = api_client_for(other_owner).post(
        f"/api/v1/stores/{connection.store_id}/deliveries/replay/", {"ids": [row.pk]},
        format="json")
    assert answer.status_code == 404


def test_a_malformed_line_is_held_naming_it(connection, sandbox, workspace, webhook_client):
    body = sandbox.shop.create_order({}, webhooks=False)
    body["line_items"].append("not a line")
    malformed = f"line_items.{len(body['line_items']) - 1}"
    post_webhook(webhook_client, "orders/create", body)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.DATA_PROBLEM)
    assert order.data_problems[malformed].startswith("Enter the line item as an object")


def test_an_object_property_is_kept_as_json_and_shown_readably(
    connection, sandbox, workspace, webhook_client, owner, client_for
):
    layout = {"font": "Script", "size": 12, "lines": ["Ana", "2026"]}
    post_webhook(webhook_client, "orders/create", _odd(
        sandbox, line={"properties": [{"name": "Layout", "value": layout}]}))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        line = LineItem.objects.filter(order=order).order_by("pk").first()
    assert line.personalization == [{"key": "Layout", "value": layout}]
    page = client_for(owner).get(f"/orders/{order.pk}/").content.decode()
    assert "font: Script; size: 12; lines: Ana, 2026" in page


def test_a_test_notification_is_a_deliberate_skip(connection, sandbox, workspace,
                                                  webhook_client):
    post_webhook(webhook_client, "orders/create", _odd(sandbox, test=True))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
        assert Order.objects.count() == 0
    assert (row.status, row.result) == (InboxStatus.PROCESSED, "skipped:test notification")
