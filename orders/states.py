"""The order state machine: the table of docs/orders.md, in one place.

`TRANSITIONS` lists where each state may go. `on_hold` returns to the state
it came from (`Order.return_state`); `completed` and `cancelled` are final.
`RANK` orders the forward path, so late or duplicated events from stores and
providers can be recognised and ignored instead of moving an order backwards.
"""

from orders.models import OrderState as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.IN_QUOTATION: frozenset({S.TO_ORDER, S.ON_HOLD, S.CANCELLED}),
    S.TO_ORDER: frozenset({S.AWAITING_SUBMISSION, S.ON_HOLD, S.CANCELLED}),
    S.AWAITING_SUBMISSION: frozenset({S.IN_PRODUCTION, S.ON_HOLD, S.CANCELLED}),
    S.IN_PRODUCTION: frozenset({S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.SHIPPED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    # Leaving a hold goes back to Order.return_state, or to cancelled.
    S.ON_HOLD: frozenset({S.CANCELLED}),
}

# The forward path. A requested state ranked at or below the current one is stale.
RANK: dict[str, int] = {
    S.IN_QUOTATION: 0,
    S.TO_ORDER: 1,
    S.AWAITING_SUBMISSION: 2,
    S.IN_PRODUCTION: 3,
    S.SHIPPED: 4,
    S.COMPLETED: 5,
}

FINAL = frozenset({S.COMPLETED, S.CANCELLED})

# A store edit before submission may send an order back (docs/store-truth.md "Store
# edits"): a changed item that no longer maps waits for a quote again, and a paid order
# whose new price the balance cannot cover waits for payment again (holds released).
STORE_EDIT_BACK: dict[str, frozenset[str]] = {
    S.TO_ORDER: frozenset({S.IN_QUOTATION}),
    S.AWAITING_SUBMISSION: frozenset({S.IN_QUOTATION, S.TO_ORDER}),
}

# Paid here (funds held) and not submitted yet.
PAID_UNSUBMITTED = frozenset({S.AWAITING_SUBMISSION})

# Cancels that affect the buyer: pushed to a connected store with a refund (PRODUCT.md).
# A seller's cancel is pushed only when the seller asks; the buyer's or the store's own
# cancel came from the store.
STORE_CANCEL_REASONS = frozenset({"loss_guard", "no_response", "copyright", "staff",
                                  "provider_rejected"})

# States a seller may still cancel from (before production).
SELLER_CANCELLABLE = frozenset({S.IN_QUOTATION, S.TO_ORDER, S.AWAITING_SUBMISSION})


def allowed(current: str, to: str, *, return_state: str = "") -> bool:
    if current == S.ON_HOLD and to == return_state and return_state:
        return True
    return to in TRANSITIONS.get(current, frozenset())


def is_stale(current: str, to: str, *, return_state: str = "") -> bool:
    """True when `to` lies behind the order's progress (a late or repeated event)."""
    if current == S.CANCELLED:
        return True
    effective = return_state if current == S.ON_HOLD and return_state else current
    if effective in RANK and to in RANK:
        return RANK[to] <= RANK[effective]
    return False
