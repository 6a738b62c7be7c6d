"""Processing stored deliveries: realistic orders, ordering by updated_at, cancels, payment."""

import json

import pytest
from django.core import mail
from django_scopes import scope

from integrations.models import InboundWebhook, InboxStatus, StoreOrderRecord
from integrations.services.inbox import inbox_drain
from orders.models import Order
from tests.integrations.conftest import post_webhook

pytestmark = pytest.mark.django_db

REALISTIC = {
    "email": "zoe.muller@example.com",
    "shipping_address": {"first_name": "Zoë", "last_name": "Müller-Łukasiewicz",
                         "name": "Zoë Müller-Łukasiewicz", "company": "Ателье «Ёлка»",
                         "address1": "Straße des 17. Juni 135", "address2": "Hinterhaus, 3. OG",
                         "city": "Berlin", "province": "", "province_code": None, "zip": "10623",
                         "country": "Germany", "country_code": "DE", "phone": "+49 30 1234567"},
    "line_items": [
        {"title": "Engraved necklace ✨", "sku": "NECK-ENG-GOLD", "variant_title": "Gold",
         "price": "39.00", "quantity": 2, "discount": "7.80",
         "properties": [{"name": "Engraving", "value": "Für Oma ❤ 1942"},
                        {"name": "Font", "value": "Script"},
                        {"name": "Photo", "value": "https://cdn.example.com/u/oma.jpg"}]},
        {"title": "Custom mug 11oz", "sku": "MUG-11-WHITE", "variant_title": "White",
         "price": "14.00", "quantity": 1,
         "properties": [{"name": "Name", "value": "日本語の名前"}]},
        {"title": "Gift wrap", "sku": "", "price": "3.50", "quantity": 1, "properties": []},
    ],
    "order_discount": "2.00", "shipping": "6.90", "tax": "12.34",
}


def _drain(conn, workspace):
    with scope(workspace=workspace):
        return inbox_drain(connection_id=conn.pk)


def test_orders_create_with_properties_discounts_lines_unicode(connection, sandbox, workspace):
    sandbox.shop.create_order(REALISTIC)
    sandbox.shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        order = Order.objects.get()
        lines = list(order.line_items.order_by("id"))
    assert order.buyer_email == "zoe.muller@example.com"
    assert order.buyer_name == "Zoë Müller-Łukasiewicz"
    addr = order.shipping_address
    assert addr["address1"] == "Straße des 17. Juni 135"
    assert addr["address2"] == "Hinterhaus, 3. OG"
    assert addr["company"] == "Ателье «Ёлка»"
    assert (addr["zip"], addr["country_code"], addr["phone"]) == ("10623", "DE", "+49 30 1234567")
    assert [ln.sku for ln in lines] == ["NECK-ENG-GOLD", "MUG-11-WHITE", ""]
    assert lines[0].personalization == [{"key": "Engraving", "value": "Für Oma ❤ 1942"},
                                        {"key": "Font", "value": "Script"}]
    assert lines[0].images == [{"key": "Photo", "url": "https://cdn.example.com/u/oma.jpg"}]
    assert lines[1].personalization == [{"key": "Name", "value": "日本語の名前"}]
    assert str(lines[0].discount_amount) == "7.800" and lines[0].quantity == 2
    # 2 x 39 - 7.80 + 14 + 3.50 - 2.00 + 6.90 + 12.34
    assert str(order.total_amount) == "104.940"
    assert str(order.discount_amount) == "2.000"
    assert order.state == "in_quotation"


def test_a_fulfilled_order_is_never_imported(connection, sandbox, workspace, webhook_client):
    payload = sandbox.shop.create_order({"fulfillment_status": "fulfilled"}, webhooks=False)
    assert payload["fulfillment_status"] == "fulfilled"
    post_webhook(webhook_client, "orders/create", payload)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 0
        assert InboundWebhook.objects.get().result == "skipped:fulfilled"


def test_an_older_update_never_overwrites_a_newer_one(connection, sandbox, workspace,
                                                      webhook_client):
    shop = sandbox.shop
    order = shop.create_order({}, webhooks=False)
    v1 = shop.update_order(order["id"], {"shipping_address": {"address1": "1 Old Road"}},
                           webhooks=False)
    v2 = shop.update_order(order["id"], {"shipping_address": {"address1": "2 New Road"}},
                           webhooks=False)
    post_webhook(webhook_client, "orders/create", order)
    post_webhook(webhook_client, "orders/updated", v2)
    post_webhook(webhook_client, "orders/updated", v1)  # arrives last, is older
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().shipping_address["address1"] == "2 New Road"
        results = list(InboundWebhook.objects.order_by("pk").values_list("result", flat=True))
    assert results == ["created", "updated", "stale"]


def test_out_of_order_deliveries_from_the_sandbox(connection, sandbox, workspace):
    shop = sandbox.shop
    shop.hold_webhooks = True
    order = shop.create_order({})
    shop.update_order(order["id"], {"email": "first@example.com"})
    shop.update_order(order["id"], {"email": "final@example.com"})
    assert shop.release_held(reverse=True) == 4  # create, paid, 2 updates: newest first
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.get().buyer_email == "final@example.com"


def test_orders_cancelled_cancels_before_submission(connection, sandbox, workspace):
    shop = sandbox.shop
    order = shop.create_order({})
    shop.deliver_due()
    _drain(connection, workspace)
    shop.cancel_order(order["id"])
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        o = Order.objects.get()
        assert o.state == "cancelled"
        assert o.cancel_reason == "buyer"
        assert StoreOrderRecord.objects.get().cancelled


