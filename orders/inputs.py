"""Validation of an order as it arrives: from a store import, manual entry, the API or CSV.

`validate_order_input(data)` takes a plain dict (documented below and in
docs/csv-import.md) and returns an `OrderInput` with clean values, or raises
`ValidationFailed` whose `fields` maps each bad field to its reasons, e.g.
`{"line_items.1.quantity": "Enter a whole number from 1 to 10000."}`.

The dict::

    {
      "channel": "etsy",                 # or "source"; optional, lower-cased
      "external_id": "5551234",          # the source's id; defaults to number
      "number": "#1001",                 # the order number the seller knows
      "placed_at": "2026-05-01T10:00:00Z", "updated_at": "...",   # optional ISO 8601
      "buyer_name": "Ana Lima", "buyer_email": "ana@example.com",  # optional
      "shipping_address": {"name", "company", "address1", "address2", "city",
                           "province", "zip", "country_code", "phone"},
      "currency": "USD",                 # defaults to the store's
      "subtotal", "discount", "shipping", "tax", "total": "12.50",  # decimal strings
      "store_paid": true,                # optional: false while the buyer has not paid the
                                         # store yet; an order is created paid when omitted
                                         # and an update without it keeps the current value
      "line_items": [{
          "external_id", "store_product_id", "store_variant_id",   # optional
          "sku": "MUG-11-WHITE", "title": "Mug 11oz", "variant_title": "White",
          "quantity": 2, "unit_price": "12.50", "discount": "0",
          "personalization": [{"key": "Name", "value": "Ana"}]  # or {"Name": "Ana"}
                                                                  # or "Name=Ana; Color=Red"
          "images": ["https://..."],     # or [{"key": "Photo", "url": "https://..."}]
          "catalog_variant_id": 42,      # optional: set when already mapped
      }]
    }

Amounts are Decimal strings (numbers are accepted and read through their
decimal text, never as binary floats). Missing totals are computed from the
lines: subtotal = Σ quantity × unit_price − line discount; total = subtotal −
discount + shipping + tax.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils.dateparse import parse_date, parse_datetime

from podhub.core.exceptions import ValidationFailed
from podhub.core.money import quantize

MAX_LINES = 500
MAX_QUANTITY = 10_000
MAX_PERSONALIZATION = 50
MAX_IMAGES = 20
MAX_AMOUNT = Decimal("1e12")

ADDRESS_FIELDS = {
    "name": 200, "company": 200, "address1": 200, "address2": 200, "city": 100,
    "province": 100, "zip": 20, "country_code": 2, "phone": 40,
}
ADDRESS_REQUIRED = ("name", "address1", "city", "country_code")
ADDRESS_ALIASES = {"country": "country_code", "postal_code": "zip", "postcode": "zip",
                   "state": "province"}

ORDER_FIELDS = {
    "channel", "source", "external_id", "number", "placed_at", "updated_at", "buyer_name",
    "buyer_email", "shipping_address", "currency", "subtotal", "discount", "shipping", "tax",
    "total", "line_items", "store_paid", "shipping_discount", "shop_money",
}
LINE_FIELDS = {
    "external_id", "store_product_id", "store_variant_id", "sku", "title", "variant_title",
    "quantity", "unit_price", "discount", "personalization", "images", "catalog_variant_id",
    "fulfilled_quantity",
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_url = URLValidator(schemes=["http", "https"])
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass
class LineInput:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal("0")
    external_id: str = ""
    store_product_id: str = ""
    store_variant_id: str = ""
    variant_title: str = ""
    personalization: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    catalog_variant_id: int | None = None
    # False when the input said nothing about the mapping: keep the current one.
    catalog_variant_given: bool = False


@dataclass
class OrderInput:
    external_id: str
    number: str
    currency: str
    shipping_address: dict
    lines: list[LineInput]
    channel: str = ""
    buyer_name: str = ""
    buyer_email: str = ""
    placed_at: datetime | None = None
    updated_at: datetime | None = None
    subtotal: Decimal = Decimal("0")
    discount: Decimal = Decimal("0")
    shipping: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")
    total: Decimal = Decimal("0")
    store_paid: bool = True
    # False when the input said nothing about it: an update keeps the current value.
    store_paid_given: bool = False

    @property
    def skus(self) -> list[str]:
        return [line.sku for line in self.lines if line.sku]


class Errors:
    """Collects per-field reasons; `raise_if_any` turns them into one ValidationFailed
    whose `fields` maps each field to one sentence (several reasons are joined)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        if name in self.fields:
            if message not in self.fields[name]:
                self.fields[name] = f"{self.fields[name]} {message}"
        else:
            self.fields[name] = message

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self, what: str = "The order") -> None:
        if not self.fields:
            return
        first_field, reason = next(iter(self.fields.items()))
        more = len(self.fields) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ValidationFailed(f"{what} is invalid: {first_field}: {reason}{tail}",
                               fields=dict(self.fields))


