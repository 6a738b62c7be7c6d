"""The layering and the single writer, checked (docs/architecture.md, "The apps").

- Each app imports only the apps below it: the import-linter contract in pyproject.toml
  (`[tool.importlinter]`), run here and in .ci/run as `lint-imports`.
- `orders` is the one writer of order rows: outside `orders/` no module sets an order's
  `state`, saves an order, updates or creates Order rows or creates LineItem rows; it
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

from tests.podhub.test_house_rules import ROOT, product_files

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SIMULATORS = "sandboxes"  # beside the apps, never imported by them
APPS = ["podhub", "orders", "quotes", "billing", "fulfillment", "integrations", "insights"]

# The modules outside orders/ that may write order rows themselves, and why.
WRITER_ALLOWED = {
    "bench/submit_bench.py": "seeds a hundred thousand due orders in bulk for the submit "
                             "sweep benchmark (docs/benchmarks.md); not the product",
}
ROW_WRITES = {"update", "bulk_update", "create", "bulk_create", "get_or_create",
              "update_or_create"}
LINE_ROW_WRITES = {"create", "bulk_create", "get_or_create", "update_or_create"}


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


def single_writer_violations(path: str, source: str) -> list[str]:
    if path.startswith("orders/") or path in WRITER_ALLOWED:
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
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
        if root == "Order" and method in ROW_WRITES:
            found.append(f"{path}:{node.lineno}: Order.….{method}(): order rows are written "
                         "by orders.services")
        elif root == "LineItem" and method in LINE_ROW_WRITES:
            found.append(f"{path}:{node.lineno}: LineItem.….{method}(): order lines are "
                         "created by orders.services")
        elif method == "save" and _names_an_order(func.value):
            found.append(f"{path}:{node.lineno}: saves an order: call orders.services")
        elif method == "update" and any(kw.arg == "state" for kw in node.keywords) \
                and "order" in root.lower():
            found.append(f"{path}:{node.lineno}: .update(state=…) on orders: call "
                         "orders.services")
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
    assert any(p.relative_to(ROOT).as_posix() == "fulfillment/submission.py" for p in files)
    found = [v for p in files
             for v in single_writer_violations(p.relative_to(ROOT).as_posix(),
                                               p.read_text(encoding="utf-8"))]
    assert found == []


def test_the_exceptions_exist():
    for path in WRITER_ALLOWED:
        assert (ROOT / path).exists(), path


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
""", "LineItem.….create()"),
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
    # the same code inside orders/ is the writer itself
    assert single_writer_violations("orders/example.py", source) == []


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
