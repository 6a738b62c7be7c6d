"""Seller API: the catalog, SKU rules, quotes (accept / decline) and an order's price.

One APIView per operation (HackSoft); domain errors become the one error body
(podhub.core.api), 409 for an action the quote's state does not allow.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from orders.models import Store
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.schema import error_response
from quotes import calc, mapping, pricing, selectors, services
from quotes.models import QuoteStatus, RuleKind

# --- output ---------------------------------------------------------------------------------


class TierSerializer(serializers.Serializer):
    min_quantity = serializers.IntegerField()
    max_quantity = serializers.IntegerField(allow_null=True)
    unit_price = serializers.DecimalField(max_digits=20, decimal_places=3)
    label = serializers.CharField()


class CatalogVariantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    options = serializers.DictField()
    weight_grams = serializers.IntegerField()
    production_days = serializers.IntegerField()
    price = serializers.DecimalField(source="price_amount", max_digits=20, decimal_places=3)
    tiers = serializers.SerializerMethodField()

    def get_tiers(self, obj) -> list[dict]:
        return TierSerializer([t.to_json() for t in calc.tiers_from_json(obj.tiers)],
                              many=True).data


class CatalogProductSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    image_url = serializers.CharField()
    currency = serializers.CharField()
    setup_fee = serializers.DecimalField(source="setup_fee_amount", max_digits=20,
                                         decimal_places=3)
    variants = CatalogVariantSerializer(many=True, source="variants.all")


class ShippingRateSerializer(serializers.Serializer):
    method = serializers.CharField(source="method.code")
    method_name = serializers.CharField(source="method.name")
    zone = serializers.CharField(source="zone.name")
    countries = serializers.ListField(source="zone.country_list", child=serializers.CharField())
    rest_of_world = serializers.BooleanField(source="zone.is_rest_of_world")
    currency = serializers.CharField()
    first_item = serializers.DecimalField(source="first_item_amount", max_digits=20,
                                          decimal_places=3)
    additional_item = serializers.DecimalField(source="additional_item_amount", max_digits=20,
                                               decimal_places=3)
    handling = serializers.DecimalField(source="method.handling_amount", max_digits=20,
                                        decimal_places=3)
    delivery_days_min = serializers.IntegerField()
    delivery_days_max = serializers.IntegerField()


class QuoteLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    variant_title = serializers.CharField()
    sku = serializers.CharField()
    catalog_variant_id = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    unit_price = serializers.SerializerMethodField()
    setup_fee = serializers.SerializerMethodField()
    production_days = serializers.IntegerField(allow_null=True)
    tiers = serializers.SerializerMethodField()
    notes = serializers.CharField()
    valid_until = serializers.DateField(allow_null=True)

    def _priced(self, obj) -> bool:
        # staff's draft prices stay private until the quote is sent
        return obj.quote.status != QuoteStatus.REQUESTED

    def get_unit_price(self, obj) -> str | None:
        return str(obj.unit_price_amount) if self._priced(obj) else None

    def get_setup_fee(self, obj) -> str | None:
        return str(obj.setup_fee_amount) if self._priced(obj) else None

    def get_tiers(self, obj) -> list[dict]:
        if not self._priced(obj):
            return []
        return TierSerializer([t.to_json() for t in calc.tiers_from_json(obj.tiers)],
                              many=True).data


class QuoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    title = serializers.CharField()
    store_id = serializers.IntegerField()
    store_name = serializers.CharField(source="store.name")
    store_product_id = serializers.CharField()
    images = serializers.JSONField()
    personalization_sample = serializers.JSONField()
    staff_notes = serializers.CharField()
    requested_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    decline_reason = serializers.CharField()
    waiting_order_ids = serializers.ListField(child=serializers.IntegerField())
    variants = serializers.SerializerMethodField()

    def get_variants(self, obj) -> list[dict]:
        lines = list(obj.lines.all())
        for ln in lines:
            ln.quote = obj
        return QuoteLineSerializer(lines, many=True).data


def _with_waiting(workspace, quotes):
    quotes = list(quotes)
    waiting = selectors.waiting_orders(workspace=workspace, quotes=quotes)
    for q in quotes:
        q.waiting_order_ids = waiting.get(q.pk, [])
    return quotes


QUOTE_NOT_OPEN = error_response("The quote is not waiting for your answer (not sent yet, "
                                 "expired or answered): `quote_status` says which.")


# --- catalog ----------------------------------------------------------------------------


class CatalogProductListApi(WorkspaceApi):
    """Published catalog products with variants, prices, tiers and production times."""

    @extend_schema(responses=CatalogProductSerializer(many=True),
                   parameters=[OpenApiParameter("q", str, description="name contains")])
    def get(self, request):
        q = request.query_params.get("q", "").replace("\x00", "")[:100]  # PostgreSQL: no NUL
        products = selectors.catalog_products(q=q)
        return Response(CatalogProductSerializer(products, many=True).data)


class CatalogShippingApi(WorkspaceApi):
    """Shipping rates: method × destination zone, first item + each additional item."""

    @extend_schema(responses=ShippingRateSerializer(many=True))
    def get(self, request):
        methods, zones = selectors.shipping_table()
        rates = [r for z in zones for r in z.rates if r is not None]
        return Response(ShippingRateSerializer(rates, many=True).data)


class SkuRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    pattern = serializers.CharField()
    store_id = serializers.IntegerField(allow_null=True)
    variant_id = serializers.IntegerField()
    variant_sku = serializers.CharField(source="variant.sku")


class SkuRuleListCreateApi(WorkspaceApi):
    class SkuRuleInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=RuleKind.values)
        pattern = serializers.CharField(max_length=128)
        variant_id = IdField(visible=mapping.usable_variants, what="catalog variant")
        store_id = IdField(required=False, allow_null=True, default=None, what="store",
                           visible=lambda ws: Store.objects.filter(workspace=ws))

    @extend_schema(responses=SkuRuleSerializer(many=True))
    def get(self, request):
        return Response(SkuRuleSerializer(selectors.sku_rule_list(workspace=self.workspace),
                                          many=True).data)

    @extend_schema(request=SkuRuleInputSerializer, responses={
        201: SkuRuleSerializer, 409: error_response("A rule of this kind for this SKU exists.")})
    def post(self, request):
        data = self.SkuRuleInputSerializer(data=request.data,
                                           context={"workspace": self.workspace})
        data.is_valid(raise_exception=True)
        rule = services.sku_rule_create(workspace=self.workspace, by=request.user,
                                        **data.validated_data)
        return Response(SkuRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class SkuRuleDeleteApi(WorkspaceApi):
    @extend_schema(responses={204: None})
    def delete(self, request, rule_id: int):
        services.sku_rule_delete(workspace=self.workspace, rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- quotes ----------------------------------------------------------------------------------


class QuoteListApi(WorkspaceApi):
    """Quotes of the workspace: `?status=requested|sent|accepted|declined|linked`."""

    @extend_schema(responses=QuoteSerializer(many=True),
                   parameters=[OpenApiParameter("status", str, enum=QuoteStatus.values)])
    def get(self, request):
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in QuoteStatus.values:
            raise serializers.ValidationError({"status": [
                "Use one of: " + ", ".join(QuoteStatus.values) + "."]})
        if wanted:
            quotes = selectors.quote_list(workspace=self.workspace, status=wanted)
        else:
            quotes = [q for key, _, _ in selectors.QUOTE_TABS
                      for q in selectors.quote_list(workspace=self.workspace, tab=key)]
        return Response(QuoteSerializer(_with_waiting(self.workspace, quotes), many=True).data)


def _quote_or_404(workspace, quote_id):
    quote = selectors.quote_get(workspace=workspace, quote_id=quote_id)
    if quote is None:
        raise Http404
    return _with_waiting(workspace, [quote])[0]


class QuoteDetailApi(WorkspaceApi):
    @extend_schema(responses=QuoteSerializer)
    def get(self, request, quote_id: int):
        return Response(QuoteSerializer(_quote_or_404(self.workspace, quote_id)).data)


class QuoteAcceptApi(WorkspaceApi):
    """Accept: every waiting order of the product, and every later one, is priced."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=None, responses={200: QuoteSerializer, 409: QUOTE_NOT_OPEN})
    def post(self, request, quote_id: int):
        services.quote_accept(workspace=self.workspace, quote_id=quote_id, by=request.user)
        return Response(QuoteSerializer(_quote_or_404(self.workspace, quote_id)).data)


