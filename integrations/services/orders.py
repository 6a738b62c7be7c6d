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
from podhub.core.exceptions import ValidationFailed

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
        _take_facts(rec, facts, updated_at, now)
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


def _take_facts(rec: StoreOrderRecord, facts: StoreFacts, updated_at: datetime | None,
                now: datetime) -> None:
    """What apply_store_order writes on the record for a version it applies."""
    rec.store_updated_at = updated_at or rec.store_updated_at
    rec.financial_status = facts.financial_status or rec.financial_status
    rec.fulfilled = facts.fulfilled
    rec.cancelled = rec.cancelled or facts.cancelled
    if facts.paid and rec.paid_at is None:
        rec.paid_at = now


def apply_store_orders(*, connection: StoreConnection, items: list[tuple[dict, StoreFacts]],
                       label: str = "Shopify", now: datetime | None = None) -> list:
    """apply_store_order for a batch of one store's orders (the bulk import), with the
    same outcome for each: a list in the order of `items`, each the word
    apply_store_order returns or the ValidationFailed it would have raised (the caller
    counts that order as failed; the others are kept).

    The records are made (one bulk insert that skips existing ones), locked and read in one
    query each, the orders they do not point to yet looked for in one; the orders new to
    PodHub go through orders_import together and their records are saved in one UPDATE.
    Anything else — an order PodHub already has (an update, a cancel), an older version,
    an order named twice in the batch — goes through apply_store_order after them, in
    turn, exactly as one by one."""
    now = now or timezone.now()
    actor = Actor.store(label)
    results: list = [None] * len(items)
    ids = sorted({facts.external_id for _, facts in items if facts.external_id})
    with transaction.atomic():
        if ids:
            StoreOrderRecord.objects.bulk_create(
                [StoreOrderRecord(workspace_id=connection.workspace_id, connection=connection,
                                  external_id=e) for e in ids], ignore_conflicts=True)
        # locked in id order, as every path that locks several records must
        recs = {rec.external_id: rec for rec in (
            StoreOrderRecord.objects.select_for_update(of=("self",)).select_related("order")
            .filter(connection=connection, external_id__in=ids).order_by("pk"))} if ids else {}
        orphans = [e for e, rec in recs.items() if rec.order is None]
        if orphans:  # maybe imported before the record existed (or by another path)
            for order in Order.objects.filter(store_id=connection.store_id,
                                              external_id__in=orphans):
                recs[order.external_id].order = order
        new: dict[int, StoreOrderRecord] = {}
        single: list[int] = []
        seen: set[str] = set()
        for i, (_, facts) in enumerate(items):
            rec = recs.get(facts.external_id)
            updated_at = _moment(facts.updated_at)
            if (rec is None or facts.external_id in seen or rec.order is not None
                    or getattr(facts, "test", False) or not facts.importable
                    or (updated_at and rec.store_updated_at
                        and updated_at <= rec.store_updated_at)):
                single.append(i)  # not a plain new order: as one by one
            else:
                new[i] = rec
            seen.add(facts.external_id)
        made = order_services.orders_import(
            workspace=connection.workspace, store=connection.store, actor=actor, now=now,
            items=[_import_data(*items[i]) for i in new]) if new else []
        saved: list[StoreOrderRecord] = []
        for (i, rec), got in zip(new.items(), made, strict=True):
            if isinstance(got, order_services.NothingToMake):
                results[i] = "skipped:nothing left to make"
            elif isinstance(got, Exception):  # ValidationFailed: the record stays as it was
                results[i] = got
                continue
            else:
                rec.order, created = got
                results[i] = "created" if created else "updated"
            facts = items[i][1]
            _take_facts(rec, facts, _moment(facts.updated_at), now)
            rec.updated_at = now
            saved.append(rec)
        if saved:
            StoreOrderRecord.objects.bulk_update(
                saved, ["order", "store_updated_at", "financial_status", "fulfilled",
                        "cancelled", "paid_at", "updated_at"])
        for i in single:
            data, facts = items[i]
            try:
                results[i] = apply_store_order(connection=connection, data=data, facts=facts,
                                               label=label, now=now)
            except ValidationFailed as exc:
                results[i] = exc
    return results


def _import_data(data: dict, facts: StoreFacts) -> dict:
    """The order as apply_store_order gives it to order_import."""
    if getattr(facts, "nothing_left", False):
        data = {**data, "line_items": []}
    return {**data, "store_paid": facts.store_paid}
