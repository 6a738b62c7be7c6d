"""The seller's edits before submission: buyer, shipping address, and per line the
personalisation, images and the SKU of an item not connected to the catalog yet."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import inputs
from orders.events import Actor
from orders.models import ActorType, HoldReason, LineItem, Order, OrderState
from orders.services.holds import _release, _sync_data_hold
from orders.services.rows import UNMAPPED_REASON, _refresh_search_text
from orders.services.timeline import lock_order, record_event
from podhub.core.exceptions import Conflict, ValidationFailed

S = OrderState


class OrderLocked(Conflict):
    """The order was submitted to production and can no longer be edited."""

    code = "order_locked"


def _order_as_input(order: Order) -> dict:
    """The order as an input dict, to check its data again after an edit."""
    return {
        "external_id": order.external_id, "number": order.number,
        "buyer_name": order.buyer_name, "buyer_email": order.buyer_email,
        "shipping_address": order.shipping_address, "currency": order.currency,
        "line_items": [{"sku": ln.sku, "title": ln.title, "quantity": ln.quantity,
                        "unit_price": str(ln.unit_price_amount),
                        "store_product_id": ln.store_product_id,
                        "store_variant_id": ln.store_variant_id,
                        "catalog_variant_id": ln.catalog_variant_id}
                       for ln in LineItem.objects.filter(order=order).order_by("pk")],
    }


EDITABLE = {"buyer_name", "buyer_email", "shipping_address", "lines"}

# sku: only on a line that maps to no catalog product yet (a store's custom item)
LINE_EDITABLE = {"personalization", "images", "sku"}


def _locked_message(order: Order) -> str:
    if order.state == S.CANCELLED:
        return f"Order {order.number} is cancelled: it can no longer be edited."
    when = f" on {order.submitted_at:%Y-%m-%d}" if order.submitted_at else ""
    return (f"Order {order.number} was submitted to production{when}: personalisation, "
            "address and items can no longer be edited.")


@transaction.atomic
def order_edit(*, order_id: int, actor: Actor, changes: dict,
               now: datetime | None = None, workspace=None) -> Order:
    """The seller edits buyer, shipping address or per-line personalisation.

    `changes` holds any of buyer_name, buyer_email, shipping_address (the keys
    given replace those on the order) and lines: {line_id: {"personalization":
    [...], "images": [...]}}. A locked order raises OrderLocked. A seller's
    edit of an order held for an information request answers it: the order
    returns to where it was held from.
    """
    now = now or timezone.now()
    if not isinstance(changes, dict):
        raise ValidationFailed("Send the changes as an object.")
    order = lock_order(order_id, workspace=workspace)
    if order.is_locked:
        raise OrderLocked(_locked_message(order))
    errors = inputs.Errors()
    for key in changes:
        if key not in EDITABLE:
            errors.add(key, "This field cannot be edited. Editable: "
                       + ", ".join(sorted(EDITABLE)) + ".")
    changed: list[str] = []
    if "buyer_name" in changes:
        value = inputs.text(changes["buyer_name"], "buyer_name", errors, max_length=200)
        if value != order.buyer_name:
            order.buyer_name = value
            changed.append("buyer_name")
    if "buyer_email" in changes:
        value = inputs.email(changes["buyer_email"], "buyer_email", errors)
        if value != order.buyer_email:
            order.buyer_email = value
            changed.append("buyer_email")
    if "shipping_address" in changes:
        changed += _edit_address(order, changes["shipping_address"], errors)
    line_updates = _edit_lines(order, changes.get("lines"), errors) \
        if "lines" in changes else []
    errors.raise_if_any("The change")
    for line, fields in line_updates:
        line.save(update_fields=[*fields, "updated_at"])
        changed += [f"lines.{line.pk}.{f}" for f in fields if f != "unmapped_reason"]
    if {"buyer_name", "buyer_email"} & set(changed) or any(c.endswith(".sku") for c in changed):
        _refresh_search_text(order)
    if order.data_problems and changed:
        order.data_problems = inputs.validate_order_input(
            _order_as_input(order), default_currency=order.currency, lenient=True).problems
    order.save()
    if changed:
        record_event(order=order, type="order.edited", actor=actor,
                     message="Edited " + ", ".join(changed) + ".", data={"fields": changed})
    if (actor.type == ActorType.SELLER and order.state == S.ON_HOLD
            and order.hold_reason == HoldReason.INFO_REQUESTED):
        _release(order, actor=actor, now=now,
                 message="The seller answered the request for information by editing the "
                 "order.")
    elif changed and (order.data_problems or order.hold_reason == HoldReason.DATA_PROBLEM):
        _sync_data_hold(order, actor=actor, now=now)
    return order


def _edit_address(order: Order, value, errors: inputs.Errors) -> list[str]:
    """The keys given replace the order's; the result must be a whole valid address."""
    if not isinstance(value, dict):
        errors.add("shipping_address", "Send the address fields to change as an object.")
        return []
    current = order.shipping_address or {}
    given = {inputs.ADDRESS_ALIASES.get(k, k): v for k, v in value.items()}
    candidate = {k: v for k, v in current.items() if k in inputs.ADDRESS_FIELDS} | given
    clean = inputs.address(candidate, "shipping_address", errors)
    changed = [f"shipping_address.{k}" for k, v in clean.items() if (current.get(k) or "") != v]
    order.shipping_address = {**current, **clean}
    return changed


