"""Insights: read-only figures over orders, billing and fulfillment, for one workspace.

Profit, in each currency on its own (never summed across currencies):

- **revenue** = what the buyer paid for the goods after every discount plus the
  shipping the buyer paid, before tax (`subtotal - discount + shipping`, the
  loss guard's "selling price"), in the order's currency;
- **cost** = what PodHub charged the workspace's balance for the order: the
  ledger's captures minus its refunds, in the billing currency. A hold that is
  not captured yet is no cost: such an order counts as "not charged yet";
- **profit** = revenue - cost, only where both are in the same currency.

Orders count on the UTC day they were paid for (`Order.paid_at`); cancelled
orders are left out. Production times count submissions by the UTC day their
first parcel shipped. Every figure is one aggregate query (GROUP BY), so the
number of queries does not grow with the number of orders. Every query goes
through the scoped managers with an explicit `workspace=` filter.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Floor, Greatest, Least, TruncDate

from billing.models import EntryKind, LedgerEntry
from fulfillment.models import Shipment, Submission, SubmissionStatus
from orders.models import LineItem, Order, OrderState, Store
from podhub.core.money import quantize
from quotes.models import Product, Variant

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=20, decimal_places=3)
DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP = 10
WORST = 20
LATE_LIMIT = 50
DEFAULT_TARGET_HOURS = 72
BUCKET_HOURS = 12
BUCKETS = 15  # 0-12 h ... 168 h+ (the last bucket takes everything longer)


# --- the filter -----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A date range (both days included, UTC), optionally one store and one currency."""

    start: date
    end: date
    store_id: int | None = None
    currency: str | None = None

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_dt(self) -> datetime:  # exclusive
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def as_query(self) -> dict[str, str]:
        q = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.store_id:
            q["store"] = str(self.store_id)
        if self.currency:
            q["currency"] = self.currency
        return q

    @classmethod
    def default(cls, *, today: date) -> Period:
        return cls(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today)

    @classmethod
    def from_query(cls, params, *, today: date) -> tuple[Period, dict[str, str]]:
        """Read `from`, `to`, `store`, `currency`; what cannot be read falls back to the
        default and is named in the returned errors (field -> reason)."""
        errors: dict[str, str] = {}
        default = cls.default(today=today)

        def day(name: str, fallback: date) -> date:
            raw = (params.get(name) or "").strip()
            if not raw:
                return fallback
            try:
                return date.fromisoformat(raw)
            except ValueError:
                errors[name] = "Not a date (YYYY-MM-DD)."
                return fallback

        start, end = day("from", default.start), day("to", default.end)
        if end < start:
            errors["to"] = "Ends before it starts."
            start, end = default.start, default.end
        if (end - start).days + 1 > MAX_DAYS:
            errors["from"] = f"At most {MAX_DAYS} days at a time."
            start = end - timedelta(days=MAX_DAYS - 1)
        store_id = None
        raw_store = (params.get("store") or "").strip()
        if raw_store:
            if raw_store.isdigit() and int(raw_store) > 0:
                store_id = int(raw_store)
            else:
                errors["store"] = "Not a store id."
        currency = (params.get("currency") or "").strip().upper() or None
        if currency and (len(currency) != 3 or not currency.isalpha()):
            errors["currency"] = "Not a three-letter currency code."
            currency = None
        return cls(start=start, end=end, store_id=store_id, currency=currency), errors


# --- profit ---------------------------------------------------------------------------


@dataclass
class Figures:
    """Revenue (order currency) and cost (billing currency) of a set of orders."""

    key: object
    label: str
    currency: str
    cost_currency: str
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    orders: int = 0
    uncharged: int = 0  # paid, nothing captured yet: the cost is still to come

    @property
    def comparable(self) -> bool:
        return self.currency == self.cost_currency

    @property
    def profit(self) -> Decimal | None:
        return self.revenue - self.cost if self.comparable else None

    def rounded(self) -> Figures:
        return Figures(key=self.key, label=self.label, currency=self.currency,
                       cost_currency=self.cost_currency,
                       revenue=quantize(self.revenue, self.currency),
                       cost=quantize(self.cost, self.cost_currency), orders=self.orders,
                       uncharged=self.uncharged)

    def to_json(self) -> dict:
        profit = self.profit
        return {"revenue": str(quantize(self.revenue, self.currency)),
                "currency": self.currency,
                "cost": str(quantize(self.cost, self.cost_currency)),
                "cost_currency": self.cost_currency,
                "profit": None if profit is None else str(quantize(profit, self.currency)),
                "orders": self.orders, "not_charged_yet": self.uncharged}


