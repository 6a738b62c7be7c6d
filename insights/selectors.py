"""Insights: read-only figures over orders, billing and fulfillment, for one workspace.

Profit, per selling currency (selling-currency amounts are never summed across currencies;
billing-currency amounts are: see `ProfitReport.overall`):

- **revenue** = what the buyer paid for the goods after every discount plus the
  shipping the buyer paid, before tax (`subtotal - discount + shipping`, the
  loss guard's "selling price"), in the order's currency;
- **cost** = what the order costs the workspace's balance, in the billing currency:
  what was held for it, less what was released and refunded (so: captured + still
  held - refunded). A paid order's cost is known from payment, before the capture;
  orders with nothing captured yet are counted as "not charged yet";
- **revenue in the billing currency**: the same for an order sold in the billing
  currency; for an order sold in another currency, the selling price converted at the
  exchange rate frozen when the order was paid (`quotes.OrderPrice.breakdown`:
  `selling_amount`, and for products the `conversions` rate) — never today's rate;
- **profit** = revenue in the billing currency - cost. Orders sold in another currency
  without a frozen conversion (no rate at payment) are shown apart, without profit.

Orders count on the UTC day they were paid for (`Order.paid_at`); cancelled
orders are left out. Production times count submissions by the UTC day their
first parcel shipped. Every figure is one aggregate query (GROUP BY), so the
number of queries does not grow with the number of orders. Every query goes
through the scoped managers with an explicit `workspace=` filter.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Floor, Greatest, Least, TruncDate

from billing.models import EntryKind, LedgerEntry
from fulfillment.models import Shipment, Submission, SubmissionStatus
from orders.models import LineItem, Order, OrderState, Store
from podhub.core.db import ExactSum, HoursBetween, is_postgresql
from podhub.core.money import quantize
from quotes.models import OrderPrice, Product, Variant

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
            if raw_store.isdigit() and 0 < int(raw_store) < 2**63:  # fits an id column
                store_id = int(raw_store)
            else:
                errors["store"] = "Not a store id."
        currency = (params.get("currency") or "").strip().upper() or None
        if currency and (len(currency) != 3 or not currency.isalpha()):
            errors["currency"] = "Not a three-letter currency code."
            currency = None
        return cls(start=start, end=end, store_id=store_id, currency=currency), errors


# --- profit ---------------------------------------------------------------------------


NO_RATE = ("Sold in {currency}, billed in {cost_currency}, and no {currency}→{cost_currency} "
           "rate was frozen when these orders were paid: revenue and cost are not compared.")


@dataclass
class Figures:
    """Revenue (order currency, and its billing-currency equivalent) and cost (billing
    currency) of a set of orders.

    `converted`: the orders are sold in the billing currency, or in another currency with
    a conversion frozen at payment (then `revenue_billing` is that conversion). Orders of
    another currency without one are kept apart (`converted` False): no profit."""

    key: object
    label: str
    currency: str
    cost_currency: str
    converted: bool = True
    revenue: Decimal = ZERO
    revenue_billing: Decimal = ZERO
    cost: Decimal = ZERO
    orders: int = 0
    uncharged: int = 0  # paid, nothing captured yet: the cost is still to come

    @property
    def foreign(self) -> bool:
        return self.currency != self.cost_currency

    @property
    def comparable(self) -> bool:
        return self.converted or not self.foreign

    @property
    def profit(self) -> Decimal | None:
        return self.revenue_billing - self.cost if self.comparable else None

    @property
    def no_profit_reason(self) -> str:
        if self.comparable:
            return ""
        return NO_RATE.format(currency=self.currency, cost_currency=self.cost_currency)

    def to_json(self) -> dict:
        profit = self.profit
        billing = (str(quantize(self.revenue_billing, self.cost_currency))
                   if self.comparable else None)
        return {"revenue": str(quantize(self.revenue, self.currency)),
                "currency": self.currency,
                "revenue_billing": billing,
                "converted_at_payment_rate": self.comparable and self.foreign,
                "cost": str(quantize(self.cost, self.cost_currency)),
                "cost_currency": self.cost_currency,
                "profit": None if profit is None else str(quantize(profit, self.cost_currency)),
                "no_profit_reason": self.no_profit_reason,
                "orders": self.orders, "not_charged_yet": self.uncharged}


@dataclass
class CurrencyReport:
    """Everything for the orders sold in one currency (and, for another currency than
    the billing one, with or without a conversion frozen at payment)."""

    currency: str
    cost_currency: str
    converted: bool
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
    currency: str  # sold in
    revenue: Decimal  # in `currency`
    revenue_billing: Decimal  # in the billing currency (frozen conversion)
    cost: Decimal  # in the billing currency

    @property
    def profit(self) -> Decimal:
        return self.revenue_billing - self.cost


@dataclass
class ProfitReport:
    period: Period
    billing_currency: str
    currencies: list[CurrencyReport]
    worst: list[WorstOrder] = field(default_factory=list)

    @property
    def overall(self) -> Figures:
        """Every order with a profit, in the billing currency: those sold in it and those
        converted at the rate frozen at payment (revenue = their billing equivalent)."""
        out = Figures(key="all", label="All orders with a profit",
                      currency=self.billing_currency, cost_currency=self.billing_currency)
        for rep in self.currencies:
            if rep.total.comparable:
                out.revenue += rep.total.revenue_billing
                out.revenue_billing += rep.total.revenue_billing
                out.cost += rep.total.cost
                out.orders += rep.total.orders
                out.uncharged += rep.total.uncharged
        return out

    @property
    def orders_without_profit(self) -> int:
        """Orders sold in another currency without a conversion frozen at payment."""
        return sum(rep.total.orders for rep in self.currencies if not rep.total.comparable)


def _revenue():
    return ExpressionWrapper(F("subtotal_amount") - F("discount_amount") + F("shipping_amount")
                             - F("shipping_discount_amount"), output_field=MONEY)


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


# An order's cost on the ledger: held, less released and refunded. A capture only
# turns held money into spent money, so it does not change the cost.
COST_KINDS = [EntryKind.HOLD, EntryKind.RELEASE, EntryKind.REFUND]


def _signed_cost():
    return Case(When(kind=EntryKind.HOLD, then=F("amount")), default=-F("amount"),
                output_field=MONEY)


def _charges(workspace, period: Period):
    """The ledger entries that make the period's orders' cost, signed in `signed`."""
    return (LedgerEntry.objects
            .filter(_order_filter(period, "order__"), workspace=workspace,
                    kind__in=COST_KINDS)
            .annotate(signed=_signed_cost()))


def _uncharged():
    """1 for an order with no capture yet, else 0 (summed: the orders still to be charged)."""
    captured = LedgerEntry.objects.filter(order=OuterRef("pk"), kind=EntryKind.CAPTURE)
    return Case(When(Exists(captured), then=Value(0)), default=Value(1),
                output_field=IntegerField())


def billing_currency(*, workspace) -> str:
    from billing.models import Account

    found = Account.objects.filter(workspace=workspace).values_list("currency", flat=True).first()
    return found or workspace.billing_currency


def _frozen_selling(workspace, billing: str, order_ref: str):
    """The order's selling price in the billing currency as frozen when it was paid
    (`OrderPrice.breakdown["selling_amount"]`, converted at the rate of that moment);
    NULL without a snapshot, without a rate at payment, or billed in another currency."""
    return Subquery(
        OrderPrice.objects.filter(workspace=workspace, order_id=OuterRef(order_ref),
                                  currency=billing, breakdown__has_key="selling_amount")
        .exclude(breakdown__selling_amount=None)  # JSON null (SQLite reads it as 'null')
        .annotate(selling=Cast(KeyTextTransform("selling_amount", "breakdown"), MONEY))
        .values("selling")[:1], output_field=MONEY)


def _with_billing_revenue(qs, workspace, billing: str, prefix: str = ""):
    """Annotate `revenue_billing` (the order's revenue in the billing currency: itself
    when sold in it, else the frozen conversion, else NULL) and `converted` (not NULL)."""
    own = _revenue() if not prefix else None
    order_ref = "pk" if not prefix else f"{prefix}id"
    qs = qs.annotate(revenue_billing=Case(
        When(**{f"{prefix}currency": billing}, then=own if own is not None else Value(ZERO)),
        default=_frozen_selling(workspace, billing, order_ref), output_field=MONEY))
    return qs.annotate(converted=Case(When(revenue_billing__isnull=False, then=Value(True)),
                                      default=Value(False), output_field=BooleanField()))


def _merge(revenue_rows, cost_rows, *, key: str, cost_key: str, label_of,
           billing: str) -> dict:
    """{(key, order currency, cost currency, converted): Figures} from the two aggregate
    results."""
    out: dict[tuple, Figures] = {}

    def get(k, currency: str, cost_currency: str, converted: bool) -> Figures:
        converted = bool(converted) or currency == cost_currency
        ident = (k, currency, cost_currency, converted)
        if ident not in out:
            out[ident] = Figures(key=k, label=label_of(k), currency=currency,
                                 cost_currency=cost_currency, converted=converted)
        return out[ident]

    for row in revenue_rows:
        f = get(row[key], row["currency"], billing, row["converted"])
        f.revenue += row["revenue"] or ZERO
        f.revenue_billing += row["revenue_billing"] or ZERO
        f.orders += row["orders"]
        f.uncharged += row["uncharged"] or 0
    for row in cost_rows:
        get(row[cost_key], row["order__currency"], row["currency"],
            row["converted"]).cost += row["cost"] or ZERO
    return out


def _sums():
    return {"revenue": ExactSum(_revenue()), "revenue_billing": ExactSum("revenue_billing"),
            "orders": Count("id"), "uncharged": Sum(_uncharged())}


def profit_report(*, workspace, period: Period) -> ProfitReport:
    """The profit page and `GET /api/v1/insights/profit/`: per currency, per day, per
    store, per catalog product (top 10 by profit), and the 20 least profitable orders.
    Nine queries whatever the number of orders."""
    billing = billing_currency(workspace=workspace)
    orders = _with_billing_revenue(_orders(workspace, period), workspace, billing)
    charges = _with_billing_revenue(_charges(workspace, period), workspace, billing,
                                    prefix="order__")

    by_day = _merge(
        orders.annotate(day=TruncDate("paid_at", tzinfo=UTC))
        .values("day", "currency", "converted").annotate(**_sums()).order_by(),
        charges.annotate(day=TruncDate("order__paid_at", tzinfo=UTC))
        .values("day", "order__currency", "currency", "converted")
        .annotate(cost=ExactSum("signed")).order_by(),
        key="day", cost_key="day", label_of=lambda d: d.isoformat(), billing=billing)

    store_rows = list(
        orders.values("store_id", "currency", "converted").annotate(**_sums()).order_by())
    store_names = dict(Store.objects.filter(
        workspace=workspace, pk__in={r["store_id"] for r in store_rows}).values_list("pk", "name"))
    by_store = _merge(
        store_rows,
        charges.values("order__store_id", "order__currency", "currency", "converted")
        .annotate(cost=ExactSum("signed")).order_by(),
        key="store_id", cost_key="order__store_id",
        label_of=lambda pk: store_names.get(pk, f"Store {pk}"), billing=billing)

    by_product = _products(workspace, period, billing)
    worst = _worst_orders(workspace, period, billing)

    def ident_of(f: Figures) -> tuple:
        return (f.currency, f.cost_currency, f.converted)

    reports: dict[tuple, CurrencyReport] = {}
    # the billing currency first, then each other currency: converted before not converted
    for f in sorted(by_day.values(), key=lambda f: (f.foreign, f.currency, f.cost_currency,
                                                    not f.converted)):
        ident = ident_of(f)
        if ident not in reports:
            reports[ident] = CurrencyReport(
                currency=f.currency, cost_currency=f.cost_currency, converted=f.converted,
                total=Figures(key="total", label="Total", currency=f.currency,
                              cost_currency=f.cost_currency, converted=f.converted),
                days=[], stores=[], products=[])
        rep = reports[ident]
        rep.total.revenue += f.revenue
        rep.total.revenue_billing += f.revenue_billing
        rep.total.cost += f.cost
        rep.total.orders += f.orders
        rep.total.uncharged += f.uncharged
    for ident, rep in reports.items():
        days = {f.key: f for f in by_day.values() if ident_of(f) == ident}
        rep.days = [days.get(d) or Figures(key=d, label=d.isoformat(), currency=rep.currency,
                                           cost_currency=rep.cost_currency,
                                           converted=rep.converted)
                    for d in period.days]
        rep.stores = _top([f for f in by_store.values() if ident_of(f) == ident])
        rep.products = _top([f for f in by_product.values()
                             if (f.currency, f.converted) == (rep.currency, rep.converted)])
    return ProfitReport(period=period, billing_currency=billing,
                        currencies=list(reports.values()), worst=worst)


def _top(rows: list[Figures]) -> list[Figures]:
    def rank(f: Figures):
        profit = f.profit
        return (profit is None, -(profit if profit is not None else f.revenue), str(f.label))

    return sorted(rows, key=rank)[:TOP]


def _frozen_conversions(workspace, billing: str):
    """The `conversions` of the order's price snapshot (JSON text), when its selling price
    was converted to the billing currency at payment (`selling_amount` set); else NULL."""
    return Subquery(
        OrderPrice.objects.filter(workspace=workspace, order_id=OuterRef("order_id"),
                                  currency=billing, breakdown__has_key="selling_amount")
        .exclude(breakdown__selling_amount=None)
        .annotate(conv=KeyTextTransform("conversions", "breakdown")).values("conv")[:1])


def frozen_rate(conversions_text: str | None, from_currency: str, to_currency: str
                ) -> Decimal | None:
    """1 `from_currency` in `to_currency` as frozen in a price snapshot's `conversions`."""
    if not conversions_text:
        return None
    for c in json.loads(conversions_text):
        if (c.get("from_currency"), c.get("to_currency")) == (from_currency.upper(),
                                                               to_currency.upper()):
            return Decimal(str(c["rate"]))
    return None


