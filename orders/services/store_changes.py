"""What changed in the store: a newer version of an imported order (docs/store-truth.md
"Store edits"). Before submission it is applied, mapped, priced and held again; after
submission the order is flagged and the seller told instead."""

import hashlib
import logging
from datetime import datetime
from decimal import Decimal

from orders import hooks, inputs, states
from orders.events import Actor
from orders.models import CancelReason, LineItem, Order, OrderEvent, OrderState
from orders.services.emails import _email_seller
from orders.services.holds import _sync_data_hold
from orders.services.moves import IllegalTransition, _cancel, _move
from orders.services.pricing import _run_loss_guard, order_mark_priced
from orders.services.rows import _ORDER_VALUES, UNMAPPED_REASON, _line_item, search_text_for
from orders.services.timeline import record_event

log = logging.getLogger(__name__)
S = OrderState


def _identity(line: LineItem | inputs.LineInput) -> tuple:
    """What the catalog maps by: a change re-maps the line."""
    return (line.sku, line.store_variant_id, line.store_product_id)


def _match_lines(current: list[LineItem], incoming: list[inputs.LineInput]):
    """Pair incoming lines with current ones (by external id, else SKU + variant);
    -> [(incoming, current or None)], [current left over]."""
    unmatched = list(current)
    pairs = []
    for want in incoming:
        have = next((c for c in unmatched if want.external_id and
                     c.external_id == want.external_id), None)
        if have is None:
            have = next((c for c in unmatched if not want.external_id and
                         (c.sku, c.store_variant_id) == (want.sku, want.store_variant_id)),
                        None)
        if have is not None:
            unmatched.remove(have)
        pairs.append((want, have))
    return pairs, unmatched


def _line_changes(current: list[LineItem], incoming: list[inputs.LineInput], *,
                  locked: bool) -> list[dict]:
    """What the store changed in the items, in words a seller reads and as data.

    Before submission the lines compared are what is left to make; after it, the
    store's current quantities (a fulfillment PodHub pushed itself is no change)."""
    changes: list[dict] = []
    pairs, removed = _match_lines(current, incoming)
    for want, have in pairs:
        qty = want.quantity if locked else want.to_make
        if have is None:
            if qty > 0:
                changes.append({"change": "added", "title": want.title, "sku": want.sku,
                                "to": qty})
            continue
        had = (have.store_quantity or have.quantity) if locked else have.quantity
        if _identity(have) != _identity(want):
            changes.append({"change": "variant", "title": want.title, "from_sku": have.sku,
                            "sku": want.sku, "from_variant": have.variant_title,
                            "variant": want.variant_title, "to": qty, "line_id": have.pk})
        elif had != qty:
            changes.append({"change": "quantity", "title": want.title, "sku": want.sku,
                            "from": had, "to": qty, "line_id": have.pk})
        elif not locked and _line_key(have) != _line_key(want):
            changes.append({"change": "details", "title": want.title, "sku": want.sku,
                            "line_id": have.pk})
    for have in removed:
        changes.append({"change": "removed", "title": have.title, "sku": have.sku,
                        "from": have.quantity, "line_id": have.pk})
    return changes


def _describe(change: dict) -> str:
    what = change["title"]
    kind = change["change"]
    if kind == "added":
        return f"{what} added (× {change['to']})"
    if kind == "removed":
        return f"{what} removed (was × {change['from']})"
    if kind == "quantity":
        return f"{what} × {change['from']} → × {change['to']}"
    if kind == "variant":
        before = change.get("from_variant") or change.get("from_sku") or "?"
        after = change.get("variant") or change.get("sku") or "?"
        return f"{what} changed from {before} to {after}"
    return f"{what}: details changed"


def _line_key(line: LineItem | inputs.LineInput) -> tuple:
    if isinstance(line, LineItem):
        return (line.external_id, line.store_product_id, line.store_variant_id, line.sku,
                line.title, line.variant_title, Decimal(line.unit_price_amount),
                Decimal(line.discount_amount), line.personalization, line.images)
    return (line.external_id, line.store_product_id, line.store_variant_id, line.sku,
            line.title, line.variant_title, line.unit_price, line.discount,
            line.personalization, line.images)


