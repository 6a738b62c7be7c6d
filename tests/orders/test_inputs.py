"""Validation of an incoming order: clean values, and one clear reason per bad field."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders.inputs import validate_order_input
from podhub.core.exceptions import ValidationFailed
from tests.orders.service_data import order_data


def _fields(data, **kwargs) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_order_input(data, **kwargs)
    return caught.value.detail["fields"]


def test_a_valid_order_comes_out_clean():
    inp = validate_order_input(order_data(number="#1001", external_id="", channel="Etsy"))
    assert (inp.number, inp.external_id, inp.channel) == ("#1001", "#1001", "etsy")
    assert inp.placed_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert inp.lines[0].unit_price == Decimal("12.50")
    assert inp.lines[0].personalization == [{"key": "Name", "value": "Ana"}]
    # totals are computed from the lines when not given
    assert inp.subtotal == inp.total == Decimal("45.00")
    assert inp.skus == ["MUG-11-WHITE", "TEE-M-BLACK"]


def test_every_bad_field_gets_its_own_reason():
    data = order_data(buyer_email="not-an-email")
    data["shipping_address"] = {"name": "", "address1": "1 Main St", "city": "Springfield",
                                "zip": "ABC", "country_code": "USA"}
    data["line_items"][0].update(quantity=0, unit_price="-3")
    data["line_items"][1].update(unit_price="12.505", images=["ftp://x/y.png"])
    fields = _fields(data)
    assert fields == {
        "shipping_address.name": "The recipient's name is required.",
        "shipping_address.country_code": "Enter the two-letter ISO country code, such as US "
                                         "or DE.",
        "line_items.0.quantity": "Enter a whole number from 1 to 10000.",
        "line_items.0.unit_price": "Must not be negative.",
        "line_items.1.unit_price": "At most 2 decimal places for USD.",
        "line_items.1.images.0": "'ftp://x/y.png' is not an http(s) URL.",
        "buyer_email": "'not-an-email' is not a valid e-mail address.",
    }


def test_currency_must_be_an_iso_code():
    assert _fields(order_data(currency="dollars")) == {
        "currency": "Enter a three-letter ISO 4217 code such as USD."}


def test_decimal_places_follow_the_currency():
    data = order_data()
    data["line_items"][0]["unit_price"] = "12.505"
    assert _fields(data)["line_items.0.unit_price"] == "At most 2 decimal places for USD."
    yen = order_data(currency="JPY")
    for line in yen["line_items"]:
        line["unit_price"] = "1500"
    assert validate_order_input(yen).total == Decimal("4500")
    yen["line_items"][0]["unit_price"] = "1500.5"
    assert _fields(yen)["line_items.0.unit_price"] == "At most 0 decimal places for JPY."


def test_money_is_read_from_its_decimal_text_never_as_a_binary_float():
    data = order_data()
    data["line_items"] = [{"sku": "A", "quantity": 3, "unit_price": 0.1}]
    assert validate_order_input(data).total == Decimal("0.3")


def test_not_a_number_is_explained():
    data = order_data()
    data["line_items"][0]["unit_price"] = "$12.50"
    assert _fields(data)["line_items.0.unit_price"] == \
        "Enter an amount such as 12.50, not '$12.50'."


def test_a_us_address_needs_a_valid_zip():
    data = order_data()
    data["shipping_address"]["zip"] = ""
    assert _fields(data)["shipping_address.zip"] == "A US address needs a ZIP code."
    data["shipping_address"]["zip"] = "6270"
    assert "62701-1234" in _fields(data)["shipping_address.zip"]
    # other countries: postal codes are free text
    data["shipping_address"].update(country_code="hk", zip="")
    assert validate_order_input(data).shipping_address["country_code"] == "HK"


@pytest.mark.parametrize(("value", "expected"), [
    ("Name=Ana; Color=Red", [{"key": "Name", "value": "Ana"}, {"key": "Color", "value": "Red"}]),
    ({"Name": "Ana"}, [{"key": "Name", "value": "Ana"}]),
    ([{"key": "Date", "value": "2026-05-01"}], [{"key": "Date", "value": "2026-05-01"}]),
    ("", []),
])
def test_personalisation_in_each_accepted_form(value, expected):
    data = order_data()
    data["line_items"][0]["personalization"] = value
    assert validate_order_input(data).lines[0].personalization == expected


def test_malformed_personalisation_is_explained():
    data = order_data()
    data["line_items"][0]["personalization"] = "just a name"
    assert "key=value" in _fields(data)["line_items.0.personalization"]
    data["line_items"][0]["personalization"] = [{"key": "", "value": "Ana"}]
    assert "name (key)" in _fields(data)["line_items.0.personalization.0.key"]


def test_images_as_urls_or_keyed_objects():
    data = order_data()
    data["line_items"][0]["images"] = ["https://cdn.test/a.png",
                                       {"key": "Photo", "url": "https://cdn.test/b.jpg"}]
    assert validate_order_input(data).lines[0].images == [
        {"key": "", "url": "https://cdn.test/a.png"},
        {"key": "Photo", "url": "https://cdn.test/b.jpg"},
    ]


def test_sku_and_number_are_required_for_outside_orders():
    data = order_data(number="", external_id="")
    data["line_items"][0]["sku"] = ""
    fields = _fields(data, require_sku=True, require_number=True)
    assert fields["number"] == "The order number is required."
    assert fields["line_items.0.sku"] == "The SKU is required."


def test_unknown_fields_are_named_not_silently_dropped():
    data = order_data(colour="red")
    data["shipping_address"]["street"] = "Main"
    fields = _fields(data)
    assert fields["colour"].startswith("Unknown field.")
    assert fields["shipping_address.street"].startswith("Unknown field.")


def test_no_lines_and_not_an_object():
    assert _fields(order_data(line_items=[]))["line_items"] == "Add at least one line item."
    assert _fields(["a list"]) == {"non_field_errors": "Send the order as a JSON object."}


def test_the_message_names_the_first_problem_and_counts_the_rest():
    with pytest.raises(ValidationFailed) as caught:
        validate_order_input(order_data(buyer_email="x", currency="??", line_items=[]))
    assert caught.value.message.startswith("The order is invalid: ")
    assert caught.value.message.endswith("(and 2 more problems)")


def test_dates_without_a_zone_are_utc_and_bad_dates_are_explained():
    inp = validate_order_input(order_data(placed_at="2026-05-01 10:30"))
    assert inp.placed_at == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    assert validate_order_input(order_data(placed_at="2026-05-01")).placed_at == \
        datetime(2026, 5, 1, tzinfo=UTC)
    assert "2026-05-01T14:30:00Z" in _fields(order_data(placed_at="yesterday"))["placed_at"]
