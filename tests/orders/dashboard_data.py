"""Orders for the dashboard tests, written straight to the tables (fast, any state).

Call inside `scope(workspace=...)` or a fixture (fixtures run with scopes disabled).
"""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from orders.models import LineItem, Order, OrderState, Platform, Store
from orders.services import search_text_for

_seq = itertools.count(1)
BASE_TIME = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def make_store(workspace, name="Main store", platform=Platform.SHOPIFY, **fields) -> Store:
    return Store.objects.create(workspace=workspace, name=name, platform=platform, **fields)


def make_order(
    workspace, store, *, number=None, state=OrderState.TO_ORDER, buyer_name="Ana Lima",
    buyer_email=None, placed_at=None, skus=("MUG-11-WHITE",), personalization=None,
    images=None, **fields,
) -> Order:
    n = next(_seq)
    number = number or f"#{1000 + n}"
    buyer_email = buyer_email if buyer_email is not None else f"buyer{n}@example.com"
    order = Order.objects.create(
        workspace=workspace, store=store, external_id=f"ext-{n}", number=number,
        buyer_name=buyer_name, buyer_email=buyer_email, currency="USD", state=state,
        placed_at=placed_at or BASE_TIME + timedelta(minutes=n),
        shipping_address={"name": buyer_name, "address1": "1 Main St", "city": "Springfield",
                          "zip": "62701", "country_code": "US"},
        subtotal_amount=Decimal("25.00") * len(skus), total_amount=Decimal("25.00") * len(skus),
        search_text=search_text_for(number=number, buyer_name=buyer_name,
                                    buyer_email=buyer_email, skus=skus),
        **fields,
    )
    LineItem.objects.bulk_create([
        LineItem(workspace=workspace, order=order, sku=sku, title=f"Item {sku}", quantity=1,
                 unit_price_amount=Decimal("25.00"),
                 personalization=personalization or [], images=images or [])
        for sku in skus
    ])
    return order
