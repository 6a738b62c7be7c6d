"""Rule conditions: what each one checks, how it is validated, and the facts it reads.

A condition is `{"field": ..., "op": ..., "value": ...}`. `validate` turns what a seller
sent into the stored form or raises ValidationFailed naming the field
(`conditions[2].value`). `Facts` is the order as the conditions see it, built once per
event (from an order, or from an import's input before the order exists), so fifty
rules cost one read of the order (bench/rules_bench.py).

"Margin after costs" is the selling price after discounts less base cost + shipping +
handling, in the billing currency (quotes.pricing, the loss guard's figures); an order
that cannot be fully costed yet never matches a margin condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from podhub.core.exceptions import ValidationFailed

# address fields an order needs to be shipped (orders/inputs.py checks the same ones)
ADDRESS_NEEDED = ("name", "address1", "city", "country_code")


@dataclass
class Line:
    sku: str
    quantity: int
    product_id: int | None = None  # the catalog product (quotes.Product) it maps to
    personalised: bool = False
    variant_id: int | None = None  # the catalog variant (products are read when asked)


def _nothing() -> set:
    return set()


@dataclass
class Facts:
    """What is read only when a rule asks for it (tags, notes, products, margin) is a
    loader, called at most once."""

    store_id: int | None
    country: str
    region: str  # the province/state code as the store sent it
    currency: str
    total: Decimal
    buyer_email: str
    address: dict
    lines: list[Line]
    load_tags: Callable[[], set[str]] = _nothing
    load_notes: Callable[[], list[str]] = list
    load_products: Callable[[set[int]], dict[int, int]] | None = None  # variant -> product
    margin: Callable[[], Decimal | None] = lambda: None  # it prices the order
    _seen: dict = field(default_factory=dict, repr=False)

    @property
    def quantity(self) -> int:
        return sum(ln.quantity for ln in self.lines)

    @property
    def tags(self) -> set[str]:
        if "tags" not in self._seen:
            self._seen["tags"] = self.load_tags()
        return self._seen["tags"]

    @property
    def notes(self) -> list[str]:
        if "notes" not in self._seen:
            self._seen["notes"] = self.load_notes()
        return self._seen["notes"]

    def with_products(self) -> list[Line]:
        if "products" not in self._seen:
            wanted = {ln.variant_id for ln in self.lines if ln.variant_id}
            found = self.load_products(wanted) if self.load_products and wanted else {}
            for ln in self.lines:
                if ln.variant_id:
                    ln.product_id = found.get(ln.variant_id)
            self._seen["products"] = True
        return self.lines


# --- the condition kinds ------------------------------------------------------------------

NUMBER_OPS = {"gt": "is more than", "gte": "is at least", "lt": "is less than",
              "lte": "is at most", "eq": "is"}


@dataclass(frozen=True)
class Kind:
    label: str
    ops: dict[str, str]  # op -> how it reads ("is one of")
    value: str  # "list", "text", "number", "money", "id", "none"
    refers_to: str = ""  # "store", "product": a deleted one disables the rule
    line_level: bool = False  # a SKU/product condition: "skip import" may drop those items


KINDS: dict[str, Kind] = {
    "store": Kind("Store", {"is": "is", "is_not": "is not"}, "id", refers_to="store"),
    "country": Kind("Ship-to country", {"in": "is one of", "not_in": "is none of"}, "list"),
    "region": Kind("Ship-to region/state", {"in": "is one of", "not_in": "is none of"}, "list"),
    "sku": Kind("SKU (any item)", {"is": "is", "starts_with": "starts with"}, "text",
                line_level=True),
    "product": Kind("Catalog product (any item)", {"is": "is"}, "id", refers_to="product",
                    line_level=True),
    "tag": Kind("Tag", {"has": "has", "has_not": "has not"}, "text"),
    "quantity": Kind("Items (total quantity)", NUMBER_OPS, "number"),
    "total": Kind("Order total (order currency)", NUMBER_OPS, "money"),
    "margin": Kind("Margin after costs (billing currency)", NUMBER_OPS, "money"),
    "currency": Kind("Currency", {"in": "is one of", "not_in": "is none of"}, "list"),
    "personalisation": Kind("Personalisation", {"present": "is present on an item",
                                                "missing": "is missing on every item"},
                            "none"),
    "email_domain": Kind("Buyer e-mail domain", {"in": "is one of", "not_in": "is none of"},
                         "list"),
    "note": Kind("Order note", {"contains": "contains"}, "text"),
    "address": Kind("Shipping address", {"incomplete": "is incomplete",
                                         "complete": "is complete"}, "none"),
}

_CODE = re.compile(r"^[A-Za-z0-9.\-]{1,100}$")


def _list(value, where: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not value or len(value) > 200:
        raise ValidationFailed(f"{where}: give one or more values.",
                               fields={where: "Give one or more values (e.g. BR, PT)."})
    out = []
    for v in value:
        if not isinstance(v, str) or not _CODE.match(v.strip()):
            raise ValidationFailed(f"{where}: {v!r} is not a code.",
                                   fields={where: f"{v!r} is not a code (letters, digits, "
                                           "dots, dashes)."})
        out.append(v.strip())
    return out


def _number(value, where: str, *, whole: bool) -> str | int:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or (whole and number != number.to_integral()) \
            or isinstance(value, bool) or abs(number) >= Decimal("1e15"):
        what = "a whole number" if whole else "an amount (e.g. 200 or 19.99)"
        raise ValidationFailed(f"{where}: enter {what}.", fields={where: f"Enter {what}."})
    return int(number) if whole else str(number)


def validate(conditions, *, workspace, at: str = "conditions") -> list[dict]:
    """The stored form of `conditions`, or ValidationFailed naming the wrong field."""
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list) or len(conditions) > 50:
        raise ValidationFailed(f"{at}: send a list of at most 50 conditions.",
                               fields={at: "Send a list of at most 50 conditions."})
    return [validate_one(c, workspace=workspace, at=f"{at}[{i}]")
            for i, c in enumerate(conditions)]


def validate_one(cond, *, workspace, at: str) -> dict:
    if not isinstance(cond, dict):
        raise ValidationFailed(f"{at}: send an object with field, op and value.",
                               fields={at: "Send an object with field, op and value."})
    name = cond.get("field")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValidationFailed(f"{at}.field: unknown condition {name!r}.",
                               fields={f"{at}.field": "Choose one of: "
                                       + ", ".join(KINDS) + "."})
    op = cond.get("op") or next(iter(kind.ops))
    if op not in kind.ops:
        raise ValidationFailed(f"{at}.op: {op!r} does not apply to {name}.",
                               fields={f"{at}.op": "Choose one of: " + ", ".join(kind.ops)
                                       + "."})
    where = f"{at}.value"
    raw = cond.get("value")
    if kind.value == "none":
        value = None
    elif kind.value == "list":  # codes upper case (BR, USD), e-mail domains lower case
        value = [v.lower() if name == "email_domain" else v.upper() for v in _list(raw, where)]
    elif kind.value == "text":
        if not isinstance(raw, str) or not raw.strip() or len(raw) > 200:
            raise ValidationFailed(f"{where}: enter some text (at most 200 characters).",
                                   fields={where: "Enter some text (at most 200 characters)."})
        value = raw.strip()
    elif kind.value == "number":
        value = _number(raw, where, whole=True)
    elif kind.value == "money":
        value = _number(raw, where, whole=False)
    else:  # an id of the workspace's store / a catalog product it may use
        value = _reference(kind.refers_to, raw, workspace=workspace, where=where)
    return {"field": name, "op": op, "value": value}


def _reference(refers_to: str, raw, *, workspace, where: str) -> int:
    from podhub.core.api import parse_id

    value = parse_id(raw, field=where, what=refers_to)
    if not reference_exists(refers_to, value, workspace=workspace):
        raise ValidationFailed(f"{where}: no such {refers_to} in this workspace.",
                               fields={where: f"No such {refers_to} in this workspace."})
    return value


def reference_exists(refers_to: str, pk: int, *, workspace) -> bool:
    return bool(existing(refers_to, {pk}, workspace=workspace))


def existing(refers_to: str, ids: set[int], *, workspace) -> set[int]:
    """The ids among `ids` of what still exists (one query per kind)."""
    if not ids:
        return set()
    if refers_to == "store":
        from orders.models import Store

        qs = Store.objects.filter(workspace=workspace, pk__in=ids)
    elif refers_to == "product":
        from django.db.models import Q

        from quotes.models import Product

        qs = Product.objects.filter(Q(made_for_workspace__isnull=True)
                                    | Q(made_for_workspace=workspace), pk__in=ids)
    elif refers_to == "provider":
        from quotes.models import Provider

        qs = Provider.objects.filter(pk__in=ids)
    elif refers_to == "endpoint":
        from webhooks.models import WebhookEndpoint

        qs = WebhookEndpoint.objects.filter(workspace=workspace, pk__in=ids)
    else:
        return set()
    return set(qs.values_list("pk", flat=True))


# --- evaluation -----------------------------------------------------------------------------


def _compare(have, op: str, want) -> bool:
    want = Decimal(str(want))
    return {"gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want,
            "eq": have == want}[op]


def holds(cond: dict, facts: Facts) -> bool:
    """Does one (validated) condition hold for these facts?"""
    name, op, value = cond["field"], cond["op"], cond.get("value")
    if name == "store":
        return (facts.store_id == value) == (op == "is")
    if name in ("country", "region", "currency", "email_domain"):
        have = (facts.buyer_email.rpartition("@")[2].lower() if name == "email_domain" else
                {"country": facts.country, "region": facts.region,
                 "currency": facts.currency}[name].upper())
        return (have in value) == (op == "in")
    if name == "sku":
        return any(line_holds(cond, ln) for ln in facts.lines)
    if name == "product":
        return any(line_holds(cond, ln) for ln in facts.with_products())
    if name == "tag":
        return (value.lower() in facts.tags) == (op == "has")
    if name == "quantity":
        return _compare(facts.quantity, op, value)
    if name == "total":
        return _compare(facts.total, op, value)
    if name == "margin":
        margin = facts.margin()
        return margin is not None and _compare(margin, op, value)
    if name == "personalisation":
        present = any(ln.personalised for ln in facts.lines)
        return present == (op == "present")
    if name == "note":
        needle = value.lower()
        return any(needle in note.lower() for note in facts.notes)
    if name == "address":
        incomplete = any(not str(facts.address.get(f) or "").strip() for f in ADDRESS_NEEDED)
        return incomplete == (op == "incomplete")
    return False


def line_holds(cond: dict, line: Line) -> bool:
    if cond["field"] == "sku":
        sku, want = line.sku.lower(), cond["value"].lower()
        return sku == want if cond["op"] == "is" else sku.startswith(want)
    return line.product_id == cond["value"]


def matches(rule, facts: Facts) -> list[dict] | None:
    """The conditions that held when the rule matches, else None. No conditions: every
    order matches."""
    conds = rule.conditions or []
    if not conds:
        return []
    held = [c for c in conds if holds(c, facts)]
    if rule.match == "any":
        return held or None
    return held if len(held) == len(conds) else None


def describe(cond: dict) -> str:
    kind = KINDS.get(cond.get("field"))
    if kind is None:
        return str(cond)
    value = cond.get("value")
    if isinstance(value, list):
        value = ", ".join(value)
    said = f"{kind.label} {kind.ops.get(cond.get('op'), cond.get('op'))}"
    return f"{said} {value}" if value is not None else said
