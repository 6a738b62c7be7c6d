"""The layering and the single writer, checked (docs/architecture.md, "The apps").

- Each app imports only the apps below it: the import-linter contract in pyproject.toml
  (`[tool.importlinter]`), run here and in .ci/run as `lint-imports`.
- `orders.services` is the one writer of order rows: outside `orders/services/` no module
  (orders' own views and every admin.py included) sets an order's `state`, saves an order,
  creates, updates or deletes Order rows, or creates, updates, saves or deletes LineItem
  rows, and no admin of orders or their lines writes through its queryset or form; it
  calls `orders.services` (whose functions lock the order and write the timeline).

Each check is shown failing on a deliberate violation.
"""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.podhub.test_house_rules import ROOT, _name, product_files

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SIMULATORS = "sandboxes"  # beside the apps, never imported by them
APPS = ["podhub", "orders", "quotes", "billing", "fulfillment", "integrations", "webhooks",
        "automation", "insights"]

WRITER = "orders/services/"
# The modules outside orders/services/ that may write order rows themselves, and why.
WRITER_ALLOWED = {
    "bench/submit_bench.py": "seeds a hundred thousand due orders in bulk for the submit "
                             "sweep benchmark (docs/benchmarks.md); not the product",
}
ROW_WRITES = {"update", "bulk_update", "create", "bulk_create", "get_or_create",
              "update_or_create"}
ROW_CHANGES = ROW_WRITES | {"save", "delete"}  # on lines, an admin's rows, in actions
ORDER_WRITES = ROW_WRITES | {"delete"}
# A line reached through a relation: render.line_item, order.line_items.all()
LINE_RELATIONS = {"line_item", "line_items"}
# calls that pass lines through: list(lines), zip(copies, lines), ...
PASS_THROUGH = {"list", "sorted", "reversed", "zip", "enumerate", "iter", "next", "tuple"}


def _root(node: ast.expr) -> str:
    """The name a chain starts from: `Order` for Order.objects.filter(...).update."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else ""


def _names_an_order(node: ast.expr) -> bool:
    """`order`, `held_order`, `sub.order`, `orders[0]`: an expression naming an order."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return "order" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "order" in node.attr.lower()
    return False


def _chain(node: ast.expr):
    """Every link of a chain: order.line_items.all()[0] -> the call, the subscript, …"""
    while True:
        yield node
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _own_nodes(scope: ast.AST):
    """The nodes of one function (or of the module) without those of the functions inside."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, FUNCTIONS):
            todo.extend(ast.iter_child_nodes(node))


class _Lines:
    """Which expressions of one function are LineItem rows or querysets: a chain from
    `LineItem` or through `.line_item(s)`, and the names bound from one (assigned,
    iterated over, passed through list()/zip()/…, or collected by a comprehension);
    a function inside sees the names of the one around it."""

    def __init__(self, scope: ast.AST, outer: frozenset[str] = frozenset()):
        self.names: set[str] = set(outer)
        nodes = list(_own_nodes(scope))
        for _ in range(3):  # lines = …; for line in lines: …; for copy in copies: …
            for node in nodes:
                if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None \
                        and self.holds(node.value):
                    for target in (node.targets if isinstance(node, ast.Assign)
                                   else [node.target]):
                        self._bind(target)
                elif isinstance(node, ast.For | ast.comprehension) and self.holds(node.iter):
                    self._bind(node.target)

    def _bind(self, target: ast.expr) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                self.names.add(name.id)

    def holds(self, node: ast.expr) -> bool:
        for link in _chain(node):
            if isinstance(link, ast.Name) and (link.id == "LineItem" or link.id in self.names):
                return True
            if isinstance(link, ast.Attribute) and link.attr in LINE_RELATIONS:
                return True
            if isinstance(link, ast.Call) and isinstance(link.func, ast.Name) \
                    and link.func.id in PASS_THROUGH and any(map(self.holds, link.args)):
                return True
            if isinstance(link, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) \
                    and any(self.holds(g.iter) for g in link.generators):
                return True
        return False


def _line_writes(path: str, scope: ast.AST, outer: frozenset[str] = frozenset()) -> list[str]:
    """`….save()`, `.delete()`, `.update()`, `.bulk_update()`, `.create()`… on order lines."""
    lines = _Lines(scope, outer)
    found = []
    for node in _own_nodes(scope):
        if isinstance(node, FUNCTIONS):
            found += _line_writes(path, node, frozenset(lines.names))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ROW_CHANGES and lines.holds(node.func.value):
            found.append(f"{path}:{node.lineno}: writes order lines (….{node.func.attr}()): "
                         "call orders.services (orders/services/lines.py)")
    return found


ORDER_MODELS = {"Order", "LineItem", "OrderEvent"}
# what an admin saves or deletes with: its queryset, the object, the form
ADMIN_ROWS = {"queryset", "obj", "form", "formset", "instance"}
ADMIN_WRITERS = {"save_model", "delete_model", "delete_queryset", "save_formset",
                 "save_related"}


def _admin_of_orders(cls: ast.ClassDef) -> bool:
    """`@admin.register(Order)`, or an inline with `model = LineItem`."""
    if any(isinstance(deco, ast.Call) and _name(deco.func) == "register"
           and any(isinstance(a, ast.Name) and a.id in ORDER_MODELS for a in deco.args)
           for deco in cls.decorator_list):
        return True
    return any(isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name)
               and stmt.value.id in ORDER_MODELS
               and any(isinstance(t, ast.Name) and t.id == "model" for t in stmt.targets)
               for stmt in cls.body)


def _admin_writes(path: str, tree: ast.Module) -> list[str]:
    """An admin of orders, their lines or timeline that writes rows through its
    queryset, object or form, or calls Django's save_model/delete_queryset/…"""
    found = []
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef) or not _admin_of_orders(cls):
            continue
        for node in ast.walk(cls):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method = node.func.attr
            if method in ADMIN_WRITERS or (method in ROW_CHANGES
                                           and _root(node.func.value) in ADMIN_ROWS):
                found.append(f"{path}:{node.lineno}: the admin of {cls.name} writes rows "
                             f"(….{method}()): its actions call orders.services")
    return found


