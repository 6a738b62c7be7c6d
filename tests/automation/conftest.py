"""Rules tests: the catalog of docs/pricing.md (tests/quotes/conftest.py) and helpers that
import orders through the real path (orders.services.order_import) and run what
happens after commit (pricing, then the rules)."""

from decimal import Decimal

import pytest
from django_scopes import scope

from automation import services
from orders import services as order_services
from tests.quotes.conftest import (  # noqa: F401  (fixtures)
    STORE_ACTOR,
    T0,
    catalog,
    order_data,
    store,
)


@pytest.fixture
def make_rule(workspace, owner):
    def make(**data):
        data.setdefault("name", "Rule")
        data.setdefault("trigger", "imported")
        with scope(workspace=workspace):
            return services.rule_create(workspace=workspace, membership=owner, data=data)

    return make


@pytest.fixture
def import_order(django_capture_on_commit_callbacks):
    """order_import, then the subscribers after commit; the fresh order (None: skipped)."""

    def do(workspace, shop, *lines, **kwargs):
        data = order_data(*lines, **kwargs)
        with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
            try:
                order, _ = order_services.order_import(workspace=workspace, store=shop,
                                                       data=data, actor=STORE_ACTOR, now=T0)
            except order_services.NothingToMake:
                return None
        with scope(workspace=workspace):
            order.refresh_from_db()
        return order

    return do


def line(sku, qty=1, price="20.00", **extra):
    return {"sku": sku, "quantity": qty, "unit_price": price, **extra}


def money(value: str) -> Decimal:
    return Decimal(value)
