"""Orders coming in: a store's import (webhook, import job, reconciliation), an outside
order entered by hand or through the API, a CSV file (docs/csv-import.md)."""

from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import hooks, inputs, states
from orders.csv_import import CsvImportReport
from orders.events import Actor
from orders.models import LineItem, Order, OrderState, Platform, Store, SubmitMode
from orders.services.holds import _hold_for_data
from orders.services.pricing import order_mark_priced
from orders.services.rows import _ORDER_VALUES, _line_item, search_text_for
from orders.services.store_changes import _apply_store_version
from orders.services.timeline import NewEvent, record_event, record_events
from podhub.core.exceptions import Conflict, NotFound, PodhubError, ValidationFailed

S = OrderState

OUTSIDE_STORE_NAME = "Outside orders"


def outside_store(workspace) -> Store:
    """The workspace's own "Outside orders" store (platform manual), made on first use."""
    store = Store.objects.filter(workspace=workspace, is_outside_default=True).first()
    if store is not None:
        return store
    try:
        with transaction.atomic():
            return Store.objects.create(
                workspace=workspace, name=OUTSIDE_STORE_NAME, platform=Platform.MANUAL,
                currency=workspace.billing_currency or "USD", submit_mode=SubmitMode.MANUAL,
                is_outside_default=True,
            )
    except IntegrityError:  # made by a concurrent request
        return Store.objects.get(workspace=workspace, is_outside_default=True)


def _create_order(*, workspace, store: Store, inp: inputs.OrderInput, actor: Actor,
                  auto_submit: bool, event_type: str, source: str, now: datetime) -> Order:
    """Insert the order and its lines (call inside transaction.atomic)."""
    order = _new_order(workspace=workspace, store=store, inp=inp, auto_submit=auto_submit,
                       now=now)
    order.save(force_insert=True)
    LineItem.objects.bulk_create([_line_item(order, line) for line in inp.lines_to_make])
    record_event(**_intake_event(order, store=store, inp=inp, actor=actor,
                                 event_type=event_type, source=source))
    return _after_create(order, inp, actor=actor, now=now)


def _new_order(*, workspace, store: Store, inp: inputs.OrderInput, auto_submit: bool,
               now: datetime) -> Order:
    return Order(
        workspace=workspace, store=store, external_id=inp.external_id,
        state=S.IN_QUOTATION, auto_submit=auto_submit, placed_at=inp.placed_at or now,
        store_updated_at=inp.updated_at, store_paid=inp.store_paid,
        data_problems=inp.problems,
        search_text=search_text_for(number=inp.number, buyer_name=inp.buyer_name,
                                    buyer_email=inp.buyer_email, skus=inp.skus),
        **{name: getattr(inp, attr) for name, attr in _ORDER_VALUES.items()},
    )


def _intake_event(order: Order, *, store: Store, inp: inputs.OrderInput, actor: Actor,
                  event_type: str, source: str) -> dict:
    """The order.imported / order.created entry of a new order (record_event's arguments)."""
    lines = inp.lines_to_make
    how = "Imported from" if event_type == "order.imported" else "Entered in"
    via = f" ({inp.channel})" if inp.channel else ""
    unpaid = "" if inp.store_paid else " Waiting for the buyer's payment in the store."
    skipped = [ln for ln in inp.lines if ln.fulfilled_quantity]
    done = (" Already fulfilled in the store, not made again: "
            + ", ".join(f"{ln.fulfilled_quantity} × {ln.title}" for ln in skipped) + "."
            if skipped else "")
    return {"order": order, "type": event_type, "actor": actor, "to_state": S.IN_QUOTATION,
            "message": f"{how} {store.name}{via}.{unpaid}{done}",
            "data": {"source": source, "lines": len(lines), "store_paid": inp.store_paid,
                     **({"fulfilled_in_store": {ln.external_id or ln.title:
                                                ln.fulfilled_quantity for ln in skipped}}
                        if skipped else {})}}


