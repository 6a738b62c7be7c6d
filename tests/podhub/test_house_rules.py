"""House rules that memory would forget, checked by walking the product source.

- Every Celery task is a PodhubTask (podhub/celery.py: transaction-aware, so `.delay()`
  inside a transaction is sent after commit), and no module makes a Celery app or sends
  a task by name around it.
- Nobody schedules on-commit work by hand: `transaction.on_commit` and
  `delay_on_commit` appear only in the modules of ON_COMMIT_ALLOWED.
- E-mail goes through the outbox (podhub/core/mail.py), never straight to SMTP.
- An order event type written as a literal is one of orders.events.OrderEvents.

Each rule is a function of (path, source) so that the tests below can feed it a
deliberate violation and show that it is caught.
"""

import ast
import re
from pathlib import Path

import pytest
from celery import Celery

from orders.events import OrderEvents
from podhub.celery import PodhubTask, WorkspaceTask, app

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT = {"tests", ".venv", "var", "build", "dist", "node_modules", "test-artifacts"}

# The modules that may schedule on-commit work themselves, and why.
ON_COMMIT_ALLOWED = {
    "podhub/celery.py": "the task base: PodhubTask sends its message after commit, and "
                        "follow_up runs a task body after commit in tests",
    "automation/selectors.py": "the rules' trigger set is a cache key bumped again after "
                               "the rule's commit (no task is sent)",
}
# The modules that may send e-mail without the outbox, and why.
SMTP_ALLOWED = {
    "podhub/core/mail.py": "the outbox's sender: the one place that talks to SMTP",
}
CELERY_APP_ALLOWED = {"podhub/celery.py": "the one Celery app, whose task_cls is PodhubTask"}
SEND_TASK_ALLOWED = {
    **CELERY_APP_ALLOWED,
    "bench/shopify_wsgi.py": "the webhook benchmark's reference endpoint: the plain Django "
                             "PodHub's endpoint is measured against (docs/benchmarks.md)",
}
TASK_BASES = {PodhubTask.__name__, WorkspaceTask.__name__}
SMTP_CALLS = {"send_mail", "send_mass_mail", "mail_admins", "mail_managers"}
# calls that write an order event, and their keyword naming its type
EVENT_WRITERS = {"record_event", "NewEvent", "_advance", "_move", "_create_order"}
EVENT_TYPE_KEYWORDS = {"type", "event_type"}
DOTTED_EVENT = re.compile(r"^(order|fulfillment|shipment|claim)\.[a-z_.]+$")
EVENT_TYPES = {e.value for e in OrderEvents}


def product_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py")
                  if not NOT_PRODUCT.intersection(p.relative_to(ROOT).parts))


