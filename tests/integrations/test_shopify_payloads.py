"""Shopify's own example payloads mapped field by field (CONTRACT-12, docs/shopify.md).

The payloads are in tests/integrations/fixtures/shopify/ (README.md there names the
source of each): Shopify's Admin REST Order example, its libraries' fixtures
(shopify_python_api, shopify-api-ruby) and the webhook reference sample, used
verbatim; beside them our own fixtures (`ours_*`) for what no published example shows.
"""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from integrations.platforms.shopify import resource_id_of
from integrations.shopify.mapping import from_graphql, from_rest, remaining_by_line

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def docs_order() -> dict:
    return load("admin_rest_2024-10_orders_450789469.json")["orders"][0]


def test_admin_rest_example_keeps_only_the_line_the_store_still_wants():
    """Two of the three iPods were refunded (current_quantity 0): one is left to make."""
    data, facts = from_rest(docs_order())
    assert data["line_items"] == [{
        "external_id": "518995019", "store_product_id": "632910392",
        "store_variant_id": "49148385", "sku": "IPOD2008RED", "title": "IPod Nano - 8gb",
        "variant_title": "red", "quantity": 1, "fulfilled_quantity": 0,
        "unit_price": "199.00", "discount": "3.33", "personalization": [], "images": [],
    }]
    # money: what is left (current_*), in the buyer's currency, the shop's beside it
    assert (data["currency"], data["subtotal"], data["discount"], data["shipping"],
            data["shipping_discount"], data["tax"], data["total"]) == (
        "USD", "195.67", "0", "0", "0", "3.98", "199.65")
    assert data["shop_money"] == {"currency": "USD", "subtotal": "195.67", "discount": "0",
                                  "shipping": "0", "shipping_discount": "0", "tax": "3.98",
                                  "total": "199.65"}
    # buyer
    assert (data["external_id"], data["number"], data["buyer_name"], data["buyer_email"]) == (
        "450789469", "#1001", "Bob Norman", "bob.norman@mail.example.com")
    assert data["shipping_address"] == {
        "name": "Bob Norman", "company": "", "address1": "Chestnut Street 92", "address2": "",
        "city": "Louisville", "province": "KY", "zip": "40202", "country_code": "US",
        "phone": "+1(502)-459-2181"}
    assert (data["placed_at"], data["updated_at"]) == ("2008-01-10T11:00:00-05:00",
                                                       "2008-01-10T11:00:00-05:00")
    assert (facts.external_id, facts.financial_status, facts.store_paid, facts.paid) == (
        "450789469", "partially_refunded", True, True)
    assert not (facts.nothing_left or facts.test or facts.cancelled or facts.fulfilled
                or facts.partially_fulfilled or facts.closed)


def test_the_same_order_with_every_line_refunded_leaves_nothing_to_make():
    order = docs_order()
    red = order["line_items"][1]
    red["current_quantity"] = red["fulfillable_quantity"] = 0
    order["financial_status"] = "refunded"
    data, facts = from_rest(order)
    assert data["line_items"] == []
    assert facts.nothing_left and facts.store_paid and not facts.fulfilled


def test_shopify_python_api_order_without_current_quantity():
    """An older payload: every line at its ordered quantity, authorised but not paid."""
    data, facts = from_rest(load("shopify_python_api_order.json")["order"])
    assert [(ln["external_id"], ln["sku"], ln["variant_title"], ln["quantity"],
             ln["fulfilled_quantity"], ln["unit_price"], ln["store_variant_id"])
            for ln in data["line_items"]] == [
        ("466157049", "IPOD2008GREEN", "green", 1, 0, "199.00", "39072856"),
        ("518995019", "IPOD2008RED", "red", 1, 0, "199.00", "49148385"),
        ("703073504", "IPOD2008BLACK", "black", 1, 0, "199.00", "457924702")]
    assert data["line_items"][0]["personalization"] == [
        {"key": "Custom Engraving", "value": "Happy Birthday"}]
    assert (data["currency"], data["subtotal"], data["tax"], data["total"]) == (
        "USD", "597.00", "11.94", "409.94")  # the fixture's own figures, as published
    assert data["shop_money"]["currency"] == "USD"
    assert (data["buyer_name"], data["buyer_email"]) == ("Bob Norman", "bob.norman@hostmail.com")
    assert facts.financial_status == "authorized" and not facts.store_paid
    # its fulfillment failed: nothing counts as fulfilled
    assert not facts.nothing_left