def _replace_lines(order: Order, current: list[LineItem],
                   incoming: list[inputs.LineInput]) -> None:
    """Make the order's lines what the store still wants: matched lines are updated in
    place (their catalog mapping kept unless the SKU or variant changed — then it is
    mapped again), the rest deleted, new ones added."""
    pairs, unmatched = _match_lines(current, [ln for ln in incoming if ln.to_make > 0])
    keep: list[LineItem] = []
    new: list[LineItem] = []
    for want, have in pairs:
        if have is None:
            new.append(_line_item(order, want))
            continue
        fresh = _line_item(order, want)
        if want.catalog_variant_given:
            mapped = want.catalog_variant_id
        elif _identity(have) != _identity(want):
            mapped = None  # another product now: map it again (a colour swap)
            fresh.price_snapshot = {}
        else:
            mapped = have.catalog_variant_id
            fresh.price_snapshot = have.price_snapshot
        fresh.pk, fresh.catalog_variant_id, fresh.created_at = have.pk, mapped, have.created_at
        fresh.unmapped_reason = "" if mapped else UNMAPPED_REASON
        keep.append(fresh)
    if unmatched:
        LineItem.objects.filter(pk__in=[c.pk for c in unmatched]).delete()
    for line in keep:
        line.save()
    LineItem.objects.bulk_create(new)


def _apply_store_version(order: Order, inp: inputs.OrderInput, *, actor: Actor,
                         now: datetime, book=None) -> None:
    if inp.updated_at and order.store_updated_at and inp.updated_at <= order.store_updated_at:
        log.info("order %s: ignored store version %s (have %s)", order.pk, inp.updated_at,
                 order.store_updated_at)
        return
    if inp.updated_at:
        order.store_updated_at = inp.updated_at
    current = list(LineItem.objects.filter(order=order).order_by("id"))
    locked = order.is_locked or order.state == S.SHIPPED
    if not locked:
        _keep_seller_fixes(order, current, inp)
    changed = [name for name, attr in _ORDER_VALUES.items()
               if _differs(getattr(order, name), getattr(inp, attr))]
    line_changes = _line_changes(current, inp.lines, locked=locked)
    if line_changes:
        changed.append("line_items")
    nothing = not changed and (locked or inp.problems == order.data_problems)
    if order.state == S.CANCELLED or nothing:
        if inp.updated_at:
            order.save(update_fields=["store_updated_at", "updated_at"])
        return
    if locked:
        _flag_store_change(order, changed, line_changes, actor=actor)
        return
    for name, attr in _ORDER_VALUES.items():
        setattr(order, name, getattr(inp, attr))
    if line_changes:
        _replace_lines(order, current, inp.lines)
    order.data_problems = inp.problems
    order.search_text = search_text_for(number=inp.number, buyer_name=inp.buyer_name,
                                        buyer_email=inp.buyer_email, skus=inp.skus)
    order.save()
    said = [_describe(c) for c in line_changes] + [
        n.replace("_amount", "").replace("_", " ") for n in changed if n != "line_items"]
    record_event(order=order, type="order.updated", actor=actor,
                 message="Updated from the store: " + "; ".join(said) + "." if said else
                 "Updated from the store.",
                 data={"fields": changed, "lines": line_changes})
    if not inp.lines_to_make:
        _cancel(order, reason=CancelReason.STORE, actor=actor, now=now,
                note="Nothing left to make: every item was removed, refunded or fulfilled "
                "in the store.")
        return
    if line_changes or "shipping_address" in changed:
        _after_store_edit(order, book=book, now=now)
    _sync_data_hold(order, actor=actor, now=now)


def _keep_seller_fixes(order: Order, current: list[LineItem], inp: inputs.OrderInput) -> None:
    """A store version that still lacks what the seller filled in PodHub (an address, an
    e-mail, a SKU) keeps the seller's value instead of blanking it again."""
    problems = dict(inp.problems)
    if any(k.startswith("shipping_address") for k in problems) and order.shipping_address \
            and not any(k.startswith("shipping_address") for k in order.data_problems):
        inp.shipping_address = dict(order.shipping_address)
        problems = {k: v for k, v in problems.items() if not k.startswith("shipping_address")}
    if "buyer_email" in problems and order.buyer_email:
        inp.buyer_email = order.buyer_email
        problems.pop("buyer_email")
    pairs, _ = _match_lines(current, inp.lines)
    for i, (want, have) in enumerate(pairs):
        if have is not None and not want.sku and have.sku and not (
                want.store_product_id or want.store_variant_id):
            want.sku = have.sku
            problems.pop(f"line_items.{i}.sku", None)  # pairs follow inp.lines
    inp.problems = problems


