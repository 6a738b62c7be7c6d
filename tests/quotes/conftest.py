"""The catalog of docs/pricing.md's worked examples, and an import helper.

Fixtures run with scopes disabled (tests/conftest.py); test bodies scope.
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django_scopes import scope

from orders import services as order_services
from orders.events import Actor
from podhub.accounts.models import User
from tests.factories import (
    ProductFactory,
    ShippingMethodFactory,
    ShippingRateFactory,
    ShippingZoneFactory,
    StoreFactory,
    VariantFactory,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
STORE_ACTOR = Actor.store("test store")
_seq = itertools.count(1)


@dataclass
class Catalog:
    north_america: object
    rest_of_world: object
    standard: object
    express: object
    mug: object
    mug_white: object
    mug_black: object
    stamp: object
    stamp_40: object


@pytest.fixture
def catalog(db):
    """docs/pricing.md: zones, standard/express shipping, mugs with tiers, a stamp with a
    one-time setup fee."""
    na = ShippingZoneFactory(name="North America", countries="US CA")
    row = ShippingZoneFactory(name="Rest of world", countries="", is_rest_of_world=True)
    standard = ShippingMethodFactory(code="standard", name="Standard", sort_order=1,
                                     handling_amount=Decimal("1.00"))
    express = ShippingMethodFactory(code="express", name="Express", sort_order=2,
                                    handling_amount=Decimal("1.00"))
    ShippingRateFactory(method=standard, zone=na, first_item_amount=Decimal("5.00"),
                        additional_item_amount=Decimal("2.00"), delivery_days_min=3,
                        delivery_days_max=7)
    ShippingRateFactory(method=standard, zone=row, first_item_amount=Decimal("9.00"),
                        additional_item_amount=Decimal("4.00"), delivery_days_min=7,
                        delivery_days_max=14)
    ShippingRateFactory(method=express, zone=na, first_item_amount=Decimal("12.00"),
                        additional_item_amount=Decimal("3.00"), delivery_days_min=1,
                        delivery_days_max=3)
    mug = ProductFactory(name="Mug 11 oz", category="Drinkware")
    white = VariantFactory(product=mug, sku="MUG11-WHITE", options={"Colour": "White"},
                           price="8.00", tiers="10-49: 7.00 mini-bulk; 50+: 6.00 bulk")
    black = VariantFactory(product=mug, sku="MUG11-BLACK", options={"Colour": "Black"},
                           price="9.00", tiers="10-49: 8.00 mini-bulk; 50+: 7.00 bulk")
    stamp = ProductFactory(name="Custom stamp", setup_fee_amount=Decimal("30.00"))
    stamp_40 = VariantFactory(product=stamp, sku="STAMP-40", options={"Size": "40 mm"},
                              price="12.00", production_days=5)
    return Catalog(na, row, standard, express, mug, white, black, stamp, stamp_40)


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Acme Shopify", currency="USD")


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="staff@podhub.test",
                                         password="correct horse battery")


def order_data(*lines, number=None, country="US", **overrides) -> dict:
    """An order dict; each line is (sku, quantity) or a dict of line fields."""
    n = next(_seq)
    items = []
    for i, line in enumerate(lines or [("MUG11-WHITE", 1)]):
        if isinstance(line, tuple):
            sku, qty = line
            line = {"sku": sku, "quantity": qty}
        items.append({"external_id": f"li-{n}-{i}", "title": line.pop("title", "Mug"),
                      "unit_price": line.pop("unit_price", "20.00"), **line})
    data = {
        "external_id": f"ext-{n}", "number": number or f"#{1000 + n}",
        "buyer_email": "ana@example.com",
        "shipping_address": {"name": "Ana Lima", "address1": "1 Main St", "city": "Berlin"
                             if country != "US" else "Springfield", "zip": "62701",
                             "country_code": country},
        "line_items": items,
    }
    data.update(overrides)
    return data


@pytest.fixture
def import_order(django_capture_on_commit_callbacks):
    """Import through orders.services.order_import and run what happens after commit
    (the quotes subscriber prices the order). Returns the fresh order."""

    def do(workspace, store, *lines, **kwargs):
        data = order_data(*lines, **kwargs)
        with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
            order, _ = order_services.order_import(workspace=workspace, store=store, data=data,
                                                   actor=STORE_ACTOR, now=T0)
        with scope(workspace=workspace):
            order.refresh_from_db()
        return order

    return do
