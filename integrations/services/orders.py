"""Apply one version of a store order to PodHub, whatever brought it (webhook, import, sweep).

Ordered by the store's `updated_at`: the StoreOrderRecord row (locked) keeps the
newest version seen, so an older delivery arriving late changes nothing, even
for an order PodHub never imported (a cancelled order stays cancelled).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.models import StoreConnection, StoreOrderRecord
from integrations.shopify.mapping import StoreFacts
from orders import services as order_services
from orders.events import Actor
from orders.models import Order

log = logging.getLogger(__name__)


def _moment(value: str) -> datetime | None:
    try:
        return parse_datetime(value) if value else None
    except ValueError:
        return None


def _lock_record(conn: StoreConnection, external_id: str) -> StoreOrderRecord:
    rec = (StoreOrderRecord.objects.select_for_update(of=("self",)).select_related("order")
           .filter(connection=conn, external_id=external_id).first())
    if rec is not None:
        return rec
    try:
        with transaction.atomic():
            return StoreOrderRecord.objects.create(workspace_id=conn.workspace_id,
                                                   connection=conn, external_id=external_id)
    except IntegrityError:
        return (StoreOrderRecord.objects.select_for_update(of=("self",)).select_related("order")
                .get(connection=conn, external_id=external_id))


def apply_store_order(*, connection: StoreConnection, data: dict, facts: StoreFacts,
                      label: str = "Shopify", now: datetime | None = None) -> str:
    """Create, update or cancel the PodHub order; return what happened (one word).

    'created', 'updated', 'cancelled', 'unchanged' (same version again), 'stale' (older
    than what was applied), 'skipped:<why>'. Raises
    ValidationFailed when the store's order cannot be read (kept on the inbox row).
    """
    now = now or timezone.now()
    updated_at = _moment(facts.updated_at)
    actor = Actor.store(label)
    if getattr(facts, "nothing_left", False):
        # the store wants nothing made (every line removed, refunded or fulfilled, or
        # the whole order refunded): a new order is skipped, an unsubmitted one
        # cancelled, a submitted one flagged (orders.services.order_import)
        data = {**data, "line_items": []}
    with transaction.atomic():
        rec = _lock_record(connection, facts.external_id)
        if updated_at and rec.store_updated_at and updated_at < rec.store_updated_at:
            return "stale"
        same_version = bool(updated_at and rec.store_updated_at
                            and updated_at == rec.store_updated_at)
        rec.store_updated_at = updated_at or rec.store_updated_at
        rec.financial_status = facts.financial_status or rec.financial_status
        rec.fulfilled = facts.fulfilled
        rec.cancelled = rec.cancelled or facts.cancelled
        if facts.paid and rec.paid_at is None:
            rec.paid_at = now
        order = rec.order
        if order is None:
            # Maybe imported before the record existed (or by another path).
            order = Order.objects.filter(store_id=connection.store_id,
                                         external_id=facts.external_id).first()
            rec.order = order
        outcome = "unchanged" if same_version else "updated"
        if order is None:
            if getattr(facts, "test", False):
                rec.save()
                return "skipped:test notification"
            if not facts.importable:
                why = ("fulfilled" if facts.fulfilled else "cancelled" if facts.cancelled
                       else "archived")
                rec.save()
                return f"skipped:{why}"
            data = {**data, "store_paid": facts.store_paid}
            try:
                order, created = order_services.order_import(
                    workspace=connection.workspace, store=connection.store, data=data,
                    actor=actor, now=now)
            except order_services.NothingToMake:
                rec.save()
                return "skipped:nothing left to make"
            rec.order = order
            outcome = "created" if created else "updated"
        elif rec.cancelled:
            if order.state != "cancelled":
                order_services.order_store_cancelled(
                    order_id=order.pk, actor=actor, note=f"Cancelled in the {label} store.",
                    now=now)
                outcome = "cancelled"
            elif order_services.store_cancel_awaited(order):
                # the store now shows the cancel PodHub asked for (Shopify's orderCancel
                # is a job: this is its confirmation)
                status = facts.financial_status
                refund = ("gateway" if status in ("refunded", "voided") else
                          "none" if not facts.store_paid else "pending")
                order_services.order_store_cancel_result(
                    order_id=order.pk, confirmed=True, refund=refund, now=now)
                outcome = "cancel confirmed"
            else:
                outcome = "unchanged"
        elif not same_version or (facts.store_paid and not order.store_paid):
            # orders/paid may carry the same updated_at as the version already applied:
            # order_import still takes the payment (it only flips store_paid to True).
            data = {**data, "store_paid": facts.store_paid}
            outcome = "updated"
            order_services.order_import(workspace=connection.workspace,
                                        store=connection.store, data=data, actor=actor,
                                        now=now)
        rec.save()
        return outcome
