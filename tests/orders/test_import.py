"""Store imports: idempotent upsert by (store, external id), forward-only versions."""

from decimal import Decimal

import pytest
from django_scopes import scope

from orders import events, services
from orders.models import HoldReason, LineItem, Order, OrderEvent, OrderState, Platform
from podhub.core.exceptions import NotFound, ValidationFailed
from tests.factories import StoreFactory
from tests.orders.service_data import STORE, SYSTEM, T0, order_at, order_data

S = OrderState


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


def _import(workspace, store, data):
    return services.order_import(workspace=workspace, store=store, data=data, actor=STORE,
                                 now=T0)


def test_new_order_waits_in_quotation_with_its_lines_and_search_text(workspace, store):
    data = order_data(number="#1001", buyer_name="Ana Lima", buyer_email="Ana@Example.com")
    with scope(workspace=workspace):
        order, created = _import(workspace, store, data)
        lines = list(order.line_items.order_by("id"))
        event = OrderEvent.objects.get(order=order)
    assert created
    assert order.state == S.IN_QUOTATION
    assert order.auto_submit  # a Shopify store submits on its countdown
    assert order.total_amount == Decimal("45.00")
    assert [(ln.sku, ln.quantity, ln.unit_price_amount) for ln in lines] == [
        ("MUG-11-WHITE", 2, Decimal("12.50")), ("TEE-M-BLACK", 1, Decimal("20.00"))]
    assert lines[0].personalization == [{"key": "Name", "value": "Ana"}]
    assert lines[0].unmapped_reason.startswith("Not connected")
    assert order.search_text == "#1001 ana lima ana@example.com mug-11-white tee-m-black"
    assert (event.type, event.to_state, event.actor_type) == ("order.imported", S.IN_QUOTATION,
                                                              "store")


def test_importing_twice_never_makes_two_orders(workspace, store, monkeypatch):
    monkeypatch.setattr(events, "_subscriptions", [])
    data = order_data()
    with scope(workspace=workspace):
        first, created_first = _import(workspace, store, data)
        again, created_again = _import(workspace, store, data)
        assert Order.objects.filter(store=store).count() == 1
        assert LineItem.objects.filter(order=first).count() == 2
        assert OrderEvent.objects.filter(order=first).count() == 1
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk


def test_the_same_external_id_in_another_store_is_another_order(workspace, store):
    other = StoreFactory(workspace=workspace)
    data = order_data(external_id="1001")
    with scope(workspace=workspace):
        a, _ = _import(workspace, store, data)
        b, created = _import(workspace, other, data)
    assert created and a.pk != b.pk


def test_an_older_version_changes_nothing(workspace, store):
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, order_data(external_id="X1",
                                                        updated_at="2026-05-01T10:00:00Z"))
        stale = order_data(external_id="X1", updated_at="2026-05-01T09:00:00Z",
                           buyer_name="Someone Else")
        _, created = _import(workspace, store, stale)
        order.refresh_from_db()
        assert not created
        assert order.buyer_name == "Ana Lima"
        assert OrderEvent.objects.filter(order=order).count() == 1


def test_a_newer_version_updates_buyer_address_and_items_keeping_the_mapping(workspace, store):
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, order_data(external_id="X1"))
        mug = order.line_items.get(sku="MUG-11-WHITE")
        LineItem.objects.filter(pk=mug.pk).update(catalog_variant_id=77, unmapped_reason="")
        newer = order_data(external_id="X1", updated_at="2026-05-01T11:00:00Z",
                           buyer_name="Ana Maria Lima")
        newer["shipping_address"]["address2"] = "Apt 4"
        newer["line_items"][0]["quantity"] = 3
        newer["line_items"] = newer["line_items"][:1]  # the T-shirt was removed
        newer["line_items"][0]["external_id"] = mug.external_id
        _import(workspace, store, newer)
        order.refresh_from_db()
        lines = list(order.line_items.all())
        event = OrderEvent.objects.get(order=order, type="order.updated")
    assert order.buyer_name == "Ana Maria Lima"
    assert order.shipping_address["address2"] == "Apt 4"
    assert [(ln.pk, ln.quantity, ln.catalog_variant_id) for ln in lines] == [(mug.pk, 3, 77)]
    assert "tee-m-black" not in order.search_text
    # the one item left is mapped: the order is priced
    assert order.state == S.TO_ORDER
    assert set(event.data["fields"]) >= {"buyer_name", "shipping_address", "line_items"}