class QuoteDeclineApi(WorkspaceApi):
    """Decline with a reason; `cancel_orders` also cancels the orders waiting for it."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class QuoteDeclineInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)
        cancel_orders = serializers.BooleanField(default=False)

    @extend_schema(request=QuoteDeclineInputSerializer,
                   responses={200: QuoteSerializer, 409: QUOTE_NOT_OPEN})
    def post(self, request, quote_id: int):
        _quote_or_404(self.workspace, quote_id)  # another workspace's quote: 404 before 400
        data = self.QuoteDeclineInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.quote_decline(workspace=self.workspace, quote_id=quote_id, by=request.user,
                               **data.validated_data)
        return Response(QuoteSerializer(_quote_or_404(self.workspace, quote_id)).data)


# --- an order's price --------------------------------------------------------------------


class OrderPriceApi(WorkspaceApi):
    """The order's itemised price: frozen at payment, else computed now."""

    @extend_schema(responses=dict, parameters=[OpenApiParameter("shipping_method", str)])
    def get(self, request, order_id: int):
        order = selectors.order_for_price(workspace=self.workspace, order_id=order_id)
        if order is None:
            raise Http404
        snapshot = selectors.order_price_snapshot(workspace=self.workspace, order=order)
        if snapshot is not None:
            return Response({"frozen": True, "taken_at": snapshot.taken_at,
                             **snapshot.breakdown})
        method = request.query_params.get("shipping_method") or None
        bd = pricing.price_order(order=order, shipping_method=method)
        return Response({"frozen": False, **bd.to_json()})
