"""Reads for the seller's order dashboard. Views pass what these return to templates.

Every selector takes the workspace explicitly and filters on it, on top of the
django-scopes scope the request runs in (docs/architecture.md, "Tenancy").

Query budget (asserted in tests/orders/test_views.py and bench/orders_list.py):
`order_list` is two queries whatever the page size (the page with its store,
then the page's line-item counts and first SKUs); `tab_counts` is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django_scopes import ScopeError, get_scope

from orders import hooks
from orders.models import (
    CancelReason,
    CsvImport,
    CsvImportLine,
    CsvImportOutcome,
    HoldReason,
    LineItem,
    Order,
    OrderEvent,
    OrderState,
    Store,
)
from orders.states import SELLER_CANCELLABLE
from podhub.core import pagination
from podhub.core.exceptions import NotFound

# Tabs, in the order the dashboard shows them (docs/orders.md: the path, then the exits).
TABS: list[tuple[str, str]] = [
    (OrderState.IN_QUOTATION, "In Quotation"),
    (OrderState.TO_ORDER, "To Order"),
    (OrderState.AWAITING_SUBMISSION, "Awaiting Submission"),
    (OrderState.IN_PRODUCTION, "In Production"),
    (OrderState.SHIPPED, "Shipped"),
    (OrderState.COMPLETED, "Completed"),
    (OrderState.CANCELLED, "Cancelled"),
    (OrderState.ON_HOLD, "On Hold"),
]
ALL_TAB = "all"

# Counting stops here: "1000+" is as useful to a seller as 498,213, and costs at
# most COUNT_CAP + 1 index entries per tab instead of a scan of the workspace.
COUNT_CAP = 1000
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SKUS_SHOWN = 3


# --- the list ------------------------------------------------------------------------


@dataclass
class OrderRow:
    """One line of the list: the order's shown columns, its store's name, its items.

    Plain values, not model instances: the list is the dashboard's hot path and
    building 2 x 50 model instances costs more than the page's SQL.
    """

    id: int
    number: str
    channel: str
    buyer_name: str
    buyer_email: str
    currency: str
    total_amount: Decimal
    state: str
    hold_reason: str
    cancel_reason: str
    needs_attention: str
    placed_at: datetime
    submit_at: datetime | None
    store_id: int
    store_name: str
    line_count: int = 0
    first_skus: list[str] = field(default_factory=list)
    first_title: str = ""
    url: str = ""  # the order page; set by the view

    @property
    def pk(self) -> int:
        return self.id

    @property
    def more_skus(self) -> int:
        return max(0, self.line_count - len(self.first_skus))

    @property
    def state_label(self) -> str:
        return OrderState(self.state).label

    @property
    def hold_reason_label(self) -> str:
        return _label(HoldReason, self.hold_reason)

    @property
    def cancel_reason_label(self) -> str:
        return _label(CancelReason, self.cancel_reason)


def _label(choices, value: str) -> str:
    try:
        return choices(value).label
    except ValueError:
        return value


# The columns of OrderRow, in its order.
ROW_SQL = (
    "o.id", "o.number", "o.channel", "o.buyer_name", "o.buyer_email", "o.currency",
    "o.total_amount", "o.state", "o.hold_reason", "o.cancel_reason", "o.needs_attention",
    "o.placed_at", "o.submit_at", "o.store_id", "s.name",
)


@dataclass
class OrderPage:
    rows: list[OrderRow]
    next_cursor: str | None
    is_first: bool
    limit: int

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def encode_cursor(placed_at: datetime, order_id: int) -> str:
    """Opaque position after the row (placed_at, id) in newest-first order (the API's one
    cursor form, podhub/core/pagination.py)."""
    return pagination.encode_cursor([placed_at, order_id])


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The (placed_at, id) a cursor stands for, or None when it is not one of ours."""
    values = pagination.decode_cursor(cursor, [Order._meta.get_field("placed_at"),
                                               Order._meta.get_field("id")])
    if values is None or values[1] <= 0:
        return None
    return values[0], values[1]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def order_list(
    *,
    workspace,
    state: str | None = None,
    q: str | None = None,
    store_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> OrderPage:
    """One page of the workspace's orders, newest first, with keyset pagination.

    The position is (placed_at, id), so a page 10,000 rows deep costs what page
    one costs (an index range scan from the cursor), and no row is repeated or
    skipped when orders arrive between two pages. An unknown cursor reads as
    the first page. `q` matches the order number, buyer name, e-mail or a SKU
    (a substring of Order.search_text, served by a trigram index on PostgreSQL).
    """
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    _check_scope(workspace)
    ops = connection.ops
    where = ["o.workspace_id = %s"]
    params: list[object] = [workspace.pk]
    if state and state != ALL_TAB:
        where.append("o.state = %s")
        params.append(state)
    if store_id:
        where.append("o.store_id = %s")
        params.append(store_id)
    if date_from:
        where.append("o.placed_at >= %s")
        params.append(ops.adapt_datetimefield_value(_day_start(date_from)))
    if date_to:
        where.append("o.placed_at < %s")
        params.append(ops.adapt_datetimefield_value(_day_start(date_to + timedelta(days=1))))
    needle = (q or "").strip().lower()
    if needle:
        # search_text is stored lower-cased, so a plain LIKE '%...%' (not ILIKE,
        # not UPPER()) matches and can use the gin_trgm_ops index.
        where.append("o.search_text LIKE %s ESCAPE '\\'")
        params.append("%" + _like_escape(needle) + "%")
    position = decode_cursor(after) if after else None
    if position is not None:
        placed_at, order_id = position
        at = ops.adapt_datetimefield_value(placed_at)
        # The redundant `placed_at <= p` makes the keyset an index range condition;
        # the OR alone would be a filter applied after scanning from the top.
        where.append("o.placed_at <= %s AND (o.placed_at < %s OR o.id < %s)")
        params += [at, at, order_id]
    sql = (
        f"SELECT {', '.join(ROW_SQL)} FROM {Order._meta.db_table} o "  # noqa: S608
        f"JOIN {Store._meta.db_table} s ON s.id = o.store_id "
        f"WHERE {' AND '.join(where)} ORDER BY o.placed_at DESC, o.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit + 1])
        found = cursor.fetchall()
    has_more = len(found) > limit
    rows = [_row(values) for values in found[:limit]]
    _add_items(workspace, rows)
    next_cursor = encode_cursor(rows[-1].placed_at, rows[-1].id) if has_more else None
    return OrderPage(rows=rows, next_cursor=next_cursor, is_first=position is None,
                     limit=limit)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(values) -> OrderRow:
    row = OrderRow(*values)
    # SQLite hands back naive UTC datetimes and floats; PostgreSQL aware ones and Decimal.
    row.placed_at = _aware(row.placed_at)
    row.submit_at = _aware(row.submit_at)
    if not isinstance(row.total_amount, Decimal):
        row.total_amount = Decimal(str(row.total_amount))
    return row


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _check_scope(workspace) -> None:
    """Raw SQL bypasses the ScopedManager: apply its rule here, on top of the filter.

    Inside `scope(workspace=X)` only X may be read; with no scope it is an
    error; scopes_disabled() (admin, sweeps) allows any workspace.
    """
    current = get_scope()
    if not current.get("_enabled", True):
        return
    if "workspace" not in current:
        raise ScopeError("A scope on dimension(s) workspace needs to be active for this query.")
    active = current["workspace"]
    allowed = active if isinstance(active, list | tuple) else [active]
    if active is not None and workspace.pk not in {getattr(w, "pk", w) for w in allowed}:
        raise ScopeError(f"Workspace {workspace.pk} is outside the active scope.")


def _add_items(workspace, rows: list[OrderRow]) -> None:
    """Line-item count and first SKUs of every order of the page, in one query.

    Written as SQL: the ORM's window-function filter costs more to compile
    (about 1.5 ms) than the query takes to run.
    """
    if not rows:
        return
    _check_scope(workspace)
    by_id = {row.id: row for row in rows}
    table = LineItem._meta.db_table
    marks = ", ".join(["%s"] * len(by_id))
    sql = (
        "SELECT order_id, sku, title, n FROM ("  # noqa: S608 - only placeholders go in
        " SELECT order_id, sku, title,"
        "  ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY id) AS rank,"
        "  COUNT(*) OVER (PARTITION BY order_id) AS n"
        f" FROM {table} WHERE workspace_id = %s AND order_id IN ({marks})"
        f") ranked WHERE rank <= {SKUS_SHOWN} ORDER BY order_id, rank"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, *by_id])
        found = cursor.fetchall()
    for order_id, sku, title, n in found:
        row = by_id[order_id]
        row.line_count = n
        row.first_skus.append(sku or "—")
        if not row.first_title:
            row.first_title = title


# --- the tabs --------------------------------------------------------------------------


def tab_counts(*, workspace) -> dict[str, int | str]:
    """Orders per tab, exact up to COUNT_CAP, else "1000+"; one query for all tabs.

    Capped counting instead of maintained counters: each tab reads at most
    COUNT_CAP + 1 entries of the (workspace, state, placed_at, id) index, so the
    cost is bounded (a few ms) even for a workspace with 500,000 orders, and the
    numbers are exact whenever they are small enough to act on. Counters would be
    cheaper still to read, but every state change by every writer (imports,
    sweeps, providers, staff) would have to update one hot row per workspace,
    and a missed or rolled-back update would show a wrong number forever.
    """
    _check_scope(workspace)
    table = Order._meta.db_table
    keys = [ALL_TAB] + [s for s, _ in TABS]
    parts = []
    params: list[object] = []
    for key in keys:
        where = "workspace_id = %s" + ("" if key == ALL_TAB else " AND state = %s")
        parts.append(
            f"SELECT %s AS tab, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} "  # noqa: S608
            f"WHERE {where} LIMIT {COUNT_CAP + 1}) AS capped) AS n"
        )
        params += [key, workspace.pk] + ([] if key == ALL_TAB else [key])
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        found = dict(cursor.fetchall())
    return {key: _capped(found.get(key, 0)) for key in keys}


def _capped(n: int) -> int | str:
    return f"{COUNT_CAP}+" if n > COUNT_CAP else int(n)


# --- one order -------------------------------------------------------------------------


@dataclass
class OrderDetail:
    order: Order
    lines: list[LineItem]
    events: list[OrderEvent]

    @property
    def is_locked(self) -> bool:
        return self.order.is_locked

    @property
    def info_requested(self) -> bool:
        return _info_requested(self.order)

    @property
    def store_takes_cancels(self) -> bool:
        """A cancel can be pushed to the order's store (a connected Shopify/WooCommerce)."""
        return hooks.store_takes_cancels(self.order)

    @property
    def seller_can_cancel(self) -> bool:
        """Before production only (the service enforces it; this hides the button)."""
        order = self.order
        effective = order.return_state if order.state == OrderState.ON_HOLD else order.state
        return effective in SELLER_CANCELLABLE

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def discount_off(self) -> Decimal:
        """The discount as the price table shows it: taken off, so negative
        ("-$5.00", "-5,00 €": the locale places the sign, docs/money.md)."""
        return -self.order.discount_amount


def _info_requested(order: Order) -> bool:
    return order.state == OrderState.ON_HOLD and order.hold_reason == HoldReason.INFO_REQUESTED


def order_get(*, workspace, order_id: int) -> OrderDetail:
    """The order with its store, lines and timeline (events with their actor): 3 queries."""
    order = (
        Order.objects.filter(workspace=workspace, pk=order_id).select_related("store").first()
    )
    if order is None:
        raise NotFound("No such order in this workspace.")
    lines = list(LineItem.objects.filter(workspace=workspace, order=order).order_by("id"))
    events = list(
        OrderEvent.objects.filter(workspace=workspace, order=order)
        .select_related("actor_user")
        .order_by("created_at", "id")
    )
    return OrderDetail(order=order, lines=lines, events=events)


# --- what needs the seller ----------------------------------------------------------------


@dataclass
class AttentionOrder:
    """An order staff asked the seller about: what the banners show."""

    id: int
    number: str
    hold_message: str
    info_due_at: datetime | None
    detail_url: str = ""
    edit_url: str = ""
    due_text: str = ""

    @property
    def pk(self) -> int:
        return self.id


def attention_orders(*, workspace, limit: int = 20) -> list[AttentionOrder]:
    """Orders held because staff asked for information, soonest deadline first.

    Read on every dashboard page (the site-wide banner): SQL on the partial index
    order_info_requested_ws (migration 0004), no model instances.
    """
    _check_scope(workspace)
    sql = (
        f"SELECT id, number, hold_message, info_due_at FROM {Order._meta.db_table} "  # noqa: S608
        "WHERE workspace_id = %s AND state = %s AND hold_reason = %s "
        "ORDER BY info_due_at, id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, OrderState.ON_HOLD, HoldReason.INFO_REQUESTED,
                             int(limit)])
        found = cursor.fetchall()
    return [AttentionOrder(i, number, message, _aware(due)) for i, number, message, due in found]