def test_a_change_after_submission_flags_instead_of_changing(
    workspace, owner, store, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(events, "_subscriptions", [])
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.IN_PRODUCTION)
        newer = order_data(external_id=order.external_id, number=order.number,
                           updated_at="2026-05-02T10:00:00Z")
        newer["shipping_address"]["address1"] = "99 Other St"
        with django_capture_on_commit_callbacks(execute=True):
            _import(workspace, store, newer)
        order.refresh_from_db()
    assert order.shipping_address["address1"] == "1 Main St"
    assert order.needs_attention.startswith("Changed in the store")
    assert len(mailoutbox) == 1


def test_an_order_whose_every_item_is_mapped_is_priced_at_once(workspace, store):
    data = order_data()
    for i, line in enumerate(data["line_items"]):
        line["catalog_variant_id"] = 10 + i
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, data)
        order.refresh_from_db()
    assert order.state == S.TO_ORDER


def test_mapping_all_items_in_an_update_prices_the_order(workspace, store):
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, order_data(external_id="X1"))
        newer = order_data(external_id="X1", updated_at="2026-05-01T11:00:00Z")
        for i, line in enumerate(newer["line_items"]):
            line["catalog_variant_id"] = 10 + i
        _import(workspace, store, newer)
        order.refresh_from_db()
    assert order.state == S.TO_ORDER


def test_a_held_order_is_updated_while_not_locked(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.ON_HOLD)
        newer = order_data(external_id=order.external_id, number=order.number,
                           updated_at="2026-05-02T10:00:00Z", buyer_name="New Name")
        services.order_import(workspace=workspace, store=store, data=newer, actor=STORE)
        order.refresh_from_db()
    assert (order.state, order.hold_reason, order.buyer_name) == (
        S.ON_HOLD, HoldReason.ADDRESS_INVALID, "New Name")


def test_a_cancelled_order_stays_as_it_was(workspace, store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.CANCELLED)
        newer = order_data(external_id=order.external_id, updated_at="2026-05-02T10:00:00Z",
                           buyer_name="New Name")
        _import(workspace, store, newer)
        order.refresh_from_db()
    assert (order.state, order.buyer_name) == (S.CANCELLED, "Ana Lima")


def test_invalid_input_is_imported_on_hold_with_its_reasons(workspace, store):
    """A store order is never refused for its data (PRODUCT.md): it waits on hold."""
    with scope(workspace=workspace):
        order, created = _import(workspace, store, order_data(buyer_email="nope"))
    assert created
    assert (order.state, order.hold_reason) == (S.ON_HOLD, HoldReason.DATA_PROBLEM)
    assert order.buyer_email == ""
    assert set(order.data_problems) == {"buyer_email"}
    assert "'nope' is not a valid e-mail address." in order.hold_message


def test_an_order_nobody_can_name_is_still_refused(workspace, store):
    with scope(workspace=workspace), pytest.raises(ValidationFailed) as caught:
        _import(workspace, store, order_data(external_id="", number=""))
    assert "number" in caught.value.detail["fields"]


def test_a_store_of_another_workspace_is_refused(workspace, other_workspace):
    foreign = StoreFactory(workspace=other_workspace)
    with scope(workspace=workspace), pytest.raises(NotFound):
        _import(workspace, foreign, order_data())


def test_priced_then_paid_order_goes_on(workspace, store):
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, order_data())
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        order = services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
    assert order.state == S.AWAITING_SUBMISSION
