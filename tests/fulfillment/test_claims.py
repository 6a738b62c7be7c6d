"""After-sales claims, the production board's admin actions, and the cross-tenant
walk over fulfillment's routes."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope, scopes_disabled
from PIL import Image

from fulfillment import claims, shipments, submission
from fulfillment.models import Claim, ClaimMessage, Shipment, Submission
from orders.models import Order, OrderEvent
from podhub.core.exceptions import Conflict
from tests.fulfillment.fulfillment_support import (
    NOW,
    make_order,
    make_provider,
    make_variant,
)
from tests.tenancy import MARKER, find_leaks


def _png() -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, "PNG")
    return SimpleUploadedFile("damage.png", buf.getvalue(), content_type="image/png")


@pytest.fixture
def shipped(workspace, owner):
    """An order made in-house and shipped from the production board."""
    own = make_provider("own-factory", kind="own", name="PodHub factory")
    order = make_order(workspace, [make_variant("MUG", [(own, "4.00")])])
    submission.submit_sweep(now=NOW)
    with scopes_disabled():
        sub = Submission.objects.get(order=order)
    assert shipments.board_mark_in_production(submission_ids=[sub.pk], user=owner.user) == 1
    assert shipments.board_mark_shipped(submission_ids=[sub.pk], carrier="UPS",
                                        numbers={sub.pk: "1Z999"}, user=owner.user) == 1
    return order


def test_board_ships_in_house_orders_with_their_tracking(workspace, shipped):
    with scope(workspace=workspace):
        shipment = Shipment.objects.get(order=shipped)
        types = list(OrderEvent.objects.filter(order=shipped).values_list("type", flat=True))
    assert shipment.tracking_number == "1Z999" and "ups.com" in shipment.tracking_url
    assert "fulfillment.in_production" in types and "shipment.shipped" in types
    with scopes_disabled():
        assert Order.objects.get(pk=shipped.pk).state == "shipped"


def test_claim_with_photo_thread_and_reprint(workspace, owner, client_for, shipped):
    client = client_for(owner)
    response = client.post(f"/orders/{shipped.pk}/fulfillment/claims/",
                           {"kind": "damaged", "message": "Mug arrived broken",
                            "photos": [_png()]})
    assert response.status_code == 302
    # the whole order page comes back, the confirmation on top
    page = client.get(response["Location"]).content.decode()
    assert "Claim opened: staff will answer here." in page
    with scope(workspace=workspace):
        claim = Claim.objects.get(order=shipped)
        msg = ClaimMessage.objects.get(claim=claim)
    assert msg.photo and msg.body == "Mug arrived broken"
    assert client.get(f"/claim-photos/{msg.pk}/").status_code == 200
    client.post(f"/orders/{shipped.pk}/fulfillment/claims/{claim.pk}/reply/",
                {"message": "Here is the box too"})
    # staff answer with a reprint: a new linked order at no charge, routed and submitted
    with scopes_disabled():
        claims.staff_reply(claim_id=claim.pk, message="Sorry about that", user=owner.user)
        reprint = claims.claim_reprint(claim_id=claim.pk, user=owner.user, now=NOW)
        claim.refresh_from_db()
        reprint = Order.objects.get(pk=reprint.pk)
        thread = list(claim.messages.values_list("from_staff", flat=True))
        reprint_lines = list(reprint.line_items.values_list("unit_price_amount", flat=True))
    assert claim.status == "reprinted" and claim.reprint_order_id == reprint.pk
    assert reprint.state == "in_production" and reprint.number.endswith(f"-R{claim.pk}")
    assert all(p == 0 for p in reprint_lines)
    assert thread == [False, False, True, True]
    with pytest.raises(Conflict), scopes_disabled():
        claims.claim_reprint(claim_id=claim.pk, user=owner.user)
    panel = client.get(f"/orders/{shipped.pk}/fulfillment/")
    assert b"Answered: reprint" in panel.content


def test_claim_only_on_shipped_orders_and_refund_capped(workspace, owner, shipped):
    pending = make_order(workspace, [])
    with scope(workspace=workspace), pytest.raises(Conflict):
        claims.claim_open(workspace=workspace, order_id=pending.pk, kind="lost",
                          message="where?", user=owner.user)
    with scope(workspace=workspace):
        claim = claims.claim_open(workspace=workspace, order_id=shipped.pk, kind="lost",
                                  message="never arrived", user=owner.user)
    # nothing was captured for this test order: billing refuses to refund more
    with scopes_disabled(), pytest.raises(Conflict):
        claims.claim_refund(claim_id=claim.pk, amount="5.00", user=owner.user)


def test_fulfillment_routes_refuse_other_workspaces(owner, other_owner, client_for,
                                                    api_client_for):
    with scope(workspace=owner.workspace):
        owner.workspace.name = f"A {MARKER}"
        owner.workspace.save()
    problems = find_leaks(a_membership=owner, b_dashboard=client_for(other_owner),
                          b_api=api_client_for(other_owner))
    assert [p for p in problems if "fulfillment" in p or "claim" in p
            or "shipment" in p] == []


@pytest.mark.parametrize("policy", ["hold", "cancel"])
def test_the_loss_guard_never_holds_or_cancels_a_reprint(workspace, owner, shipped, policy):
    """A reprint is sold at 0 on purpose: whatever the outside store's loss policy, it is
    routed and submitted, and the seller gets no loss-guard e-mail. An outside order
    at 0 that is not a claim's reprint is still judged."""
    from django.core import mail

    from orders import services as order_services
    from orders.events import Actor

    with scope(workspace=workspace):
        store = order_services.outside_store(workspace)
        store.loss_policy = policy
        store.save()
        claim = claims.claim_open(workspace=workspace, order_id=shipped.pk, kind="misprint",
                                  message="Name misspelt", user=owner.user)
        line = shipped.line_items.get()
    mail.outbox.clear()
    with scopes_disabled():
        reprint = claims.claim_reprint(claim_id=claim.pk, user=owner.user, now=NOW)
        reprint = Order.objects.get(pk=reprint.pk)
        types = set(OrderEvent.objects.filter(order=reprint).values_list("type", flat=True))
    assert reprint.state == "in_production"
    assert not {t for t in types if "loss_guard" in t or t == "order.cancelled"}
    assert not [m for m in mail.outbox if "below cost" in m.subject]

    # the same items at 0 in the same store, typed in as an outside order: judged as usual
    with scope(workspace=workspace):
        other = order_services.order_create_manual(
            workspace=workspace, actor=Actor.seller(owner.user), data={
                "number": "X-1", "external_id": "x-1", "channel": "reprint", "currency": "USD",
                "shipping_address": shipped.shipping_address,
                "line_items": [{"sku": line.sku, "title": line.title, "quantity": 1,
                                "unit_price": "0", "catalog_variant_id":
                                line.catalog_variant_id}]})
        if Order.objects.get(pk=other.pk).state == "in_quotation":
            order_services.order_mark_priced(order_id=other.pk, actor=Actor.system(), now=NOW)
        other = Order.objects.get(pk=other.pk)
    assert other.state == ("on_hold" if policy == "hold" else "cancelled")
    assert (other.hold_reason or other.cancel_reason) == "loss_guard"
