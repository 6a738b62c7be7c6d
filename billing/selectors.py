"""Reads for the Balance page, the API, statements and the CSV export."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from billing import ledger
from billing.models import (
    Account,
    EntryKind,
    Hold,
    Invoice,
    LedgerEntry,
    PaymentProfile,
    TopUp,
    TopUpStatus,
)

ZERO = Decimal("0")


def account_get(*, workspace) -> Account:
    return ledger.ensure_account(workspace.pk, workspace.billing_currency)


def open_hold_list(*, workspace) -> QuerySet[Hold]:
    return (Hold.objects.filter(workspace=workspace, is_open=True)
            .select_related("order").order_by("created_at", "pk"))


@dataclass
class LedgerFilter:
    kind: str = ""
    start: date | None = None
    end: date | None = None  # inclusive
    order: str = ""  # order number contains

    @classmethod
    def from_query(cls, params) -> "LedgerFilter":
        def day(value):
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                return None

        kind = params.get("kind", "")
        return cls(kind=kind if kind in EntryKind.values else "", start=day(params.get("from")),
                   end=day(params.get("to")),
                   order=(params.get("order") or "").replace("\x00", "").strip()[:64])

    def as_query(self) -> dict:
        return {k: v for k, v in {"kind": self.kind, "from": self.start and self.start.isoformat(),
                                  "to": self.end and self.end.isoformat(),
                                  "order": self.order}.items() if v}


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def entry_list(*, workspace, filters: LedgerFilter | None = None) -> QuerySet[LedgerEntry]:
    qs = (LedgerEntry.objects.filter(workspace=workspace)
          .select_related("order", "top_up", "actor").order_by("-created_at", "-id"))
    f = filters or LedgerFilter()
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.start:
        qs = qs.filter(created_at__gte=_day_start(f.start))
    if f.end:
        qs = qs.filter(created_at__lt=_day_start(f.end) + timedelta(days=1))
    if f.order:
        qs = qs.filter(order__number__icontains=f.order)
    return qs


def top_up_list(*, workspace, limit: int = 10) -> list[TopUp]:
    return list(TopUp.objects.filter(workspace=workspace).order_by("-created_at", "-pk")[:limit])


def profile_get(*, workspace) -> PaymentProfile | None:
    return PaymentProfile.objects.filter(workspace=workspace).first()


def invoice_list(*, workspace, limit: int = 50) -> list[Invoice]:
    return list(Invoice.objects.filter(workspace=workspace).order_by("-issued_at", "-pk")[:limit])


def invoice_get(*, workspace, invoice_id: int) -> Invoice | None:
    return Invoice.objects.filter(workspace=workspace, pk=invoice_id).first()


@dataclass
class Statement:
    month: date
    currency: str
    opening_balance: Decimal
    opening_held: Decimal
    closing_balance: Decimal
    closing_held: Decimal
    entries: list[LedgerEntry]
    totals: dict[str, Decimal]


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def statement_get(*, workspace, month: date) -> Statement:
    acct = account_get(workspace=workspace)
    start, end = month_bounds(month)
    before = (LedgerEntry.objects.filter(workspace=workspace, created_at__lt=start)
              .order_by("-created_at", "-id").values("balance_after", "held_after").first())
    entries = list(LedgerEntry.objects.filter(workspace=workspace, created_at__gte=start,
                                              created_at__lt=end)
                   .select_related("order").order_by("created_at", "id"))
    opening = (before["balance_after"], before["held_after"]) if before else (ZERO, ZERO)
    closing = (entries[-1].balance_after, entries[-1].held_after) if entries else opening
    totals: dict[str, Decimal] = {}
    for e in entries:
        totals[e.kind] = totals.get(e.kind, ZERO) + e.amount
    return Statement(month=month.replace(day=1), currency=acct.currency,
                     opening_balance=opening[0], opening_held=opening[1],
                     closing_balance=closing[0], closing_held=closing[1], entries=entries,
                     totals=totals)


def home_figures(*, workspace) -> dict[str, tuple[str, list]]:
    """Billing's part of Home (read by insights.home with the others in one query):

    - "billing.balance": s1 the balance, s2 what is held of it (texts of the amounts);
      n 1 when auto-recharge is on (no row: no ledger entry yet, a zero balance);
    - "billing.recharge": s1 the auto-recharge threshold, s2 its amount, n 1 when the
      last recharge failed (no row: never set up);
    - "billing.topped_up": n 1 once a top-up was paid.
    """
    account, profile = Account._meta.db_table, PaymentProfile._meta.db_table
    none = "CAST(NULL AS text) AS s2, CAST(NULL AS timestamp) AS t"
    balance = (
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM "  # noqa: S608
        f"{profile} p WHERE p.workspace_id = a.workspace_id AND p.auto_recharge) "
        "THEN 1 ELSE 0 END AS n, CAST(a.balance_amount AS text) AS s1, "
        "CAST(a.held_amount AS text) AS s2, CAST(NULL AS timestamp) AS t "
        f"FROM {account} a WHERE a.workspace_id = %s")
    recharge = (
        "SELECT CASE WHEN recharge_failed_at IS NULL THEN 0 ELSE 1 END AS n, "  # noqa: S608
        "CAST(recharge_threshold_amount AS text) AS s1, CAST(recharge_amount AS text) AS s2, "
        f"CAST(NULL AS timestamp) AS t FROM {profile} WHERE workspace_id = %s "
        "AND auto_recharge")
    topped_up = (
        f"SELECT COUNT(*) AS n, CAST(NULL AS text) AS s1, {none} FROM ("  # noqa: S608
        f"SELECT 1 AS one FROM {TopUp._meta.db_table} WHERE workspace_id = %s "
        f"AND status = '{TopUpStatus.PAID.value}' LIMIT 1) AS first_top_up")
    ws = workspace.pk
    return {"billing.balance": (balance, [ws]), "billing.recharge": (recharge, [ws]),
            "billing.topped_up": (topped_up, [ws])}
