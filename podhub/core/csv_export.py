"""Every CSV file PodHub writes goes through here, so none carries a spreadsheet formula.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (OWASP "CSV Injection"): an order
number or a memo that came from a store or a buyer could run `=HYPERLINK(...)` or
`=cmd|...` on the seller's machine when the export is opened.

The rule, by the type of the value (not by its look):

- numbers (`int`, `Decimal`, `float`; not `bool`) are written as plain decimal
  numbers, so a negative amount stays `-12.000` and sums in the spreadsheet (a number
  is never a formula);
- `None` is an empty cell; dates and times are written by the caller as text;
- everything else is text: when it begins with one of the characters above it gets a
  leading `'`, which the spreadsheet shows as text and does not evaluate (OWASP's
  advice); other text is written unchanged.

So a text column holding "-5" is written `'-5`; write numbers as numbers.
"""

import csv
from collections.abc import Iterable
from decimal import Decimal

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | int | float | Decimal:
    """One cell, escaped by the rule in this module's docstring."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(values: Iterable) -> list:
    return [safe_cell(v) for v in values]


class _Echo:
    """A file-like object whose write returns the line, for streaming."""

    def write(self, value):
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterable[str]:
    """The header and the rows as CSV lines, every cell escaped."""
    writer = csv.writer(_Echo())
    yield writer.writerow(safe_row(header))
    for row in rows:
        yield writer.writerow(safe_row(row))


def csv_download(filename: str, header: Iterable[str],
                 rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A streamed CSV attachment (rows are read lazily, e.g. from `.iterator()`)."""
    response = StreamingHttpResponse(csv_lines(header, rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
