"""Insights under /api/v1/insights/: the same figures as the Insights page, as JSON.

Money is a string with its currency next to it; figures in different currencies
are never added up. Errors share the API's one body (`{"error": {...}}`).
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from insights import selectors
from orders.models import Store
from orders.serializers import ErrorSerializer
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.exceptions import ValidationFailed

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid filter; `fields` says why."),
    401: OpenApiResponse(ErrorSerializer, description="Missing or bad token."),
}


class FilterSerializer(serializers.Serializer):
    """Documents the query string (read by `selectors.Period.from_query`)."""

    class Meta:
        ref_name = "InsightsFilter"

    # "from" is a Python keyword: declared below
    to = serializers.DateField(required=False, help_text=(
        "Last day included (UTC). Default: today."))
    store = IdField(required=False, help_text="Only this store's orders.")
    currency = serializers.CharField(max_length=3, required=False, help_text=(
        "Only orders sold in this currency (ISO 4217)."))


FilterSerializer._declared_fields["from"] = serializers.DateField(
    required=False, help_text="First day included (UTC). Default: 29 days before `to`.")


class ProductionFilterSerializer(FilterSerializer):
    class Meta:
        ref_name = "InsightsProductionFilter"

    currency = None  # production times have no currency


class FiguresSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsFigures"

    revenue = serializers.CharField(help_text=(
        "What buyers paid for the goods after discounts plus their shipping, before tax, "
        "in `currency`."))
    currency = serializers.CharField(help_text="The orders' selling currency.")
    revenue_billing = serializers.CharField(allow_null=True, help_text=(
        "`revenue` in the billing currency (`cost_currency`): the same amount for orders sold "
        "in it; for orders sold in another currency, their selling price converted at the "
        "exchange rate frozen when each order was paid (never today's rate). Null for orders "
        "paid without such a rate."))
    converted_at_payment_rate = serializers.BooleanField(help_text=(
        "True when sold in another currency than the billing one and converted at the rate "
        "frozen at payment."))
    cost = serializers.CharField(help_text=(
        "Charged from the balance for these orders: captures minus refunds, in "
        "`cost_currency`."))
    cost_currency = serializers.CharField(help_text="The billing currency.")
    profit = serializers.CharField(allow_null=True, help_text=(
        "revenue_billing - cost, in the billing currency; null for orders sold in another "
        "currency without a rate frozen at payment (see `no_profit_reason`)."))
    no_profit_reason = serializers.CharField(help_text="Why `profit` is null; else empty.")
    orders = serializers.IntegerField()
    not_charged_yet = serializers.IntegerField(help_text=(
        "Paid orders with nothing captured yet (their cost is still to come)."))


class DayFiguresSerializer(FiguresSerializer):
    class Meta:
        ref_name = "InsightsDay"

    date = serializers.DateField()


class StoreFiguresSerializer(FiguresSerializer):
    class Meta:
        ref_name = "InsightsStore"

    store_id = serializers.IntegerField()
    store = serializers.CharField()


class ProductFiguresSerializer(FiguresSerializer):
    class Meta:
        ref_name = "InsightsProduct"

    product_id = serializers.IntegerField(allow_null=True, help_text=(
        "The catalog product; null for lines not in the catalog."))
    product = serializers.CharField()
    cost = serializers.CharField(help_text=(
        "The items' cost frozen when the orders were paid (shipping is per order and "
        "not split across products)."))


class CurrencyProfitSerializer(FiguresSerializer):
    class Meta:
        ref_name = "InsightsCurrency"

    days = DayFiguresSerializer(many=True)
    stores = StoreFiguresSerializer(many=True, help_text="Top 10 by profit.")
    products = ProductFiguresSerializer(many=True, help_text="Top 10 by profit.")


class WorstOrderSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsWorstOrder"

    order_id = serializers.IntegerField()
    number = serializers.CharField()
    store = serializers.CharField()
    paid_at = serializers.DateTimeField()
    currency = serializers.CharField(help_text="The order's selling currency.")
    revenue = serializers.CharField(help_text="In `currency`.")
    revenue_billing = serializers.CharField(help_text=(
        "In `cost_currency`: converted at the rate frozen when the order was paid."))
    cost_currency = serializers.CharField(help_text="The billing currency.")
    cost = serializers.CharField(help_text="In `cost_currency`.")
    profit = serializers.CharField(help_text="revenue_billing - cost, in `cost_currency`.")


class OverallSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsOverall"

    revenue = serializers.CharField(help_text=(
        "In `currency` (the billing currency): orders sold in it, plus orders sold in "
        "another currency converted at the rate frozen when each was paid."))
    currency = serializers.CharField(help_text="The billing currency.")
    cost = serializers.CharField(help_text="Captures minus refunds of the same orders.")
    profit = serializers.CharField(help_text="revenue - cost.")
    orders = serializers.IntegerField()
    not_charged_yet = serializers.IntegerField()
    orders_without_profit = serializers.IntegerField(help_text=(
        "Orders sold in another currency without a rate frozen at payment: not included."))


class ProfitOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsProfit"

    to = serializers.DateField()
    date_basis = serializers.CharField(help_text="Orders count on the day they were paid.")
    store = serializers.IntegerField(allow_null=True)
    billing_currency = serializers.CharField()
    overall = OverallSerializer(help_text=(
        "Every order with a profit, in the billing currency, all selling currencies "
        "together."))
    currencies = CurrencyProfitSerializer(many=True, help_text=(
        "One entry per selling currency; a currency other than the billing one has one "
        "entry for its orders converted at the rate frozen at payment and one for those "
        "paid without a rate (no profit)."))
    least_profitable_orders = WorstOrderSerializer(many=True, help_text=(
        "The 20 least profitable paid orders whose revenue is known in the billing "
        "currency (sold in it, or converted at the rate frozen at payment)."))


ProfitOutputSerializer._declared_fields["from"] = serializers.DateField()


class ProviderTimesSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsProviderTimes"

    provider_id = serializers.IntegerField()
    provider = serializers.CharField()
    target_hours = serializers.IntegerField(help_text="The provider's production target.")
    count = serializers.IntegerField()
    over_target = serializers.IntegerField()
    over_target_share = serializers.FloatField(help_text="0..1")
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)


class BucketSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsBucket"

    bucket = serializers.CharField()
    count = serializers.IntegerField()


class LateSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsLate"

    order_id = serializers.IntegerField()
    number = serializers.CharField()
    reference = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()
    due_at = serializers.DateTimeField()
    hours_late = serializers.FloatField()


class ProductionOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InsightsProduction"

    to = serializers.DateField()
    date_basis = serializers.CharField(help_text=(
        "Submissions count on the day their first parcel shipped."))
    store = serializers.IntegerField(allow_null=True)
    providers = ProviderTimesSerializer(many=True, help_text=(
        "Hours from the provider accepting a submission to its first parcel shipped."))
    histogram = BucketSerializer(many=True)
    late = LateSerializer(many=True, help_text="Still in production past the due time.")
    late_count = serializers.IntegerField()


ProductionOutputSerializer._declared_fields["from"] = serializers.DateField()


def _period(request, workspace) -> selectors.Period:
    period, errors = selectors.Period.from_query(request.query_params,
                                                 today=timezone.now().date())
    if period.store_id and not Store.objects.filter(workspace=workspace,
                                                    pk=period.store_id).exists():
        errors["store"] = "No such store in this workspace."
    if errors:
        raise ValidationFailed("The request is invalid.", fields=errors)
    return period


class ProfitApi(WorkspaceApi):
    """Revenue, cost and profit per currency, per day, per store, per product."""

    @extend_schema(operation_id="insights_profit", parameters=[FilterSerializer],
                   responses={200: ProfitOutputSerializer, **ERRORS})
    def get(self, request):
        report = selectors.profit_report(workspace=self.workspace,
                                         period=_period(request, self.workspace))
        return Response(selectors.profit_json(report))


class ProductionApi(WorkspaceApi):
    """Production times per provider, their histogram, and late submissions."""

    @extend_schema(operation_id="insights_production", parameters=[ProductionFilterSerializer],
                   responses={200: ProductionOutputSerializer, **ERRORS})
    def get(self, request):
        report = selectors.production_report(
            workspace=self.workspace, period=_period(request, self.workspace),
            now=timezone.now())
        return Response(selectors.production_json(report))
