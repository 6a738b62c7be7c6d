"""The few statements the ORM does not say (or not fast enough), on both databases.

PostgreSQL runs production, SQLite the embedded default (`make run`), and `make test`
runs the suite on each (docs/architecture.md, "Databases"). Hand-written SQL that is
not plain SQL both understand lives here, one helper per need, each with its
PostgreSQL and SQLite branch; the ledger's hot path has its own module
(billing/ledger_sql.py). Values go through the model fields' own adapters, so the rows
are what the ORM would have written (on SQLite: naive UTC text for datetimes).
"""

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from django.core import checks
from django.db import connection
from django.db.models import DecimalField, FloatField, Func, Sum

# RETURNING, ON CONFLICT (...) DO NOTHING and UPDATE ... FROM (3.33) need SQLite 3.35;
# Python 3.11 on Debian bookworm ships 3.40.
SQLITE_MIN_VERSION = (3, 35)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _adapt(value):
    """A loose parameter (not bound to a field) as the ORM would write it."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def update_by_ids(model, rows: Mapping[int, Sequence], *, columns: Sequence[str],
                  also: str = "", params: Sequence = ()) -> int:
    """One UPDATE for many rows, each with its own values: row `pk` gets `rows[pk]`
    (a value per name in `columns`), and every row also gets `also`, SQL assignments
    in which the table is `t` (e.g. "sent_at = COALESCE(t.sent_at, %s)") with `params`.
    The number of rows updated.

    `bulk_update`'s CASE per row is slow to build and plan; this joins the values as a
    table instead. PostgreSQL: `unnest` of one array per column, so the statement text
    is the same for any number of rows. SQLite (no arrays): a VALUES list, in chunks
    under its parameter limit.
    """
    if not rows:
        return 0
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    fields = [model._meta.get_field(name) for name in columns]
    names = [connection.ops.quote_name(f.column) for f in fields]
    ids = list(rows)
    values = [[f.get_db_prep_save(rows[i][n], connection) for i in ids]
              for n, f in enumerate(fields)]
    loose = [_adapt(p) for p in params]
    tail = f", {also}" if also else ""
    if is_postgresql():
        casts = ", ".join([f"%s::{pk.rel_db_type(connection)}[]"]
                          + [f"%s::{f.db_type(connection)}[]" for f in fields])
        aliases = ", ".join(["id"] + [f"c{n}" for n in range(len(fields))])
        sets = ", ".join(f"{name} = v.c{n}" for n, name in enumerate(names))
        sql = (f"UPDATE {table} AS t SET {sets}{tail} "  # noqa: S608 (names from the model)
               f"FROM unnest({casts}) AS v({aliases}) WHERE t.{pk.column} = v.id")
        with connection.cursor() as cur:
            cur.execute(sql, [*loose, ids, *values])
            return cur.rowcount
    sets = ", ".join(f"{name} = v.column{n + 2}" for n, name in enumerate(names))
    per_row = len(fields) + 1
    chunk = max(1, (connection.features.max_query_params - len(loose)) // per_row)
    one = "(" + ", ".join(["%s"] * per_row) + ")"
    updated = 0
    with connection.cursor() as cur:
        for start in range(0, len(ids), chunk):
            part = range(start, min(start + chunk, len(ids)))
            sql = (f"UPDATE {table} AS t SET {sets}{tail} "  # noqa: S608
                   f"FROM (VALUES {', '.join([one] * len(part))}) AS v "
                   f"WHERE t.{pk.column} = v.column1")
            flat = [x for i in part for x in (ids[i], *(col[i] for col in values))]
            cur.execute(sql, [*loose, *flat])
            updated += cur.rowcount
    return updated


class ExactSum(Sum):
    """SUM of a decimal (money) expression, exact on both databases.

    PostgreSQL adds `numeric` exactly. SQLite keeps decimals as binary floating point
    and adds those (0.01 + 1.81 - 1.73 = 0.0900000000000001): there the values are
    added as whole units of the field's last decimal place (integers, exact) and the
    total is scaled back. The result is quantized to the field's places on both, as
    PostgreSQL's numeric(…, 3) sum is.
    """

    def _places(self) -> int | None:
        field = self.output_field
        return field.decimal_places if isinstance(field, DecimalField) else None

    def as_sqlite(self, compiler, conn, **extra):
        places = self._places()
        if places is None:
            return self.as_sql(compiler, conn, **extra)
        scale = 10 ** places
        scaled = self.copy()  # a template, not a keyword: Aggregate's FILTER wraps it
        scaled.template = (
            f"%(function)s(%(distinct)sCAST(ROUND((%(expressions)s) * {scale}) AS INTEGER))")
        sql, params = scaled.as_sql(compiler, conn, **extra)
        # the FILTER (WHERE …) clause, if any, follows SUM(…): scale back outside it
        return f"({sql} / {scale}.0)", params

    def get_db_converters(self, conn):
        places = self._places()
        if places is None:
            return super().get_db_converters(conn)
        step = Decimal(1).scaleb(-places)

        def quantized(value, expression, conn):
            return None if value is None else Decimal(value).quantize(step)

        return [*super().get_db_converters(conn), quantized]


class HoursBetween(Func):
    """Hours from the second datetime to the first, as a float, in the database."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, arg_joiner=" - ", template=(
            "(EXTRACT(EPOCH FROM (%(expressions)s))::double precision / 3600.0)"), **extra)

    def as_sqlite(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, arg_joiner=") - julianday(", template=(
            "((julianday(%(expressions)s)) * 24.0)"), **extra)


_insert_sql: dict[tuple, str] = {}


def insert_ignore_returning(model, values: Mapping[str, object], *,
                            unique: Sequence[str]) -> int | None:
    """INSERT one row unless one with the same `unique` fields exists: the new row's id,
    or None when it existed (one statement: the webhook inboxes' hot path).

    The statement is the same on both databases (`ON CONFLICT (...) DO NOTHING
    RETURNING`, SQLite 3.35+, checked at start-up: see `check_sqlite_version`).
    """
    fields = [model._meta.get_field(name) for name in values]
    key = (model, tuple(values), tuple(unique))
    sql = _insert_sql.get(key)
    if sql is None:
        q = connection.ops.quote_name
        target = ", ".join(q(model._meta.get_field(name).column) for name in unique)
        sql = _insert_sql[key] = (
            f"INSERT INTO {q(model._meta.db_table)} "  # noqa: S608 (names from the model)
            f"({', '.join(q(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({target}) DO NOTHING RETURNING {q(model._meta.pk.column)}")
    params = [f.get_db_prep_save(v, connection) for f, v in zip(fields, values.values(),
                                                                strict=True)]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return row[0] if row else None


def check_sqlite_version(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The helpers above need SQLite 3.35: say so at start-up, not as a syntax error
    on the first webhook."""
    if connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= SQLITE_MIN_VERSION:
        return []
    need = ".".join(map(str, SQLITE_MIN_VERSION))
    return [checks.Error(
        f"SQLite {sqlite3.sqlite_version} is too old: PodHub needs {need} or newer.",
        hint="Use a Python built with a newer SQLite (Debian 12 and later ship 3.40), "
             "or set DATABASE_URL to PostgreSQL.", id="podhub.E001")]