def _products(workspace, period: Period, billing: str) -> dict:
    """Per catalog product: goods sold (line price x quantity - line discount, before
    order discounts and the buyer's shipping) and the item cost frozen when the order was
    paid (shipping and handling are per order and not split across products). Lines of
    orders sold in another currency are grouped per order too, to convert them at that
    order's frozen rate."""
    product_of = Variant.objects.filter(pk=OuterRef("catalog_variant_id")).values("product_id")
    foreign_order = Case(When(order__currency=billing, then=Value(None)),
                         default=F("order_id"), output_field=IntegerField())
    rows = list(
        LineItem.objects.filter(_order_filter(period, "order__"), workspace=workspace)
        .annotate(product_id=Subquery(product_of[:1]),
                  cost_currency=KeyTextTransform("currency", "price_snapshot"),
                  foreign_order=foreign_order,
                  conv_text=Case(When(order__currency=billing, then=Value(None)),
                                 default=_frozen_conversions(workspace, billing),
                                 output_field=TextField()))
        .values("product_id", "cost_currency", "foreign_order", currency=F("order__currency"))
        .annotate(conversions=Max("conv_text"),
            revenue=ExactSum(ExpressionWrapper(F("quantity") * F("unit_price_amount")
                                          - F("discount_amount"), output_field=MONEY)),
            cost=ExactSum(Cast(KeyTextTransform("total", "price_snapshot"), MONEY)),
            quantity=Sum("quantity"), orders=Count("order_id", distinct=True))
        .order_by())
    names = dict(Product.objects.filter(pk__in={r["product_id"] for r in rows if r["product_id"]})
                 .values_list("pk", "name"))
    out: dict[tuple, Figures] = {}
    for r in rows:
        pk = r["product_id"]
        cost_currency = r["cost_currency"] or billing
        revenue = r["revenue"] or ZERO
        if r["foreign_order"] is None:
            converted, revenue_billing = True, revenue
        else:
            rate = frozen_rate(r["conversions"], r["currency"], billing)
            converted = rate is not None
            revenue_billing = revenue * rate if converted else ZERO
        ident = (pk, r["currency"], cost_currency, converted)
        f = out.get(ident) or Figures(
            key=pk, label=names.get(pk, f"Product {pk}") if pk else "Not in the catalog",
            currency=r["currency"], cost_currency=cost_currency, converted=converted)
        f.revenue += revenue
        f.revenue_billing += revenue_billing
        f.cost += r["cost"] or ZERO
        f.orders += r["orders"]
        out[ident] = f
    return out