def test_a_late_create_after_cancel_does_not_resurrect(connection, sandbox, workspace,
                                                       webhook_client):
    shop = sandbox.shop
    order = shop.create_order({}, webhooks=False)
    cancelled = shop.cancel_order(order["id"], webhooks=False)
    post_webhook(webhook_client, "orders/cancelled", cancelled)
    post_webhook(webhook_client, "orders/create", order)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 0


def test_an_unpaid_order_waits_for_orders_paid(connection, sandbox, workspace):
    shop = sandbox.shop
    order = shop.create_order({"financial_status": "pending"})
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        rec = StoreOrderRecord.objects.select_related("order").get()
        assert rec.order is not None and rec.awaiting_payment
    shop.mark_paid(order["id"])
    shop.deliver_due()
    _drain(connection, workspace)
    with scope(workspace=workspace):
        rec.refresh_from_db()
        assert not rec.awaiting_payment and rec.financial_status == "paid"


def test_an_unreadable_order_fails_visibly(connection, sandbox, workspace, webhook_client):
    order = sandbox.shop.create_order({}, webhooks=False)
    del order["id"]  # nothing says which order this is
    post_webhook(webhook_client, "orders/create", order)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
        connection.refresh_from_db()
    assert row.status == InboxStatus.FAILED
    assert "names no order id" in row.error
    assert "could not be read" in connection.last_error


def test_an_order_with_nothing_to_make_is_a_deliberate_skip(connection, sandbox, workspace,
                                                             webhook_client):
    order = sandbox.shop.create_order({}, webhooks=False)
    order["line_items"] = []
    post_webhook(webhook_client, "orders/create", order)
    _drain(connection, workspace)
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get()
        assert Order.objects.count() == 0
    assert (row.status, row.result) == (InboxStatus.PROCESSED, "skipped:nothing left to make")


def test_app_uninstalled_stops_all_traffic(connection, sandbox, workspace, webhook_client):
    post_webhook(webhook_client, "app/uninstalled", {"id": 1, "domain": connection.shop_domain})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        connection.refresh_from_db()
        assert connection.status == "uninstalled"
        assert connection.access_token.reveal() == ""
    post_webhook(webhook_client, "orders/create", sandbox.shop.create_order({}, webhooks=False))
    _drain(connection, workspace)
    with scope(workspace=workspace):
        assert Order.objects.count() == 0


# --- privacy -----------------------------------------------------------------------


def _import_one(connection, sandbox, workspace, **spec):
    order = sandbox.shop.create_order(spec)
    sandbox.shop.deliver_due()
    _drain(connection, workspace)
    return order


def test_customers_data_request_emails_the_admins_what_we_hold(connection, sandbox, workspace,
                                                               webhook_client, owner,
                                                               django_capture_on_commit_callbacks):
    order = _import_one(connection, sandbox, workspace, email="ana@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(webhook_client, "customers/data_request", {
            "shop_id": 1, "shop_domain": connection.shop_domain,
            "customer": {"id": 9, "email": "ana@example.com", "phone": None},
            "orders_requested": [order["id"]], "data_request": {"id": 77}})
        _drain(connection, workspace)
    assert mail.outbox[-1].to == [owner.user.email]
    assert "ana@example.com" in mail.outbox[-1].body and "77" in mail.outbox[-1].body


def test_customers_redact_erases_buyer_data_and_raw_deliveries(connection, sandbox, workspace,
                                                               webhook_client):
    order = _import_one(connection, sandbox, workspace, email="ana@example.com")
    keep = _import_one(connection, sandbox, workspace, email="bob@example.com")
    post_webhook(webhook_client, "customers/redact", {
        "shop_id": 1, "shop_domain": connection.shop_domain,
        "customer": {"id": 9, "email": "ana@example.com", "phone": None},
        "orders_to_redact": [order["id"]]})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        gone = Order.objects.get(external_id=str(order["id"]))
        kept = Order.objects.get(external_id=str(keep["id"]))
        assert (gone.buyer_email, gone.buyer_name, gone.shipping_address) == ("", "", {})
        assert kept.buyer_email == "bob@example.com"
        bodies = InboundWebhook.objects.filter(resource_id=str(order["id"])).values_list(
            "body", flat=True)
        assert bodies and all("ana@example.com" not in b for b in bodies)
        assert all("ana@example.com" not in b for b in
                   InboundWebhook.objects.values_list("body", flat=True))
        assert gone.events.filter(type="order.buyer_data_redacted").exists()


def test_shop_redact_removes_the_store_data(connection, sandbox, workspace, webhook_client):
    _import_one(connection, sandbox, workspace)
    post_webhook(webhook_client, "app/uninstalled", {"id": 1})
    _drain(connection, workspace)
    post_webhook(webhook_client, "shop/redact", {"shop_id": 1,
                                                 "shop_domain": connection.shop_domain})
    _drain(connection, workspace)
    with scope(workspace=workspace):
        connection.refresh_from_db()
        assert connection.status == "redacted"
        assert connection.webhook_secret.reveal() == ""
        assert InboundWebhook.objects.count() == 1  # only the shop/redact receipt
        assert json.loads(InboundWebhook.objects.get().body) == {
            "shop_domain": connection.shop_domain}
        assert StoreOrderRecord.objects.count() == 0
        assert Order.objects.get().buyer_email == ""
