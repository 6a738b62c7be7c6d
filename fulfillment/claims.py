"""After-sales claims: the seller opens one on a shipped order (misprint,
damaged, lost, wrong item) with photos and a message; staff answer in admin
with a reprint (a new linked order at no charge that goes through routing) or
a refund to the balance (billing.services.order_refund); the claim keeps its
own thread."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_scopes import scope

from fulfillment.models import Claim, ClaimKind, ClaimMessage, ClaimStatus
from orders import services as order_services
from orders.events import Actor
from orders.models import LineItem, Order, OrderState
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.core.money import format_money
from podhub.core.uploads import clean_image, file_response, stored_ext

CLAIMABLE = (OrderState.SHIPPED, OrderState.COMPLETED)
REPRINT_CHANNEL = "reprint"
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000  # refused from the header, before decoding
PHOTO_SIDE = 4096  # larger photos are stored shrunk to this
# The whole form (photos + message), refused from its Content-Length (views.py).
MAX_CLAIM_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024


def is_reprint(order: Order) -> bool:
    """The loss-guard exemption (orders.hooks): a claim's reprint is free on purpose.

    Only an order some claim names as its reprint counts; the channel is a cheap
    pre-filter (a seller typing "reprint" as the channel of an outside order gains
    nothing: without the claim the guard still judges it)."""
    if order.channel != REPRINT_CHANNEL or not order.pk:
        return False
    with scope(workspace=order.workspace_id):
        return Claim.objects.filter(workspace_id=order.workspace_id,
                                    reprint_order_id=order.pk).exists()


def _check_photos(photos) -> list:
    """Each photo decoded and written again by us (podhub/core/uploads.py): what is
    stored is an image PodHub wrote, whatever the upload claimed to be."""
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise ValidationFailed(f"Attach at most {MAX_PHOTOS} photos.",
                               fields={"photos": "Too many."})
    return [clean_image(photo, max_bytes=MAX_PHOTO_BYTES, max_pixels=MAX_PHOTO_PIXELS,
                        max_side=PHOTO_SIDE, field="photos") for photo in photos]


def photo_response(msg: ClaimMessage):
    """A claim photo as a download that cannot run (for the seller and for staff)."""
    ext = stored_ext(msg.photo.name) or "bin"
    return file_response(msg.photo, filename=f"claim-{msg.claim_id}-photo-{msg.pk}.{ext}")


def _messages(claim: Claim, *, body: str, photos, user, from_staff: bool) -> None:
    photos = list(photos)
    for i, photo in enumerate(photos or [None]):
        ClaimMessage.objects.create(
            workspace_id=claim.workspace_id, claim=claim, author=user, from_staff=from_staff,
            body=body if i == 0 else "", photo=photo.content if photo else "",
            photo_name=photo.display_name if photo else "")


@transaction.atomic
def claim_open(*, workspace, order_id: int, kind: str, message: str, user, photos=(),
               line_item_ids: list[int] | None = None) -> Claim:
    message = (message or "").strip()
    errors = {}
    if kind not in ClaimKind.values:
        errors["kind"] = "Choose misprint, damaged, lost or wrong item."
    if not message:
        errors["message"] = "Say what went wrong."
    if errors:
        raise ValidationFailed("The claim is incomplete.", fields=errors)
    photos = _check_photos(photos)
    order = order_services.lock_order(order_id, workspace=workspace)
    if order.state not in CLAIMABLE:
        raise Conflict("A claim can be opened once the order has shipped.")
    items = []
    if line_item_ids:
        lines = dict(LineItem.objects.filter(order=order, pk__in=line_item_ids)
                     .values_list("pk", "quantity"))
        items = [{"line_item_id": pk, "quantity": q} for pk, q in lines.items()]
    claim = Claim.objects.create(workspace=workspace, order=order, kind=kind, items=items,
                                 opened_by=user)
    _messages(claim, body=message, photos=photos, user=user, from_staff=False)
    order_services.record_event(
        order=order, type="claim.opened", actor=Actor.seller(user),
        message=f"Claim opened: {claim.get_kind_display()}. {message}"[:2000],
        data={"claim_id": claim.pk, "kind": kind})
    return claim


def _claim_get(workspace, claim_id: int, order_id: int | None = None) -> Claim:
    qs = Claim.objects.select_for_update().filter(workspace=workspace, pk=claim_id)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    claim = qs.first()
    if claim is None:
        raise NotFound("No such claim in this workspace.")
    return claim


@transaction.atomic
def claim_reply(*, workspace, order_id: int, claim_id: int, message: str, user,
                photos=()) -> ClaimMessage:
    message = (message or "").strip()
    photos = _check_photos(photos)
    if not message and not photos:
        raise ValidationFailed("Write a message or attach a photo.", fields={"message": "Empty."})
    claim = _claim_get(workspace, claim_id, order_id)
    _messages(claim, body=message, photos=photos, user=user, from_staff=False)
    return claim.messages.last()


def staff_reply(*, claim_id: int, message: str, user) -> None:
    claim = Claim.objects.select_related("workspace").get(pk=claim_id)  # admin: scopes off
    with scope(workspace=claim.workspace), transaction.atomic():
        claim = _claim_get(claim.workspace, claim_id)
        _messages(claim, body=message, photos=(), user=user, from_staff=True)


def claim_reprint(*, claim_id: int, user, note: str = "", now: datetime | None = None) -> Order:
    """Staff: a new linked order of the claimed items at no charge, routed and submitted."""
    from fulfillment.submission import order_submit_now

    now = now or timezone.now()
    claim = Claim.objects.select_related("workspace").get(pk=claim_id)
    workspace = claim.workspace
    actor = Actor.staff(user)
    with scope(workspace=workspace), transaction.atomic():
        claim = _claim_get(workspace, claim_id)
        if claim.status != ClaimStatus.OPEN:
            raise Conflict(f"This claim was already answered ({claim.get_status_display()}).")
        order = Order.objects.get(pk=claim.order_id)
        wanted = {i["line_item_id"]: i["quantity"] for i in claim.items}
        lines = [ln for ln in LineItem.objects.filter(order=order).order_by("pk")
                 if not wanted or ln.pk in wanted]
        data = {
            "number": f"{order.number}-R{claim.pk}", "external_id": f"reprint-{claim.pk}",
            "channel": REPRINT_CHANNEL, "currency": order.currency,
            "buyer_name": order.buyer_name, "buyer_email": order.buyer_email,
            "shipping_address": order.shipping_address,
            # entered unmapped: a fully mapped order is priced (and judged) on creation,
            # before the claim names it as its reprint
            "line_items": [{"sku": ln.sku or f"line-{ln.pk}", "title": ln.title,
                            "variant_title": ln.variant_title,
                            "quantity": wanted.get(ln.pk, ln.quantity), "unit_price": "0",
                            "personalization": ln.personalization, "images": ln.images}
                           for ln in lines],
        }
        reprint = order_services.order_create_manual(workspace=workspace, data=data, actor=actor)
        # Linked before it is priced: the loss guard asks `is_reprint` (registered in
        # FulfillmentConfig.ready) and leaves an order sold at 0 on purpose alone, so a
        # store whose policy is "cancel" never cancels, nor "hold" holds, a reprint.
        claim.reprint_order = reprint
        claim.save(update_fields=["reprint_order"])
        copy_ids = (LineItem.objects.filter(order=reprint).order_by("pk")
                    .values_list("pk", flat=True))
        copies = order_services.lines_set_mapping(order_id=reprint.pk, mapping={
            copy_id: order_services.LineMapping(original.catalog_variant_id)
            for copy_id, original in zip(copy_ids, lines, strict=True)})
        reprint = Order.objects.get(pk=reprint.pk)
        if reprint.state == OrderState.IN_QUOTATION and all(c.catalog_variant_id
                                                            for c in copies):
            order_services.order_mark_priced(order_id=reprint.pk, actor=actor, now=now)
        order_services.order_mark_paid(order_id=reprint.pk, actor=actor, now=now)
        order_services.record_event(
            order=reprint, type="claim.reprint_created", actor=actor,
            message=f"Reprint of order {order.number} at no charge (claim {claim.pk}).",
            data={"claim_id": claim.pk, "original_order_id": order.pk})
        claim.status = ClaimStatus.REPRINTED
        claim.reprint_order = reprint
        claim.resolved_at = now
        claim.save()
        _messages(claim, body=note or f"We are reprinting it at no charge: order "
                  f"{reprint.number}.", photos=(), user=user, from_staff=True)
        order_services.record_event(
            order=order, type="claim.reprinted", actor=actor,
            message=f"Claim {claim.pk}: reprint {reprint.number} at no charge.",
            data={"claim_id": claim.pk, "reprint_order_id": reprint.pk})
        order_submit_now(workspace=workspace, order_id=reprint.pk, actor=actor, now=now)
        return reprint


def claim_refund(*, claim_id: int, amount, user, note: str = "",
                 now: datetime | None = None) -> Claim:
    """Staff: give captured money back to the seller's balance."""
    now = now or timezone.now()
    claim = Claim.objects.select_related("workspace").get(pk=claim_id)
    workspace = claim.workspace
    with scope(workspace=workspace), transaction.atomic():
        claim = _claim_get(workspace, claim_id)
        if claim.status != ClaimStatus.OPEN:
            raise Conflict(f"This claim was already answered ({claim.get_status_display()}).")
        entry = _refund(workspace_id=workspace.pk, order_id=claim.order_id, amount=amount,
                        reason=f"Claim {claim.pk}: {claim.get_kind_display()}", user=user,
                        key=f"claim:{claim.pk}")
        claim.status = ClaimStatus.REFUNDED
        claim.refund_amount = Decimal(str(getattr(entry, "amount", amount)))
        claim.resolved_at = now
        claim.save()
        refunded = format_money(claim.refund_amount,
                                getattr(entry, "currency", workspace.billing_currency))
        _messages(claim, body=note or f"Refunded {refunded} to your balance.",
                  photos=(), user=user, from_staff=True)
        order_services.record_event(
            order=claim.order, type="claim.refunded", actor=Actor.staff(user),
            message=f"Claim {claim.pk}: {refunded} refunded to the balance.",
            data={"claim_id": claim.pk, "amount": str(claim.refund_amount)})
    return claim


def claim_reject(*, claim_id: int, user, note: str) -> Claim:
    claim = Claim.objects.select_related("workspace").get(pk=claim_id)
    with scope(workspace=claim.workspace), transaction.atomic():
        claim = _claim_get(claim.workspace, claim_id)
        if claim.status != ClaimStatus.OPEN:
            raise Conflict("This claim was already answered.")
        claim.status = ClaimStatus.REJECTED
        claim.resolved_at = timezone.now()
        claim.save()
        _messages(claim, body=note or "Claim rejected.", photos=(), user=user, from_staff=True)
    return claim


def _refund(*, workspace_id: int, order_id: int, amount, reason: str, user, key: str):
    """Billing sits below fulfillment (STYLE.md §0): calling its service is allowed."""
    from billing.services import order_refund

    return order_refund(workspace_id=workspace_id, order_id=order_id, amount=amount,
                        reason=reason, staff_user=user, key=key)
