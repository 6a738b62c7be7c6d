"""The Insights page: profit and production times, drawn as charts (htmx swaps the area)."""

from dataclasses import replace

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from insights import selectors
from insights.charts import Point, bar_chart
from insights.home import home_get
from orders import notices
from orders.models import Store
from podhub.core.money import format_money
from podhub.core.views import workspace_view


def read_period(request, *, today) -> tuple[selectors.Period, dict[str, str]]:
    """The filter from the query string; a store of another workspace is no filter."""
    period, errors = selectors.Period.from_query(request.GET, today=today)
    if period.store_id and not Store.objects.filter(workspace=request.workspace,
                                                    pk=period.store_id).exists():
        errors["store"] = "No such store in this workspace."
        period = replace(period, store_id=None)
    return period, errors


def _series(days, name: str, currency: str) -> list[Point]:
    """One point per day: the figure in its currency, or 0 "no orders"."""
    return [Point(label=f.label, value=getattr(f, name) if f.orders else 0,
                  text=format_money(j[name], currency) if f.orders else "no orders")
            for f, j in days]


def _axis(currency: str):
    return lambda tick: format_money(tick, currency, compact=True)


def _currency_view(rep: selectors.CurrencyReport) -> dict:
    """One currency's figures as the page shows them (the API's strings) and its chart."""
    total = rep.total.to_json()
    days = [(f, f.to_json()) for f in rep.days]
    foreign = rep.currency != rep.cost_currency
    # "EUR-USD": sold in EUR, converted to USD at payment; "EUR": no rate at payment
    block = f"{rep.currency}-{rep.cost_currency}" if foreign and rep.total.comparable \
        else rep.currency
    if rep.total.comparable:  # profit and revenue in the billing currency
        unit = rep.cost_currency
        title = (f"Profit per day ({unit}; sold in {rep.currency}, converted at the rate "
                 "frozen at payment)" if foreign else f"Profit per day ({unit})")
        chart = bar_chart(_series(days, "profit", unit),
                          title=title, unit=unit, axis=_axis(unit),
                          chart_id=f"profit-{block}", bar_name="profit",
                          line=_series(days, "revenue_billing", unit), line_name="revenue")
    else:  # sold in another currency with no rate frozen at payment: no profit to draw
        chart = bar_chart(_series(days, "revenue", rep.currency),
                          title=f"Revenue per day ({rep.currency})", unit=rep.currency,
                          axis=_axis(rep.currency),
                          chart_id=f"revenue-{block}", bar_name="revenue")
    return {
        "currency": rep.currency, "cost_currency": rep.cost_currency, "block": block,
        "foreign": foreign, "comparable": rep.total.comparable, "total": total,
        "chart": chart,
        "stores": [{"id": f.key, "name": f.label, **f.to_json()} for f in rep.stores],
        "products": [{"id": f.key, "name": f.label, **f.to_json()} for f in rep.products],
    }


def _context(request) -> dict:
    ws = request.workspace
    now = timezone.now()
    period, errors = read_period(request, today=now.date())
    profit = selectors.profit_report(workspace=ws, period=period)
    production = selectors.production_report(workspace=ws, period=period, now=now)
    histogram = bar_chart(
        [Point(label=label, value=n) for label, n in production.histogram],
        title="Submissions by hours from accepted to first parcel shipped",
        unit="submissions", chart_id="production-histogram", bar_name="submissions")
    profit_data = selectors.profit_json(profit)
    return {
        "section": "insights",
        "period": period,
        "errors": errors,
        "query": "&".join(f"{k}={v}" for k, v in period.as_query().items()),
        "stores": selectors.store_choices(workspace=ws),
        "currencies": sorted({*selectors.currency_choices(workspace=ws),
                              *([period.currency] if period.currency else [])}),
        "billing_currency": profit.billing_currency,
        "overall": profit_data["overall"],
        "several_blocks": len(profit.currencies) > 1,
        "reports": [_currency_view(rep) for rep in profit.currencies],
        "worst": profit_data["least_profitable_orders"],
        "production": selectors.production_json(production),
        "histogram": histogram,
    }


@workspace_view
@require_GET
def dashboard(request):
    ctx = _context(request)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "insights/_area.html", ctx)
    return render(request, "insights/dashboard.html", ctx)


@workspace_view
@require_GET
def home(request):
    """Home (`/`): what needs the seller, today's flow, the balance, the setup checklist."""
    now = timezone.now()
    home = home_get(workspace=request.workspace, notice_rows=notices.for_request(request),
                    now=now)
    flow_chart = bar_chart(
        [Point(label=name.capitalize(), value=n, text=str(n)) for name, n in home.flow],
        title="Today's orders", unit="orders", chart_id="today-flow", bar_name="orders",
        width=480, height=200)
    return render(request, "dashboard/home.html", {
        "section": "home", "home": home, "flow_chart": flow_chart})
