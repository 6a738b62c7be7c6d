"""What the apps above orders record on an order's lines: where each sits in the catalog
(quotes maps them, and marks them to be mapped again when the catalog changes; a claim's
reprint copies them) and the price frozen at payment (quotes takes it, billing forgets it
when a store edit unfunds the order). Only orders writes
LineItem rows (tests/podhub/test_layers.py); these services lock the order first, as
every other write to it does (lines_map_again excepted, see there).

None of them writes a timeline entry of its own: what a person needs to see follows
from them and is written there already (order.priced, order.quote_requested,
order.unpriced, order.paid, order.unpaid, claim.reprint_created).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders.models import LineItem
from orders.services.rows import UNMAPPED_REASON
from orders.services.timeline import lock_order
from podhub.core.exceptions import NotFound


@dataclass(frozen=True)
class LineMapping:
    """A line's place in the catalog: its variant, or why it has none (shown on the line)."""

    catalog_variant_id: int | None
    unmapped_reason: str = ""


def _lines_of(order_id: int, line_ids) -> list[LineItem]:
    """The order's lines `line_ids`, under the order's row lock; an id of another order
    is refused."""
    order = lock_order(order_id)
    wanted = set(line_ids)
    lines = list(LineItem.objects.filter(order=order, pk__in=wanted).order_by("pk"))
    if len(lines) != len(wanted):
        raise NotFound("No such line item in this order.")
    return lines


@transaction.atomic
def lines_set_mapping(*, order_id: int, mapping: dict[int, LineMapping],
                      now: datetime | None = None) -> list[LineItem]:
    """Record the catalog variant of each line in `mapping` ({line id: LineMapping}), or
    why it has none. `updated_at` moves: fulfillment renders the print files of a line
    mapped since its last render."""
    now = now or timezone.now()
    lines = _lines_of(order_id, mapping)
    for line in lines:
        line.catalog_variant_id = mapping[line.pk].catalog_variant_id
        line.unmapped_reason = mapping[line.pk].unmapped_reason
        line.updated_at = now
    LineItem.objects.bulk_update(lines, ["catalog_variant_id", "unmapped_reason",
                                         "updated_at"])
    return lines


@transaction.atomic
def lines_map_again(*, lines: Q, workspace=None) -> list[int]:
    """The catalog changed (a quote, a product link, a SKU rule, staff's catalog edit): the
    lines matching `lines` that no catalog product is connected to go back to "not
    evaluated" (UNMAPPED_REASON), for the catalog to map them again. Returns the ids of
    their orders, for the caller to evaluate after commit.

    One UPDATE over many orders, without their row locks: the callers hold a quote's or a
    rule's lock, and an evaluation locks its order before the quote (quotes.services), so
    locking orders here could deadlock with one; an order an evaluation wrote meanwhile
    is evaluated again after commit, with the others."""
    qs = LineItem.objects.filter(lines).filter(catalog_variant_id__isnull=True)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    ids = sorted(set(qs.values_list("order_id", flat=True)))
    qs.update(unmapped_reason=UNMAPPED_REASON)
    return ids


@transaction.atomic
def lines_set_price_snapshot(*, order_id: int, snapshots: dict[int, dict],
                             now: datetime | None = None) -> list[LineItem]:
    """Freeze each line's price as paid ({line id: its priced breakdown}): a later change
    of the catalog price never alters a paid order (quotes.services.snapshot_order_price)."""
    now = now or timezone.now()
    lines = _lines_of(order_id, snapshots)
    for line in lines:
        line.price_snapshot = snapshots[line.pk]
        line.updated_at = now
    LineItem.objects.bulk_update(lines, ["price_snapshot", "updated_at"])
    return lines


@transaction.atomic
def lines_forget_price(*, order_id: int) -> int:
    """The order is no longer paid here: its lines' frozen prices go, and the next payment
    takes new ones. `updated_at` stays: nothing printed changed. The number of lines."""
    order = lock_order(order_id)
    return LineItem.objects.filter(order=order).update(price_snapshot={})
