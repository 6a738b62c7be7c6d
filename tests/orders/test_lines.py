"""What the apps above orders record on an order's lines, through orders.services (the one
writer of LineItem rows, tests/podhub/test_layers.py): the catalog mapping, marking lines
to be mapped again, the price frozen at payment and forgetting it."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django_scopes import scope

from orders import events, services
from orders.models import LineItem, Platform
from orders.services import LineMapping
from podhub.core.exceptions import NotFound
from tests.factories import StoreFactory
from tests.orders.service_data import T0, imported

LATER = T0 + timedelta(hours=1)


@pytest.fixture(autouse=True)
def only_orders_subscribers(monkeypatch):
    """No catalog maps these lines on import: the tests write the mapping themselves."""
    monkeypatch.setattr(events, "_subscriptions", [])


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


def _lines(order) -> list[LineItem]:
    return list(LineItem.objects.filter(order=order).order_by("pk"))


def test_the_mapping_is_recorded_per_line(workspace, store):
    with scope(workspace=workspace):
        order = imported(workspace, store)
        mug, tee = _lines(order)
        assert (mug.catalog_variant_id, mug.unmapped_reason) == (None, services.UNMAPPED_REASON)
        # when the catalog connects the mug and explains the T-shirt
        services.lines_set_mapping(order_id=order.pk, now=LATER, mapping={
            mug.pk: LineMapping(41),
            tee.pk: LineMapping(None, "Not connected: SKU TEE-M-BLACK matches nothing.")})
        # then both lines say so, and their print files are due again (updated_at)
        mug, tee = _lines(order)
        assert (mug.catalog_variant_id, mug.unmapped_reason, mug.updated_at) == (41, "", LATER)
        assert (tee.catalog_variant_id, tee.unmapped_reason) == (
            None, "Not connected: SKU TEE-M-BLACK matches nothing.")


def test_a_line_of_another_order_is_refused_and_nothing_changes(workspace, store):
    with scope(workspace=workspace):
        order, other = imported(workspace, store), imported(workspace, store)
        mine, theirs = _lines(order)[0], _lines(other)[0]
        with pytest.raises(NotFound):
            services.lines_set_mapping(order_id=order.pk, mapping={
                mine.pk: LineMapping(41), theirs.pk: LineMapping(42)})
        assert [ln.catalog_variant_id for ln in _lines(order) + _lines(other)] == [None] * 4


def test_a_catalog_change_marks_unconnected_lines_to_be_mapped_again(workspace, store):
    with scope(workspace=workspace):
        first, second = imported(workspace, store), imported(workspace, store)
        for order in (first, second):
            mug, tee = _lines(order)
            services.lines_set_mapping(order_id=order.pk, mapping={
                mug.pk: LineMapping(41), tee.pk: LineMapping(None, "No price for you yet.")})
        # when a SKU rule for T-shirts is added
        ids = services.lines_map_again(lines=Q(sku__startswith="TEE-"), workspace=workspace)
        # then the T-shirt lines wait for the catalog again; the connected mugs stay
        assert ids == sorted([first.pk, second.pk])
        for order in (first, second):
            mug, tee = _lines(order)
            assert (mug.catalog_variant_id, mug.unmapped_reason) == (41, "")
            assert tee.unmapped_reason == services.UNMAPPED_REASON
        assert services.lines_map_again(lines=Q(sku="NOTHING"), workspace=workspace) == []


def test_the_price_frozen_at_payment_and_forgotten(workspace, store):
    with scope(workspace=workspace):
        order = imported(workspace, store)
        mug, tee = _lines(order)
        services.lines_set_price_snapshot(order_id=order.pk, now=LATER, snapshots={
            mug.pk: {"unit": "9.50", "currency": "USD"},
            tee.pk: {"unit": "7.00", "currency": "USD"}})
        mug, tee = _lines(order)
        assert (mug.price_snapshot["unit"], tee.price_snapshot["unit"]) == ("9.50", "7.00")
        assert mug.updated_at == LATER
        # when a store edit unfunds the order, the frozen prices go; nothing printed changed
        assert services.lines_forget_price(order_id=order.pk) == 2
        assert [(ln.price_snapshot, ln.updated_at) for ln in _lines(order)] == [
            ({}, LATER), ({}, LATER)]