def store_options(*, workspace) -> list[tuple[int, str]]:
    """(id, name) of the workspace's stores, for the list's store filter."""
    _check_scope(workspace)
    sql = (f"SELECT id, name FROM {Store._meta.db_table} WHERE workspace_id = %s "  # noqa: S608
           "ORDER BY name, id")
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk])
        return [tuple(row) for row in cursor.fetchall()]


def store_choices(*, workspace) -> list[Store]:
    """The stores of the workspace (model instances) for the entry and import forms."""
    return list(Store.objects.filter(workspace=workspace).only("id", "name", "platform",
                                                                "workspace_id")
                .order_by("name", "id"))



# --- CSV imports ---------------------------------------------------------------------------

IMPORT_LINES_SHOWN = 500


@dataclass
class CsvImportView:
    job: CsvImport
    created: list[CsvImportLine]
    duplicates: list[CsvImportLine]
    rejected: list[CsvImportLine]
    more_created: int = 0
    more_rejected: int = 0


def csv_import_get(*, workspace, import_id: int) -> CsvImport:
    job = (CsvImport.objects.filter(workspace=workspace, pk=import_id)
           .select_related("store").first())
    if job is None:
        raise NotFound("No such import in this workspace.")
    return job


def csv_import_detail(*, workspace, import_id: int,
                      shown: int = IMPORT_LINES_SHOWN) -> CsvImportView:
    """The job and (up to `shown` of each) its created orders, duplicates, rejected rows."""
    job = csv_import_get(workspace=workspace, import_id=import_id)
    lines = CsvImportLine.objects.filter(workspace=workspace, job=job).order_by("row", "pk")
    created = list(lines.filter(outcome=CsvImportOutcome.CREATED)
                   .select_related("order")[:shown])
    duplicates = list(lines.filter(outcome=CsvImportOutcome.DUPLICATE)[:shown])
    rejected = list(lines.filter(outcome=CsvImportOutcome.REJECTED)[:shown])
    return CsvImportView(job=job, created=created, duplicates=duplicates, rejected=rejected,
                         more_created=max(0, job.created_count - len(created)),
                         more_rejected=max(0, job.rejected_count - len(rejected)))


