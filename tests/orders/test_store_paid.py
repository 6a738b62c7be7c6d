"""Store payment (Order.store_paid) and the buyer-data redaction service."""

import pytest
from django_scopes import scope

from orders import inputs, services
from orders.events import Actor
from orders.models import LineItem, OrderEvent, OrderState, Platform
from podhub.core.exceptions import ValidationFailed
from tests.factories import StoreFactory
from tests.orders.service_data import STORE, SYSTEM, T0, order_at, order_data

S = OrderState
pytestmark = pytest.mark.django_db


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Shop", platform=Platform.SHOPIFY)


def _import(workspace, store, data):
    return services.order_import(workspace=workspace, store=store, data=data, actor=STORE,
                                 now=T0)


def _events(order, type_):
    return OrderEvent.objects.filter(order=order, type=type_).count()


# --- the input --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected", "given"), [
    (None, True, False), ("", True, False), (True, True, True), (False, False, True),
    ("false", False, True), ("Yes", True, True), (0, False, True), ("1", True, True),
])
def test_store_paid_input_is_a_boolean_defaulting_to_true(value, expected, given):
    data = order_data()
    if value is not None:
        data["store_paid"] = value
    inp = inputs.validate_order_input(data)
    assert (inp.store_paid, inp.store_paid_given) == (expected, given)


@pytest.mark.parametrize("value", ["maybe", 2, [True], {"paid": True}])
def test_a_store_paid_that_is_not_a_boolean_is_refused(value):
    with pytest.raises(ValidationFailed) as err:
        inputs.validate_order_input(order_data(store_paid=value))
    assert err.value.detail["fields"] == {"store_paid": "Enter true or false."}


# --- import -----------------------------------------------------------------------------


def test_an_unpaid_store_order_is_imported_waiting_for_the_buyers_payment(workspace, store):
    with scope(workspace=workspace):
        order, created = _import(workspace, store, order_data(store_paid=False))
        event = OrderEvent.objects.get(order=order)
    assert created and order.store_paid is False
    assert "Waiting for the buyer's payment in the store" in event.message


def test_manual_orders_and_imports_without_the_flag_are_paid(workspace, store):
    with scope(workspace=workspace):
        imported, _ = _import(workspace, store, order_data())
        manual = services.order_create_manual(workspace=workspace, data=order_data(),
                                              actor=SYSTEM)
    assert imported.store_paid is True and manual.store_paid is True


def test_the_store_payment_flips_once_with_an_event_and_never_back(workspace, store):
    data = order_data(store_paid=False)
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, data)
        # an update that says nothing, or still unpaid, changes nothing
        _import(workspace, store, {**data, "store_paid": None,
                                   "updated_at": "2026-05-01T10:01:00Z"})
        _import(workspace, store, {**data, "updated_at": "2026-05-01T10:02:00Z"})
        order.refresh_from_db()
        assert order.store_paid is False and _events(order, "order.store_paid") == 0
        # paid in the store
        _import(workspace, store, {**data, "store_paid": True,
                                   "updated_at": "2026-05-01T10:03:00Z"})
        order.refresh_from_db()
        assert order.store_paid is True
        event = OrderEvent.objects.get(order=order, type="order.store_paid")
        assert event.actor_type == "store"
        # a repeat, and a later version saying unpaid, never take it back
        _import(workspace, store, {**data, "store_paid": True,
                                   "updated_at": "2026-05-01T10:03:00Z"})
        _import(workspace, store, {**data, "store_paid": False,
                                   "updated_at": "2026-05-01T10:04:00Z"})
        order.refresh_from_db()
        assert order.store_paid is True and _events(order, "order.store_paid") == 1


def test_a_late_paid_version_still_brings_the_payment(workspace, store):
    data = order_data(store_paid=False, updated_at="2026-05-01T11:00:00Z",
                      buyer_name="Newer Name")
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, data)
        # an older version of the order, already paid: its other fields are ignored
        _import(workspace, store, {**data, "store_paid": True, "buyer_name": "Old Name",
                                   "updated_at": "2026-05-01T10:00:00Z"})
        order.refresh_from_db()
    assert order.store_paid is True and order.buyer_name == "Newer Name"


# --- paying -----------------------------------------------------------------------------


def test_an_order_the_buyer_has_not_paid_cannot_be_marked_paid(workspace, store):
    data = order_data(store_paid=False)
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, data)
        services.order_mark_priced(order_id=order.pk, actor=SYSTEM, now=T0)
        with pytest.raises(services.StoreUnpaid) as err:
            services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
        assert err.value.code == "store_unpaid" and err.value.status == 409
        assert "waiting for the buyer's payment in the store" in err.value.message
        order.refresh_from_db()
        assert order.state == S.TO_ORDER
        _import(workspace, store, {**data, "store_paid": True,
                                   "updated_at": "2026-05-01T10:05:00Z"})
        order = services.order_mark_paid(order_id=order.pk, actor=SYSTEM, now=T0)
    assert order.state == S.AWAITING_SUBMISSION


# --- API and page -------------------------------------------------------------------------


def test_the_order_json_and_page_say_the_buyer_has_not_paid(workspace, store, owner,
                                                            api_client_for, client_for):
    with scope(workspace=workspace):
        unpaid, _ = _import(workspace, store, order_data(store_paid=False))
        paid, _ = _import(workspace, store, order_data())
    api = api_client_for(owner)
    assert api.get(f"/api/v1/orders/{unpaid.pk}/").json()["store_paid"] is False
    assert api.get(f"/api/v1/orders/{paid.pk}/").json()["store_paid"] is True
    seller = client_for(owner)
    card = ('<p data-testid="store-unpaid">Waiting for the buyer\'s payment in the store.'
            '</p>')
    assert card in seller.get(f"/orders/{unpaid.pk}/").content.decode()
    assert "store-unpaid" not in seller.get(f"/orders/{paid.pk}/").content.decode()


# --- redaction ----------------------------------------------------------------------------


def test_redaction_erases_the_buyer_and_keeps_what_production_needs(workspace, store):
    with scope(workspace=workspace):
        order, _ = _import(workspace, store, order_data(number="#7001"))
        order = services.order_redact_buyer(order_id=order.pk, actor=Actor.store("Shopify"),
                                            reason="customers/redact")
        line = LineItem.objects.filter(order=order).order_by("id").first()
        event = OrderEvent.objects.get(order=order, type="order.buyer_data_redacted")
        order.refresh_from_db()
    assert (order.buyer_name, order.buyer_email, order.shipping_address) == ("", "", {})
    assert order.search_text == "#7001 mug-11-white tee-m-black"
    # not made yet: the personalisation is what the factory prints
    assert line.personalization == [{"key": "Name", "value": "Ana"}]
    assert (event.message, event.actor_type) == ("customers/redact", "store")
    assert event.data == {"fields": ["buyer_name", "buyer_email", "shipping_address"]}


def test_redaction_of_a_finished_order_erases_personalisation_and_is_idempotent(workspace,
                                                                               store):
    with scope(workspace=workspace):
        order = order_at(workspace, store, S.CANCELLED)
        services.order_redact_buyer(order_id=order.pk, actor=SYSTEM)
        services.order_redact_buyer(order_id=order.pk, actor=SYSTEM)
        lines = list(LineItem.objects.filter(order=order))
        assert _events(order, "order.buyer_data_redacted") == 1
    assert all(ln.personalization == [] and ln.images == [] for ln in lines)
