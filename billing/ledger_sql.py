"""The ledger's hot path in plain SQL (PostgreSQL and SQLite).

Every ledger write runs while the workspace's account row is locked, so the
time spent between `SELECT … FOR UPDATE` and `COMMIT` is the throughput of one
workspace. The ORM costs about a millisecond of Python per statement here;
these five statements cost a tenth of that. Only billing/ledger.py calls them,
and the values are converted with the database backend's own adapters, so the
rows are what the ORM would have written (the ledger tests read them back
through the ORM: sums, holds, keys).
"""

from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import Account, Hold, LedgerEntry

ENTRY_COLUMNS = ("workspace_id", "created_at", "updated_at", "kind", "currency", "amount",
                 "balance_delta", "held_delta", "balance_after", "held_after", "idempotency_key",
                 "memo", "reason", "order_id", "hold_id", "payment_id", "top_up_id", "group_id",
                 "actor_id")
HOLD_COLUMNS = ("workspace_id", "created_at", "updated_at", "purpose", "order_id", "payment_id",
                "currency", "amount", "captured_amount", "released_amount", "is_open")


def _dec(value) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.001"))  # SQLite returns int/float


def _money(value):
    return connection.ops.adapt_decimalfield_value(value, 20, 3)


def _when(value):
    return connection.ops.adapt_datetimefield_value(value)


def _lock_clause() -> str:
    f = connection.features
    if f.has_select_for_update_of:
        return " FOR UPDATE OF a"
    return " FOR UPDATE" if f.has_select_for_update else ""  # SQLite: BEGIN IMMEDIATE


def lock_account(workspace_id: int, key: str | None, hold_id: int | None):
    """(account, id of the entry with `key` or None, the hold or None), or None."""
    a, e, h = Account._meta.db_table, LedgerEntry._meta.db_table, Hold._meta.db_table
    query = (
        f"SELECT a.id, a.currency, a.balance_amount, a.held_amount, a.debt_amount, "
        f"a.invoice_seq, a.recharge_below_amount, "
        # by the unique key alone (its index), so it stays O(log n) as the ledger grows
        f"(SELECT e.id FROM {e} e WHERE e.idempotency_key = %s), "
        f"h.id, h.purpose, h.order_id, h.payment_id, h.currency, h.amount, h.captured_amount, "
        f"h.released_amount, h.is_open "
        f"FROM {a} a LEFT JOIN {h} h ON h.id = %s AND h.workspace_id = a.workspace_id "
        f"WHERE a.workspace_id = %s" + _lock_clause())
    with connection.cursor() as cur:
        cur.execute(query, [key or "", hold_id or 0, workspace_id])
        row = cur.fetchone()
    if row is None:
        return None
    acct = Account(id=row[0], workspace_id=workspace_id, currency=row[1],
                   balance_amount=_dec(row[2]), held_amount=_dec(row[3]),
                   debt_amount=_dec(row[4]), invoice_seq=row[5],
                   recharge_below_amount=_dec(row[6]))
    acct._state.adding = False
    hold = None
    if row[8] is not None:
        hold = Hold(id=row[8], workspace_id=workspace_id, purpose=row[9], order_id=row[10],
                    payment_id=row[11], currency=row[12], amount=_dec(row[13]),
                    captured_amount=_dec(row[14]), released_amount=_dec(row[15]),
                    is_open=bool(row[16]))
        hold._state.adding = False
    return acct, (row[7] if key else None), hold


def read_hold(hold_id: int, workspace_id: int) -> Hold | None:
    hold = Hold.objects.filter(pk=hold_id, workspace_id=workspace_id).first()
    return hold


def _insert(table: str, columns: tuple[str, ...], rows: list[list]) -> list[int]:
    cols = ", ".join(columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params = [v for r in rows for v in r]
    with connection.cursor() as cur:
        if connection.features.can_return_rows_from_bulk_insert:
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES "
                        + ", ".join([one] * len(rows)) + " RETURNING id", params)
            return [r[0] for r in cur.fetchall()]
        ids = []
        for r in rows:
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES {one}", r)
            ids.append(cur.lastrowid)
        return ids


def _hold_row(hold: Hold, now) -> list:
    return [hold.workspace_id, _when(now), _when(now), hold.purpose, hold.order_id,
            hold.payment_id, hold.currency, _money(hold.amount), _money(hold.captured_amount),
            _money(hold.released_amount), hold.is_open]


def _entry_row(e: LedgerEntry, now) -> list:
    return [e.workspace_id, _when(now), _when(now), e.kind, e.currency, _money(e.amount),
            _money(e.balance_delta), _money(e.held_delta), _money(e.balance_after),
            _money(e.held_after), e.idempotency_key, e.memo, e.reason, e.order_id, e.hold_id,
            e.payment_id, e.top_up_id, e.group_id, e.actor_id]


def _hold_update(hold: Hold, now) -> tuple[str, list]:
    return (f"UPDATE {Hold._meta.db_table} SET captured_amount = %s, released_amount = %s, "
            "is_open = %s, updated_at = %s WHERE id = %s",
            [_money(hold.captured_amount), _money(hold.released_amount), hold.is_open,
             _when(now), hold.pk])