def _after_create(order: Order, inp: inputs.OrderInput, *, actor: Actor,
                  now: datetime) -> Order:
    """What a new order's own data decides at once: a hold for its data problems, and
    the price when every line is a catalog product."""
    lines = inp.lines_to_make
    if inp.problems:
        _hold_for_data(order, inp.problems, actor=actor, now=now)
    if lines and all(line.catalog_variant_id for line in lines):
        order = order_mark_priced(order_id=order.pk, actor=Actor.system("Catalog"), now=now)
    return order


def _require_store(workspace, store: Store) -> None:
    if store.workspace_id != workspace.pk:
        raise NotFound("No such store in this workspace.")


class NothingToMake(PodhubError):
    """The store still has this order, but wants nothing made of it."""

    code = "nothing_to_make"


def skip_by_rules(store: Store, inp: inputs.OrderInput) -> inputs.OrderInput:
    """The seller's "skip import" rules (orders.hooks import filters) on an order new to
    PodHub, however it comes in (store, CSV, API, the dashboard): the input without the
    items they skip; NothingToMake when they skip it all."""
    inp, skipped = hooks.filter_import(store, inp)
    if skipped and not inp.lines_to_make:
        raise NothingToMake(f"Not imported: {skipped}")
    return inp


def order_import(*, workspace, store: Store, data: dict, actor: Actor,
                 now: datetime | None = None) -> tuple[Order, bool]:
    """Create or update the store's order `data["external_id"]`; True when it was created.

    Idempotent: an order is unique per (store, external_id), so importing twice
    never makes two orders. A version with an `updated_at` not newer than the
    one already applied changes nothing. Nothing is refused for its data: a
    missing address, e-mail or SKU imports the order on hold with the reasons
    (`Order.data_problems`). Only lines with something left to make are made
    (`fulfilled_quantity`); an order with nothing left raises NothingToMake when
    it is new. A change before submission is applied, mapped, priced and held
    again in this transaction (docs/store-truth.md "Store edits"); after submission
    it flags the order instead.

    `store_paid` only ever moves from False to True (order.store_paid on the
    timeline), whatever the version: the buyer's payment is a fact a late
    delivery may still bring, and an update that omits it or says False never
    takes it back.
    """
    now = now or timezone.now()
    _require_store(workspace, store)
    inp = inputs.validate_order_input(data, default_currency=store.currency, lenient=True)
    # A paid order's balance is locked before its row (billing's lock order), so a
    # store edit and a payment of the same workspace never wait on each other.
    paid = (Order.objects.filter(workspace_id=store.workspace_id, store=store,
                                 external_id=inp.external_id)
            .values_list("state", "return_state").first())
    money_first = paid is not None and _paid_unsubmitted(*paid)
    if paid is None:  # new here: rules may skip it or some of its items (hooks)
        inp = skip_by_rules(store, inp)
    try:
        return _import_locked(workspace, store, inp, actor=actor, now=now,
                              money_first=money_first)
    except _LockMoneyFirst:
        return _import_locked(workspace, store, inp, actor=actor, now=now, money_first=True)


