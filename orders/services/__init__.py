"""Every write to an order goes through here; only this package sets `Order.state`.

Each transition locks the order row, checks the guard against orders/states.py,
writes an OrderEvent, and sends follow-up work after commit. Illegal moves
raise IllegalTransition (409 in the API, a clear message in the dashboard);
late or repeated events from stores and providers change nothing.

The path, one named service per arrow of PRODUCT.md's table:

    order_import (orders_import: a batch) / order_create_manual / csv_import
                         -> in_quotation (order.imported/created)
    order_mark_priced    in_quotation -> to_order       (order.priced; then the loss guard)
    order_mark_paid      to_order -> awaiting_submission (order.paid; sets submit_at)
    order_submit         awaiting_submission -> in_production (order.submitted)
    order_mark_shipped   in_production -> shipped       (order.shipped)
    order_complete       shipped -> completed           (order.completed)
    order_hold / order_request_info   -> on_hold        (order.held.<reason>)
    order_release_hold / order_edit answering a request -> back (order.released)
    order_cancel / order_store_cancelled / order_bulk_cancel / the 48 h sweep -> cancelled

Other timeline entries: order.updated (a newer version from the store),
order.store_paid (the buyer paid the store: the order may now be paid here),
order.edited (the seller's edit, listing the fields),
order.buyer_data_redacted (order_redact_buyer: the buyer's personal data erased),
order.store_change_after_submission, order.store_cancel_after_submission,
order.progress_while_held (a provider reported progress on a held order).

The modules, lowest first (each imports only those above it in this list):

    timeline       lock_order, record_event(s): the row lock and the timeline
    emails         what the seller is told by e-mail (the outbox)
    moves          _move/_advance/_hold/_cancel: the state writes the services share
    rows           an input's Order fields and LineItem, the search text
    pricing        order_mark_priced and the loss guard
    holds          holds, information requests and their 48 h sweep, data-problem holds
    cancellations  order_cancel, the store's cancels and answers, bulk cancel
    transitions    paid, submitted (one or a batch), shipped, completed; order_transition
    lines          what higher apps record on order lines: mapping, price snapshots
    store_changes  a newer version from the store (docs/store-truth.md)
    intake         import, manual entry, CSV, the outside-orders store
    edits          the seller's edits
    privacy        the buyer's data erased

Callers use this package's names (`from orders import services`; `services.order_hold`).
"""

from orders.services.cancellations import (
    MAX_BULK,
    BulkResult,
    cancel_reaches_store,
    order_bulk_cancel,
    order_cancel,
    order_store_cancel_result,
    order_store_cancelled,
    store_cancel_awaited,
)
from orders.services.edits import OrderLocked, order_edit
from orders.services.holds import (
    info_request_expiry_sweep,
    order_hold,
    order_release_hold,
    order_request_info,
)
from orders.services.intake import (
    OUTSIDE_STORE_NAME,
    NothingToMake,
    csv_import,
    order_create_manual,
    order_import,
    orders_import,
    outside_store,
)
from orders.services.lines import (
    LineMapping,
    lines_forget_price,
    lines_map_again,
    lines_set_mapping,
    lines_set_price_snapshot,
)
from orders.services.moves import IllegalTransition
from orders.services.pricing import order_mark_priced
from orders.services.privacy import order_redact_buyer
from orders.services.rows import UNMAPPED_REASON, search_text_for
from orders.services.timeline import NewEvent, lock_order, record_event, record_events
from orders.services.transitions import (
    StoreUnpaid,
    SubmitResult,
    next_submit_at,
    order_complete,
    order_mark_paid,
    order_mark_shipped,
    order_submit,
    order_transition,
    orders_submit_locked,
)

__all__ = [
    "MAX_BULK", "OUTSIDE_STORE_NAME", "UNMAPPED_REASON",
    "BulkResult", "IllegalTransition", "LineMapping", "NewEvent", "NothingToMake", "OrderLocked",
    "StoreUnpaid", "SubmitResult",
    "cancel_reaches_store", "csv_import", "info_request_expiry_sweep", "lines_forget_price",
    "lines_map_again", "lines_set_mapping", "lines_set_price_snapshot", "lock_order",
    "next_submit_at", "order_bulk_cancel", "order_cancel", "order_complete",
    "order_create_manual", "order_edit", "order_hold", "order_import", "order_mark_paid",
    "order_mark_priced", "order_mark_shipped", "order_redact_buyer", "order_release_hold",
    "order_request_info", "order_store_cancel_result", "order_store_cancelled",
    "order_submit", "order_transition", "orders_import", "orders_submit_locked",
    "outside_store",
    "record_event", "record_events", "search_text_for", "store_cancel_awaited",
]
