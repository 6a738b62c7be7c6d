"""Shipments and tracking: provider webhooks, manual tracking entry, the board's
"mark shipped", and the completion sweep.

Rules:
- a provider delivery is verified (HMAC), stored raw (ProviderWebhook) before
  the 200, deduplicated by (provider, event id) and applied once;
- each shipment keeps its own carrier, number and URL; status only moves
  forward (SHIPMENT_RANK): a duplicate or backwards update changes nothing and
  its reason is logged and kept on the stored webhook;
- every shipment that ships writes an OrderEvent `shipment.shipped` (data:
  shipment_id, carrier, number, url, line_item_ids, line_items, provider) that
  integrations pushes to the store and billing reads to capture shipping;
- parcel by parcel: when a provider splits a submission, the items no parcel
  carries yet wait in a pending placeholder shipment; the order is shipped when
  every live shipment is (so its shipped_at is the last parcel's), completed
  when all are delivered or FULFILLMENT_COMPLETE_AFTER_DAYS after the LAST
  parcel shipped (sweep).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment.models import (
    SHIPMENT_RANK,
    SHIPPED_OR_LATER,
    Adapter,
    ProviderConnection,
    ProviderWebhook,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
    Submission,
    SubmissionStatus,
    WebhookResult,
)
from fulfillment.providers import ProviderUnavailable, ProviderUpdate, client_for, registry
from fulfillment.providers.base import STATUS_RANK, WEBHOOK_TOKEN_HEADER, RemoteShipment
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, Order, OrderState
from podhub.core import safejson
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.core.links import http_url
from podhub.workspaces.models import Workspace

log = logging.getLogger(__name__)

TRACKING_URLS = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "ups": "https://www.ups.com/track?tracknum={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={}",
    "royal mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "canada post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={}",
}
TRACKING_URL_MAX = 500  # Shipment.tracking_url
LIVE = (SubmissionStatus.PENDING, SubmissionStatus.SENDING, SubmissionStatus.ACCEPTED,
        SubmissionStatus.IN_PRODUCTION, SubmissionStatus.SHIPPED)


def complete_after_days() -> int:
    return getattr(settings, "FULFILLMENT_COMPLETE_AFTER_DAYS", 30)


def tracking_url(carrier: str, number: str) -> str:
    template = TRACKING_URLS.get((carrier or "").strip().lower())
    return template.format(quote(number, safe="")) if template and number else ""


# --- provider webhooks -----------------------------------------------------------------------


class WebhookRejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def webhook_receive(*, provider_code: str, headers: dict, body: bytes) -> tuple[
        ProviderWebhook, bool]:
    """Verify and store one delivery; returns (row, created). Raises WebhookRejected: 401
    unsigned (nothing stored), 400 unreadable (stored as refused, with the reason)."""
    import hashlib

    with scopes_disabled():
        conn = (ProviderConnection.objects.select_related("provider")
                .filter(provider__code=provider_code, is_enabled=True).first())
    if conn is None:
        raise WebhookRejected(404, f"unknown provider {provider_code!r}")
    try:  # deliveries go on while a refused API key waits for staff
        client = client_for(conn.provider, connection=conn, for_webhooks=True)
    except ProviderUnavailable as exc:  # its adapter is no longer registered
        raise WebhookRejected(404, exc.message) from exc
    if not client.verify_webhook(headers, body):
        log.warning("provider webhook %s: bad or missing signature; refused", provider_code)
        raise WebhookRejected(401, "bad signature")
    refused = ""
    try:
        safejson.check_depth(body)  # the adapters' json.loads would die of RecursionError
        updates = client.parse_webhook(headers, body)
    except safejson.TooDeep as exc:
        raise WebhookRejected(400, str(exc)) from exc
    except Exception as exc:  # any shape a provider may send: refused with the reason
        log.warning("provider webhook %s: unreadable body (%s)", provider_code, exc)
        updates, refused = [], f"unreadable body: {type(exc).__name__}: {exc}"[:255]
    key = (updates[0].event_key if updates and updates[0].event_key
           else "sha256:" + hashlib.sha256(body).hexdigest())
    try:
        with transaction.atomic():
            row = ProviderWebhook.objects.create(
                provider_code=provider_code, event_key=key[:200], body=body.decode(
                    "utf-8", errors="replace"),
                headers={k: v for k, v in headers.items()
                         if k.lower().startswith(("x-", "content-type"))
                         and k.lower() != WEBHOOK_TOKEN_HEADER.lower()},  # a secret
                **({"result": WebhookResult.REFUSED, "reason": refused,
                    "processed_at": timezone.now()} if refused else {}))
            created = True
    except IntegrityError:
        log.info("provider webhook %s %s: duplicate delivery ignored", provider_code, key)
        row = ProviderWebhook.objects.get(provider_code=provider_code, event_key=key[:200])
        created = False
    if refused or row.result == WebhookResult.REFUSED:
        raise WebhookRejected(400, row.reason or refused)  # kept for replay, never applied
    return row, created


def webhook_reprocess(*, webhook_id: int, now: datetime | None = None) -> str:
    """Staff: apply a stored delivery again, whatever came of it before (its updates are
    forward-only and idempotent: what was applied stays as it is)."""
    ProviderWebhook.objects.filter(pk=webhook_id).update(result=WebhookResult.PENDING)
    return webhook_process(webhook_id=webhook_id, now=now)


def webhook_process(*, webhook_id: int, now: datetime | None = None) -> str:
    """Apply one stored delivery (idempotent: a processed row is left alone)."""
    now = now or timezone.now()
    with scopes_disabled():
        with transaction.atomic():
            row = ProviderWebhook.objects.select_for_update().get(pk=webhook_id)
            if row.result in (WebhookResult.APPLIED, WebhookResult.IGNORED,
                              WebhookResult.REFUSED):
                return row.result
            row.attempts += 1
            row.save(update_fields=["attempts"])
        conn = ProviderConnection.objects.select_related("provider").get(
            provider__code=row.provider_code)
        client = client_for(conn.provider, connection=conn, for_webhooks=True)
        results = []
        try:
            for update in client.parse_webhook(row.headers, row.body.encode()):
                update = client.complete_update(update)  # may ask the provider (Printify)
                results.append(apply_update(provider=conn.provider, update=update, now=now))
        except Exception as exc:
            log.exception("provider webhook %s failed; the sweep retries it", row.pk)
            ProviderWebhook.objects.filter(pk=row.pk).update(
                result=WebhookResult.FAILED, reason=f"{type(exc).__name__}: {exc}"[:255])
            return WebhookResult.FAILED
        applied = [r for r in results if r[0] == WebhookResult.APPLIED]
        result = WebhookResult.APPLIED if applied else WebhookResult.IGNORED
        reason = "; ".join(r[1] for r in results)[:255]
        workspace_id = next((r[2] for r in results if r[2]), None)
        ProviderWebhook.objects.filter(pk=row.pk).update(
            result=result, reason=reason, processed_at=now, workspace_id=workspace_id)
        return result


def webhook_sweep(*, limit: int = 200) -> int:
    with scopes_disabled():
        ids = list(ProviderWebhook.objects.filter(
            result__in=[WebhookResult.PENDING, WebhookResult.FAILED], attempts__lt=10,
            received_at__lte=timezone.now() - timedelta(seconds=30))
            .order_by("received_at").values_list("pk", flat=True)[:limit])
    for webhook_id in ids:
        webhook_process(webhook_id=webhook_id)
    return len(ids)


def _ignored(reason: str, workspace_id: int | None = None) -> tuple[str, str, int | None]:
    log.info("provider update ignored: %s", reason)
    return WebhookResult.IGNORED, reason, workspace_id


def apply_update(*, provider, update: ProviderUpdate, now: datetime) -> tuple[
        str, str, int | None]:
    """Apply one status or shipment update. Returns (result, reason, workspace id)."""
    with scopes_disabled():
        sub = (Submission.objects.filter(provider=provider, reference=update.reference).first()
               if update.reference else None)
        if sub is None and update.external_id:
            sub = Submission.objects.filter(provider=provider,
                                            external_id=update.external_id).first()
        if sub is None:
            return _ignored(f"unknown order {update.reference or update.external_id!r}")
        workspace = Workspace.objects.get(pk=sub.workspace_id)
    with scope(workspace=workspace), transaction.atomic():
        sub = (Submission.objects.select_for_update(of=("self",))
               .select_related("order", "provider").get(pk=sub.pk))
        actor = Actor.provider(provider.name)
        if sub.status in (SubmissionStatus.FAILED, SubmissionStatus.CANCELLED):
            return _ignored(f"{sub.reference} is {sub.status}", sub.workspace_id)
        if update.status == "rejected":
            from fulfillment.submission import reroute

            reroute(submission_id=sub.pk, reason=update.message or "rejected by the provider",
                    now=now)
            return WebhookResult.APPLIED, f"{sub.reference} rerouted", sub.workspace_id
        if update.status == "cancelled":
            sub.status = SubmissionStatus.CANCELLED
            sub.save()
            order_services.order_hold(
                order_id=sub.order_id, reason=HoldReason.PROVIDER_REJECTED, actor=actor, now=now,
                message=f"{provider.name} cancelled {sub.reference}.")
            return WebhookResult.APPLIED, f"{sub.reference} cancelled", sub.workspace_id
        if update.shipment is None:
            return _order_status(sub, update, actor=actor, now=now)
        return _shipment_update(sub, update, actor=actor, now=now)


def _order_status(sub: Submission, update: ProviderUpdate, *, actor, now) -> tuple:
    have = {SubmissionStatus.ACCEPTED: 1, SubmissionStatus.IN_PRODUCTION: 2,
            SubmissionStatus.SHIPPED: 3}.get(sub.status, 0)
    want = STATUS_RANK.get(update.status)
    if want is None:
        said = f" ({update.message})" if update.message else ""
        return _ignored(f"{sub.reference}: unknown status {update.status!r}{said}",
                        sub.workspace_id)
    if want <= have:
        return _ignored(f"{sub.reference}: {update.status} is not after {sub.status} "
                        "(duplicate or late)", sub.workspace_id)
    if update.status not in ("accepted", "in_production"):
        return _ignored(f"{sub.reference}: {update.status} without a shipment",
                        sub.workspace_id)
    sub.status = update.status
    sub.external_id = sub.external_id or update.external_id
    if update.status == "in_production":
        sub.production_started_at = sub.production_started_at or now
    sub.lease_until = None
    sub.save()
    order_services.record_event(
        order=sub.order, type=f"fulfillment.{update.status}", actor=actor,
        message=f"{sub.provider.name}: {sub.reference} {update.status.replace('_', ' ')}.",
        data={"submission_id": sub.pk, "reference": sub.reference})
    return WebhookResult.APPLIED, f"{sub.reference} {update.status}", sub.workspace_id


def _shipment_update(sub: Submission, update: ProviderUpdate, *, actor, now) -> tuple:
    remote = _with_lines(sub, update.shipment)
    status = remote.status or update.status
    if status not in SHIPMENT_RANK or status == ShipmentStatus.PENDING:
        return _ignored(f"unknown shipment status {status!r}", sub.workspace_id)
    shipment = (Shipment.objects.select_for_update()
                .filter(submission=sub, external_id=remote.external_id).first()
                if remote.external_id else None)
    if shipment is None:
        shipment = (Shipment.objects.select_for_update()
                    .filter(submission=sub, external_id="", status=ShipmentStatus.PENDING)
                    .order_by("pk").first())
        if shipment is None:
            shipment = Shipment(workspace_id=sub.workspace_id, order_id=sub.order_id,
                                submission=sub)
        shipment.external_id = remote.external_id
        if remote.line_item_ids:
            quantities = {i["line_item_id"]: i["quantity"] for i in sub.items}
            shipment.items = [{"line_item_id": pk, "quantity": quantities.get(pk, 1)}
                              for pk in remote.line_item_ids if pk in quantities]
            shipment.save()
            _cover_the_rest(sub, shipment)
    if sub.status in (SubmissionStatus.PENDING, SubmissionStatus.SENDING):
        sub.status = SubmissionStatus.ACCEPTED
        sub.external_id = sub.external_id or update.external_id
        sub.save()
    return _advance_shipment(shipment, status, carrier=remote.carrier, number=remote.number,
                             url=remote.url, actor=actor, source=sub.provider.code, now=now)


def _with_lines(sub: Submission, parcel: RemoteShipment) -> RemoteShipment:
    """A provider that names SKUs, not our lines (CustomCat, Printify): map them back,
    each SKU to the first of our lines with it that no other parcel of this submission
    carries yet (compared through the adapter's `sku_key`)."""
    skus = getattr(parcel, "skus", None)
    if parcel.line_item_ids or not skus:
        return parcel
    try:
        key = registry.get(sub.adapter).client.sku_key
    except LookupError:
        key = str
    by_sku: dict[str, list[int]] = {}
    for item in sub.items:
        by_sku.setdefault(key(str(item.get("provider_sku") or "")), []).append(
            item["line_item_id"])
    taken = {i["line_item_id"] for s in Shipment.objects.filter(submission=sub).exclude(
        external_id="").exclude(external_id=parcel.external_id) for i in s.items}
    lines: list[int] = []
    for sku in skus:
        candidates = by_sku.get(sku, [])
        line = next((pk for pk in candidates if pk not in taken and pk not in lines),
                    candidates[0] if candidates else None)
        if line is not None and line not in lines:
            lines.append(line)
    return dataclasses.replace(parcel, line_item_ids=lines)


def _cover_the_rest(sub: Submission, parcel: Shipment) -> None:
    """A provider splitting one submission into parcels: the items no parcel carries yet
    wait in one pending placeholder, so the order counts them ("1 of 2 parcels shipped")
    and is not shipped before they are. A parcel that names no items carries them all."""
    shipments = list(Shipment.objects.select_for_update().filter(submission=sub)
                     .order_by("pk"))
    placeholders = [s for s in shipments if s.pk != parcel.pk and not s.external_id
                    and s.status == ShipmentStatus.PENDING]
    carried: dict[int, int] = {}
    for s in shipments:
        if s in placeholders:
            continue
        if not s.items:
            carried = None
            break
        for item in s.items:
            carried[item["line_item_id"]] = carried.get(item["line_item_id"], 0) + item[
                "quantity"]
    rest = [] if carried is None else [
        {"line_item_id": i["line_item_id"],
         "quantity": i["quantity"] - carried.get(i["line_item_id"], 0)}
        for i in sub.items if i["quantity"] > carried.get(i["line_item_id"], 0)]
    if rest and placeholders:
        placeholders[0].items = rest
        placeholders[0].save(update_fields=["items"])
        placeholders = placeholders[1:]
    elif rest:
        Shipment.objects.create(workspace_id=sub.workspace_id, order_id=sub.order_id,
                                submission=sub, items=rest)
    for extra in placeholders:  # nothing left for it to carry
        extra.delete()


def _advance_shipment(shipment: Shipment, status: str, *, carrier: str, number: str, url: str,
                      actor, source: str, now: datetime) -> tuple:
    if SHIPMENT_RANK[status] <= SHIPMENT_RANK[shipment.status]:
        return _ignored(f"shipment {shipment.external_id or shipment.pk}: {status} is not after "
                        f"{shipment.status} (duplicate or late)", shipment.workspace_id)
    was_shipped = shipment.is_shipped
    shipment.status = status
    if carrier:
        shipment.carrier = carrier[:80]
    if number:
        shipment.tracking_number = number[:128]
    checked = http_url(url, max_length=TRACKING_URL_MAX)
    if url and not checked:
        # A provider's link is kept only if it is http(s): it is shown to the seller,
        # pushed to the store and e-mailed to the buyer (a javascript: link is dropped).
        log.warning("shipment %s: tracking link from %s dropped (not http(s))", shipment.pk,
                    source)
        order_services.record_event(
            order=shipment.order, type="shipment.tracking_url_dropped", actor=actor,
            message=f"The tracking link from {source} was not a valid http(s) address and "
                    "was dropped.", data={"shipment_id": shipment.pk})
    shipment.tracking_url = (checked or shipment.tracking_url
                             or tracking_url(shipment.carrier, shipment.tracking_number))
    if status in SHIPPED_OR_LATER:
        shipment.shipped_at = shipment.shipped_at or now
    if status == ShipmentStatus.DELIVERED:
        shipment.delivered_at = shipment.delivered_at or now
    shipment.save()
    ShipmentEvent.objects.create(workspace_id=shipment.workspace_id, shipment=shipment,
                                 status=status, occurred_at=now, source=source[:32])
    order = shipment.order
    if not was_shipped and shipment.is_shipped:
        line_items = shipment.items or []
        order_services.record_event(
            order=order, type="shipment.shipped", actor=actor,
            message=f"Shipped with {shipment.carrier or 'a carrier'}: "
            f"{shipment.tracking_number or 'no tracking number'}.",
            data={"shipment_id": shipment.pk, "carrier": shipment.carrier,
                  "number": shipment.tracking_number, "url": shipment.tracking_url,
                  "line_item_ids": [i["line_item_id"] for i in line_items],
                  "line_items": line_items,
                  "provider": shipment.submission.provider.code if shipment.submission_id
                  else ""})
    elif status == ShipmentStatus.DELIVERED:
        order_services.record_event(
            order=order, type="shipment.delivered", actor=actor,
            message=f"Delivered: {shipment.tracking_number}.",
            data={"shipment_id": shipment.pk})
    _sync_order(order, actor=actor, now=now)
    return (WebhookResult.APPLIED, f"shipment {shipment.external_id or shipment.pk} {status}",
            shipment.workspace_id)


def live_shipments(order: Order) -> list[Shipment]:
    """The order's parcels, without those of submissions that failed or were cancelled."""
    return list(Shipment.objects.filter(order=order).exclude(
        submission__status__in=[SubmissionStatus.FAILED, SubmissionStatus.CANCELLED])
        .order_by("pk"))


def _sync_order(order: Order, *, actor, now: datetime) -> None:
    """Parcel by parcel: a submission is shipped when all its parcels are; the order
    when every live parcel is (so `Order.shipped_at` is the last parcel's); completed
    when every one is delivered."""
    shipments = live_shipments(order)
    by_sub: dict[int, list[Shipment]] = {}
    for s in shipments:
        if s.submission_id:
            by_sub.setdefault(s.submission_id, []).append(s)
    done = [sub_id for sub_id, parcels in by_sub.items() if all(p.is_shipped for p in parcels)]
    if done:
        Submission.objects.filter(pk__in=done).exclude(status=SubmissionStatus.SHIPPED).update(
            status=SubmissionStatus.SHIPPED)
    if not shipments or not all(s.is_shipped for s in shipments):
        return
    order_services.order_mark_shipped(order_id=order.pk, actor=actor, now=now,
                                      from_external_event=True)
    if all(s.status == ShipmentStatus.DELIVERED for s in shipments):
        order_services.order_complete(order_id=order.pk, actor=actor, now=now,
                                      from_external_event=True)


# --- by hand: manual providers (seller) and the in-house board (staff) ----------------------


def shipment_enter_tracking(*, workspace, order_id: int, shipment_id: int, carrier: str,
                            number: str, url: str = "", actor: Actor,
                            now: datetime | None = None, staff: bool = False) -> Shipment:
    """Carrier + tracking typed in: the seller for a manual provider, staff for the
    in-house factory."""
    now = now or timezone.now()
    carrier, number, url = (carrier or "").strip(), (number or "").strip(), (url or "").strip()
    errors = {}
    if not carrier:
        errors["carrier"] = "Name the carrier."
    if not number:
        errors["number"] = "Enter the tracking number."
    if url and not http_url(url, max_length=TRACKING_URL_MAX):
        errors["url"] = "Enter the tracking link as a full https:// address."
    if errors:
        raise ValidationFailed("Carrier and tracking number are needed.", fields=errors)
    with transaction.atomic():
        shipment = (Shipment.objects.select_for_update(of=("self",))
                    .select_related("submission")
                    .filter(workspace=workspace, order_id=order_id, pk=shipment_id).first())
        if shipment is None:
            raise NotFound("No such shipment in this workspace.")
        allowed = {Adapter.MANUAL} | ({Adapter.OWN} if staff else set())
        if shipment.submission is None or shipment.submission.adapter not in allowed:
            raise Conflict("This provider sends its own tracking; it cannot be typed in.")
        if shipment.is_shipped:
            raise Conflict("This shipment already has its tracking.")
        _advance_shipment(shipment, ShipmentStatus.SHIPPED, carrier=carrier, number=number,
                          url=url, actor=actor, source="staff" if staff else "seller", now=now)
    return shipment


def board_mark_in_production(*, submission_ids: list[int], user,
                             now: datetime | None = None) -> int:
    """Staff, production board: these in-house orders are being made."""
    now = now or timezone.now()
    done = 0
    with scopes_disabled():
        for sub in Submission.objects.filter(pk__in=submission_ids, adapter=Adapter.OWN,
                                             status=SubmissionStatus.ACCEPTED):
            with scope(workspace=sub.order.workspace), transaction.atomic():
                sub = Submission.objects.select_for_update().get(pk=sub.pk)
                if sub.status != SubmissionStatus.ACCEPTED:
                    continue
                sub.status = SubmissionStatus.IN_PRODUCTION
                sub.production_started_at = now
                sub.save()
                order_services.record_event(
                    order=sub.order, type="fulfillment.in_production", actor=Actor.staff(user),
                    message=f"In production at the PodHub factory ({sub.reference}).",
                    data={"submission_id": sub.pk})
                done += 1
    return done


def board_mark_shipped(*, submission_ids: list[int], carrier: str, numbers: dict[int, str],
                       user, now: datetime | None = None) -> int:
    """Staff, production board: these parcels left, each with its own tracking number."""
    done = 0
    with scopes_disabled():
        subs = list(Submission.objects.filter(pk__in=submission_ids, adapter=Adapter.OWN)
                    .select_related("order__workspace"))
    for sub in subs:
        number = (numbers.get(sub.pk) or "").strip()
        if not number:
            continue
        with scope(workspace=sub.order.workspace):
            shipment = Shipment.objects.filter(submission=sub,
                                               status=ShipmentStatus.PENDING).first()
            if shipment is None:
                continue
            shipment_enter_tracking(workspace=sub.order.workspace, order_id=sub.order_id,
                                    shipment_id=shipment.pk, carrier=carrier, number=number,
                                    actor=Actor.staff(user), now=now, staff=True)
            done += 1
    return done


# --- completion -------------------------------------------------------------------------------


def complete_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Shipped orders whose LAST parcel is out for N days are completed (a parcel that
    left later than the order's shipped_at, or one still waiting, keeps it open)."""
    now = now or timezone.now()
    days = complete_after_days()
    cutoff = now - timedelta(days=days)
    done = 0
    with scopes_disabled(), transaction.atomic():
        live = Shipment.objects.filter(order=OuterRef("pk")).exclude(
            submission__status__in=[SubmissionStatus.FAILED, SubmissionStatus.CANCELLED])
        recent = live.filter(Q(shipped_at__gt=cutoff) | Q(shipped_at__isnull=True))
        ids = list(Order.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(state=OrderState.SHIPPED, shipped_at__lte=cutoff)
                   .filter(~Exists(recent))
                   .order_by("shipped_at").values_list("pk", flat=True)[:limit])
        for order_id in ids:
            order_services.order_complete(
                order_id=order_id, actor=Actor.system("Completion sweep"), now=now)
            done += 1
    return done


__all__ = ["LIVE", "Conflict", "apply_update", "board_mark_in_production", "board_mark_shipped",
           "complete_sweep", "live_shipments", "shipment_enter_tracking", "tracking_url",
           "webhook_process", "webhook_receive", "webhook_sweep"]