def orders_import(*, workspace, store: Store, items: list[dict], actor: Actor,
                  now: datetime | None = None) -> list:
    """order_import for many orders of one store (a bulk import's batch), with the same
    outcome for each: a list in the order of `items`, each (order, created) or the
    exception order_import would have raised for it (NothingToMake, ValidationFailed;
    anything else is raised, as order_import does).

    The orders new to PodHub are made together — the existence check, the seller's
    import filters, the orders, their lines and their order.imported events in one query
    each (every event still reaches every subscriber; one message per subscription
    for the batch) — under one savepoint:
    if a concurrent import made one of them meanwhile (the unique constraint), none of
    them is made that way and each goes through order_import. An order PodHub already
    has, or one named twice, goes through order_import after the new ones, in turn."""
    now = now or timezone.now()
    _require_store(workspace, store)
    results: list = [None] * len(items)
    fresh: dict[int, inputs.OrderInput] = {}
    single: list[int] = []
    for i, data in enumerate(items):
        try:
            fresh[i] = inputs.validate_order_input(data, default_currency=store.currency,
                                                   lenient=True)
        except ValidationFailed as exc:
            results[i] = exc
    known = set(Order.objects.filter(
        workspace_id=store.workspace_id, store=store,
        external_id__in={inp.external_id for inp in fresh.values()},
    ).values_list("external_id", flat=True)) if fresh else set()
    seen: set[str] = set()
    for i, inp in list(fresh.items()):
        if inp.external_id in known or inp.external_id in seen:
            del fresh[i]
            single.append(i)
        else:
            seen.add(inp.external_id)
    to_make: dict[int, inputs.OrderInput] = {}
    for (i, _), (inp, skipped) in zip(fresh.items(),
                                      hooks.filter_imports(store, list(fresh.values())),
                                      strict=True):
        if skipped and not inp.lines_to_make:
            results[i] = NothingToMake(f"Not imported: {skipped}")
        elif not inp.lines_to_make:
            results[i] = NothingToMake("Nothing left to make: every item was removed, "
                                       "refunded or fulfilled in the store.")
        else:
            to_make[i] = inp
    try:
        with transaction.atomic():
            made = _create_orders(workspace=workspace, store=store, inps=to_make,
                                  actor=actor, now=now)
        for i, order in made.items():
            results[i] = (order, True)
    except IntegrityError:  # a concurrent import made one of them: one by one
        single.extend(to_make)
    for i in sorted(single):
        try:
            results[i] = order_import(workspace=workspace, store=store, data=items[i],
                                      actor=actor, now=now)
        except (NothingToMake, ValidationFailed) as exc:
            results[i] = exc
    return results


def _create_orders(*, workspace, store: Store, inps: dict[int, inputs.OrderInput],
                   actor: Actor, now: datetime) -> dict[int, Order]:
    """_create_order for many new store orders (call inside transaction.atomic): one
    INSERT for the orders (their ids come back on PostgreSQL and SQLite alike), one for
    their lines, one for their order.imported events (each subscription rung once for
    them all: events.dispatch `batch`)."""
    if not inps:
        return {}
    keys = list(inps)
    orders = Order.objects.bulk_create([
        _new_order(workspace=workspace, store=store, inp=inps[i],
                   auto_submit=store.auto_submits, now=now) for i in keys])
    for order in orders:
        order.store = store  # as Order.objects.create leaves it: no query to reach it
    LineItem.objects.bulk_create([_line_item(order, line)
                                  for order, i in zip(orders, keys, strict=True)
                                  for line in inps[i].lines_to_make])
    record_events([NewEvent(**_intake_event(order, store=store, inp=inps[i], actor=actor,
                                            event_type="order.imported",
                                            source=store.platform))
                   for order, i in zip(orders, keys, strict=True)], batch=True)
    return {i: _after_create(order, inps[i], actor=actor, now=now)
            for order, i in zip(orders, keys, strict=True)}


class _LockMoneyFirst(Exception):
    """The order was paid meanwhile: start again, locking the balance first."""

def _paid_unsubmitted(state: str, return_state: str) -> bool:
    effective = return_state if state == S.ON_HOLD else state
    return effective in states.PAID_UNSUBMITTED