@dataclass
class CurrencyReport:
    """Everything for the orders sold in one currency."""

    currency: str
    cost_currency: str
    total: Figures
    days: list[Figures]
    stores: list[Figures]
    products: list[Figures]


@dataclass
class WorstOrder:
    id: int
    number: str
    store: str
    paid_at: datetime
    currency: str
    revenue: Decimal
    cost: Decimal

    @property
    def profit(self) -> Decimal:
        return self.revenue - self.cost


@dataclass
class ProfitReport:
    period: Period
    billing_currency: str
    currencies: list[CurrencyReport]
    worst: list[WorstOrder] = field(default_factory=list)


def _revenue():
    return ExpressionWrapper(F("subtotal_amount") - F("discount_amount") + F("shipping_amount"),
                             output_field=MONEY)


def _order_filter(period: Period, prefix: str = "") -> Q:
    p = prefix
    q = Q(**{f"{p}paid_at__gte": period.start_dt, f"{p}paid_at__lt": period.end_dt}) & ~Q(
        **{f"{p}state": OrderState.CANCELLED})
    if period.store_id:
        q &= Q(**{f"{p}store_id": period.store_id})
    if period.currency:
        q &= Q(**{f"{p}currency": period.currency})
    return q


def _orders(workspace, period: Period):
    return Order.objects.filter(_order_filter(period), workspace=workspace)


def _charges(workspace, period: Period):
    """Captures and refunds of the period's orders, as signed amounts in `signed`."""
    return (LedgerEntry.objects
            .filter(_order_filter(period, "order__"), workspace=workspace,
                    kind__in=[EntryKind.CAPTURE, EntryKind.REFUND])
            .annotate(signed=Case(When(kind=EntryKind.CAPTURE, then=F("amount")),
                                  default=-F("amount"), output_field=MONEY)))


def _uncharged():
    """1 for an order with no capture yet, else 0 (summed: the orders still to be charged)."""
    captured = LedgerEntry.objects.filter(order=OuterRef("pk"), kind=EntryKind.CAPTURE)
    return Case(When(Exists(captured), then=Value(0)), default=Value(1),
                output_field=IntegerField())


def billing_currency(*, workspace) -> str:
    from billing.models import Account

    found = Account.objects.filter(workspace=workspace).values_list("currency", flat=True).first()
    return found or workspace.billing_currency


def _merge(revenue_rows, cost_rows, *, key: str, cost_key: str, label_of,
           billing: str) -> dict:
    """{(key, order currency, cost currency): Figures} from the two aggregate results."""
    out: dict[tuple, Figures] = {}

    def get(k, currency: str, cost_currency: str) -> Figures:
        ident = (k, currency, cost_currency)
        if ident not in out:
            out[ident] = Figures(key=k, label=label_of(k), currency=currency,
                                 cost_currency=cost_currency)
        return out[ident]

    for row in revenue_rows:
        f = get(row[key], row["currency"], billing)
        f.revenue += row["revenue"] or ZERO
        f.orders += row["orders"]
        f.uncharged += row["uncharged"] or 0
    for row in cost_rows:
        get(row[cost_key], row["order__currency"], row["currency"]).cost += row["cost"] or ZERO
    return out


