from decimal import Decimal

import pytest


@pytest.fixture
def celery_eager():
    """Run tasks in-process when they are sent (delay_on_commit still waits for commit)."""
    from podhub.celery import app

    old = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.fixture
def catalog(db):
    """A public catalog product (a mug at 12.00 USD) and standard shipping to the US
    (5.00 first item, 2.00 each additional, 1.00 handling), through the quotes models."""
    from quotes.models import Product, ShippingMethod, ShippingRate, ShippingZone, Variant

    product = Product.objects.create(name="Mug", currency="USD")
    mug = Variant.objects.create(product=product, sku="MUG-11", price_amount=Decimal("12.00"),
                                 options={"Size": "11 oz"})
    zone = ShippingZone.objects.create(name="United States", countries="US")
    standard = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                             handling_amount=Decimal("1.00"))
    express = ShippingMethod.objects.create(code="express", name="Express", currency="USD",
                                            handling_amount=Decimal("1.00"), sort_order=1)
    ShippingRate.objects.create(method=standard, zone=zone, currency="USD",
                                first_item_amount=Decimal("5.00"),
                                additional_item_amount=Decimal("2.00"))
    ShippingRate.objects.create(method=express, zone=zone, currency="USD",
                                first_item_amount=Decimal("15.00"),
                                additional_item_amount=Decimal("5.00"))
    return {"mug": mug, "standard": standard, "express": express}


@pytest.fixture
def make_order(catalog):
    """A `to_order` order of `quantity` mugs (12.00 each) shipped to the US."""
    from tests.factories import LineItemFactory, OrderFactory, StoreFactory

    stores = {}

    def make(workspace, quantity=1, *, address=None, store=None, **kwargs):
        if store is None:
            store = stores.get(workspace.pk) or StoreFactory(workspace=workspace)
            stores[workspace.pk] = store
        kwargs.setdefault("state", "to_order")
        order = OrderFactory(workspace=workspace, store=store, **kwargs,
                             **({"shipping_address": address} if address else {}))
        LineItemFactory(order=order, sku="MUG-11", title="Mug", quantity=quantity,
                        catalog_variant_id=catalog["mug"].pk)
        return order

    return make


@pytest.fixture(params=[
    pytest.param("in_database", marks=pytest.mark.postgres_only(
        reason="the ledger's PostgreSQL function (billing_ledger_write); SQLite has none, "
               "its run is the in_python case")),
    "in_python"])
def ledger_mode(request, settings):
    """Run a test against both implementations of the ledger rules: the PostgreSQL
    function (billing_ledger_write) and the Python Book that SQLite uses."""
    settings.BILLING_LEDGER_IN_DB = request.param == "in_database"
    return request.param