# --- small parsers, each adding its reason to `errors` and returning a clean value ---


def text(value, name: str, errors: Errors, *, max_length: int, required: bool = False,
         label: str = "") -> str:
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        errors.add(name, "Enter text.")
        return ""
    value = str(value).strip()
    if required and not value:
        errors.add(name, f"{label or 'This field'} is required.")
    elif len(value) > max_length:
        errors.add(name, f"At most {max_length} characters (this has {len(value)}).")
        value = value[:max_length]
    return value


def amount(value, name: str, errors: Errors, *, currency: str, default: Decimal | None = None,
           required: bool = False) -> Decimal:
    """A money amount: a decimal string such as "12.50" (numbers are read as their text)."""
    if value is None or value == "":
        if required:
            errors.add(name, "Enter an amount such as 12.50.")
        return default if default is not None else Decimal("0")
    if isinstance(value, bool):
        errors.add(name, "Enter an amount such as 12.50.")
        return Decimal("0")
    try:
        parsed = Decimal(str(value).strip())  # str(float) is its shortest decimal text
    except (InvalidOperation, ValueError):
        errors.add(name, f"Enter an amount such as 12.50, not {str(value)[:40]!r}.")
        return Decimal("0")
    if not parsed.is_finite():
        errors.add(name, "Enter an amount such as 12.50.")
        return Decimal("0")
    if parsed < 0:
        errors.add(name, "Must not be negative.")
    elif parsed >= MAX_AMOUNT:
        errors.add(name, "This amount is too large.")
    elif _CURRENCY.match(currency or "") and quantize(parsed, currency) != parsed:
        places = -quantize(Decimal(1), currency).as_tuple().exponent
        errors.add(name, f"At most {places} decimal places for {currency}.")
    return parsed


def whole_number(value, name: str, errors: Errors, *, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,19}\s*", value):
        value = int(value)
    if isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(name, f"Enter a whole number from {low} to {high}.")
        return low
    return value


def boolean(value, name: str, errors: Errors, *, default: bool) -> bool:
    """true/false (JSON), or "true"/"false", "yes"/"no", "1"/"0" as text."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    errors.add(name, "Enter true or false.")
    return default


def moment(value, name: str, errors: Errors) -> datetime | None:
    """ISO 8601 date-time (or date); a time without zone is read as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        raw = value.strip()
        try:
            parsed = parse_datetime(raw)
            if parsed is None and parse_date(raw) is not None:
                day: date = parse_date(raw)
                parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            parsed = None
        if parsed is None:
            errors.add(name, "Enter a date and time such as 2026-05-01T14:30:00Z.")
            return None
    else:
        errors.add(name, "Enter a date and time such as 2026-05-01T14:30:00Z.")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def email(value, name: str, errors: Errors) -> str:
    value = text(value, name, errors, max_length=254)
    if value:
        try:
            validate_email(value)
        except ValidationError:
            errors.add(name, f"{value!r} is not a valid e-mail address.")
    return value


def currency_code(value, name: str, errors: Errors, *, default: str) -> str:
    value = text(value, name, errors, max_length=40).upper() or default.upper()
    if not _CURRENCY.match(value):
        errors.add(name, "Enter a three-letter ISO 4217 code such as USD.")
    return value


