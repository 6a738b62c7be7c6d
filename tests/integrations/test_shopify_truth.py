"""Store edits, refunds, fulfilments by others, currencies and odd orders, end to end.

Each change is made in the sandbox store over HTTP (its control API, or the GraphQL
order-edit mutations a merchant's app would use), arrives as a signed webhook in the
inbox and is processed; the test asserts what the Shopify mapping hands to the order
core (`apply_store_order`), and where the current core already acts on it, the result.
What the core does with an edit of a paid order (re-price, re-hold) is the core's own
and tested there (CONTRACT-12).
"""

import httpx
import pytest
from django_scopes import scope

from integrations.models import InboundWebhook, InboxStatus
from integrations.services import imports, inbox
from integrations.services.imports import reconcile_store
from integrations.services.inbox import inbox_drain
from integrations.shopify.connect import client_for
from orders.models import Order

pytestmark = pytest.mark.django_db

MUG = {"title": "Custom mug 11oz", "sku": "MUG-11-WHITE", "variant_title": "White",
       "price": "14.00", "quantity": 1, "properties": [{"name": "Name", "value": "Ana"}]}
TEE = {"title": "Name T-shirt", "sku": "TEE-NAME-M", "variant_title": "M / Black",
       "price": "24.00", "quantity": 2}


@pytest.fixture
def handed(monkeypatch):
    """Every (topic-less) call of the core: [(data, facts)], passed through unchanged."""
    calls = []

    def spy(real):
        def apply(*, connection, data, facts, **kwargs):
            calls.append((data, facts))
            return real(connection=connection, data=data, facts=facts, **kwargs)
        return apply

    monkeypatch.setattr(inbox, "apply_store_order", spy(inbox.apply_store_order))
    monkeypatch.setattr(imports, "apply_store_order", spy(imports.apply_store_order))
    return calls


def control(sandbox, path: str, body: dict | None = None) -> dict:
    resp = httpx.post(f"{sandbox.url}/_sandbox/{path}", json=body or {}, timeout=10)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def remote(sandbox, order_id) -> dict:
    return httpx.get(f"{sandbox.url}/_sandbox/orders/{order_id}", timeout=10).json()


def sync(sandbox, connection, workspace) -> list[tuple[str, str]]:
    """Deliver what the store sent, process it; [(topic, result)] of the new rows."""
    with scope(workspace=workspace):
        seen = set(InboundWebhook.objects.values_list("pk", flat=True))
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        rows = InboundWebhook.objects.exclude(pk__in=seen).order_by("pk")
        return [(r.topic, r.result or r.error) for r in rows]


def lines(data: dict) -> list[tuple]:
    return [(ln["sku"], ln["quantity"], ln["fulfilled_quantity"]) for ln in data["line_items"]]


@pytest.fixture
def imported(connection, sandbox, workspace, handed):
    order = control(sandbox, "orders", {"line_items": [MUG, TEE]})
    assert [t for t, _ in sync(sandbox, connection, workspace)] == ["orders/create",
                                                                     "orders/paid"]
    handed.clear()
    return order


def test_edit_quantity_up_then_down(connection, sandbox, workspace, handed, imported):
    mug = imported["line_items"][0]
    edit = control(sandbox, f"orders/{imported['id']}/edit",
                   {"changes": [{"line_item_id": mug["id"], "quantity": 3}]})
    assert edit["order_edit"]["line_items"] == {"additions": [{"id": mug["id"], "delta": 2}],
                                               "removals": []}
    results = sync(sandbox, connection, workspace)
    # orders/edited carries no order: it is re-read; orders/updated is the same version
    assert results == [("orders/edited", "updated"), ("orders/updated", "unchanged")]
    data, facts = handed[0]
    assert lines(data) == [("MUG-11-WHITE", 3, 0), ("TEE-NAME-M", 2, 0)]
    assert data["subtotal"] == "90.00"  # 3 x 14 + 2 x 24
    assert facts.financial_status == "partially_paid"  # the buyer owes the difference

    handed.clear()
    control(sandbox, f"orders/{imported['id']}/edit",
            {"changes": [{"line_item_id": mug["id"], "quantity": 1}]})
    assert sync(sandbox, connection, workspace)[0] == ("orders/edited", "updated")
    assert lines(handed[0][0]) == [("MUG-11-WHITE", 1, 0), ("TEE-NAME-M", 2, 0)]
    assert remote(sandbox, imported["id"])["line_items"][0]["current_quantity"] == 1


