"""Cancel at the provider (issue 12, "What to build" 2; docs/store-truth.md "Cancel at the
provider"): an order changed in the store after it went to production is flagged, and
where the provider still takes a cancel it is offered. Over HTTP against the sandbox
Shopify store (its order edit, its orderCancel) and the sandbox factory (which takes a
cancel before production and answers 409 once in production)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope

from billing import ledger, payments
from billing.models import Account, EntryKind, Hold, LedgerEntry
from fulfillment import submission
from fulfillment.models import Submission, SubmissionStatus
from integrations.models import OutboxStatus
from integrations.services.outbox import order_event_handle, outbox_deliver
from orders.models import Order, OrderEvent, OrderState
from podhub.workspaces.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.fulfillment import fulfillment_support as support

pytestmark = pytest.mark.django_db
D = Decimal
S = OrderState
US = {"address1": "1 Main St", "city": "Springfield", "province": "IL", "province_code": "IL",
      "zip": "62701", "country": "United States", "country_code": "US"}

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider


@pytest.fixture
def catalog(sandbox_provider):
    """MUG-11 at 12.00, made by the sandbox factory; US shipping 5.00 + 1.00 handling."""
    from quotes.models import (
        Product,
        ShippingMethod,
        ShippingRate,
        ShippingZone,
        Variant,
        VariantProvider,
    )

    product = Product.objects.create(name="Mug", currency="USD")
    variant = Variant.objects.create(product=product, sku="MUG-11", price_amount=D("12.00"))
    VariantProvider.objects.create(variant=variant, provider=sandbox_provider,
                                   provider_sku="SF-MUG-11", base_cost_amount=D("4.00"),
                                   priority=1)
    zone = ShippingZone.objects.create(name="US", countries="US")
    method = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                           handling_amount=D("1.00"))
    ShippingRate.objects.create(method=method, zone=zone, currency="USD",
                                first_item_amount=D("5.00"), additional_item_amount=D("2.00"))


def _order(workspace, remote) -> Order:
    with scope(workspace=workspace):
        return Order.objects.get(external_id=str(remote["id"]))


def _account(workspace) -> Account:
    with scope(workspace=workspace):
        return Account.objects.get(workspace=workspace)


def _charges_follow(workspace, order) -> None:
    """What billing's task does after the order's events (capture or release)."""
    with scope(workspace=workspace):
        payments.order_charge_sync(workspace_id=workspace.pk, order_id=order.pk)


@pytest.fixture
def submitted(sandbox, workspace, catalog, owner, sync, factory_server):
    """A paid order of one mug (18.00: 12.00 product captured when it went to production,
    6.00 shipping still held), sent to the sandbox factory. The balance was 100.00."""
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100.00"),
                      key=f"fund:{workspace.pk}")
    product = sandbox.shop.add_product({"title": "Mug", "variants": [
        {"sku": "MUG-11", "price": "30.00", "title": "11 oz"}]})
    pid = int(product["id"].rsplit("/", 1)[-1])
    vid = int(product["variants"][0]["id"].rsplit("/", 1)[-1])
    remote = sandbox.shop.create_order({"shipping_address": US, "line_items": [
        {"title": "Mug", "sku": "MUG-11", "variant_title": "11 oz", "price": "30.00",
         "quantity": 1, "product_id": pid, "variant_id": vid}]})
    sync()
    order = _order(workspace, remote)
    assert order.state == S.TO_ORDER
    from orders.events import Actor

    with scope(workspace=workspace):
        payments.orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                            key="pay")
        submission.order_submit_now(workspace=workspace, order_id=order.pk,
                                    actor=Actor.seller(owner.user))
    submission.send_due(now=timezone.now() + timedelta(minutes=1))
    _charges_follow(workspace, order)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.ACCEPTED and sub.external_id.startswith("SF")
    assert (_account(workspace).balance_amount, _account(workspace).held_amount) == (
        D("88.00"), D("6.00"))
    return remote, order, sub


@pytest.fixture
def flagged(sandbox, workspace, submitted, sync):
    """The submitted order edited in the store (1 → 3 mugs): flagged, not changed."""
    remote, order, sub = submitted
    sandbox.shop.edit_order(remote["id"], [{"line_item_id": remote["line_items"][0]["id"],
                                            "quantity": 3}])
    sync()
    order = _order(workspace, remote)
    assert order.needs_attention == "Changed in the store after it went to production."
    return remote, order, sub


def _page(client, order) -> str:
    return client.get(f"/orders/{order.pk}/fulfillment/").content.decode()


def _cancel(api, order):
    return api.post(f"/api/v1/orders/{order.pk}/cancel-at-provider/", format="json")


def test_cancel_at_the_provider_cancels_gives_the_money_back_and_reaches_the_store(
    sandbox, workspace, owner, flagged, factory_server, client_for, api_client_for,
    django_capture_on_commit_callbacks
):
    remote, order, sub = flagged
    # the order page offers it
    page = _page(client_for(owner), order)
    assert 'data-testid="cancel-at-provider-button"' in page
    assert "Cancel at Sandbox factory" in page
    # the seller cancels it (the API)
    with django_capture_on_commit_callbacks(execute=True):
        answer = _cancel(api_client_for(owner), order)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["state"], body["cancel_reason"], body["pushed_to_store"]) == (
        "cancelled", "seller", True)
    assert body["submissions"] == [{"reference": sub.reference, "provider": "sandbox-factory",
                                    "status": "cancelled"}]
    # the factory stopped it
    assert factory_server.factory.orders[sub.external_id].status == "cancelled"
    order = _order(workspace, remote)
    assert (order.state, order.needs_attention) == (S.CANCELLED, "")
    with scope(workspace=workspace):
        types = list(OrderEvent.objects.filter(order=order).order_by("pk")
                     .values_list("type", flat=True))
    assert types[-2:] == ["fulfillment.cancelled_at_provider", "order.cancelled"]
    # money: the captured product cost refunded now, the shipping hold released by billing
    _charges_follow(workspace, order)
    with scope(workspace=workspace):
        refund = LedgerEntry.objects.get(order_id=order.pk, kind=EntryKind.REFUND)
        assert not Hold.objects.filter(order=order, is_open=True).exists()
    assert refund.amount == D("12.00")
    acct = _account(workspace)
    assert (acct.balance_amount, acct.held_amount) == (D("100.00"), D("0.00"))
    # the store: one outbox sweep cancels the order there and refunds the buyer
    with scope(workspace=workspace):
        event = OrderEvent.objects.get(order=order, type="order.cancelled")
        msg = outbox_deliver(message_id=order_event_handle(event_id=event.pk).pk)
    assert msg.status == OutboxStatus.DONE
    store_order = sandbox.shop.order(remote["id"])
    assert store_order["cancelled_at"] and store_order["financial_status"] == "refunded"
    # a repeat changes nothing: no second refund, no second provider call
    assert _cancel(api_client_for(owner), order).status_code == 200
    with scope(workspace=workspace):
        assert LedgerEntry.objects.filter(order_id=order.pk, kind=EntryKind.REFUND).count() == 1
    assert 'data-testid="cancel-at-provider"' not in _page(client_for(owner), order)


def test_the_provider_refuses_once_in_production_and_nothing_moves(
    workspace, owner, flagged, factory_server, client_for, api_client_for
):
    remote, order, sub = flagged
    # the factory started making it; its webhook has not reached PodHub yet
    factory = factory_server.factory
    factory.sender = lambda url, body, headers: 0
    factory.advance(sub.external_id, to="in_production")
    before = _account(workspace)
    answer = _cancel(api_client_for(owner), order)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "cancel_refused"
    assert "already in_production" in error["provider_message"]
    assert error["current_state"] == "in_production"
    assert error["needs_attention"] == "Changed in the store after it went to production."
    assert error["submissions"] == [{"reference": sub.reference,
                                     "provider": "sandbox-factory", "status": "accepted"}]
    # still flagged, still in production, nothing moved; the reason is on the timeline
    order = _order(workspace, remote)
    assert order.state == S.IN_PRODUCTION and order.needs_attention
    after = _account(workspace)
    assert (after.balance_amount, after.held_amount) == (before.balance_amount,
                                                         before.held_amount)
    with scope(workspace=workspace):
        sub.refresh_from_db()
        refused = OrderEvent.objects.get(order=order, type="fulfillment.cancel_refused")
        assert not LedgerEntry.objects.filter(order_id=order.pk,
                                              kind=EntryKind.REFUND).exists()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert "can no longer be cancelled" in refused.message
    # the dashboard says the provider's reason too (409)
    seller = client_for(owner)
    page = seller.post(f"/orders/{order.pk}/fulfillment/cancel-at-provider/",
                       HTTP_HX_REQUEST="true")
    assert page.status_code == 409 and "did not cancel" in page.content.decode()
    # once PodHub knows it is in production (the factory's webhook or the poll), the
    # button is gone and the API says why without asking the factory
    with scope(workspace=workspace):
        Submission.objects.filter(pk=sub.pk).update(status=SubmissionStatus.IN_PRODUCTION)
    assert 'data-testid="cancel-at-provider"' not in _page(seller, order)
    answer = _cancel(api_client_for(owner), order)
    assert answer.status_code == 409
    assert "does not take a cancel" in answer.json()["error"]["message"]


def test_only_an_owner_or_admin_may_cancel_at_the_provider(
    workspace, flagged, factory_server, client_for, api_client_for
):
    _, order, sub = flagged
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER,
                               user=UserFactory(email="member@acme.test"))
    answer = _cancel(api_client_for(member), order)
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == (
        "Only the owner or an admin can cancel an order at its provider.")
    page = _page(client_for(member), order)
    assert 'data-testid="cancel-at-provider"' in page  # the offer is explained
    assert 'data-testid="cancel-at-provider-button"' not in page
    assert client_for(member).post(
        f"/orders/{order.pk}/fulfillment/cancel-at-provider/").status_code == 302
    assert factory_server.factory.orders[sub.external_id].status == "accepted"
    admin = MembershipFactory(workspace=workspace, role=Role.ADMIN,
                              user=UserFactory(email="admin@acme.test"))
    assert 'data-testid="cancel-at-provider-button"' in _page(client_for(admin), order)


def test_another_workspaces_order_is_not_found(flagged, other_owner, api_client_for,
                                               client_for, factory_server):
    _, order, sub = flagged
    assert _cancel(api_client_for(other_owner), order).status_code == 404
    assert client_for(other_owner).post(
        f"/orders/{order.pk}/fulfillment/cancel-at-provider/").status_code == 404
    assert factory_server.factory.orders[sub.external_id].status == "accepted"


def test_an_order_not_flagged_is_not_offered(sandbox, workspace, owner, flagged, client_for,
                                            api_client_for):
    _, order, _ = flagged
    with scope(workspace=workspace):
        Order.objects.filter(pk=order.pk).update(needs_attention="")
        OrderEvent.objects.filter(order=order,
                                  type="order.store_change_after_submission").delete()
    assert 'data-testid="cancel-at-provider"' not in _page(client_for(owner), order)
    answer = _cancel(api_client_for(owner), order)
    assert answer.status_code == 409
    assert "nothing to cancel at the provider" in answer.json()["error"]["message"]


def test_staff_cancel_at_the_provider_from_the_admin(workspace, flagged, factory_server,
                                                     django_user_model):
    from django.test import Client

    remote, order, sub = flagged
    staff = django_user_model.objects.create_superuser(email="staff@podhub.test",
                                                       password="correct horse battery")
    admin = Client()
    admin.force_login(staff)
    page = admin.post("/admin/fulfillment/submission/", {
        "action": "cancel_at_provider", "_selected_action": [sub.pk]}, follow=True)
    assert "1 order(s) cancelled at the provider." in page.content.decode()
    order = _order(workspace, remote)
    assert (order.state, order.cancel_reason) == (S.CANCELLED, "staff")
    assert factory_server.factory.orders[sub.external_id].status == "cancelled"
    with scope(workspace=workspace):
        cancelled = OrderEvent.objects.get(order=order, type="order.cancelled")
        assert LedgerEntry.objects.get(order_id=order.pk, kind=EntryKind.REFUND).amount == \
            D("12.00")
    assert cancelled.actor_type == "staff" and cancelled.data["at_provider"] == \
        "Sandbox factory"


def test_an_order_the_store_cancelled_is_cancelled_at_the_provider_not_pushed_back(
    sandbox, workspace, owner, submitted, sync, factory_server, api_client_for
):
    remote, order, sub = submitted
    sandbox.shop.cancel_order(remote["id"], reason="customer", refund=True)
    sync()
    order = _order(workspace, remote)
    assert order.state == S.IN_PRODUCTION and order.needs_attention  # flagged, not cancelled
    answer = _cancel(api_client_for(owner), order)
    assert answer.status_code == 200, answer.content
    assert (answer.json()["cancel_reason"], answer.json()["pushed_to_store"]) == (
        "buyer", False)
    assert factory_server.factory.orders[sub.external_id].status == "cancelled"
    with scope(workspace=workspace):
        event = OrderEvent.objects.get(order=order, type="order.cancelled")
        assert order_event_handle(event_id=event.pk) is None  # the store is not asked again
