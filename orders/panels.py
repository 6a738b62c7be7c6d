"""Panels on the order page and bulk actions on the order list, served by the apps
that own their data (docs/architecture.md, "The apps, lowest first").

The order page is a shell from `orders`; higher apps register their htmx panel
here at start-up (in AppConfig.ready), so orders never names them. Each panel
URL takes `order_id` and returns an HTML fragment that replaces its placeholder.
A bulk action's URL takes the list's selection (`order_ids`) by POST and answers
like orders' own "Cancel selected" (orders/_bulk_result.html for htmx).
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    url_name: str  # reversed with order_id
    title: str  # shown while loading
    position: int  # lower first
    element_id: str


_panels: dict[str, Panel] = {}


def register_panel(*, url_name: str, title: str, position: int, element_id: str) -> None:
    _panels[url_name] = Panel(url_name=url_name, title=title, position=position,
                              element_id=element_id)


def panels() -> list[Panel]:
    return sorted(_panels.values(), key=lambda p: p.position)


@dataclass(frozen=True)
class BulkAction:
    url_name: str  # reversed without arguments
    label: str
    confirm: str
    testid: str
    position: int


_bulk_actions: dict[str, BulkAction] = {}


def register_bulk_action(*, url_name: str, label: str, confirm: str, testid: str,
                         position: int) -> None:
    _bulk_actions[url_name] = BulkAction(url_name=url_name, label=label, confirm=confirm,
                                         testid=testid, position=position)


def bulk_actions() -> list[BulkAction]:
    return sorted(_bulk_actions.values(), key=lambda a: a.position)


@dataclass(frozen=True)
class NextStep:
    """The step the order waits for, at the top of the order page's Actions card (pay, submit
    now, ...), offered by the app that does it. `method="post"`: a form (with `confirm`)."""

    label: str
    url: str
    testid: str
    method: str = "get"
    confirm: str = ""
    open_details: str = ""  # the id of a <details> on the page the link opens


_next_steps: list[Callable] = []


def register_next_step(fn: Callable) -> None:
    """`fn(order) -> NextStep | None`, from the order row alone: it runs on every order page
    and must not query."""
    if fn not in _next_steps:
        _next_steps.append(fn)


def next_steps(order) -> list[NextStep]:
    return [step for fn in _next_steps if (step := fn(order)) is not None]
