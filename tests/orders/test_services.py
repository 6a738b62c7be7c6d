"""Manual entry of outside orders, the seller's edits, bulk cancel."""

import pytest
from django_scopes import scope

from orders import services
from orders.events import Actor
from orders.models import CancelReason, Order, OrderEvent, OrderState, Platform, Store
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from tests.factories import StoreFactory
from tests.orders.service_data import SYSTEM, T0, order_at, order_data

S = OrderState


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


@pytest.fixture
def seller(user):
    return Actor.seller(user)


def _manual(**overrides) -> dict:
    data = order_data(channel="etsy", **overrides)
    data.pop("external_id")
    data.pop("updated_at")
    for line in data["line_items"]:
        line.pop("external_id")
    return data


# --- manual entry -----------------------------------------------------------------------


def test_manual_order_goes_to_the_outside_orders_store_and_is_never_auto_submitted(
    workspace, seller
):
    with scope(workspace=workspace):
        order = services.order_create_manual(workspace=workspace, data=_manual(number="E-1"),
                                             actor=seller)
        second = services.order_create_manual(workspace=workspace, data=_manual(number="E-2"),
                                              actor=seller)
        outside = Store.objects.filter(workspace=workspace, platform=Platform.MANUAL)
        assert [s.name for s in outside] == ["Outside orders"]
        event = OrderEvent.objects.get(order=order)
        # paying it starts no countdown: the seller submits by hand
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM)
        paid = services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
    assert order.store_id == second.store_id == outside[0].pk
    assert (order.state, order.auto_submit, order.channel) == (S.IN_QUOTATION, False, "etsy")
    assert (event.type, event.actor_type, event.data["source"]) == ("order.created", "seller",
                                                                    "manual")
    assert paid.submit_at is None


def test_manual_order_into_a_named_outside_store(workspace, seller):
    amazon = StoreFactory(workspace=workspace, name="Amazon", platform=Platform.MANUAL)
    with scope(workspace=workspace):
        order = services.order_create_manual(workspace=workspace, data=_manual(), actor=seller,
                                             store=amazon)
    assert order.store_id == amazon.pk


def test_manual_orders_cannot_go_into_an_integrated_store(workspace, store, seller):
    with scope(workspace=workspace), pytest.raises(ValidationFailed) as caught:
        services.order_create_manual(workspace=workspace, data=_manual(), actor=seller,
                                     store=store)
    assert "store" in caught.value.detail["fields"]


def test_manual_order_into_another_workspaces_store_is_not_found(
    workspace, other_workspace, seller
):
    foreign = StoreFactory(workspace=other_workspace, platform=Platform.MANUAL)
    with scope(workspace=workspace), pytest.raises(NotFound):
        services.order_create_manual(workspace=workspace, data=_manual(), actor=seller,
                                     store=foreign)


def test_the_same_order_number_twice_is_a_conflict(workspace, seller):
    with scope(workspace=workspace):
        first = services.order_create_manual(workspace=workspace, data=_manual(number="E-9"),
                                             actor=seller)
        with pytest.raises(Conflict) as caught:
            services.order_create_manual(workspace=workspace, data=_manual(number="E-9"),
                                         actor=seller)
        assert Order.objects.filter(number="E-9").count() == 1
    assert caught.value.detail["order_id"] == first.pk
    assert "already exists" in caught.value.message


def test_manual_order_needs_number_and_skus(workspace, seller):
    data = _manual(number="")
    data["line_items"][1]["sku"] = ""
    with scope(workspace=workspace), pytest.raises(ValidationFailed) as caught:
        services.order_create_manual(workspace=workspace, data=data, actor=seller)
    assert set(caught.value.detail["fields"]) == {"number", "line_items.1.sku"}


# --- the seller's edits --------------------------------------------------------------------


def test_edit_buyer_address_and_personalisation_is_on_the_timeline(workspace, store, seller):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.AWAITING_SUBMISSION)
        line = order.line_items.order_by("id").first()
        services.order_edit(order_id=order.pk, actor=seller, changes={
            "buyer_name": "Ana Maria",
            "buyer_email": "maria@example.com",
            "shipping_address": {"address2": "Apt 4", "zip": "62702"},
            "lines": {str(line.pk): {"personalization": [{"key": "Name", "value": "Maria"}]}},
        })
        order.refresh_from_db()
        line.refresh_from_db()
        event = OrderEvent.objects.filter(order=order).latest("id")
    assert (order.buyer_name, order.buyer_email) == ("Ana Maria", "maria@example.com")
    assert order.shipping_address["address2"] == "Apt 4"
    assert order.shipping_address["address1"] == "1 Main St"  # untouched keys stay
    assert line.personalization == [{"key": "Name", "value": "Maria"}]
    assert order.search_text.startswith(f"{order.number.lower()} ana maria maria@example.com")
    assert event.type == "order.edited"
    assert event.data["fields"] == ["buyer_name", "buyer_email", "shipping_address.address2",
                                    "shipping_address.zip", f"lines.{line.pk}.personalization"]


