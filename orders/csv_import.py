"""Reading a CSV of outside-source orders (Etsy, Amazon, ...): one row per line item.

The column layout is documented in docs/csv-import.md. This module only reads
the file: it checks size, encoding and columns, groups the rows of one order
by `order_number`, and builds the order dict that orders/inputs.py validates.
Creating the orders is `orders.services.csv_import` (each order in its own
transaction: an order with any bad row is rejected whole, nothing is
half-imported, and an order already imported is reported as a duplicate).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from podhub.core.exceptions import ValidationFailed

MAX_BYTES = 5 * 1024 * 1024
# The whole upload request (file + form fields), refused unread above this (413).
MAX_BODY_BYTES = MAX_BYTES + 256 * 1024

REQUIRED_COLUMNS = (
    "order_number", "sku", "quantity", "unit_price", "ship_name", "ship_address1", "ship_city",
    "ship_country",
)
# Order-level columns: the same on every row of an order (blank on later rows is fine).
ORDER_COLUMNS = {
    "channel": "channel",
    "placed_at": "placed_at",
    "buyer_name": "buyer_name",
    "buyer_email": "buyer_email",
    "currency": "currency",
    "shipping": "shipping",
    "tax": "tax",
    "ship_name": "shipping_address.name",
    "ship_company": "shipping_address.company",
    "ship_address1": "shipping_address.address1",
    "ship_address2": "shipping_address.address2",
    "ship_city": "shipping_address.city",
    "ship_province": "shipping_address.province",
    "ship_zip": "shipping_address.zip",
    "ship_country": "shipping_address.country_code",
    "ship_phone": "shipping_address.phone",
}
# Line-level columns: one line item per row.
LINE_COLUMNS = {
    "sku": "sku",
    "title": "title",
    "variant_title": "variant_title",
    "quantity": "quantity",
    "unit_price": "unit_price",
    "discount": "discount",
    "personalization": "personalization",
    "image_urls": "images",
}
KNOWN_COLUMNS = {"order_number", *ORDER_COLUMNS, *LINE_COLUMNS}
COLUMN_ALIASES = {
    "order": "order_number", "order_no": "order_number", "order_id": "order_number",
    "number": "order_number", "personalisation": "personalization",
    "ship_postcode": "ship_zip", "ship_postal_code": "ship_zip", "ship_state": "ship_province",
    "ship_country_code": "ship_country", "price": "unit_price", "qty": "quantity",
    "images": "image_urls", "source": "channel",
}
# input field (as orders/inputs.py names it) -> the CSV column a reason points at
_FIELD_COLUMN = {path: column for column, path in ORDER_COLUMNS.items()} | {
    "number": "order_number", "external_id": "order_number", "source": "channel",
    "subtotal": "unit_price", "total": "unit_price", "discount": "discount",
}
_LINE_FIELD_COLUMN = {path: column for column, path in LINE_COLUMNS.items()}


@dataclass
class CsvImportReport:
    """What an import did. Row numbers count the header as row 1, as spreadsheets do."""

    created: list = field(default_factory=list)  # list[Order]
    duplicates: list[tuple[list[int], str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    total_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class CsvOrder:
    """The rows of one order number and the order dict built from them."""

    number: str
    rows: list[int]
    data: dict
    row_errors: dict[int, list[str]] = field(default_factory=dict)

    def rejections(self, fields: dict[str, str] | None = None) -> list[tuple[int, str]]:
        """Every row of this order with its reason: its own errors, or its sibling's."""
        errors = {row: list(reasons) for row, reasons in self.row_errors.items()}
        for name, reason in (fields or {}).items():
            row, column = self._locate(name)
            errors.setdefault(row, []).append(f"{column}: {reason}")
        bad_rows = sorted(errors)
        out = [(row, "; ".join(errors[row])) for row in bad_rows]
        listed = ", ".join(str(r) for r in bad_rows)
        out += [
            (row, f"not imported: order {self.number} has errors on row(s) {listed}")
            for row in self.rows if row not in errors
        ]
        return sorted(out)

    def _locate(self, name: str) -> tuple[int, str]:
        parts = name.split(".")
        if parts[0] == "line_items" and len(parts) >= 3 and parts[1].isdigit():
            index = int(parts[1])
            row = self.rows[index] if index < len(self.rows) else self.rows[0]
            return row, _LINE_FIELD_COLUMN.get(parts[2], parts[2])
        key = ".".join(parts[:2]) if parts[0] == "shipping_address" else parts[0]
        return self.rows[0], _FIELD_COLUMN.get(key, key)


@dataclass
class CsvFile:
    total_rows: int
    orders: list[CsvOrder]
    rejected: list[tuple[int, str]]
    ignored_columns: list[str]