def _differs(have, want) -> bool:
    if isinstance(want, Decimal):
        return Decimal(have) != want
    if isinstance(want, dict):
        return {k: v for k, v in (have or {}).items() if v not in ("", None)} != \
            {k: v for k, v in want.items() if v not in ("", None)}
    return have != want


def _flag_store_change(order: Order, changed: list[str], line_changes: list[dict], *,
                       actor: Actor) -> None:
    """After submission a store change is never applied: the order is flagged and the
    seller told, once per distinct change."""
    said = [_describe(c) for c in line_changes] + [
        n.replace("_amount", "").replace("_", " ") for n in changed if n != "line_items"]
    digest = hashlib.sha256("|".join(sorted(said)).encode()).hexdigest()[:16]
    last = (OrderEvent.objects.filter(order=order, type="order.store_change_after_submission")
            .order_by("-pk").values_list("data", flat=True).first()) or {}
    order.needs_attention = "Changed in the store after it went to production."
    order.save(update_fields=["store_updated_at", "needs_attention", "updated_at"])
    if last.get("digest") == digest:
        return
    text = "; ".join(said)
    record_event(order=order, type="order.store_change_after_submission", actor=actor,
                 message=f"Changed in the store after it went to production ({text}); the "
                 "order was not changed.",
                 data={"fields": changed, "lines": line_changes, "digest": digest})
    _email_seller(order, subject=f"Order {order.number} changed in the store",
                  body=f"The order was changed in the store after it went to production "
                  f"({text}). PodHub kept the submitted version; check with the provider "
                  "whether the change can still be made, or cancel it there.")


def _after_store_edit(order: Order, *, book, now: datetime) -> None:
    """Map, price and hold again what the store changed (docs/store-truth.md "Store edits")."""
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    lines = list(LineItem.objects.filter(order=order).order_by("pk"))
    if effective == S.IN_QUOTATION:
        # the catalog maps it after commit (order.updated), as a new order
        if lines and all(line.catalog_variant_id for line in lines):
            order_mark_priced(order_id=order.pk, actor=Actor.system("Catalog"), now=now)
        return
    reasons = hooks.map_lines(order, lines) or {}
    catalog = Actor.system("Catalog")
    if effective in states.PAID_UNSUBMITTED:
        money = hooks.edit_money()
        rep = None
        if money is not None:
            rep = money.reprice(order, book=book, priced=not reasons,
                                version=(order.store_updated_at or now).isoformat(), now=now)
        if reasons:
            _go_back(order, S.IN_QUOTATION, actor=catalog, now=now,
                     message=_unpriced_text(reasons, lines)
                     + (f" {rep.message}" if rep else ""),
                     data={"reasons": {str(k): v for k, v in reasons.items()},
                           **(rep.data if rep else {})})
        elif rep is not None and not rep.funded:
            _go_back(order, S.TO_ORDER, actor=Actor.system("Balance"), now=now,
                     message=rep.message, data=rep.data)
        elif rep is not None:
            record_event(order=order, type="order.repriced", actor=Actor.system("Balance"),
                         message=rep.message, data=rep.data)
    elif reasons:  # to_order
        _go_back(order, S.IN_QUOTATION, actor=catalog, now=now,
                 message=_unpriced_text(reasons, lines),
                 data={"reasons": {str(k): v for k, v in reasons.items()}})
    if order.state in (S.TO_ORDER, S.AWAITING_SUBMISSION):
        _run_loss_guard(order, now=now)


def _unpriced_text(reasons: dict[int, str], lines: list[LineItem]) -> str:
    titles = {line.pk: line.title for line in lines}
    return "Not priced after the store's change: " + "; ".join(
        f"{titles.get(pk, 'an item')}: {why}" for pk, why in reasons.items()) + "."


def _go_back(order: Order, to: str, *, actor: Actor, message: str, data: dict,
             now: datetime) -> None:
    """A store edit sends the order back (states.STORE_EDIT_BACK); a held order stays
    held and returns there when released."""
    event = "order.unpriced" if to == S.IN_QUOTATION else "order.unpaid"
    if to != S.AWAITING_SUBMISSION:
        order.submit_at = None
        order.paid_at = None
    if order.state == S.ON_HOLD:
        previous = order.return_state
        order.return_state = to
        order.save()
        record_event(order=order, type=event, actor=actor, message=message,
                     data={"while_held": True, "from_state": previous, "to_state": to,
                           **data})
        return
    if to not in states.STORE_EDIT_BACK.get(order.state, frozenset()):
        raise IllegalTransition(order=order, requested=to)
    _move(order, to, actor=actor, type=event, message=message, data=data, now=now)
