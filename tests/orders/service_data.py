"""Order inputs and orders in any state, made through the services (not raw rows).

Call inside `scope(workspace=...)`.
"""

import itertools
from datetime import UTC, datetime

from orders import services
from orders.events import Actor
from orders.models import HoldReason, OrderState

S = OrderState
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)

STORE = Actor.store("shopify test")
SYSTEM = Actor.system()


def order_data(**overrides) -> dict:
    """A valid store/manual order dict (two lines), overridable per key."""
    n = next(_seq)
    data = {
        "external_id": f"gid-{n}",
        "number": f"#{5000 + n}",
        "placed_at": "2026-05-01T10:00:00Z",
        "updated_at": "2026-05-01T10:00:00Z",
        "buyer_name": "Ana Lima",
        "buyer_email": "ana@example.com",
        "shipping_address": {
            "name": "Ana Lima", "address1": "1 Main St", "city": "Springfield",
            "province": "IL", "zip": "62701", "country_code": "US",
        },
        "currency": "USD",
        "line_items": [
            {"external_id": f"li-{n}-1", "sku": "MUG-11-WHITE", "title": "Mug 11oz",
             "quantity": 2, "unit_price": "12.50",
             "personalization": [{"key": "Name", "value": "Ana"}]},
            {"external_id": f"li-{n}-2", "sku": "TEE-M-BLACK", "title": "T-shirt",
             "quantity": 1, "unit_price": "20.00"},
        ],
    }
    data.update(overrides)
    return data


def imported(workspace, store, **overrides):
    order, _ = services.order_import(workspace=workspace, store=store,
                                     data=order_data(**overrides), actor=STORE, now=T0)
    return order


def order_at(workspace, store, state: str, *, held_from: str = S.TO_ORDER):
    """An order brought to `state` along the path, each step by its service."""
    order = imported(workspace, store)
    path = [S.TO_ORDER, S.AWAITING_SUBMISSION, S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED]
    target = held_from if state == S.ON_HOLD else state
    if state == S.CANCELLED:
        target = S.IN_QUOTATION
    steps = {
        S.TO_ORDER: lambda o: services.order_mark_priced(order_id=o.pk, actor=SYSTEM, now=T0),
        S.AWAITING_SUBMISSION: lambda o: services.order_mark_paid(order_id=o.pk,
                                                                  actor=SYSTEM, now=T0),
        S.IN_PRODUCTION: lambda o: services.order_submit(order_id=o.pk, actor=SYSTEM, now=T0),
        S.SHIPPED: lambda o: services.order_mark_shipped(order_id=o.pk, actor=SYSTEM, now=T0),
        S.COMPLETED: lambda o: services.order_complete(order_id=o.pk, actor=SYSTEM, now=T0),
    }
    if target != S.IN_QUOTATION:
        for step in path[: path.index(target) + 1]:
            order = steps[step](order)
    if state == S.ON_HOLD:
        order = services.order_hold(order_id=order.pk, reason=HoldReason.ADDRESS_INVALID,
                                    message="Street number missing", actor=SYSTEM, now=T0)
    if state == S.CANCELLED:
        order = services.order_cancel(order_id=order.pk, reason="seller", actor=SYSTEM, now=T0)
    assert order.state == state
    return order
