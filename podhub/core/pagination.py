"""The seller API's one pagination (docs/api.md "Pagination"): keyset cursors.

Every list answers `{"results": [...], "next_cursor": "..." | null}` and takes
`?limit=` (1 to MAX_PAGE_SIZE, default PAGE_SIZE) and `?after=<next_cursor>`. The
cursor is the last row's position in the list's ordering (opaque to clients), so a
deep page costs what the first costs and rows arriving between two pages are neither
repeated nor skipped. The order list keeps its own SQL (orders/selectors.py) with the
same parameters, cursors and answer.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.db.models import Q, QuerySet
from rest_framework import serializers

from podhub.core.exceptions import ValidationFailed

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageParams(serializers.Serializer):
    """The two query parameters of every list (`parameters=[PageParams]` in the schema)."""

    after = serializers.CharField(max_length=500, required=False,
                                  help_text="`next_cursor` of the previous page.")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=PAGE_SIZE)


@dataclass
class Page:
    rows: list
    next_cursor: str | None


def encode_cursor(values: list) -> str:
    """An opaque cursor for a row's position: its ordering values (datetimes in ISO form)."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: list[models.Field]) -> list | None:
    """The values `cursor` stands for, each checked against its field's type; None when
    it is not one of ours."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(fields):
            return None
        out = []
        for field, value in zip(fields, values, strict=True):
            if isinstance(field, models.DateTimeField):
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    return None
            elif isinstance(field, models.BooleanField):
                if not isinstance(value, bool):
                    return None
            elif isinstance(field, models.IntegerField | models.AutoField):
                if isinstance(value, bool) or not isinstance(value, int):
                    return None
            elif not isinstance(value, str):
                return None
            out.append(value)
        return out
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def _field(model, path: str) -> models.Field:
    """The field `path` names, across relations (`zone__name`)."""
    *hops, name = path.split("__")
    for hop in hops:
        model = model._meta.get_field(hop).related_model
    return model._meta.pk if name in ("id", "pk") else model._meta.get_field(name)


def _value(row, path: str):
    for name in path.split("__"):
        row = getattr(row, name)
    return row


def paginate(queryset: QuerySet, *, params, ordering: tuple[str, ...] = ("-id",)) -> Page:
    """One page of `queryset` in `ordering` (non-null fields, related ones as `zone__name`
    (select_related them), ending with a unique one, the id). `params`: the request's
    query parameters; a bad `after` or `limit` is a 400 naming it.
    """
    checked = PageParams(data={k: params[k] for k in ("after", "limit") if k in params})
    checked.is_valid(raise_exception=True)
    limit = checked.validated_data.get("limit", PAGE_SIZE)
    after = checked.validated_data.get("after")
    names = [o.lstrip("-") for o in ordering]
    fields = [_field(queryset.model, n) for n in names]
    qs = queryset.order_by(*ordering)
    if after:
        position = decode_cursor(after, fields)
        if position is None:
            raise ValidationFailed("after: not a cursor this list returned.",
                                   fields={"after": "Not a cursor this list returned."})
        qs = qs.filter(_after(ordering, position))
    rows = list(qs[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([_value(rows[-1], n) for n in names]) if more else None
    return Page(rows=rows, next_cursor=next_cursor)


def _after(ordering: tuple[str, ...], values: list) -> Q:
    """Rows strictly after `values` in `ordering`: (a > x) or (a = x and b > y) ..."""
    condition = Q(pk__in=[])
    for i, term in enumerate(ordering):
        name = term.lstrip("-")
        step = Q(**{f"{name}__{'lt' if term.startswith('-') else 'gt'}": values[i]})
        for prev, value in zip(ordering[:i], values[:i], strict=True):
            step &= Q(**{prev.lstrip("-"): value})
        condition |= step
    return condition


def answer(page: Page, serializer_class, **kwargs) -> dict:
    return {"results": serializer_class(page.rows, many=True, **kwargs).data,
            "next_cursor": page.next_cursor}


@functools.cache
def page_of(serializer_class, name: str):
    """The schema of a page of `serializer_class`, named `name` in OpenAPI."""
    return type(name + "Serializer", (serializers.Serializer,), {
        "Meta": type("Meta", (), {"ref_name": name}),
        "results": serializer_class(many=True),
        "next_cursor": serializers.CharField(
            allow_null=True, help_text="Pass as `after` for the next page; null: the last."),
        "__doc__": f"A page of {name.removesuffix('Page')}s (docs/api.md \"Pagination\").",
    })