def _name(func: ast.expr) -> str:
    """`f` for f(...), `attr` for x.y.attr(...)."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _calls(tree: ast.AST):
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def on_commit_violations(path: str, source: str) -> list[str]:
    if path in ON_COMMIT_ALLOWED:
        return []
    return [f"{path}:{c.lineno}: {_name(c.func)}() outside the task base: call .delay() "
            "(PodhubTask sends after commit) or task.follow_up()"
            for c in _calls(ast.parse(source))
            if _name(c.func) in {"on_commit", "delay_on_commit"}]


def smtp_violations(path: str, source: str) -> list[str]:
    if path in SMTP_ALLOWED:
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (
                node.module == "django.core.mail"
                or (node.module == "django.core" and any(a.name == "mail" for a in node.names))):
            found.append(f"{path}:{node.lineno}: imports django.core.mail: use "
                         "podhub.core.mail.send (the outbox)")
        elif isinstance(node, ast.Call) and _name(node.func) in SMTP_CALLS:
            found.append(f"{path}:{node.lineno}: {_name(node.func)}(): use "
                         "podhub.core.mail.send (the outbox)")
    return found


def task_definition_violations(path: str, source: str) -> list[str]:
    found = []
    for c in _calls(ast.parse(source)):
        name = _name(c.func)
        if name == "Celery" and path not in CELERY_APP_ALLOWED:
            found.append(f"{path}:{c.lineno}: a Celery app of its own: use podhub.celery.app")
        elif name == "send_task" and path not in SEND_TASK_ALLOWED:
            found.append(f"{path}:{c.lineno}: send_task() by name bypasses PodhubTask: "
                         "import the task and call .delay()")
        elif name in {"shared_task", "task"}:
            for kw in c.keywords:
                if kw.arg == "base" and _name(kw.value) not in TASK_BASES:
                    found.append(f"{path}:{c.lineno}: a task with base={_name(kw.value)}: "
                                 f"tasks are {' or '.join(sorted(TASK_BASES))}")
    return found


def event_type_violations(path: str, source: str) -> list[str]:
    found = []
    for c in _calls(ast.parse(source)):
        writer = _name(c.func) in EVENT_WRITERS
        for kw in c.keywords:
            if kw.arg not in EVENT_TYPE_KEYWORDS or not isinstance(kw.value, ast.Constant) \
                    or not isinstance(kw.value.value, str):
                continue
            value = kw.value.value
            if (writer or DOTTED_EVENT.match(value)) and value not in EVENT_TYPES:
                found.append(f"{path}:{c.lineno}: {_name(c.func)}({kw.arg}={value!r}): not an "
                             "order event (orders.events.OrderEvents)")
    return found


RULES = [on_commit_violations, smtp_violations, task_definition_violations,
         event_type_violations]


def tasks_not_podhub(tasks) -> list[str]:
    """Registered tasks (name -> task) that are not PodhubTasks (Celery's own excepted)."""
    return sorted(name for name, task in tasks.items()
                  if not name.startswith("celery.") and not isinstance(task, PodhubTask))


# --- the product follows them -----------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_product_source_keeps_the_rule(rule):
    files = product_files()
    assert any(p.relative_to(ROOT).as_posix() == "orders/services/timeline.py" for p in files)
    found = [v for p in files
             for v in rule(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8"))]
    assert found == []


def test_every_registered_task_is_a_podhub_task():
    app.loader.import_default_modules()
    assert "quotes.tasks.order_evaluate_task" in app.tasks  # the product's tasks are loaded
    assert tasks_not_podhub(app.tasks) == []


def test_the_allowed_modules_exist():
    for path in [*ON_COMMIT_ALLOWED, *SMTP_ALLOWED, *SEND_TASK_ALLOWED]:
        assert (ROOT / path).is_file(), path


# --- and each rule catches a deliberate violation ---------------------------------------

VIOLATIONS = [
    (on_commit_violations, """
from django.db import transaction
def pay(order):
    transaction.on_commit(lambda: notify(order.pk))
""", "on_commit() outside the task base"),
    (on_commit_violations, """
def pay(order):
    capture_task.delay_on_commit(order_id=order.pk)
""", "delay_on_commit() outside the task base"),
    (smtp_violations, """
from django.core.mail import send_mail
def tell(user):
    send_mail("Hi", "Your order", None, [user.email])
""", "imports django.core.mail"),
    (smtp_violations, """
from django.core import mail
def tell(user):
    mail.send_mail("Hi", "Your order", None, [user.email])
""", "send_mail(): use podhub.core.mail.send"),
    (task_definition_violations, """
from celery import Task, shared_task
@shared_task(base=Task)
def capture_task(*, order_id):
    pass
""", "a task with base=Task"),
    (task_definition_violations, """
from celery import current_app
def ring(order):
    current_app.send_task("billing.tasks.capture_task", kwargs={"order_id": order.pk})
""", "send_task() by name bypasses PodhubTask"),
    (task_definition_violations, """
from celery import Celery
side = Celery("side")
""", "a Celery app of its own"),
    (event_type_violations, """
def ship(order, actor):
    record_event(order=order, type="order.shiped", actor=actor)
""", "record_event(type='order.shiped'): not an order event"),
    (event_type_violations, """
def ship(orders, actor):
    record_events([NewEvent(order=o, type="shipped", actor=actor) for o in orders])
""", "NewEvent(type='shipped'): not an order event"),
    (event_type_violations, """
def last_parcel(order):
    return OrderEvent.objects.filter(order=order, type="shipment.ship").first()
""", "filter(type='shipment.ship'): not an order event"),
]


@pytest.mark.parametrize(("rule", "snippet", "message"), VIOLATIONS,
                         ids=[f"{r.__name__}-{i}" for i, (r, _, _) in enumerate(VIOLATIONS)])
def test_a_deliberate_violation_is_caught(rule, snippet, message):
    found = rule("orders/snippet.py", snippet)
    assert any(message in v for v in found), found
    assert all(v.startswith("orders/snippet.py:") for v in found)


def test_a_rule_keeps_quiet_on_the_right_way():
    ok = """
from orders.events import OrderEvents
from podhub.celery import WorkspaceTask
from podhub.core import mail
from celery import shared_task

@shared_task(base=WorkspaceTask, acks_late=True)
def capture_task(*, workspace_id, order_id):
    pass

def ship(order, actor):
    record_event(order=order, type=OrderEvents.SHIPPED, actor=actor)
    record_event(order=order, type="order.shipped", actor=actor)
    capture_task.delay(workspace_id=order.workspace_id, order_id=order.pk)
    mail.send(to=["a@b.test"], subject="Shipped", body="On its way.")
    return HttpResponse(b"", content_type="application/pdf")
"""
    assert [v for rule in RULES for v in rule("orders/snippet.py", ok)] == []


def test_a_task_on_another_base_is_caught():
    side = Celery("side", set_as_current=False)

    @side.task
    def stray_task():
        pass

    assert tasks_not_podhub({"orders.tasks.stray_task": stray_task,
                             "celery.backend_cleanup": stray_task}) \
        == ["orders.tasks.stray_task"]
