"""Site-wide notices above every dashboard page, read in one query.

Every dashboard page shows the notices that need the seller (orders on hold
for an information request; quotes waiting for an answer, ...). Each app that
has one registers it here at start-up, as it registers order-page panels: a
key and a SELECT over its own tables that yields rows of (n, s1, s2, t) —
an integer, two texts, a timestamp — for one workspace (every %s is its id).
The base template's notice tags call `for_request`, which reads every
registered notice in one round trip (UNION ALL) the first time a page asks,
and hands each tag its own rows. Apps below never learn about apps above:
orders only runs the SQL it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from orders.models import HoldReason, Order, OrderState


@dataclass(frozen=True)
class NoticeRow:
    n: int | None
    s1: str | None
    s2: str | None
    t: datetime | None


_notices: dict[str, str] = {}


def register_notice(key: str, sql: str) -> None:
    """sql: SELECT n, s1, s2, t FROM ... WHERE workspace_id = %s ... (a few rows at most).

    Portable SQL (PostgreSQL and the embedded SQLite); a column a notice does not
    use is a typed NULL (`CAST(NULL AS text)`, `CAST(NULL AS timestamp)`). Rows
    come back ordered by (t, n).
    """
    _notices[key] = sql


def _aware(value) -> datetime | None:
    if isinstance(value, str):  # SQLite hands timestamps through a UNION back as text
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def read(*, workspace) -> dict[str, list[NoticeRow]]:
    """Every registered notice's rows for the workspace, in one query."""
    return read_parts(workspace=workspace, parts={
        key: (sql, [workspace.pk] * sql.count("%s")) for key, sql in _notices.items()})


def read_parts(*, workspace, parts: dict[str, tuple[str, list]]) -> dict[str, list[NoticeRow]]:
    """Rows of several SELECTs of (n, s1, s2, t), each with its own parameters, in one
    round trip (UNION ALL). The notices use it, and Home for its figures (insights.home)."""
    from orders.selectors import _check_scope

    _check_scope(workspace)
    found: dict[str, list[NoticeRow]] = {key: [] for key in parts}
    if not parts:
        return found
    union, params = [], []
    for index, (sql, sql_params) in enumerate(parts.values()):
        union.append(f"SELECT {index} AS k, x.n, x.s1, x.s2, x.t FROM ({sql}) AS x")
        params += sql_params
    keys = list(parts)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(union) + " ORDER BY k, t, n", params)
        for k, n, s1, s2, t in cursor.fetchall():
            found[keys[k]].append(NoticeRow(n, s1, s2, _aware(t)))
    return found


def for_request(request) -> dict[str, list[NoticeRow]]:
    """read() once per request; {} when the request acts for no workspace."""
    cached = getattr(request, "_podhub_notices", None)
    if cached is None:
        workspace = getattr(request, "workspace", None)
        user = getattr(request, "user", None)
        if workspace is None or user is None or not user.is_authenticated:
            cached = {}
        else:
            cached = read(workspace=workspace)
        request._podhub_notices = cached
    return cached


# Orders' own: on hold because staff asked the seller for information (the partial index
# order_info_requested_ws of migration 0004 serves it). BANNER_SHOWN + 1 rows at most.
ATTENTION_LIMIT = 4
register_notice(
    "orders.info_requested",
    f"SELECT id AS n, number AS s1, hold_message AS s2, info_due_at AS t "  # noqa: S608
    f"FROM {Order._meta.db_table} WHERE workspace_id = %s "
    f"AND state = '{OrderState.ON_HOLD.value}' "
    f"AND hold_reason = '{HoldReason.INFO_REQUESTED.value}' "
    f"ORDER BY info_due_at, id LIMIT {ATTENTION_LIMIT}",
)