def single_writer_violations(path: str, source: str) -> list[str]:
    if path.startswith(WRITER) or path in WRITER_ALLOWED:
        return []
    tree = ast.parse(source)
    found = _line_writes(path, tree) + _admin_writes(path, tree)
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign)
                   else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr == "state" \
                    and _names_an_order(target.value):
                found.append(f"{path}:{node.lineno}: sets an order's state: call "
                             "orders.services (the one writer of Order.state)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == "state" \
                and _names_an_order(node.args[0]):
            found.append(f"{path}:{node.lineno}: setattr(…, 'state'): call orders.services")
        if not isinstance(func, ast.Attribute):
            continue
        root, method = _root(func.value), func.attr
        if root == "Order" and method in ORDER_WRITES:
            found.append(f"{path}:{node.lineno}: Order.….{method}(): order rows are written "
                         "by orders.services")
        elif method == "save" and _names_an_order(func.value):
            found.append(f"{path}:{node.lineno}: saves an order: call orders.services")
        elif method == "update" and any(kw.arg == "state" for kw in node.keywords) \
                and "order" in root.lower():
            found.append(f"{path}:{node.lineno}: .update(state=…) on orders: call "
                         "orders.services")
    return sorted(found, key=lambda v: int(v.split(":")[1]))


# Admin actions that still write rows themselves ("path:action"), and why.
ACTION_ALLOWED: dict[str, str] = {}  # none left: integrations' "Retry now" got its service


def _is_action(fn: ast.FunctionDef) -> bool:
    """`@admin.action(...)` or `@admin.action`."""
    return any(_name(d.func if isinstance(d, ast.Call) else d) == "action"
               for d in fn.decorator_list)


def admin_action_violations(path: str, source: str) -> list[str]:
    """A staff action in an admin.py changes rows only through its app's services (which
    lock, check and record): no .update()/.save()/.delete()/.create()… of its own."""
    if not path.endswith("admin.py"):
        return []
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef) or not _is_action(fn) \
                or f"{path}:{fn.name}" in ACTION_ALLOWED:
            continue
        found += [f"{path}:{node.lineno}: the admin action {fn.name} writes rows itself "
                  f"(….{node.func.attr}()): call its app's services"
                  for node in ast.walk(fn)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ROW_CHANGES]
    return found