def read_upload(file) -> bytes | str:
    """The upload's content, refused whole when it is over MAX_BYTES."""
    if isinstance(file, bytes | str):
        raw = file
    else:
        size = getattr(file, "size", None)
        if size is not None and size > MAX_BYTES:
            raise ValidationFailed(_too_large(size), fields={"file": _too_large(size)})
        if hasattr(file, "seek"):
            file.seek(0)
        raw = file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValidationFailed(_too_large(len(raw)), fields={"file": _too_large(len(raw))})
    return raw


def _read_text(file) -> str:
    raw = read_upload(file)
    if isinstance(raw, str):
        return raw
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        message = ("The file is not UTF-8 text. Save it as 'CSV UTF-8 (comma delimited)' "
                   "and upload it again.")
        raise ValidationFailed(message, fields={"file": message}) from None
    if "\x00" in text:
        message = "The file is not a CSV text file (it contains binary data)."
        raise ValidationFailed(message, fields={"file": message})
    return text


def _too_large(size: int) -> str:
    return (f"The file is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_BYTES // 1024 // 1024} MB. Split it into smaller files.")


def _column(name: str) -> str:
    key = (name or "").strip().lower().replace(" ", "_").replace("-", "_")
    return COLUMN_ALIASES.get(key, key)


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return max([",", ";", "\t"], key=header.count)


def parse_csv(file) -> CsvFile:
    """Read and group the rows; file-level problems raise ValidationFailed."""
    text = _read_text(file)
    if not text.strip():
        raise ValidationFailed("The file is empty.", fields={"file": "The file is empty."})
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
        columns = [_column(c) for c in header]
        rows = list(reader)
    except csv.Error as exc:
        message = f"The file could not be read as CSV (line {reader.line_num}): {exc}."
        raise ValidationFailed(message, fields={"file": message}) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        message = (f"The file lacks the required column(s) {', '.join(missing)}. "
                   "The first line must name the columns (see docs/csv-import.md).")
        raise ValidationFailed(message, fields={"file": message})
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicated:
        message = f"Column(s) {', '.join(duplicated)} appear more than once."
        raise ValidationFailed(message, fields={"file": message})
    ignored = [h.strip() for h, c in zip(header, columns, strict=True)
               if c not in KNOWN_COLUMNS and h.strip()]

    total = 0
    rejected: list[tuple[int, str]] = []
    groups: dict[str, CsvOrder] = {}
    for index, cells in enumerate(rows):
        row_number = index + 2
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not rows
        total += 1
        if len(cells) > len(columns):
            rejected.append((row_number, f"has {len(cells)} cells but the header names "
                                         f"{len(columns)} columns"))
            continue
        values = {c: (cells[i].strip() if i < len(cells) else "")
                  for i, c in enumerate(columns) if c in KNOWN_COLUMNS}
        number = values.get("order_number", "")
        if not number:
            rejected.append((row_number, "order_number: every row needs the order number"))
            continue
        group = groups.get(number)
        if group is None:
            group = groups[number] = CsvOrder(number=number, rows=[], data=_order_data(number))
        _add_row(group, row_number, values)
    return CsvFile(total_rows=total, orders=list(groups.values()), rejected=rejected,
                   ignored_columns=ignored)


def _order_data(number: str) -> dict:
    return {"number": number, "external_id": number, "shipping_address": {},
            "line_items": []}


def _add_row(group: CsvOrder, row: int, values: dict[str, str]) -> None:
    first = not group.rows
    group.rows.append(row)
    data = group.data
    for column, path in ORDER_COLUMNS.items():
        value = values.get(column, "")
        if not value:
            continue
        target, key = (data["shipping_address"], path.split(".", 1)[1]) \
            if path.startswith("shipping_address.") else (data, path)
        seen = target.get(key)
        if seen is None:
            target[key] = value
            if not first:
                group.data.setdefault("_origin", {})[column] = row
        elif seen != value:
            origin = group.data.get("_origin", {}).get(column, group.rows[0])
            group.row_errors.setdefault(row, []).append(
                f"{column}: {value!r} differs from {seen!r} on row {origin} of order "
                f"{group.number}"
            )
    # Blank cells are passed on: a blank quantity is an error, not "1".
    line = {key: values[column] for column, key in LINE_COLUMNS.items() if column in values}
    data["line_items"].append(line)


def order_dict(group: CsvOrder) -> dict:
    """The order dict for orders/inputs.py (without bookkeeping keys)."""
    return {k: v for k, v in group.data.items() if not k.startswith("_")}


def csv_import(*, workspace, file, actor, store=None) -> CsvImportReport:
    """Same as orders.services.csv_import (kept here too for discoverability)."""
    from orders.services import csv_import as service

    return service(workspace=workspace, file=file, actor=actor, store=store)