def _account_update(acct: Account, now) -> tuple[str, list]:
    return (f"UPDATE {Account._meta.db_table} SET balance_amount = %s, held_amount = %s, "
            "debt_amount = %s, invoice_seq = %s, updated_at = %s WHERE id = %s",
            [_money(acct.balance_amount), _money(acct.held_amount), _money(acct.debt_amount),
             acct.invoice_seq, _when(now), acct.pk])


def flush(acct: Account, new_holds: list[Hold], entries: list[LedgerEntry],
          changed_holds: list[Hold], account_changed: bool) -> None:
    """Write one operation's rows: on PostgreSQL as ONE statement (data-modifying CTEs,
    all executed), elsewhere one statement each."""
    now = timezone.now()
    for h in new_holds:
        h.created_at = h.updated_at = now
    for e in entries:
        e.created_at = e.updated_at = now
    if connection.vendor != "postgresql":
        for h in new_holds:
            insert_hold(h)
        for e in entries:
            if e._new_hold is not None:
                e.hold_id = e._new_hold.pk
        if entries:
            insert_entries(entries)
        for h in changed_holds:
            update_hold(h)
        if account_changed:
            update_account(acct)
        return
    parts, params, selects = [], [], []
    index = {id(h): i for i, h in enumerate(new_holds)}
    ht, et = Hold._meta.db_table, LedgerEntry._meta.db_table
    for i, h in enumerate(new_holds):
        parts.append(f"h{i} AS (INSERT INTO {ht} ({', '.join(HOLD_COLUMNS)}) VALUES ("
                     + ", ".join(["%s"] * len(HOLD_COLUMNS)) + ") RETURNING id)")
        params += _hold_row(h, now)
        selects.append(f"SELECT 'hold', {i}, NULL, id FROM h{i}")
    if entries:
        rows = []
        for e in entries:
            marks = []
            for col, value in zip(ENTRY_COLUMNS, _entry_row(e, now), strict=True):
                if col == "hold_id" and e._new_hold is not None:
                    marks.append(f"(SELECT id FROM h{index[id(e._new_hold)]})")
                else:
                    marks.append("%s")
                    params.append(value)
            rows.append("(" + ", ".join(marks) + ")")
        parts.append(f"e AS (INSERT INTO {et} ({', '.join(ENTRY_COLUMNS)}) VALUES "
                     + ", ".join(rows) + " RETURNING id, idempotency_key)")
        selects.append("SELECT 'entry', 0, idempotency_key, id FROM e")
    for j, h in enumerate(changed_holds):
        statement, values = _hold_update(h, now)
        parts.append(f"u{j} AS ({statement})")
        params += values
    if account_changed:
        statement, values = _account_update(acct, now)
        parts.append(f"a AS ({statement})")
        params += values
    if not parts:
        return
    query = "WITH " + ", ".join(parts) + " " + (
        " UNION ALL ".join(selects) if selects else "SELECT NULL, NULL, NULL, NULL")
    with connection.cursor() as cur:
        cur.execute(query, params)
        found = cur.fetchall()
    by_key = {key: pk for tag, _, key, pk in found if tag == "entry"}
    for tag, i, _, pk in found:
        if tag == "hold":
            new_holds[i].pk = pk
            new_holds[i]._state.adding = False
    for e in entries:
        e.pk = by_key[e.idempotency_key]
        e._state.adding = False
        if e._new_hold is not None:
            e.hold_id = e._new_hold.pk


def insert_hold(hold: Hold) -> None:
    [hold.pk] = _insert(Hold._meta.db_table, HOLD_COLUMNS, [_hold_row(hold, hold.created_at)])
    hold._state.adding = False


def insert_entries(entries: list[LedgerEntry]) -> None:
    rows = [_entry_row(e, e.created_at) for e in entries]
    ids = _insert(LedgerEntry._meta.db_table, ENTRY_COLUMNS, rows)
    for e, pk in zip(entries, ids, strict=True):
        e.pk = pk
        e._state.adding = False


def update_hold(hold: Hold) -> None:
    with connection.cursor() as cur:
        cur.execute(*_hold_update(hold, timezone.now()))


def update_account(acct: Account) -> None:
    with connection.cursor() as cur:
        cur.execute(*_account_update(acct, timezone.now()))


def ledger_write(workspace_id, op, kind, key, amount, hold_id, purpose, order_id, payment_id,
                 top_up_id, group_id, actor_id, memo, reason) -> tuple:
    """One operation inside PostgreSQL (migration 0002): lock, replay check, guard, write."""
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM billing_ledger_write(%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s)",
                    [workspace_id, op, kind, key, amount, hold_id, purpose or "other", order_id,
                     payment_id, top_up_id, group_id, actor_id, memo, reason, timezone.now()])
        return cur.fetchone()


def next_invoice_seq(account_id: int) -> int:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {Account._meta.db_table} SET invoice_seq = invoice_seq + 1 "
                    "WHERE id = %s RETURNING invoice_seq", [account_id])
        return cur.fetchone()[0]