def profit_report(*, workspace, period: Period) -> ProfitReport:
    """The profit page and `GET /api/v1/insights/profit/`: per currency, per day, per
    store, per catalog product (top 10 by profit), and the 20 least profitable orders.
    Nine queries whatever the number of orders."""
    billing = billing_currency(workspace=workspace)
    orders = _orders(workspace, period)
    charges = _charges(workspace, period)

    by_day = _merge(
        orders.annotate(day=TruncDate("paid_at", tzinfo=UTC)).values("day", "currency")
        .annotate(revenue=Sum(_revenue()), orders=Count("id"), uncharged=Sum(_uncharged()))
        .order_by(),
        charges.annotate(day=TruncDate("order__paid_at", tzinfo=UTC))
        .values("day", "order__currency", "currency").annotate(cost=Sum("signed")).order_by(),
        key="day", cost_key="day", label_of=lambda d: d.isoformat(), billing=billing)

    store_rows = list(
        orders.values("store_id", "currency")
        .annotate(revenue=Sum(_revenue()), orders=Count("id"), uncharged=Sum(_uncharged()))
        .order_by())
    store_names = dict(Store.objects.filter(
        workspace=workspace, pk__in={r["store_id"] for r in store_rows}).values_list("pk", "name"))
    by_store = _merge(
        store_rows,
        charges.values("order__store_id", "order__currency", "currency")
        .annotate(cost=Sum("signed")).order_by(),
        key="store_id", cost_key="order__store_id",
        label_of=lambda pk: store_names.get(pk, f"Store {pk}"), billing=billing)

    by_product = _products(workspace, period, billing)
    worst = _worst_orders(workspace, period, billing)

    reports: dict[tuple[str, str], CurrencyReport] = {}
    for f in sorted(by_day.values(), key=lambda f: (f.currency, f.cost_currency)):
        ident = (f.currency, f.cost_currency)
        if ident not in reports:
            reports[ident] = CurrencyReport(
                currency=f.currency, cost_currency=f.cost_currency,
                total=Figures(key="total", label="Total", currency=f.currency,
                              cost_currency=f.cost_currency),
                days=[], stores=[], products=[])
        rep = reports[ident]
        rep.total.revenue += f.revenue
        rep.total.cost += f.cost
        rep.total.orders += f.orders
        rep.total.uncharged += f.uncharged
    for rep in reports.values():
        ident = (rep.currency, rep.cost_currency)
        days = {f.key: f for f in by_day.values() if (f.currency, f.cost_currency) == ident}
        rep.days = [days.get(d) or Figures(key=d, label=d.isoformat(), currency=rep.currency,
                                           cost_currency=rep.cost_currency)
                    for d in period.days]
        rep.stores = _top([f for f in by_store.values()
                           if (f.currency, f.cost_currency) == ident])
        rep.products = _top([f for f in by_product.values() if f.currency == rep.currency])
    return ProfitReport(period=period, billing_currency=billing,
                        currencies=list(reports.values()), worst=worst)


def _top(rows: list[Figures]) -> list[Figures]:
    def rank(f: Figures):
        profit = f.profit
        return (profit is None, -(profit if profit is not None else f.revenue), str(f.label))

    return sorted(rows, key=rank)[:TOP]


def _products(workspace, period: Period, billing: str) -> dict:
    """Per catalog product: goods sold (line price x quantity - line discount, before
    order discounts and the buyer's shipping) and the item cost frozen when the order was
    paid (shipping and handling are per order and not split across products)."""
    product_of = Variant.objects.filter(pk=OuterRef("catalog_variant_id")).values("product_id")
    rows = list(
        LineItem.objects.filter(_order_filter(period, "order__"), workspace=workspace)
        .annotate(product_id=Subquery(product_of[:1]),
                  cost_currency=KeyTextTransform("currency", "price_snapshot"))
        .values("product_id", "cost_currency", currency=F("order__currency"))
        .annotate(
            revenue=Sum(ExpressionWrapper(F("quantity") * F("unit_price_amount")
                                          - F("discount_amount"), output_field=MONEY)),
            cost=Sum(Cast(KeyTextTransform("total", "price_snapshot"), MONEY)),
            quantity=Sum("quantity"), orders=Count("order_id", distinct=True))
        .order_by())
    names = dict(Product.objects.filter(pk__in={r["product_id"] for r in rows if r["product_id"]})
                 .values_list("pk", "name"))
    out: dict[tuple, Figures] = {}
    for r in rows:
        pk = r["product_id"]
        ident = (pk, r["currency"], r["cost_currency"] or billing)
        f = out.get(ident) or Figures(
            key=pk, label=names.get(pk, f"Product {pk}") if pk else "Not in the catalog",
            currency=r["currency"], cost_currency=r["cost_currency"] or billing)
        f.revenue += r["revenue"] or ZERO
        f.cost += r["cost"] or ZERO
        f.orders += r["orders"]
        out[ident] = f
    return out