def csv_import_recent(*, workspace, limit: int = 10) -> list[CsvImport]:
    return list(CsvImport.objects.filter(workspace=workspace).select_related("store")
                .order_by("-created_at", "-pk")[:limit])


# --- Home ------------------------------------------------------------------------------

# Today's flow on Home: (figure, the column that says when the order reached it).
FLOW_COLUMNS = [("imported", "created_at"), ("paid", "paid_at"),
                ("submitted", "submitted_at"), ("shipped", "shipped_at")]
HELD_SHOWN = 5
_NO_TEXT, _NO_TIME = "CAST(NULL AS text)", "CAST(NULL AS timestamp)"


def home_figures(*, workspace, since: datetime) -> dict[str, tuple[str, list]]:
    """Orders' part of Home, as SELECTs of (n, s1, s2, t) that insights.home reads with
    the other apps' parts in one round trip (orders.notices.read_parts).

    - "orders.flow": one row per FLOW_COLUMNS figure, n orders since `since`, s1 its name
      (an index range each: order_ws_created, order_ws_paid, ... of migration 0010);
    - "orders.held": the newest HELD_SHOWN orders on hold: id, number, reason, deadline
      (order_ws_state_placed);
    - "orders.setup": n stores (s1 "stores") and whether any order was ever paid
      (s1 "paid", 0 or 1, the first entry of order_ws_paid).
    The counts per state are `tab_counts`, the very numbers of the list's tabs.
    """
    _check_scope(workspace)
    table, ws = Order._meta.db_table, workspace.pk
    at = connection.ops.adapt_datetimefield_value(since)
    flow = " UNION ALL ".join(
        f"SELECT COUNT(*) AS n, '{name}' AS s1, {_NO_TEXT} AS s2, {_NO_TIME} AS t "  # noqa: S608
        f"FROM {table} WHERE workspace_id = %s AND {column} >= %s"
        for name, column in FLOW_COLUMNS)
    held = (
        f"SELECT id AS n, number AS s1, hold_reason AS s2, info_due_at AS t "  # noqa: S608
        f"FROM {table} WHERE workspace_id = %s AND state = '{OrderState.ON_HOLD.value}' "
        f"ORDER BY placed_at DESC, id DESC LIMIT {HELD_SHOWN}")
    setup = (
        f"SELECT COUNT(*) AS n, 'stores' AS s1, {_NO_TEXT} AS s2, {_NO_TIME} AS t "  # noqa: S608
        f"FROM {Store._meta.db_table} WHERE workspace_id = %s UNION ALL "
        f"SELECT COUNT(*) AS n, 'paid' AS s1, {_NO_TEXT} AS s2, {_NO_TIME} AS t FROM ("
        f"SELECT 1 AS one FROM {table} WHERE workspace_id = %s AND paid_at IS NOT NULL "
        "ORDER BY paid_at LIMIT 1) AS first_paid")  # in the index's order: never a scan
    return {
        "orders.flow": (flow, [p for _ in FLOW_COLUMNS for p in (ws, at)]),
        "orders.held": (held, [ws]),
        "orders.setup": (setup, [ws, ws]),
    }