def test_a_published_refund_takes_its_lines_out_of_an_older_payload():
    """shopify_python_api's refund.json (the refunds/create body) on its order.json: a
    payload without current_quantity subtracts the refunded units."""
    order = load("shopify_python_api_order.json")["order"]
    refund = load("shopify_python_api_refund.json")["refund"]
    data, _ = from_rest({**order, "refunds": [refund]})
    assert [ln["sku"] for ln in data["line_items"]] == ["IPOD2008RED"]
    assert resource_id_of("refunds/create", refund) == "450789469"  # the order, not the refund


def test_draft_order_custom_item_without_sku_product_or_variant():
    data, facts = from_rest(load("shopify_python_api_draft_order.json")["draft_order"])
    ipod, custom = data["line_items"]
    assert (ipod["sku"], ipod["store_variant_id"], ipod["quantity"]) == (
        "IPOD2008GREEN", "39072856", 1)
    assert custom == {
        "external_id": "", "store_product_id": "", "store_variant_id": "", "sku": "",
        "title": "Custom Item", "variant_title": "", "quantity": 2, "fulfilled_quantity": 0,
        "unit_price": "494.14", "discount": "35.38", "personalization": [], "images": []}
    assert (data["currency"], data["discount"], data["shipping"], data["total"]) == (
        "CAD", "1.48", "20.00", "1027.41")
    assert data["number"] == "#D1" and data["buyer_name"] == "Jan Fisher"
    assert facts.external_id == "517119332"


def test_a_property_whose_value_is_an_object_stays_json():
    data, _ = from_rest(load("shopify_api_ruby_order_with_properties.json")["order"])
    coffee, bags = data["line_items"]
    assert coffee["sku"] == "" and coffee["store_variant_id"] == "39072856"
    assert coffee["personalization"][0] == {"key": "1st Coffee", "value": "Coffee1"}
    assert bags["personalization"] == [
        {"key": 'By default may label with "Roasted for',
         "value": {"Your First Name": {
             '". If you want something specific on the label, enter it here:': ""}}},
        {"key": "Select Your Grind", "value": "Ground"},
        {"key": "Coffees", "value": "Coffee blend 1"},
        {"key": "Coffees", "value": "Coffee blend 2"},
        {"key": "Coffees", "value": "Coffee blend 3"}]


def test_webhook_reference_sample_is_a_test_notification_of_a_cancelled_order():
    data, facts = from_rest(load("webhook_sample_orders_cancelled.json"))
    assert facts.test and facts.cancelled and facts.financial_status == "voided"
    assert [(ln["sku"], ln["quantity"], ln["fulfilled_quantity"], ln["unit_price"],
             ln["store_product_id"], ln["store_variant_id"]) for ln in data["line_items"]] == [
        ("SKU2006-001", 1, 0, "89.99", "788032119674292922", ""),
        ("SKU2006-020", 1, 0, "159.99", "788032119674292923", ""),
        ("SKU2006-035", 1, 0, "119.99", "788032119674292924", "")]
    assert (data["buyer_name"], data["buyer_email"], data["number"]) == (
        "Steve Shipper", "jon@example.com", "#9999")
    assert (data["shipping"], data["total"]) == ("10.00", "369.97")


def _ours_partial():
    return load("ours_orders_partially_fulfilled_eur.json")


EXPECTED_PARTIAL_LINES = [
    # 3 mugs, 2 already shipped by the store: 1 left to make
    ("13000000201", "MUG-11-WHITE", 3, 2, "20.00", "0"),
    # 2 shirts, 1 refunded: 1 left, with its share of the line discount (2.00 / 2)
    ("13000000202", "TEE-NAME-M", 1, 0, "10.00", "1.00")]


def test_presentment_money_partial_fulfilment_and_a_shipping_discount():
    data, facts = from_rest(_ours_partial())
    assert [(ln["external_id"], ln["sku"], ln["quantity"], ln["fulfilled_quantity"],
             ln["unit_price"], ln["discount"]) for ln in data["line_items"]] == \
        EXPECTED_PARTIAL_LINES
    assert data["line_items"][0]["personalization"] == [{"key": "Name", "value": "Zoë"}]
    # the buyer paid in EUR: every amount is EUR; the shop's USD beside it
    assert (data["currency"], data["subtotal"], data["discount"], data["shipping"],
            data["shipping_discount"], data["tax"], data["total"]) == (
        "EUR", "69.00", "0", "5.00", "5.00", "0", "69.00")
    assert data["shop_money"] == {"currency": "USD", "subtotal": "75.90", "discount": "0",
                                  "shipping": "5.50", "shipping_discount": "5.50",
                                  "tax": "0", "total": "75.90"}
    assert facts.partially_fulfilled and not facts.nothing_left and not facts.fulfilled
    assert data["shipping_address"]["country_code"] == "DE"