def _worst_orders(workspace, period: Period, billing: str) -> list[WorstOrder]:
    """The least profitable charged orders sold in the billing currency (profit compares
    like with like only)."""
    if period.currency and period.currency != billing:
        return []
    cost = (LedgerEntry.objects.filter(order=OuterRef("pk"), currency=billing,
                                       kind__in=[EntryKind.CAPTURE, EntryKind.REFUND])
            .values("order")
            .annotate(total=Sum(Case(When(kind=EntryKind.CAPTURE, then=F("amount")),
                                     default=-F("amount"), output_field=MONEY)))
            .values("total"))
    captured = LedgerEntry.objects.filter(order=OuterRef("pk"), kind=EntryKind.CAPTURE)
    rows = (_orders(workspace, period).filter(currency=billing)
            .filter(Exists(captured))
            .annotate(revenue=_revenue(), cost=Coalesce(Subquery(cost[:1]), Value(ZERO),
                                                        output_field=MONEY))
            .annotate(profit=ExpressionWrapper(F("revenue") - F("cost"), output_field=MONEY))
            .order_by("profit", "paid_at", "pk")
            .values("id", "number", "store__name", "paid_at", "currency", "revenue", "cost")
            [:WORST])
    return [WorstOrder(id=r["id"], number=r["number"], store=r["store__name"],
                       paid_at=r["paid_at"], currency=r["currency"], revenue=r["revenue"],
                       cost=r["cost"]) for r in rows]


def store_choices(*, workspace) -> list[tuple[int, str]]:
    return list(Store.objects.filter(workspace=workspace).order_by("name", "pk")
                .values_list("pk", "name"))


def currency_choices(*, workspace) -> list[str]:
    return list(Order.objects.filter(workspace=workspace, paid_at__isnull=False)
                .order_by("currency").values_list("currency", flat=True).distinct())


# --- production times -----------------------------------------------------------------