def lint_imports(*args: str, cwd: Path, env: dict | None = None):
    return subprocess.run([str(LINT_IMPORTS), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


# --- the product keeps them --------------------------------------------------------------


def test_the_apps_keep_their_layers():
    result = lint_imports("--no-cache", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contract_names_every_app_lowest_last():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted([*APPS, SIMULATORS])
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    assert layers == list(reversed(APPS))  # the table of docs/architecture.md


def test_only_orders_writes_order_rows():
    files = product_files()
    walked = {p.relative_to(ROOT).as_posix() for p in files}
    # the apps' writers, every admin (staff's actions), and orders' own modules
    assert {"fulfillment/submission.py", "quotes/services.py", "billing/edits.py",
            "fulfillment/claims.py", "orders/admin.py", "orders/views.py", "quotes/admin.py",
            "billing/admin.py", "fulfillment/admin.py", "integrations/admin.py"} <= walked
    found = [v for p in files
             for v in single_writer_violations(p.relative_to(ROOT).as_posix(),
                                               p.read_text(encoding="utf-8"))]
    assert found == []


def test_admin_actions_call_services():
    files = [p for p in product_files() if p.name == "admin.py"]
    assert len(files) >= 6  # every app's admin
    found = [v for p in files
             for v in admin_action_violations(p.relative_to(ROOT).as_posix(),
                                              p.read_text(encoding="utf-8"))]
    assert found == []


def test_the_exceptions_exist():
    for path in WRITER_ALLOWED:
        assert (ROOT / path).exists(), path
    for key in ACTION_ALLOWED:
        path, action = key.split(":")
        assert f"def {action}(" in (ROOT / path).read_text(encoding="utf-8"), key


# --- and they catch a deliberate violation -----------------------------------------------


def _contracts_over_a_tree(tmp_path) -> None:
    """The contracts as configured, over an empty tree of the same packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]", f"root_packages = {json.dumps(config['root_packages'])}"]
    for contract in config["contracts"]:  # strings and lists of strings: JSON is TOML
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in contract.items()]
    (tmp_path / "contracts.toml").write_text("\n".join(lines) + "\n")
    for app in [*APPS, SIMULATORS]:
        (tmp_path / app).mkdir()
        (tmp_path / app / "__init__.py").write_text("")
    (tmp_path / "podhub" / "core.py").write_text("")


def _lint_tree(tmp_path):
    return lint_imports("--config", "contracts.toml", "--no-cache", cwd=tmp_path,
                        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})


def test_lint_imports_refuses_a_lower_app_importing_a_higher_one(tmp_path):
    # given the contracts as configured, over a tree where orders imports billing
    _contracts_over_a_tree(tmp_path)
    (tmp_path / "billing" / "ledger.py").write_text("from podhub import core\n")
    (tmp_path / "orders" / "services.py").write_text(
        "def order_mark_paid():\n    from billing import ledger  # upward\n")
    # when lint-imports checks it
    result = _lint_tree(tmp_path)
    # then it fails and names the import
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "orders.services -> billing.ledger" in result.stdout
    # and the same tree without the upward import passes (the failure was that import)
    (tmp_path / "orders" / "services.py").write_text("from podhub import core\n")
    result = _lint_tree(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_imports_refuses_the_product_importing_a_simulator(tmp_path):
    # given a provider adapter that imports its stand-in instead of naming it by a string
    _contracts_over_a_tree(tmp_path)
    (tmp_path / SIMULATORS / "printful.py").write_text("")
    (tmp_path / "fulfillment" / "printful.py").write_text(
        "from sandboxes import printful  # the simulator, inside the product\n")
    # then lint-imports fails and names it
    result = _lint_tree(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fulfillment.printful -> sandboxes.printful" in result.stdout
    # and without it the tree passes
    (tmp_path / "fulfillment" / "printful.py").write_text("")
    assert _lint_tree(tmp_path).returncode == 0


VIOLATIONS = [
    ("""
def approve(order):
    order.state = "x"
""", "sets an order's state"),
    ("""
def ship(sub):
    sub.order.state = OrderState.SHIPPED
""", "sets an order's state"),
    ("""
def cancel(order):
    setattr(order, "state", "cancelled")
""", "setattr(…, 'state')"),
    ("""
def cancel(ids):
    Order.objects.filter(pk__in=ids).update(state="cancelled")
""", "Order.….update()"),
    ("""
def unschedule(order):
    Order.objects.filter(pk=order.pk).update(submit_at=None)
""", "Order.….update()"),
    ("""
def bulk(ids):
    orders = Order.objects.filter(pk__in=ids)
    orders.update(state="cancelled")
""", ".update(state=…) on orders"),
    ("""
def copy(workspace, store):
    return Order.objects.create(workspace=workspace, store=store)
""", "Order.….create()"),
    ("""
def add_line(order):
    LineItem.objects.create(order=order, sku="MUG", quantity=1)
""", "writes order lines (….create())"),
    ("""
def unfund(order):
    LineItem.objects.filter(order=order).update(price_snapshot={})
""", "writes order lines (….update())"),
    ("""
def evaluate(order, now):
    lines = list(LineItem.objects.filter(order=order).order_by("pk"))
    for ln in lines:
        ln.updated_at = now
    LineItem.objects.bulk_update(lines, ["catalog_variant_id", "unmapped_reason"])
""", "writes order lines (….bulk_update())"),
    ("""
def reprint(reprint, lines):
    copies = list(LineItem.objects.filter(order=reprint).order_by("pk"))
    for copy, original in zip(copies, lines, strict=True):
        copy.catalog_variant_id = original.catalog_variant_id
        copy.save(update_fields=["catalog_variant_id"])
""", "writes order lines (….save())"),
    ("""
def drop(order, ids):
    found = {line.pk: line for line in order.line_items.all()}
    found[ids[0]].delete()
""", "writes order lines (….delete())"),
    ("""
def stamp(render):
    render.line_item.images = []
    render.line_item.save(update_fields=["images"])
""", "writes order lines (….save())"),
    ("""
def purge(store):
    Order.objects.filter(store=store).delete()
""", "Order.….delete()"),
    ("""
@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        queryset.update(cancel_reason="copyright")
""", "the admin of OrderAdmin writes rows (….update())"),
    ("""
class LineItemInline(admin.TabularInline):
    model = LineItem

    def save_model(self, request, obj, form, change):
        obj.save()
""", "the admin of LineItemInline writes rows (….save())"),
    ("""
def stamp(order):
    order.hold_message = "late"
    order.save(update_fields=["hold_message"])
""", "saves an order"),
]


@pytest.mark.parametrize(("source", "message"), VIOLATIONS)
def test_the_single_writer_check_catches_a_violation(source, message):
    found = single_writer_violations("fulfillment/example.py", source)
    assert len(found) == 1
    assert found[0].startswith("fulfillment/example.py:")
    assert message in found[0]
    # the same code inside orders/services/ is the writer itself; orders' other modules
    # (views, admin) call it like every app
    assert single_writer_violations("orders/services/example.py", source) == []
    assert single_writer_violations("orders/admin.py", source) == [
        found[0].replace("fulfillment/example.py", "orders/admin.py")]


def test_reading_orders_and_other_states_are_not_writes():
    source = """
def look(order, sub, shipment):
    if order.state == "shipped":
        shipment.state = "delivered"
        sub.save()
    Order.objects.filter(state="shipped").count()
    LineItem.objects.filter(order=order).exists()
    return order_services.order_hold(order_id=order.pk, reason="x", message="", actor=None)
"""
    assert single_writer_violations("fulfillment/example.py", source) == []


def test_other_rows_named_line_are_not_order_lines():
    # a quote's lines saved under the names an order's lines have in another function,
    # values read from lines, and an admin of other rows
    source = """
def send(quote):
    for line in QuoteLine.objects.filter(quote=quote):
        line.save(update_fields=["catalog_variant"])

def look(order):
    for line in LineItem.objects.filter(order=order):
        print(line.sku)
    known = dict(LineItem.objects.filter(order=order).values_list("pk", "external_id"))
    options = {}
    options.update(known)

@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    def send_now(self, request, queryset):
        queryset.update(next_attempt_at=None)
"""
    assert single_writer_violations("quotes/example.py", source) == []


def test_the_admin_of_orders_is_read_only(rf):
    """Staff change orders only through the admin's actions (which call orders.services,
    as the walk above checks): the admin of orders, their lines and timeline has no
    editable field, no add and no delete, so Django's own save or delete never runs."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    from orders.models import LineItem, Order, OrderEvent

    request = rf.get("/admin/")
    request.user = get_user_model()(is_active=True, is_staff=True, is_superuser=True)
    models = {Order, LineItem, OrderEvent}
    admins = [a for model, a in admin.site._registry.items() if model in models]
    inlines = [inline for a in admin.site._registry.values()
               for inline in a.get_inline_instances(request) if inline.model in models]
    assert {type(a).__name__ for a in admins + inlines} >= {
        "OrderAdmin", "LineItemInline", "OrderEventInline"}
    for a in admins:
        assert list(a.get_form(request).base_fields) == [], type(a).__name__
        assert not a.has_add_permission(request) and not a.has_delete_permission(request)
    for inline in inlines:
        assert list(inline.get_formset(request).form.base_fields) == [], type(inline).__name__
        assert not inline.has_add_permission(request, None)
        assert not inline.can_delete or not inline.has_delete_permission(request)


def test_the_admin_action_check_catches_a_row_written_by_the_action():
    source = """
@admin.register(Render)
class RenderAdmin(admin.ModelAdmin):
    @admin.action(description="Retry")
    def retry(self, request, queryset):
        n = queryset.filter(status="failed").update(status="pending", attempts=0)
        messages.info(request, f"{n} render(s) will be retried.")

    @admin.action(description="Retry through the service")
    def retry_well(self, request, queryset):
        n = services.renders_retry(render_ids=queryset.values_list("pk", flat=True))
        messages.info(request, f"{n} render(s) will be retried.")

    def save_model(self, request, obj, form, change):
        obj.save()  # the change form, not an action
"""
    found = admin_action_violations("fulfillment/admin.py", source)
    assert len(found) == 1
    assert found[0].startswith("fulfillment/admin.py:6: the admin action retry writes rows")
    assert admin_action_violations("fulfillment/services.py", source) == []