EDIT_BEGIN = """mutation($id: ID!) { orderEditBegin(id: $id) {
  calculatedOrder { id lineItems(first: 10) { nodes { id quantity sku } } }
  userErrors { field message } } }"""
EDIT_SET_QUANTITY = """mutation($id: ID!, $lineItemId: ID!, $quantity: Int!) {
  orderEditSetQuantity(id: $id, lineItemId: $lineItemId, quantity: $quantity, restock: true) {
    calculatedLineItem { id quantity } userErrors { field message } } }"""
EDIT_ADD_VARIANT = """mutation($id: ID!, $variantId: ID!, $quantity: Int!) {
  orderEditAddVariant(id: $id, variantId: $variantId, quantity: $quantity) {
    calculatedLineItem { id } userErrors { field message } } }"""
EDIT_COMMIT = """mutation($id: ID!) { orderEditCommit(id: $id, notifyCustomer: false,
  staffNote: "colour swap") { order { id } userErrors { field message } } }"""


def test_variant_swap_through_the_order_editing_api(connection, sandbox, workspace, handed,
                                                    imported):
    """The buyer wants the black mug: the merchant's app removes the white one and adds
    the black variant (orderEditBegin / SetQuantity 0 / AddVariant / Commit)."""
    product = control(sandbox, "products", {"title": "Custom mug 11oz", "variants": [
        {"sku": "MUG-11-BLACK", "price": "15.00", "title": "Black"}]})
    black = product["variants"][0]["id"]
    with scope(workspace=workspace):
        client = client_for(connection)
        begun = client.execute(EDIT_BEGIN, {"id": imported["admin_graphql_api_id"]})
        calc = begun["orderEditBegin"]["calculatedOrder"]
        white = next(n for n in calc["lineItems"]["nodes"] if n["sku"] == "MUG-11-WHITE")
        for doc, variables in ((EDIT_SET_QUANTITY, {"lineItemId": white["id"], "quantity": 0}),
                               (EDIT_ADD_VARIANT, {"variantId": black, "quantity": 1})):
            answer = client.execute(doc, {"id": calc["id"], **variables})
            assert next(iter(answer.values()))["userErrors"] == []
        assert client.execute(EDIT_COMMIT, {"id": calc["id"]})["orderEditCommit"][
            "userErrors"] == []
        client.close()
    assert [t for t, _ in sync(sandbox, connection, workspace)] == ["orders/edited",
                                                                     "orders/updated"]
    data, _ = handed[0]
    assert lines(data) == [("TEE-NAME-M", 2, 0), ("MUG-11-BLACK", 1, 0)]
    swapped = data["line_items"][1]
    assert swapped["store_variant_id"] == black.rsplit("/", 1)[-1]
    assert swapped["store_product_id"] == product["id"].rsplit("/", 1)[-1]
    assert (swapped["variant_title"], swapped["unit_price"]) == ("Black", "15.00")


def test_a_line_removed_in_the_store_is_left_out(connection, sandbox, workspace, handed,
                                                 imported):
    tee = imported["line_items"][1]
    control(sandbox, f"orders/{imported['id']}/edit",
            {"changes": [{"line_item_id": tee["id"], "quantity": 0}]})
    sync(sandbox, connection, workspace)
    data, facts = handed[0]
    assert lines(data) == [("MUG-11-WHITE", 1, 0)]
    assert data["subtotal"] == "14.00" and not facts.nothing_left