def _worst_orders(workspace, period: Period, billing: str) -> list[WorstOrder]:
    """The least profitable paid orders whose revenue is known in the billing currency:
    sold in it, or sold in another currency and converted at the rate frozen at payment."""
    cost = (LedgerEntry.objects.filter(order=OuterRef("pk"), currency=billing,
                                       kind__in=COST_KINDS)
            .values("order")
            .annotate(total=ExactSum(_signed_cost()))
            .values("total"))
    held = LedgerEntry.objects.filter(order=OuterRef("pk"), kind=EntryKind.HOLD)
    rows = (_with_billing_revenue(_orders(workspace, period), workspace, billing)
            .filter(converted=True)
            .filter(Exists(held))
            .annotate(revenue=_revenue(), cost=Coalesce(Subquery(cost[:1]), Value(ZERO),
                                                        output_field=MONEY))
            .annotate(profit=ExpressionWrapper(F("revenue_billing") - F("cost"),
                                               output_field=MONEY))
            .order_by("profit", "paid_at", "pk")
            .values("id", "number", "store__name", "paid_at", "currency", "revenue",
                    "revenue_billing", "cost")
            [:WORST])
    return [WorstOrder(id=r["id"], number=r["number"], store=r["store__name"],
                       paid_at=r["paid_at"], currency=r["currency"], revenue=r["revenue"],
                       revenue_billing=r["revenue_billing"], cost=r["cost"]) for r in rows]


def store_choices(*, workspace) -> list[tuple[int, str]]:
    return list(Store.objects.filter(workspace=workspace).order_by("name", "pk")
                .values_list("pk", "name"))


def currency_choices(*, workspace) -> list[str]:
    return list(Order.objects.filter(workspace=workspace, paid_at__isnull=False)
                .order_by("currency").values_list("currency", flat=True).distinct())


# --- production times -----------------------------------------------------------------


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
    if is_postgresql():
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
        "overall": {**{k: v for k, v in report.overall.to_json().items()
                       if k in ("revenue", "cost", "profit", "orders", "not_charged_yet")},
                    "currency": report.billing_currency,
                    "orders_without_profit": report.orders_without_profit},
        "currencies": [{
            **rep.total.to_json(),
            "converted_at_payment_rate": rep.total.comparable and rep.total.foreign,
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
            "revenue_billing": str(quantize(w.revenue_billing, report.billing_currency)),
            "cost_currency": report.billing_currency,
            "cost": str(quantize(w.cost, report.billing_currency)),
            "profit": str(quantize(w.profit, report.billing_currency))} for w in report.worst],
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
