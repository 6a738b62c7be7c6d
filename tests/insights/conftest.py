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
from fulfillment.models import (
    ProviderConnection,
    Shipment,
    ShipmentStatus,
    Submission,
    SubmissionStatus,
)
from insights.selectors import Period
from tests.factories import (
    LineItemFactory,
    OrderFactory,
    ProductFactory,
    ProviderFactory,
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


# --- production times ---------------------------------------------------------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _submission(ws, order, provider, *, ref, sent_at, parcels=(), status=None, due_at=None):
    sub = Submission.objects.create(
        workspace=ws, order=order, provider=provider, adapter="sandbox", reference=ref,
        status=status or (SubmissionStatus.SHIPPED if parcels else SubmissionStatus.ACCEPTED),
        sent_at=sent_at, due_at=due_at or sent_at + timedelta(hours=72))
    for hours in parcels:
        Shipment.objects.create(workspace=ws, order=order, submission=sub,
                                status=ShipmentStatus.SHIPPED,
                                shipped_at=sent_at + timedelta(hours=hours))
    return sub


@pytest.fixture
def production_data(owner):
    ws = owner.workspace
    fast = ProviderFactory(code="ins-fast", name="Fast Prints")
    ProviderConnection.objects.create(provider=fast, adapter="sandbox", production_hours=48)
    slow = ProviderFactory(code="ins-slow", name="Slow Prints")  # no connection: 72 h
    store = StoreFactory(workspace=ws, name="North")
    order = OrderFactory(workspace=ws, store=store, state="shipped")
    late_order = OrderFactory(workspace=ws, store=store, state="in_production", number="#late")
    base = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
    with scope(workspace=ws):
        # first parcel counts: 24 h (the second parcel at 50 h does not)
        _submission(ws, order, fast, ref="F1", sent_at=base, parcels=(24, 50))
        _submission(ws, order, fast, ref="F2", sent_at=base, parcels=(36,))
        _submission(ws, order, fast, ref="F3", sent_at=base, parcels=(60,))
        _submission(ws, order, slow, ref="S1", sent_at=base, parcels=(80,))
        # shipped outside the period; accepted but not shipped: not counted
        _submission(ws, order, slow, ref="S2", sent_at=base - timedelta(days=30), parcels=(5,))
        _submission(ws, late_order, slow, ref="L1", sent_at=NOW - timedelta(hours=77),
                    status=SubmissionStatus.IN_PRODUCTION, due_at=NOW - timedelta(hours=5))
        _submission(ws, late_order, fast, ref="L2", sent_at=NOW - timedelta(hours=10),
                    due_at=NOW + timedelta(hours=38))  # not late yet
        # shipped past its due time: done, not "late in production"
        _submission(ws, order, fast, ref="F4", sent_at=base - timedelta(days=20), parcels=(1,),
                    due_at=base)
    return {"fast": fast, "slow": slow}


# --- an order sold in EUR, billed in USD, its price frozen at payment ----------------
#
# #8 Euro EUR, paid D2: 2 x 20.00 EUR + 5.00 EUR buyer shipping = 45.00 EUR.
# Staff rate at payment 1 EUR = 1.10 USD: the snapshot (quotes.services.
# snapshot_order_price, the real one) freezes selling_amount 45.00 x 1.10 = 49.50 USD.
# PodHub price: 2 x 8.00 USD items + standard shipping 5.00 + 2.00 + handling 1.00 =
# 24.00 USD, captured. Profit 49.50 - 24.00 = 25.50 USD. Product "Priced mug": goods
# 40.00 EUR x 1.10 = 44.00 USD against the frozen item cost 16.00 USD: 28.00 USD.
# The rate then changes to 1.30: nothing above moves.


def build_frozen_eur_order(ws, *, euro_store, prefix=""):
    from quotes import services as quote_services
    from quotes.models import ExchangeRate
    from tests.factories import (
        ShippingMethodFactory,
        ShippingRateFactory,
        ShippingZoneFactory,
    )

    zone = ShippingZoneFactory(name=f"{prefix}Europe", countries="DE")
    standard = ShippingMethodFactory(code=f"{prefix}standard", name="Standard", sort_order=1,
                                     handling_amount=D("1.00"))
    ShippingRateFactory(method=standard, zone=zone, first_item_amount=D("5.00"),
                        additional_item_amount=D("2.00"), delivery_days_min=3,
                        delivery_days_max=7)
    priced = VariantFactory(product=ProductFactory(name=f"{prefix}Priced mug"),
                            sku=f"{prefix}INS-PRICED", price="8.00")
    rate, _ = ExchangeRate.objects.update_or_create(
        from_currency="EUR", to_currency="USD", defaults={"rate": D("1.10")})
    with scope(workspace=ws):
        order = OrderFactory(workspace=ws, store=euro_store, number=f"{prefix}#8",
                             currency="EUR", state="in_production", paid_at=D2,
                             subtotal_amount=D("40"), discount_amount=D("0"),
                             shipping_amount=D("5"), total_amount=D("45"),
                             shipping_address={"name": "Ana", "address1": "1 Hauptstr.",
                                               "city": "Berlin", "zip": "10115",
                                               "country_code": "DE"})
        LineItemFactory(order=order, quantity=2, unit_price_amount=D("20"),
                        catalog_variant_id=priced.pk, price_snapshot={})
        snap = quote_services.snapshot_order_price(workspace=ws, order_id=order.pk, now=D2)
        charge(ws, order, str(snap.total_amount))
    return {"order": order, "snapshot": snap, "rate": rate}