def test_a_line_refunded_with_restock(connection, sandbox, workspace, handed, imported):
    tee = imported["line_items"][1]
    refund = control(sandbox, f"orders/{imported['id']}/refund", {
        "lines": [{"line_item_id": tee["id"], "quantity": 1, "restock_type": "return"}],
        "note": "one shirt fewer"})
    assert refund["refund_line_items"][0]["restock_type"] == "return"
    assert sync(sandbox, connection, workspace) == [("refunds/create", "updated"),
                                                    ("orders/updated", "unchanged")]
    data, facts = handed[0]
    assert lines(data) == [("MUG-11-WHITE", 1, 0), ("TEE-NAME-M", 1, 0)]
    assert facts.financial_status == "partially_refunded"
    with scope(workspace=workspace):
        row = InboundWebhook.objects.get(topic="refunds/create")
    assert row.resource_id == str(imported["id"])  # the order, for redaction and replay
    assert remote(sandbox, imported["id"])["refunds"][0]["transactions"][0]["amount"] == \
        "24.00"


def test_every_line_refunded_leaves_nothing_to_make(connection, sandbox, workspace, handed,
                                                    imported):
    mug, tee = imported["line_items"]
    control(sandbox, f"orders/{imported['id']}/refund", {"lines": [
        {"line_item_id": mug["id"], "quantity": 1, "restock_type": "cancel"},
        {"line_item_id": tee["id"], "quantity": 2, "restock_type": "cancel"}],
        "shipping": "4.90"})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
    data, facts = handed[0]
    assert data["line_items"] == [] and facts.nothing_left
    assert facts.financial_status == "refunded"


def test_partial_fulfilment_outside_podhub(connection, sandbox, workspace, handed):
    order = control(sandbox, "orders", {"line_items": [{**MUG, "quantity": 3}, TEE]})
    sync(sandbox, connection, workspace)
    handed.clear()
    mug = order["line_items"][0]
    control(sandbox, f"orders/{order['id']}/fulfill", {
        "line_items": [{"line_item_id": mug["id"], "quantity": 2}],
        "tracking": {"company": "USPS", "number": "9400100000000000000001"}})
    assert [t for t, _ in sync(sandbox, connection, workspace)] == [
        "orders/partially_fulfilled", "orders/updated"]
    data, facts = handed[0]  # the webhook body
    assert lines(data) == [("MUG-11-WHITE", 3, 2), ("TEE-NAME-M", 2, 0)]
    assert facts.partially_fulfilled and not facts.nothing_left
    # the reconciliation sweep reads the same through GraphQL and the fulfillment orders
    handed.clear()
    with scope(workspace=workspace):
        reconcile_store(connection_id=connection.pk)
    [(data, facts)] = [(d, f) for d, f in handed if d["external_id"] == str(order["id"])]
    assert lines(data) == [("MUG-11-WHITE", 3, 2), ("TEE-NAME-M", 2, 0)]


def test_the_buyer_paid_in_another_currency(connection, sandbox, workspace, handed):
    control(sandbox, "orders", {
        "presentment_currency": "EUR", "to_shop_rate": "1.10", "shipping": "5.00",
        "shipping_discount": "5.00",
        "line_items": [{**MUG, "price": "20.00", "quantity": 2, "discount": "4.00"}]})
    sync(sandbox, connection, workspace)
    data, _ = handed[0]
    assert (data["currency"], data["subtotal"], data["shipping"], data["shipping_discount"],
            data["total"]) == ("EUR", "36.00", "5.00", "5.00", "36.00")
    assert data["line_items"][0]["unit_price"] == "20.00"
    assert data["line_items"][0]["discount"] == "4.00"
    assert data["shop_money"] == {"currency": "USD", "subtotal": "39.60", "discount": "0",
                                  "shipping": "5.50", "shipping_discount": "5.50",
                                  "tax": "0", "total": "39.60"}
    with scope(workspace=workspace):
        assert Order.objects.get().currency == "EUR"  # what the buyer paid in