def address(value, name: str, errors: Errors) -> dict:
    """A shipping address with every key of ADDRESS_FIELDS ("" when not given)."""
    if not isinstance(value, dict):
        errors.add(name, "Enter the shipping address as an object with name, address1, "
                         "city, zip and country_code.")
        return {}
    raw = {ADDRESS_ALIASES.get(k, k): v for k, v in value.items()}
    clean: dict[str, str] = {}
    for key in raw:
        if key not in ADDRESS_FIELDS:
            errors.add(f"{name}.{key}", "Unknown field. Use: " + ", ".join(ADDRESS_FIELDS) + ".")
    for key, max_length in ADDRESS_FIELDS.items():
        required = key in ADDRESS_REQUIRED
        label = {"address1": "The street address", "country_code": "The country",
                 "name": "The recipient's name", "city": "The city"}.get(key, "")
        # Country: a long value gets the ISO-code message below, not a length one.
        limit = 60 if key == "country_code" else max_length
        clean[key] = text(raw.get(key), f"{name}.{key}", errors, max_length=limit,
                          required=required, label=label)
    clean["country_code"] = clean["country_code"].upper()
    if clean["country_code"] and not _COUNTRY.match(clean["country_code"]):
        errors.add(f"{name}.country_code",
                   "Enter the two-letter ISO country code, such as US or DE.")
    if clean["country_code"] == "US":
        zip_code = clean["zip"]
        if not zip_code:
            errors.add(f"{name}.zip", "A US address needs a ZIP code.")
        elif not _US_ZIP.match(zip_code):
            errors.add(f"{name}.zip", "Enter a US ZIP code such as 62701 or 62701-1234.")
    return clean


def parse_key_values(raw: str) -> list[dict] | None:
    """'Name=Ana; Color=Red' -> [{"key": "Name", "value": "Ana"}, ...]; None if malformed."""
    out = []
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            return None
        out.append({"key": key.strip(), "value": value.strip()})
    return out


def personalization(value, name: str, errors: Errors) -> list[dict]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        parsed = parse_key_values(value)
        if parsed is None:
            errors.add(name, "Write personalisation as key=value pairs separated by ';', "
                             "such as 'Name=Ana; Color=Red'.")
            return []
        value = parsed
    elif isinstance(value, dict):
        value = [{"key": k, "value": v} for k, v in value.items()]
    if not isinstance(value, list):
        errors.add(name, "Enter a list of {key, value} pairs.")
        return []
    if len(value) > MAX_PERSONALIZATION:
        errors.add(name, f"At most {MAX_PERSONALIZATION} personalisation fields.")
        return []
    clean = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"key", "value"}:
            errors.add(f"{name}.{i}", "Enter an object with 'key' and 'value'.")
            continue
        key = text(item.get("key"), f"{name}.{i}.key", errors, max_length=100)
        if not key:
            errors.add(f"{name}.{i}.key", "Give this personalisation field a name (key), "
                                          "such as Name=Ana.")
        val = text(item.get("value"), f"{name}.{i}.value", errors, max_length=2000)
        clean.append({"key": key, "value": val})
    return clean


def images(value, name: str, errors: Errors) -> list[dict]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [u for u in re.split(r"[\s,;]+", value) if u]
    if not isinstance(value, list):
        errors.add(name, "Enter a list of image URLs.")
        return []
    if len(value) > MAX_IMAGES:
        errors.add(name, f"At most {MAX_IMAGES} images per item.")
        return []
    clean = []
    for i, item in enumerate(value):
        key, url = "", item
        if isinstance(item, dict):
            if set(item) - {"key", "url"}:
                errors.add(f"{name}.{i}", "Enter a URL, or an object with 'key' and 'url'.")
                continue
            key = text(item.get("key"), f"{name}.{i}.key", errors, max_length=100)
            url = item.get("url")
        url = text(url, f"{name}.{i}", errors, max_length=2000, required=True,
                   label="The image URL")
        if url:
            try:
                _url(url)
            except ValidationError:
                errors.add(f"{name}.{i}", f"{url[:80]!r} is not an http(s) URL.")
                continue
        clean.append({"key": key, "url": url})
    return clean


# --- the order ------------------------------------------------------------------------


