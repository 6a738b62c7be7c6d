"""What the rules task reads for each order event, in two plain SQL queries: the
workspace's enabled rules of the trigger, and the event with its order and lines.

Written as SQL because it runs for every order event: the ORM's compiling and model
building cost more than the rules themselves (bench/rules_bench.py, docs/benchmarks.md).
Both queries filter by workspace and check the active scope (as orders/selectors.py).
JSON columns come back decoded on PostgreSQL and as text on SQLite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from automation.models import OrderTag, Rule
from orders.events import OrderEvents
from orders.models import LineItem, Order, OrderEvent
from orders.selectors import _check_scope as check_scope


class _Workspace(NamedTuple):
    pk: int


def _check_scope(workspace_id: int) -> None:
    """Raw SQL bypasses the ScopedManager: the rule of orders/selectors.py applies."""
    check_scope(_Workspace(workspace_id))


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass
class RuleRow:
    """A rule as evaluation needs it (the model is loaded only for one that matches)."""

    pk: int
    name: str
    match: str
    conditions: list
    actions: list

    @property
    def actor_label(self) -> str:
        return f"Auto: rule {self.name}"[:120]


_RULES_SQL = (f"SELECT id, name, match, conditions, actions FROM {Rule._meta.db_table} "
              "WHERE workspace_id = %s AND trigger = %s AND enabled "
              "ORDER BY position, id")


def trigger_rules(workspace_id: int, trigger: str) -> list[RuleRow]:
    _check_scope(workspace_id)
    with connection.cursor() as cur:
        cur.execute(_RULES_SQL, [workspace_id, trigger])
        return [RuleRow(pk, name, match, _json(conds) or [], _json(acts) or [])
                for pk, name, match, conds, acts in cur.fetchall()]


# (workspace id, trigger) -> (the workspace's rules version, its rules): a process keeps
# the rules it read until the version the event query brings says they changed.
_cache: dict[tuple[int, str], tuple[tuple, list[RuleRow]]] = {}
CACHE_SIZE = 2000


def cached_rules(workspace_id: int, trigger: str, version: tuple) -> list[RuleRow]:
    """The trigger's enabled rules, read again only when the workspace's rules changed
    (a rule saved, disabled, moved or deleted changes `version`: count and last change)."""
    if not version[0]:
        return []
    key = (workspace_id, trigger)
    hit = _cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    rows = trigger_rules(workspace_id, trigger)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()
    _cache[key] = (version, rows)
    return rows


@dataclass
class EventRow:
    type: str
    actor_type: str
    actor_label: str
    order_id: int
    store_id: int
    address: dict
    currency: str
    total: object
    buyer_email: str
    hold_message: str
    cancel_note: str
    lines: list[tuple]  # (sku, quantity, catalog variant id, personalization)
    rules_version: tuple  # (how many rules the workspace has, when one last changed)
    tags: set | None = None  # read with the event when a rule needs them (wants_extra)
    notes: list | None = None


_EVENT_SQL = (
    "SELECT e.type, e.actor_type, e.actor_label, o.id, o.store_id, o.shipping_address, "
    "o.currency, o.total_amount, o.buyer_email, o.hold_message, o.cancel_note, "
    "l.sku, l.quantity, l.catalog_variant_id, l.personalization, "
    f"(SELECT COUNT(*) FROM {Rule._meta.db_table} r WHERE r.workspace_id = e.workspace_id), "
    f"(SELECT MAX(r.updated_at) FROM {Rule._meta.db_table} r "
    "WHERE r.workspace_id = e.workspace_id) "
    f"FROM {OrderEvent._meta.db_table} e JOIN {Order._meta.db_table} o ON o.id = e.order_id "
    f"LEFT JOIN {LineItem._meta.db_table} l ON l.order_id = o.id "
    "WHERE e.id = %s AND e.workspace_id = %s ORDER BY l.id")


def _event_sql_extra() -> str:
    """_EVENT_SQL that also brings the order's tags and notes (JSON arrays), for rules
    with a tag or note condition: one query per event instead of two."""
    agg = "json_agg" if connection.vendor == "postgresql" else "json_group_array"
    tags = (f"(SELECT {agg}(t.name) FROM {OrderTag._meta.db_table} t "
            "WHERE t.order_id = o.id)")
    notes = (f"(SELECT {agg}(n.message) FROM {OrderEvent._meta.db_table} n "
             "WHERE n.order_id = o.id AND n.type = %s)")
    head, tail = _EVENT_SQL.split(f" FROM {OrderEvent._meta.db_table} e ", 1)
    return f"{head}, {tags}, {notes} FROM {OrderEvent._meta.db_table} e {tail}"


def event_for_rules(workspace_id: int, event_id: int, *,
                    extra: bool = False) -> EventRow | None:
    """The event, its order and lines and the rules version; with `extra`, the order's
    tags and notes too (EventRow.tags/notes, None without)."""
    _check_scope(workspace_id)
    with connection.cursor() as cur:
        if extra:
            cur.execute(_event_sql_extra(),
                        [OrderEvents.NOTE_ADDED.value, event_id, workspace_id])
        else:
            cur.execute(_EVENT_SQL, [event_id, workspace_id])
        rows = cur.fetchall()
    if not rows:
        return None
    first = rows[0]
    tags = notes = None
    if extra:
        tags = {t for t in _json(first[-2]) or [] if t is not None}
        notes = [n for n in _json(first[-1]) or [] if n is not None]
        rows = [r[:-2] for r in rows]
        first = rows[0]
    lines = [(sku, qty, variant, _json(pers)) for *_, sku, qty, variant, pers, _, _ in rows
             if qty is not None]
    return EventRow(*first[:3], order_id=first[3], store_id=first[4],
                    address=_json(first[5]) or {}, currency=first[6], total=first[7],
                    buyer_email=first[8], hold_message=first[9], cancel_note=first[10],
                    lines=lines, rules_version=(first[-2], first[-1]), tags=tags,
                    notes=notes)


EXTRA_FIELDS = ("tag", "note")  # conditions that read the order's tags or notes


def wants_extra(workspace_id: int, trigger: str) -> bool:
    """Whether the trigger's rules, as this process last read them, have a tag or note
    condition (then the event query brings them; if the rules changed meanwhile, the
    loaders read them if needed)."""
    hit = _cache.get((workspace_id, trigger))
    return hit is not None and any(c.get("field") in EXTRA_FIELDS
                                   for r in hit[1] for c in r.conditions)


_EXTRA_SQL = (f"SELECT 't', t.name FROM {OrderTag._meta.db_table} t WHERE t.order_id = %s "
              "UNION ALL "
              f"SELECT 'n', e.message FROM {OrderEvent._meta.db_table} e "
              "WHERE e.order_id = %s AND e.type = %s")


def tags_and_notes(workspace_id: int, order_id: int) -> tuple[set[str], list[str]]:
    """The order's tags and the notes added to it, in one query (read only when a rule
    has a tag or note condition)."""
    _check_scope(workspace_id)
    with connection.cursor() as cur:
        cur.execute(_EXTRA_SQL, [order_id, order_id, OrderEvents.NOTE_ADDED.value])
        rows = cur.fetchall()
    return {v for k, v in rows if k == "t"}, [v for k, v in rows if k == "n"]


# --- which triggers a workspace has rules for (orders.events `when`, per event) ----------

_TRIGGERS = "automation:triggers:"  # + workspace id: (version, the triggers with rules)
_VERSION = "automation:rules-version:"  # + workspace id: bumped after each rule change
TRIGGERS_TTL = 300


def has_rules(workspace_id: int, trigger: str) -> bool:
    """Whether the workspace has an enabled rule of `trigger`, from the shared cache.

    The cached set carries the rules version it was read under; a rule saved or deleted
    bumps the version after its commit (`rules_changed`), so a set read before that
    commit is never used after it. Without a cache: True (the task decides)."""
    from django.core.cache import cache
    from django_scopes import scopes_disabled

    try:
        got = cache.get_many([_TRIGGERS + str(workspace_id), _VERSION + str(workspace_id)])
        version = got.get(_VERSION + str(workspace_id), 0)
        cached = got.get(_TRIGGERS + str(workspace_id))
        if cached is not None and cached[0] == version:
            return trigger in cached[1]
        with scopes_disabled():
            triggers = set(Rule.objects.filter(workspace_id=workspace_id, enabled=True)
                           .values_list("trigger", flat=True).distinct())
        cache.set(_TRIGGERS + str(workspace_id), (version, triggers), TRIGGERS_TTL)
        return trigger in triggers
    except Exception:  # a cache that is down must not silence a rule
        return True


def rules_changed(sender, instance, **kwargs) -> None:
    """post_save/post_delete of a Rule: the workspace's triggers are read again — bumped
    now (this transaction sees the rule) and again after the commit (a set another
    process read meanwhile, without it, is dropped). A bulk .update() that only disables
    rules needs no bump: a task rung for a rule just disabled finds none."""
    from django.core.cache import cache
    from django.db import transaction

    def bump():
        key = _VERSION + str(instance.workspace_id)
        try:
            cache.add(key, 0, None)
            cache.incr(key)
        except Exception:  # the set expires after TRIGGERS_TTL
            cache.delete(_TRIGGERS + str(instance.workspace_id))

    bump()
    transaction.on_commit(bump)