def test_an_edit_that_changes_nothing_writes_no_event(workspace, store, seller):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        before = OrderEvent.objects.filter(order=order).count()
        services.order_edit(order_id=order.pk, actor=seller,
                            changes={"buyer_name": order.buyer_name})
        assert OrderEvent.objects.filter(order=order).count() == before


@pytest.mark.parametrize("state", [S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED, S.CANCELLED])
def test_a_locked_order_refuses_edits_with_a_clear_message(workspace, store, seller, state):
    with scope(workspace=workspace):
        order = order_at(workspace, store, state)
        with pytest.raises(services.OrderLocked) as caught:
            services.order_edit(order_id=order.pk, actor=seller, changes={"buyer_name": "X"})
        order.refresh_from_db()
    assert caught.value.status == 409
    assert "can no longer be edited" in caught.value.message
    assert order.buyer_name == "Ana Lima"


def test_an_order_held_in_production_is_locked_too(workspace, store, seller):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.ON_HOLD, held_from=S.IN_PRODUCTION)
        with pytest.raises(services.OrderLocked):
            services.order_edit(order_id=order.pk, actor=seller, changes={"buyer_name": "X"})


def _foreign_order(other_workspace):
    with scope(workspace=other_workspace):
        order = order_at(other_workspace, StoreFactory(workspace=other_workspace), S.TO_ORDER)
        foreign_line_id = order.line_items.first().pk
    return order, foreign_line_id


def test_bad_edits_are_refused_whole_with_reasons(workspace, store, other_workspace, seller):
    _, foreign_line_id = _foreign_order(other_workspace)
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.TO_ORDER)
        line = order.line_items.first()
        with pytest.raises(ValidationFailed) as caught:
            services.order_edit(order_id=order.pk, actor=seller, changes={
                "buyer_name": "Valid Name",
                "buyer_email": "broken",
                "shipping_address": {"city": ""},
                "lines": {line.pk: {"personalization": "no pairs here"},
                          foreign_line_id: {"personalization": []}},
                "state": "shipped",
            })
        order.refresh_from_db()
    fields = caught.value.detail["fields"]
    assert set(fields) == {"buyer_email", "shipping_address.city",
                           f"lines.{line.pk}.personalization",
                           f"lines.{foreign_line_id}", "state"}
    assert order.buyer_name == "Ana Lima"  # nothing applied


def test_editing_another_workspaces_order_is_not_found(workspace, other_workspace, seller):
    other_order, _ = _foreign_order(other_workspace)
    with scope(workspace=workspace), pytest.raises(NotFound):
        services.order_edit(order_id=other_order.pk, actor=seller, changes={"buyer_name": "X"})


# --- bulk cancel ------------------------------------------------------------------------------


def test_bulk_cancel_does_what_it_can_and_says_why_for_the_rest(
    workspace, store, other_workspace, seller
):
    foreign, _ = _foreign_order(other_workspace)
    with scope(workspace=workspace):
        quoting = order_at(workspace, store, S.IN_QUOTATION)
        paid = order_at(workspace, store, S.AWAITING_SUBMISSION)
        making = order_at(workspace, store, S.IN_PRODUCTION)
        result = services.order_bulk_cancel(
            workspace=workspace, order_ids=[quoting.pk, making.pk, foreign.pk, paid.pk],
            actor=seller, note="customer changed mind",
        )
        quoting.refresh_from_db()
        making.refresh_from_db()
    assert result.done == [quoting.pk, paid.pk]
    assert [i for i, _ in result.failed] == [making.pk, foreign.pk]
    assert "in production" in dict(result.failed)[making.pk]
    assert dict(result.failed)[foreign.pk] == "No such order in this workspace."
    assert (quoting.cancel_reason, quoting.cancel_note) == (CancelReason.SELLER,
                                                            "customer changed mind")
    assert making.state == S.IN_PRODUCTION
    with scope(workspace=other_workspace):
        foreign.refresh_from_db()
    assert foreign.state == S.TO_ORDER


def test_bulk_cancel_has_a_limit(workspace, seller):
    with scope(workspace=workspace), pytest.raises(ValidationFailed):
        services.order_bulk_cancel(workspace=workspace, order_ids=list(range(1, 1002)),
                                   actor=seller)
