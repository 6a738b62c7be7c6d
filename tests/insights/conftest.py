"""Hand-computed data for the insights tests (the figures are worked out in test_selectors).

Workspace billed in USD. Period: November 2026. Days D1 = 11-10, D2 = 11-11.

- #1 North USD, paid D1, shipped: revenue 30 - 0 + 5 = 35.00; 2 mugs x 15 (frozen cost
  16.00); captured 16 + 6 = 22.00.
- #2 South USD, D1, shipped: 40 - 4 + 0 = 36.00; 1 shirt x 40 (20.00); captured 20 + 6,
  refunded 5: cost 21.00.
- #3 North USD, D2, awaiting submission: 20.00; 1 mug x 20 (8.00); held only: no cost yet.
- #4 North USD, D2, cancelled: 100.00, captured 10: left out.
- #5 Euro EUR, D2, in production: 18.00 EUR; 1 mug x 18 (8.00 USD); captured 14.00 USD.
- #6 paid 40 days before D1 (outside the period); #7 not paid.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django_scopes import scope

from billing import ledger
from billing.models import EntryKind
from billing.payments import order_refund
from insights.selectors import Period
from tests.factories import (
    LineItemFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    VariantFactory,
)

D1 = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
D2 = datetime(2026, 11, 11, 9, 30, tzinfo=UTC)
NOVEMBER = Period(start=date(2026, 11, 1), end=date(2026, 11, 30))


def make_order(ws, store, *, number, paid_at, state, subtotal, discount="0", shipping="0",
               currency="USD", lines=()):
    order = OrderFactory(workspace=ws, store=store, number=number, currency=currency,
                         state=state, paid_at=paid_at, subtotal_amount=D(subtotal),
                         discount_amount=D(discount), shipping_amount=D(shipping),
                         total_amount=D(subtotal) - D(discount) + D(shipping))
    for variant, qty, unit, cost in lines:
        LineItemFactory(order=order, quantity=qty, unit_price_amount=D(unit),
                        catalog_variant_id=variant.pk,
                        price_snapshot={"total": cost, "currency": "USD"})
    return order


def charge(ws, order, *amounts):
    """Hold and capture each amount for the order, through the real ledger."""
    for i, amount in enumerate(amounts):
        hold = ledger.hold_place(workspace_id=ws.pk, amount=D(amount), order_id=order.pk,
                                 key=f"t:{order.pk}:hold:{i}", purpose="product")
        ledger.hold_capture(workspace_id=ws.pk, hold_id=hold.pk, key=f"t:{order.pk}:cap:{i}")


@pytest.fixture
def catalog(db):
    mug = VariantFactory(product=ProductFactory(name="Mug"), sku="INS-MUG")
    shirt = VariantFactory(product=ProductFactory(name="Shirt"), sku="INS-SHIRT")
    return {"mug": mug, "shirt": shirt}


def build_profit_data(ws, user, catalog, *, prefix=""):
    mug, shirt = catalog["mug"], catalog["shirt"]
    with scope(workspace=ws):
        north = StoreFactory(workspace=ws, name=f"{prefix}North")
        south = StoreFactory(workspace=ws, name=f"{prefix}South")
        euro = StoreFactory(workspace=ws, name=f"{prefix}Euro", currency="EUR")
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=D("1000"),
                      key=f"t:{ws.pk}:topup")
        o1 = make_order(ws, north, number=f"{prefix}#1", paid_at=D1, state="shipped",
                        subtotal="30", shipping="5", lines=[(mug, 2, "15", "16.00")])
        charge(ws, o1, "16.00", "6.00")
        o2 = make_order(ws, south, number=f"{prefix}#2", paid_at=D1, state="shipped",
                        subtotal="40", discount="4", lines=[(shirt, 1, "40", "20.00")])
        charge(ws, o2, "20.00", "6.00")
        order_refund(workspace_id=ws.pk, order_id=o2.pk, amount="5.00", reason="misprint",
                     staff_user=user, key="claim-1")
        o3 = make_order(ws, north, number=f"{prefix}#3", paid_at=D2,
                        state="awaiting_submission", subtotal="20",
                        lines=[(mug, 1, "20", "8.00")])
        ledger.hold_place(workspace_id=ws.pk, amount=D("8.00"), order_id=o3.pk,
                          key=f"t:{o3.pk}:hold-only", purpose="product")
        o4 = make_order(ws, north, number=f"{prefix}#4", paid_at=D2, state="cancelled",
                        subtotal="100", lines=[(mug, 1, "100", "8.00")])
        charge(ws, o4, "10.00")
        o5 = make_order(ws, euro, number=f"{prefix}#5", paid_at=D2, state="in_production",
                        subtotal="18", currency="EUR", lines=[(mug, 1, "18", "8.00")])
        charge(ws, o5, "14.00")
        make_order(ws, north, number=f"{prefix}#6", paid_at=D1 - timedelta(days=40),
                   state="completed", subtotal="50")
        make_order(ws, north, number=f"{prefix}#7", paid_at=None, state="to_order",
                   subtotal="25")
    return {"north": north, "south": south, "euro": euro, "orders": [o1, o2, o3, o4, o5]}


@pytest.fixture
def profit_data(owner, catalog):
    return build_profit_data(owner.workspace, owner.user, catalog)