def _import_locked(workspace, store: Store, inp: inputs.OrderInput, *, actor: Actor,
                   now: datetime, money_first: bool) -> tuple[Order, bool]:
    money = hooks.edit_money()
    lock = money.lock(store.workspace_id) if money_first and money else nullcontext()
    with transaction.atomic(), lock as book:
        order = _lock_by_external_id(store, inp.external_id)
        if order is None:
            if not inp.lines_to_make:
                raise NothingToMake("Nothing left to make: every item was removed, refunded "
                                    "or fulfilled in the store.")
            try:
                with transaction.atomic():
                    order = _create_order(
                        workspace=workspace, store=store, inp=inp, actor=actor,
                        auto_submit=store.auto_submits, event_type="order.imported",
                        source=store.platform, now=now,
                    )
                return order, True
            except IntegrityError:  # a concurrent import of the same order won
                order = _lock_by_external_id(store, inp.external_id)
                if order is None:
                    raise
        if money is not None and not money_first and _paid_unsubmitted(order.state,
                                                                       order.return_state):
            raise _LockMoneyFirst
        _apply_store_paid(order, inp, actor=actor)
        _apply_store_version(order, inp, actor=actor, now=now, book=book)
        return order, False


def _apply_store_paid(order: Order, inp: inputs.OrderInput, *, actor: Actor) -> None:
    if order.store_paid or not (inp.store_paid_given and inp.store_paid):
        return
    order.store_paid = True
    order.save(update_fields=["store_paid", "updated_at"])
    record_event(order=order, type="order.store_paid", actor=actor,
                 message="The buyer paid in the store: the order can be paid now.")


def _lock_by_external_id(store: Store, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",)).select_related("store")
        .filter(workspace_id=store.workspace_id, store=store, external_id=external_id)
        .first()
    )


def _outside_store_for(workspace, store: Store | None) -> Store:
    if store is None:
        return outside_store(workspace)
    _require_store(workspace, store)
    if store.platform != Platform.MANUAL:
        message = (f"{store.name} is a {store.get_platform_display()} store: its orders are "
                   "imported from the store. Enter outside orders in an outside-source store.")
        raise ValidationFailed(message, fields={"store": message})
    return store


def order_create_manual(*, workspace, data: dict, actor: Actor,
                        store: Store | None = None) -> Order:
    """An order from an outside source (Etsy, Amazon, ...), entered by the seller.

    Never auto-submitted: the seller checks the personalisation and submits by
    hand. Bad input raises ValidationFailed with per-field reasons; an order
    number already used in that store raises Conflict.
    """
    now = timezone.now()
    store = _outside_store_for(workspace, store)
    inp = inputs.validate_order_input(data, default_currency=store.currency,
                                      require_sku=True, require_number=True)
    existing = Order.objects.filter(workspace=workspace, store=store,
                                    external_id=inp.external_id).only("id").first()
    if existing is not None:
        raise _duplicate(inp, store, existing.pk)
    try:
        inp = skip_by_rules(store, inp)
    except NothingToMake as exc:  # the seller's own rule: say which, change nothing
        raise ValidationFailed(exc.message, fields={"line_items": exc.message}) from None
    try:
        with transaction.atomic():
            return _create_order(workspace=workspace, store=store, inp=inp, actor=actor,
                                 auto_submit=False, event_type="order.created",
                                 source="manual", now=now)
    except IntegrityError:
        raise _duplicate(inp, store, None) from None


def _duplicate(inp: inputs.OrderInput, store: Store, order_id: int | None) -> Conflict:
    message = f"Order {inp.number} already exists in {store.name}."
    return Conflict(message, order_id=order_id, fields={"number": message})


def csv_import(*, workspace, file, actor: Actor, store: Store | None = None) -> CsvImportReport:
    """Import outside-source orders from a CSV (docs/csv-import.md) in this process.

    The dashboard and the API queue the same work as a job instead
    (orders/csv_jobs.py: CsvImport, a task, progress); this runs that job
    inline and returns its report. File-level problems (over 5 MB, not UTF-8,
    required columns missing) raise ValidationFailed and import nothing.
    """
    from orders import csv_jobs  # built on this module's order creation

    return csv_jobs.csv_import(workspace=workspace, file=file, actor=actor, store=store)
