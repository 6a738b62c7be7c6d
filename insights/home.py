"""Home: what needs the seller now, today's flow, the balance, and the setup checklist.

A dashboard-level read above every app: it asks each app's selectors for its part
(`home_figures`, SELECTs of (n, s1, s2, t) over the app's own tables) and reads all of
them in one round trip (`orders.notices.read_parts`). The counts per state are the
order list's own tab counts (`orders.selectors.tab_counts`) and the quotes waiting for
an answer the site-wide notice's, so Home agrees with the pages its links open.
Query budget and speed: docs/benchmarks.md, "Home".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from billing import selectors as billing_selectors
from fulfillment import selectors as fulfillment_selectors
from integrations import selectors as integrations_selectors
from orders import notices
from orders import selectors as order_selectors
from orders.models import HoldReason, OrderState
from orders.urlcache import id_url
from podhub.workspaces import selectors as workspace_selectors

ZERO = Decimal(0)


@dataclass
class Need:
    """One "needs you" line: how many, what, and where the seller acts on it."""

    key: str
    count: int | str  # "1000+" past orders.selectors.COUNT_CAP, as on the tabs
    text: str
    url: str


@dataclass
class HeldOrder:
    id: int
    number: str
    reason: str
    due_at: datetime | None
    url: str


@dataclass
class Step:
    key: str
    text: str
    done: bool
    url: str
    action: str


@dataclass
class Home:
    needs: list[Need]
    held: list[HeldOrder]
    flow: list[tuple[str, int]]  # (figure, orders today), FLOW order then "late"
    currency: str
    available: Decimal
    held_amount: Decimal
    auto_recharge: bool
    recharge_below: Decimal | None
    recharge_amount: Decimal | None
    recharge_failed: bool
    low_balance: bool
    steps: list[Step] = field(default_factory=list)

    @property
    def anything_needed(self) -> bool:
        return bool(self.held) or any(need.count for need in self.needs)

    @property
    def setup_done(self) -> bool:
        return all(step.done for step in self.steps)


def _dec(text) -> Decimal:
    return Decimal(str(text)) if text not in (None, "") else ZERO


def _first(rows):
    return rows[0] if rows else None


def home_get(*, workspace, notice_rows: dict, now: datetime) -> Home:
    """Everything Home shows, in two queries besides the site-wide notices (which
    `notice_rows` holds, read once per request by orders.notices.for_request)."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    parts = {
        **order_selectors.home_figures(workspace=workspace, since=today),
        **fulfillment_selectors.home_figures(workspace=workspace, now=now),
        **integrations_selectors.home_figures(workspace=workspace, now=now),
        **billing_selectors.home_figures(workspace=workspace),
        **workspace_selectors.home_figures(workspace=workspace),
    }
    rows = notices.read_parts(workspace=workspace, parts=parts)
    tabs = order_selectors.tab_counts(workspace=workspace)

    balance, recharge = _first(rows["billing.balance"]), _first(rows["billing.recharge"])
    held_amount = _dec(balance.s2) if balance else ZERO
    available = (_dec(balance.s1) if balance else ZERO) - held_amount
    auto = bool(balance and balance.n)
    recharge_below = _dec(recharge.s1) if recharge else None
    to_pay = tabs[OrderState.TO_ORDER]
    # Low: at or under the auto-recharge threshold, or nothing left while orders wait
    low = (available <= recharge_below) if recharge_below is not None \
        else (available <= ZERO and to_pay != 0)

    orders_url = reverse("orders:list")
    quotes = _first(notice_rows.get("quotes.open", []))
    failed = _first(rows["integrations.failed"])
    needs = [
        Need("quotes", quotes.n if quotes else 0, "quotes wait for your answer",
             reverse("quotes:list") + "?tab=pending"),
        Need("to_pay", to_pay, "orders to pay", f"{orders_url}?state={OrderState.TO_ORDER}"),
        Need("on_hold", tabs[OrderState.ON_HOLD], "orders on hold",
             f"{orders_url}?state={OrderState.ON_HOLD}"),
        Need("failed_syncs", failed.n if failed else 0, "failed syncs with your stores",
             reverse("integrations:stores")),
    ]
    if low:
        needs.append(Need("low_balance", 1, "Your balance is low", reverse("billing:balance")))
    reasons = dict(HoldReason.choices)
    detail = id_url("orders:detail", "order_id")
    held = [HeldOrder(r.n, r.s1 or "", reasons.get(r.s2 or "", r.s2 or ""), r.t,
                      detail.format(r.n)) for r in rows["orders.held"]]
    held.sort(key=lambda h: (h.due_at is None, h.due_at or now))

    flow_counts = {r.s1: r.n for r in rows["orders.flow"]}
    flow = [(name, int(flow_counts.get(name, 0))) for name, _ in order_selectors.FLOW_COLUMNS]
    late = _first(rows["fulfillment.late"])
    flow.append(("late", late.n if late else 0))

    setup = {r.s1: r.n for r in rows["orders.setup"]}
    team = _first(rows["workspaces.team"])
    topped = _first(rows["billing.topped_up"])
    steps = [
        Step("store", "Connect a store, or try a sandbox store", bool(setup.get("stores")),
             reverse("integrations:stores"), "Connect a store"),
        Step("top_up", "Top up your balance", bool(topped and topped.n),
             reverse("billing:balance"), "Top up"),
        Step("first_paid", "Pay your first order", bool(setup.get("paid")),
             f"{orders_url}?state={OrderState.TO_ORDER}", "Orders to pay"),
        Step("teammate", "Invite a teammate", bool(team and team.n > 1),
             reverse("workspaces:settings"), "Invite"),
    ]
    return Home(needs=needs, held=held, flow=flow, currency=workspace.billing_currency,
                available=available, held_amount=held_amount, auto_recharge=auto,
                recharge_below=recharge_below,
                recharge_amount=_dec(recharge.s2) if recharge else None,
                recharge_failed=bool(recharge and recharge.n), low_balance=low, steps=steps)