def _as_numbers(data: dict) -> dict:
    """Decimal strings as numbers: GraphQL writes 69.0 where REST writes 69.00."""
    def norm(v):
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items() if k not in ("placed_at", "updated_at")}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, str):
            try:
                return Decimal(v) if v.replace(".", "", 1).isdigit() else v
            except ArithmeticError:
                return v
        return v
    return norm(data)


def test_graphql_node_maps_like_the_webhook_body():
    raw = load("ours_graphql_order_partially_fulfilled_eur.json")
    data, facts = from_graphql(raw["order"])
    rest, _ = from_rest(_ours_partial())
    assert _as_numbers(data) == _as_numbers(rest)
    assert facts.partially_fulfilled and facts.financial_status == "partially_refunded"


def test_graphql_fulfillment_orders_say_what_is_left_to_ship():
    raw = load("ours_graphql_order_partially_fulfilled_eur.json")
    node = copy.deepcopy(raw["order"])
    for line in node["lineItems"]["nodes"]:
        line.pop("unfulfilledQuantity")  # only the fulfillment orders tell
    data, _ = from_graphql(node, remaining=remaining_by_line(raw["fulfillmentOrders"]["nodes"]))
    assert [(ln["quantity"], ln["fulfilled_quantity"]) for ln in data["line_items"]] == [
        (3, 2), (1, 0)]


def test_pos_order_without_address_email_or_sku_is_passed_as_it_came():
    data, facts = from_rest(load("ours_pos_order_no_address.json"))
    assert (data["shipping_address"], data["buyer_email"], data["buyer_name"]) == ({}, "", "")
    [line] = data["line_items"]
    assert (line["sku"], line["store_product_id"], line["store_variant_id"], line["title"],
            line["quantity"]) == ("", "", "", "Custom item", 2)
    assert line["personalization"] == [
        {"key": "Engraving", "value": "Ana &amp; Bo"},  # Shopify text is not HTML-encoded
        {"key": "Layout", "value": {"font": "Script", "size": 12, "lines": ["Ana", "Bo"]}},
        {"key": "Gift wrap", "value": True},
        {"key": "Copies", "value": 2},
        {"key": "Note", "value": ""}]
    assert (data["total"], facts.store_paid, facts.nothing_left) == ("25.00", True, False)


@pytest.mark.parametrize("status", ["fulfilled", "restocked"])
def test_fulfilled_and_restocked_orders(status):
    order = docs_order()
    order["fulfillment_status"] = status
    red = order["line_items"][1]
    red["fulfillable_quantity"] = 0
    if status == "restocked":  # refunded and put back on the shelf: not shipped
        red["current_quantity"] = 0
    data, facts = from_rest(order)
    assert facts.nothing_left
    assert facts.fulfilled is (status == "fulfilled")
    if status == "fulfilled":  # the line is listed, all of it already fulfilled
        assert [(ln["quantity"], ln["fulfilled_quantity"]) for ln in data["line_items"]] == [
            (1, 1)]
    else:
        assert data["line_items"] == []


def test_an_order_edit_names_its_order():
    edit = load("ours_orders_edited.json")
    assert resource_id_of("orders/edited", edit) == "450789469"


def test_a_line_discount_follows_the_current_quantity_in_each_currencys_cents():
    """GraphQL writes 2.0 where REST writes 2.00: the share is rounded to the currency's
    minor unit either way (1 of 3 shirts keeps 0.67 of a 2.00 discount; JPY has none)."""
    node = copy.deepcopy(load("ours_graphql_order_partially_fulfilled_eur.json")["order"])
    shirt = node["lineItems"]["nodes"][1]
    shirt["quantity"], shirt["currentQuantity"], shirt["unfulfilledQuantity"] = 3, 1, 1
    data, _ = from_graphql(node)
    assert data["line_items"][1]["discount"] == "0.67"
    assert data["shop_money"]["subtotal"] == "76.27"  # 66.00 + 11.00 - 0.73
    node["presentmentCurrencyCode"] = "JPY"
    data, _ = from_graphql(node)
    assert data["line_items"][1]["discount"] == "1"