def _edit_lines(order: Order, value, errors: inputs.Errors) -> list[tuple[LineItem, list[str]]]:
    if not isinstance(value, dict):
        errors.add("lines", "Send {line_id: {\"personalization\": [...]}}.")
        return []
    wanted: dict[int, dict] = {}
    for raw_id, line_changes in value.items():
        try:
            wanted[int(raw_id)] = line_changes
        except (TypeError, ValueError):
            errors.add(f"lines.{raw_id}", "Not a line item id.")
    found = {line.pk: line for line in LineItem.objects.filter(order=order, pk__in=list(wanted))}
    updates = []
    for line_id, line_changes in wanted.items():
        line = found.get(line_id)
        if line is None:
            errors.add(f"lines.{line_id}", "No such line item in this order.")
            continue
        if not isinstance(line_changes, dict):
            errors.add(f"lines.{line_id}", "Send {\"personalization\": [...]}.")
            continue
        fields = []
        for key in line_changes:
            if key not in LINE_EDITABLE:
                errors.add(f"lines.{line_id}.{key}", "Editable: personalization, images, sku.")
        if "personalization" in line_changes:
            value = _keep_json_values(inputs.personalization(
                line_changes["personalization"], f"lines.{line_id}.personalization", errors),
                line.personalization)
            if value != line.personalization:
                line.personalization = value
                fields.append("personalization")
        if "images" in line_changes:
            value = inputs.images(line_changes["images"], f"lines.{line_id}.images", errors)
            if value != line.images:
                line.images = value
                fields.append("images")
        if "sku" in line_changes:
            value = inputs.text(line_changes["sku"], f"lines.{line_id}.sku", errors,
                                max_length=128)
            if line.catalog_variant_id and value != line.sku:
                errors.add(f"lines.{line_id}.sku", "This item is already connected to a "
                           "catalog product: its SKU comes from the store.")
            elif value != line.sku:
                line.sku = value
                line.unmapped_reason = UNMAPPED_REASON  # the catalog maps it again
                fields += ["sku", "unmapped_reason"]
        if fields:
            updates.append((line, fields))
    return updates


def _keep_json_values(new: list[dict], old: list[dict]) -> list[dict]:
    """A form shows an object value as its readable text; sent back unchanged, the value
    stays the object it was (a text edit replaces it)."""
    before = {p.get("key"): p.get("value") for p in old or [] if isinstance(p, dict)}
    kept = []
    for pair in new:
        was = before.get(pair["key"])
        if not isinstance(was, str) and was is not None and \
                pair["value"] == inputs.display_value(was):
            pair = {**pair, "value": was}
        kept.append(pair)
    return kept