class HoursBetween(Func):
    """Hours from the second datetime to the first, as a float, in the database."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, arg_joiner=" - ", template=(
            "(EXTRACT(EPOCH FROM (%(expressions)s))::double precision / 3600.0)"), **extra)

    def as_sqlite(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, arg_joiner=") - julianday(", template=(
            "((julianday(%(expressions)s)) * 24.0)"), **extra)


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY x)`."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (what percentile_cont does)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * fraction
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class ProviderTimes:
    provider_id: int
    name: str
    target_hours: int
    count: int
    over_target: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def over_share(self) -> float:
        return self.over_target / self.count if self.count else 0.0

    def to_json(self) -> dict:
        def h(v):
            return None if v is None else round(v, 1)

        return {"provider_id": self.provider_id, "provider": self.name,
                "target_hours": self.target_hours, "count": self.count,
                "over_target": self.over_target, "over_target_share": round(self.over_share, 4),
                "median_hours": h(self.median_hours), "p90_hours": h(self.p90_hours)}


@dataclass
class LateSubmission:
    order_id: int
    number: str
    reference: str
    provider: str
    status: str
    due_at: datetime
    hours_late: float


@dataclass
class ProductionReport:
    period: Period
    now: datetime
    providers: list[ProviderTimes]
    histogram: list[tuple[str, int]]  # (bucket label, submissions)
    late: list[LateSubmission]
    late_count: int


def _shipped_submissions(workspace, period: Period):
    first_shipped = (Shipment.objects.filter(submission=OuterRef("pk"), shipped_at__isnull=False)
                     .order_by("shipped_at").values("shipped_at")[:1])
    qs = (Submission.objects.filter(workspace=workspace, sent_at__isnull=False)
          .annotate(first_shipped=Subquery(first_shipped))
          .filter(first_shipped__gte=period.start_dt, first_shipped__lt=period.end_dt))
    if period.store_id:
        qs = qs.filter(order__store_id=period.store_id)
    return qs.annotate(hours=HoursBetween(F("first_shipped"), F("sent_at")),
                       target=Coalesce(F("provider__connection__production_hours"),
                                       Value(DEFAULT_TARGET_HOURS)))


def bucket_label(index: int) -> str:
    lo = index * BUCKET_HOURS
    return f"{lo} h+" if index == BUCKETS - 1 else f"{lo}-{lo + BUCKET_HOURS} h"


def production_report(*, workspace, period: Period, now: datetime) -> ProductionReport:
    """Per provider: hours from the provider accepting a submission to its first parcel
    shipped (median, p90, count, share over the provider's production target); a
    histogram; submissions still in production past their due time. Four queries."""
    subs = _shipped_submissions(workspace, period)
    over = Sum(Case(When(hours__gt=F("target"), then=Value(1)), default=Value(0),
                    output_field=IntegerField()))
    grouped = subs.values("provider_id", "provider__name", "target").order_by()
    postgres = connection.vendor == "postgresql"
    if postgres:
        rows = list(grouped.annotate(count=Count("id"), over=over,
                                     median=PercentileCont("hours", 0.5),
                                     p90=PercentileCont("hours", 0.9)))
    else:  # SQLite (the embedded default) has no percentile_cont: one query of hours
        rows = list(grouped.annotate(count=Count("id"), over=over))
        hours: dict[int, list[float]] = defaultdict(list)
        for pid, h in subs.values_list("provider_id", "hours"):
            hours[pid].append(h)
        for r in rows:
            r["median"] = percentile(hours[r["provider_id"]], 0.5)
            r["p90"] = percentile(hours[r["provider_id"]], 0.9)
    providers = sorted(
        (ProviderTimes(provider_id=r["provider_id"], name=r["provider__name"],
                       target_hours=r["target"], count=r["count"], over_target=r["over"],
                       median_hours=r["median"], p90_hours=r["p90"]) for r in rows),
        key=lambda p: (p.name, p.provider_id))

    bucket = Least(Greatest(Floor(F("hours") / BUCKET_HOURS), Value(0)), Value(BUCKETS - 1),
                   output_field=IntegerField())
    counts = {int(r["bucket"]): r["n"] for r in subs.annotate(bucket=bucket)
              .values("bucket").annotate(n=Count("id")).order_by()}
    histogram = [(bucket_label(i), counts.get(i, 0)) for i in range(BUCKETS)]

    late_qs = Submission.objects.filter(
        workspace=workspace, due_at__lt=now,
        status__in=[SubmissionStatus.ACCEPTED, SubmissionStatus.IN_PRODUCTION])
    if period.store_id:
        late_qs = late_qs.filter(order__store_id=period.store_id)
    late_rows = list(late_qs.order_by("due_at", "pk").values(
        "order_id", "order__number", "reference", "provider__name", "status", "due_at")
        [:LATE_LIMIT])
    late_count = len(late_rows) if len(late_rows) < LATE_LIMIT else late_qs.count()
    late = [LateSubmission(order_id=r["order_id"], number=r["order__number"],
                           reference=r["reference"], provider=r["provider__name"],
                           status=SubmissionStatus(r["status"]).label, due_at=r["due_at"],
                           hours_late=(now - r["due_at"]).total_seconds() / 3600)
            for r in late_rows]
    return ProductionReport(period=period, now=now, providers=providers, histogram=histogram,
                            late=late, late_count=late_count)


# --- JSON (the API; the page shows the same numbers) ---------------------------------


def profit_json(report: ProfitReport) -> dict:
    return {
        "from": report.period.start.isoformat(), "to": report.period.end.isoformat(),
        "date_basis": "paid_at", "store": report.period.store_id,
        "billing_currency": report.billing_currency,
        "currencies": [{
            **rep.total.to_json(),
            "days": [{"date": f.key.isoformat(), **f.to_json()} for f in rep.days],
            "stores": [{"store_id": f.key, "store": f.label, **f.to_json()}
                       for f in rep.stores],
            "products": [{"product_id": f.key, "product": f.label, **f.to_json()}
                         for f in rep.products],
        } for rep in report.currencies],
        "least_profitable_orders": [{
            "order_id": w.id, "number": w.number, "store": w.store,
            "paid_at": w.paid_at.isoformat(), "currency": w.currency,
            "revenue": str(quantize(w.revenue, w.currency)),
            "cost": str(quantize(w.cost, w.currency)),
            "profit": str(quantize(w.profit, w.currency))} for w in report.worst],
    }


def production_json(report: ProductionReport) -> dict:
    return {
        "from": report.period.start.isoformat(), "to": report.period.end.isoformat(),
        "date_basis": "first_parcel_shipped_at", "store": report.period.store_id,
        "providers": [p.to_json() for p in report.providers],
        "histogram": [{"bucket": label, "count": n} for label, n in report.histogram],
        "late": [{"order_id": s.order_id, "number": s.number, "reference": s.reference,
                  "provider": s.provider, "status": s.status, "due_at": s.due_at.isoformat(),
                  "hours_late": round(s.hours_late, 1)} for s in report.late],
        "late_count": report.late_count,
    }