def _line(value, name: str, errors: Errors, *, currency: str, require_sku: bool) -> LineInput:
    if not isinstance(value, dict):
        errors.add(name, "Enter the line item as an object with sku, quantity and unit_price.")
        return LineInput(sku="", title="", quantity=1, unit_price=Decimal("0"))
    for key in value:
        if key not in LINE_FIELDS:
            errors.add(f"{name}.{key}", "Unknown field. Use: " + ", ".join(sorted(LINE_FIELDS))
                       + ".")
    sku = text(value.get("sku"), f"{name}.sku", errors, max_length=128, required=require_sku,
               label="The SKU")
    title = text(value.get("title"), f"{name}.title", errors, max_length=255) or sku
    if not title and not errors.fields.get(f"{name}.sku"):
        errors.add(f"{name}.title", "Give the item a title or a SKU.")
    line = LineInput(
        sku=sku,
        title=title,
        quantity=whole_number(value.get("quantity", 1), f"{name}.quantity", errors, low=1,
                              high=MAX_QUANTITY),
        unit_price=amount(value.get("unit_price"), f"{name}.unit_price", errors,
                          currency=currency, required=True),
        discount=amount(value.get("discount"), f"{name}.discount", errors, currency=currency),
        external_id=text(value.get("external_id"), f"{name}.external_id", errors,
                         max_length=128),
        store_product_id=text(value.get("store_product_id"), f"{name}.store_product_id",
                              errors, max_length=128),
        store_variant_id=text(value.get("store_variant_id"), f"{name}.store_variant_id",
                              errors, max_length=128),
        variant_title=text(value.get("variant_title"), f"{name}.variant_title", errors,
                           max_length=255),
        personalization=personalization(value.get("personalization"),
                                        f"{name}.personalization", errors),
        images=images(value.get("images"), f"{name}.images", errors),
    )
    if "catalog_variant_id" in value:
        line.catalog_variant_given = True
        raw = value["catalog_variant_id"]
        if raw not in (None, ""):
            line.catalog_variant_id = whole_number(raw, f"{name}.catalog_variant_id", errors,
                                                   low=1, high=2**62)
    if line.unit_price >= 0 and line.discount > line.unit_price * line.quantity:
        errors.add(f"{name}.discount", "The discount is larger than the item's price.")
    return line


def validate_order_input(
    data, *, default_currency: str = "USD", require_sku: bool = False,
    require_number: bool = False,
) -> OrderInput:
    """Check an order dict and return clean values; raise ValidationFailed with every reason.

    `require_number`: manual and CSV orders must name their order number;
    `require_sku`: outside-source items map to the catalog by SKU only.
    """
    errors = Errors()
    if not isinstance(data, dict):
        errors.add("non_field_errors", "Send the order as a JSON object.")
        errors.raise_if_any()
    for key in data:
        if key not in ORDER_FIELDS:
            errors.add(key, "Unknown field. Use: " + ", ".join(sorted(ORDER_FIELDS - {"source"}))
                       + ".")
    currency = currency_code(data.get("currency"), "currency", errors, default=default_currency)
    number = text(data.get("number"), "number", errors, max_length=64, required=require_number,
                  label="The order number")
    external_id = text(data.get("external_id"), "external_id", errors, max_length=128)
    if not (number or external_id) and "number" not in errors.fields:
        errors.add("number", "The order number is required.")
    channel_key = "channel" if data.get("channel") else "source"
    channel = text(data.get(channel_key), channel_key, errors, max_length=32).lower()
    shipping_address = address(data.get("shipping_address"), "shipping_address", errors)
    buyer_name = text(data.get("buyer_name"), "buyer_name", errors, max_length=200) \
        or shipping_address.get("name", "")
    raw_lines = data.get("line_items")
    lines: list[LineInput] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.add("line_items", "Add at least one line item.")
    elif len(raw_lines) > MAX_LINES:
        errors.add("line_items", f"At most {MAX_LINES} line items per order.")
    else:
        lines = [_line(item, f"line_items.{i}", errors, currency=currency,
                       require_sku=require_sku) for i, item in enumerate(raw_lines)]
    computed = sum((ln.unit_price * ln.quantity - ln.discount for ln in lines), Decimal("0"))
    subtotal = amount(data.get("subtotal"), "subtotal", errors, currency=currency,
                      default=computed)
    discount = amount(data.get("discount"), "discount", errors, currency=currency)
    shipping = amount(data.get("shipping"), "shipping", errors, currency=currency)
    tax = amount(data.get("tax"), "tax", errors, currency=currency)
    total_default = subtotal - discount + shipping + tax
    total = amount(data.get("total"), "total", errors, currency=currency,
                   default=max(total_default, Decimal("0")))
    if discount > subtotal + shipping:
        errors.add("discount", "The discount is larger than the order's subtotal.")
    result = OrderInput(
        external_id=external_id or number,
        number=number or external_id,
        channel=channel,
        currency=currency,
        buyer_name=buyer_name,
        buyer_email=email(data.get("buyer_email"), "buyer_email", errors),
        shipping_address=shipping_address,
        placed_at=moment(data.get("placed_at"), "placed_at", errors),
        updated_at=moment(data.get("updated_at"), "updated_at", errors),
        subtotal=subtotal, discount=discount, shipping=shipping, tax=tax, total=total,
        lines=lines,
        store_paid=boolean(data.get("store_paid"), "store_paid", errors, default=True),
        store_paid_given=data.get("store_paid") not in (None, ""),
    )
    errors.raise_if_any()
    return result
