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

from django.db import connection
from django_scopes import ScopeError, get_scope

from automation.models import Rule
from orders.models import LineItem, Order, OrderEvent


def _check_scope(workspace_id: int) -> None:
    current = get_scope()
    if not current.get("_enabled", True):
        return
    if "workspace" not in current:
        raise ScopeError("A scope on dimension(s) workspace needs to be active for this query.")
    active = current["workspace"]
    allowed = active if isinstance(active, list | tuple) else [active]
    if active is not None and workspace_id not in {getattr(w, "pk", w) for w in allowed}:
        raise ScopeError(f"Workspace {workspace_id} is outside the active scope.")


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


_EVENT_SQL = (
    "SELECT e.type, e.actor_type, e.actor_label, o.id, o.store_id, o.shipping_address, "
    "o.currency, o.total_amount, o.buyer_email, o.hold_message, o.cancel_note, "
    "l.sku, l.quantity, l.catalog_variant_id, l.personalization "
    f"FROM {OrderEvent._meta.db_table} e JOIN {Order._meta.db_table} o ON o.id = e.order_id "
    f"LEFT JOIN {LineItem._meta.db_table} l ON l.order_id = o.id "
    "WHERE e.id = %s AND e.workspace_id = %s ORDER BY l.id")


def event_for_rules(workspace_id: int, event_id: int) -> EventRow | None:
    _check_scope(workspace_id)
    with connection.cursor() as cur:
        cur.execute(_EVENT_SQL, [event_id, workspace_id])
        rows = cur.fetchall()
    if not rows:
        return None
    first = rows[0]
    lines = [(sku, qty, variant, _json(pers)) for *_, sku, qty, variant, pers in rows
             if qty is not None]
    return EventRow(*first[:3], order_id=first[3], store_id=first[4],
                    address=_json(first[5]) or {}, currency=first[6], total=first[7],
                    buyer_email=first[8], hold_message=first[9], cancel_note=first[10],
                    lines=lines)