def test_an_order_without_address_email_or_sku_is_handed_over_as_it_came(
        connection, sandbox, workspace, handed):
    control(sandbox, "orders", {"shipping_address": None, "email": "", "source_name": "pos",
                                "line_items": [{"custom": True, "title": "Custom item",
                                                "price": "12.50", "quantity": 2}]})
    results = sync(sandbox, connection, workspace)
    data, _ = handed[0]
    assert (data["shipping_address"], data["buyer_email"]) == ({}, "")
    assert [(ln["sku"], ln["store_product_id"], ln["store_variant_id"], ln["title"])
            for ln in data["line_items"]] == [("", "", "", "Custom item")]
    # never silently dropped: each delivery ended processed, or failed with the reason
    with scope(workspace=workspace):
        for row in InboundWebhook.objects.all():
            assert row.status in (InboxStatus.PROCESSED, InboxStatus.FAILED)
            assert row.status == InboxStatus.PROCESSED or "shipping_address" in row.error
    assert len(results) == 2


def test_a_test_notification_is_a_deliberate_skip(connection, sandbox, workspace, handed):
    control(sandbox, "test_notification", {"topic": "orders/create"})
    control(sandbox, "test_notification", {"topic": "refunds/create"})
    assert sync(sandbox, connection, workspace) == [
        ("orders/create", "skipped:test notification"),
        ("refunds/create", "ignored: the store has no order 820982911946154508")]
    with scope(workspace=workspace):
        assert Order.objects.count() == 0
        assert not InboundWebhook.objects.filter(status=InboxStatus.FAILED).exists()
    assert handed == []


def test_an_unknown_topic_is_a_deliberate_skip(connection, sandbox, workspace):
    control(sandbox, "privacy", {"topic": "products/update", "payload": {"id": 632910392}})
    assert sync(sandbox, connection, workspace) == [
        ("products/update", "ignored: topic products/update is not used")]


def test_an_order_edit_naming_no_order_fails_visibly(connection, workspace, webhook_client):
    from tests.integrations.conftest import post_webhook

    post_webhook(webhook_client, "orders/edited", {"order_edit": {"id": 1}})
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        row = InboundWebhook.objects.get()
    assert row.status == InboxStatus.FAILED
    assert "names no order" in row.error


def test_a_store_cancel_with_refund_is_recorded_and_cancels(connection, sandbox, workspace,
                                                            imported):
    control(sandbox, f"orders/{imported['id']}/cancel", {
        "reason": "customer", "refund": True, "notify_customer": True})
    assert [t for t, _ in sync(sandbox, connection, workspace)] == [
        "orders/cancelled", "refunds/create", "orders/updated"]
    store = remote(sandbox, imported["id"])
    assert store["cancelled_at"] and store["financial_status"] == "refunded"
    assert store["refunds"][0]["transactions"][0]["amount"] == store["total_price"]
    assert store["sandbox"]["cancel"] == {"reason": "customer", "refund": True,
                                          "restock": True, "notify_customer": True,
                                          "staff_note": None}
    with scope(workspace=workspace):
        assert Order.objects.get().state == "cancelled"


def test_the_connect_page_asks_for_every_topic_podhub_uses(client_for, owner):
    page = client_for(owner).get("/stores/connect/shopify/").content.decode()
    for topic in ("orders/create", "orders/updated", "orders/edited", "refunds/create",
                  "orders/partially_fulfilled", "app/uninstalled"):
        assert topic in page


def test_a_failed_reread_is_retried_later_and_then_applied(connection, sandbox, workspace,
                                                           handed, imported):
    mug = imported["line_items"][0]
    control(sandbox, f"orders/{imported['id']}/edit",
            {"changes": [{"line_item_id": mug["id"], "quantity": 2}]})
    tokens, sandbox.shop.tokens = sandbox.shop.tokens, {}  # the store refuses us for a while
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        row = InboundWebhook.objects.get(topic="orders/edited")
        assert row.status == InboxStatus.PENDING and row.next_attempt_at
        assert "ShopifyAuthError" in row.error
        sandbox.shop.tokens = tokens
        inbox_drain(connection_id=connection.pk, now=row.next_attempt_at)
        row.refresh_from_db()
    # orders/updated (which carries the order) was applied meanwhile: the same version
    assert (row.status, row.result) == (InboxStatus.PROCESSED, "unchanged")
    assert lines(handed[-1][0])[0] == ("MUG-11-WHITE", 2, 0)  # what the re-read handed over
