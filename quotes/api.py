"""Seller API: the catalog, SKU rules, quotes (accept / decline) and an order's price.

One APIView per operation (HackSoft); domain errors become the one error body
(podhub.core.api), 409 for an action the quote's state does not allow.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from orders import hooks
from orders.models import LineItem, Order, Store
from orders.serializers import AddressSerializer
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.exceptions import ValidationFailed
from podhub.core.pagination import PageParams, answer, page_of, paginate
from podhub.core.schema import error_response
from quotes import calc, checkout, mapping, pricing, selectors, services
from quotes.models import CatalogOrder, QuoteStatus, RuleKind, Stamps

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
    artwork_source = serializers.CharField(help_text="Where print files come from: "
                                           "`template`, `seller` (your artwork: POST "
                                           "orders/<id>/lines/<id>/artwork/) or `either`.")
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
    """Published catalog products with variants, prices, tiers and production times, by
    category and name, a page at a time."""

    @extend_schema(operation_id="catalog_products_list", parameters=[
        OpenApiParameter("q", str, description="name contains"), PageParams],
        responses=page_of(CatalogProductSerializer, "CatalogProductPage"))
    def get(self, request):
        q = request.query_params.get("q", "").replace("\x00", "")[:100]  # PostgreSQL: no NUL
        page = paginate(selectors.catalog_products(q=q), params=request.query_params,
                        ordering=selectors.CATALOG_ORDER)
        return Response(answer(page, CatalogProductSerializer))


class CatalogShippingApi(WorkspaceApi):
    """Shipping rates: method × destination zone, first item + each additional item; by
    zone (the rest of the world last), a page at a time."""

    @extend_schema(operation_id="catalog_shipping_list", parameters=[PageParams],
                   responses=page_of(ShippingRateSerializer, "ShippingRatePage"))
    def get(self, request):
        page = paginate(selectors.shipping_rates(), params=request.query_params,
                        ordering=selectors.SHIPPING_RATE_ORDER)
        return Response(answer(page, ShippingRateSerializer))


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

    @extend_schema(operation_id="catalog_sku_rules_list", parameters=[PageParams],
                   responses=page_of(SkuRuleSerializer, "SkuRulePage"))
    def get(self, request):
        page = paginate(selectors.sku_rule_list(workspace=self.workspace),
                        params=request.query_params, ordering=selectors.SKU_RULE_ORDER)
        return Response(answer(page, SkuRuleSerializer))

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
    """Quotes of the workspace, newest request first, a page at a time:
    `?status=requested|sent|accepted|declined|linked`."""

    @extend_schema(operation_id="quotes_list", parameters=[
        OpenApiParameter("status", str, enum=QuoteStatus.values), PageParams],
        responses=page_of(QuoteSerializer, "QuotePage"))
    def get(self, request):
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in QuoteStatus.values:
            raise serializers.ValidationError({"status": [
                "Use one of: " + ", ".join(QuoteStatus.values) + "."]})
        page = paginate(selectors.quote_rows(workspace=self.workspace, status=wanted),
                        params=request.query_params, ordering=("-requested_at", "-id"))
        page.rows = _with_waiting(self.workspace, page.rows)
        return Response(answer(page, QuoteSerializer))


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


# --- an order-cost estimate: reads prices, holds no money ----------------------------------


class EstimateLineSerializer(serializers.Serializer):
    catalog_variant_id = IdField(required=False,
                                 help_text="A public catalog variant or one made for you; or:")
    sku = serializers.CharField(max_length=255, required=False,
                                help_text="Your store's SKU, mapped as an order line's is "
                                          "(product links, your SKU rules, the catalog's SKU).")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)

    def validate(self, data):
        if ("catalog_variant_id" in data) == bool(data.get("sku")):
            raise serializers.ValidationError(
                {"sku": "Send either `catalog_variant_id` or `sku`."})
        return data


class EstimateInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "EstimateInput"

    order_id = IdField(required=False, help_text="Estimate this order as it stands; or:")
    store_id = IdField(required=False, help_text="With `sku` lines: also apply this store's "
                                                 "SKU rules and product links.")
    country_code = serializers.RegexField(r"^[A-Za-z]{2}$", required=False,
                                          help_text="ISO 3166 alpha-2, with `lines`.")
    lines = EstimateLineSerializer(many=True, required=False, max_length=200)
    shipping_method = serializers.CharField(max_length=64, required=False,
                                            help_text="Default: the cheapest to the country.")

    def validate(self, data):
        if "order_id" in data:
            return data
        missing = {f: "Send `order_id`, or `country_code` and `lines`." for f in
                   ("country_code", "lines") if not data.get(f)}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class EstimateSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Estimate"

    currency = serializers.CharField(help_text="the workspace's billing currency")
    items_total = serializers.CharField()
    setup_total = serializers.CharField()
    shipping_total = serializers.CharField()
    handling_total = serializers.CharField()
    total = serializers.CharField(help_text="what paying would take from the balance now")
    is_complete = serializers.BooleanField(help_text="false: some line or the shipping has "
                                           "no price (`lines[].unpriced_reason`, "
                                           "`shipping_problem`, `problems`)")
    lines = serializers.ListField(child=serializers.DictField())
    shipping = serializers.DictField(allow_null=True)
    shipping_problem = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())


class EstimateApi(WorkspaceApi):
    """POST /api/v1/estimates/: what an order, or a draft of lines to a country, would
    cost from the balance now (items, setup fees, shipping, handling, total in the
    workspace's currency). Nothing is held, nothing is written to the ledger, and a
    price is not a promise: prices are fixed only when the order is paid."""

    @extend_schema(request=EstimateInputSerializer, responses={200: EstimateSerializer})
    def post(self, request):
        data = EstimateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "order_id" in v:
            order = selectors.order_for_price(workspace=self.workspace, order_id=v["order_id"])
            if order is None:
                raise ValidationFailed("order_id: no such order in this workspace.",
                                       fields={"order_id": "No such order in this workspace."})
            lines = None
        else:
            order, lines = self._draft(v)
        bd = pricing.price_order(order=order, shipping_method=v.get("shipping_method"),
                                 lines=lines)
        return Response(EstimateSerializer(bd.to_json()).data)

    def _draft(self, v) -> tuple[Order, list[LineItem]]:
        variant_ids = self._variant_ids(v)
        wanted = {pk for pk in variant_ids if pk is not None}
        usable = hooks.usable_variant_ids(self.workspace, wanted)
        wrong = {f"lines.{i}.catalog_variant_id": "No such catalog variant: use a public one "
                 "or one made for you." for i, line in enumerate(v["lines"])
                 if "catalog_variant_id" in line and line["catalog_variant_id"] not in usable}
        wrong |= {f"lines.{i}.sku": f"No catalog variant maps from SKU {line['sku']!r}: add a "
                  "SKU rule or publish the product." for i, line in enumerate(v["lines"])
                  if "sku" in line and variant_ids[i] is None}
        if wrong:
            field = next(iter(wrong))
            raise ValidationFailed(f"{field}: {wrong[field]}", fields=wrong)
        currency = (self.workspace.billing_currency or "USD").upper()
        order = Order(workspace=self.workspace, currency=currency,
                      shipping_address={"country_code": v["country_code"].upper()})
        lines = [LineItem(workspace=self.workspace, catalog_variant_id=variant_ids[i],
                          quantity=line["quantity"], sku=line.get("sku", ""), title="")
                 for i, line in enumerate(v["lines"])]
        return order, lines

    def _variant_ids(self, v) -> list[int | None]:
        """Each draft line's catalog variant: as sent, or mapped from its SKU the way an
        order line from the store would be (quotes/mapping.py)."""
        store = None
        if "store_id" in v:
            store = Store.objects.filter(workspace=self.workspace, pk=v["store_id"]).first()
            if store is None:
                raise ValidationFailed("store_id: no such store in this workspace.",
                                       fields={"store_id": "No such store in this workspace."})
        # unsaved lines numbered for resolve(), which answers by line id
        by_sku = [LineItem(pk=i, workspace=self.workspace, sku=line["sku"], title="")
                  for i, line in enumerate(v["lines"], 1) if line.get("sku")]
        found = mapping.resolve(workspace=self.workspace, store=store, lines=by_sku)
        ids: list[int | None] = []
        for i, line in enumerate(v["lines"], 1):
            if not line.get("sku"):
                ids.append(line["catalog_variant_id"])
            else:
                ids.append(found[i].variant.pk if found.get(i) else None)
        return ids


# --- made-to-order checkout (quotes/checkout.py) ----------------------------------------------


class CatalogOrderLineSerializer(serializers.Serializer):
    catalog_variant_id = IdField(help_text="A published catalog variant (GET catalog/products/).")
    quantity = serializers.IntegerField(min_value=1, max_value=checkout.MAX_QUANTITY)
    personalization = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                            help_text="The text to print, if any.")


class CatalogOrderInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CatalogOrderInput"

    lines = CatalogOrderLineSerializer(many=True, max_length=checkout.MAX_LINES)
    shipping_address = AddressSerializer(help_text="name, address1, city and country_code "
                                                   "are required; zip for US addresses.")
    billing_address = AddressSerializer(required=False, help_text="Default: the shipping "
                                                                  "address.")
    buyer_email = serializers.EmailField(required=False, help_text="Default: yours.")
    stamps = serializers.DictField(
        child=serializers.ChoiceField(choices=Stamps.choices), required=False,
        help_text="Product id -> `unlabeled` or `custom`: required on the first order of a "
                  "product with a setup fee (the 400 names each such product).")
    confirm = serializers.BooleanField(help_text="true: the specifications are confirmed; "
                                                 "nothing is placed otherwise.")


class CatalogOrderSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CatalogOrder"

    order_id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.CharField(help_text="`to_order`: pay it (POST orders/pay/).")
    specifications = serializers.DictField(help_text="What was confirmed and e-mailed: "
                                                     "lines, setup fees, shipping, total.")


class CatalogOrderApi(WorkspaceApi):
    """POST /api/v1/catalog/orders/: order catalog products for yourself (made to order).
    Priced by quantity tiers; on a product's first order with a setup fee, `stamps` says
    unlabeled (no fee) or custom (the fee once, remembered). Nothing is charged: the order
    waits for payment, and its specifications are e-mailed."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=CatalogOrderInputSerializer,
                   responses={201: CatalogOrderSerializer,
                              400: error_response("A refused item, address, stamps choice "
                                                  "or a missing confirmation, with the "
                                                  "reason per field.")})
    def post(self, request):
        data = CatalogOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            stamps = {int(k): c for k, c in (v.get("stamps") or {}).items()}
        except ValueError:
            raise ValidationFailed("stamps: the keys are product ids.", field="stamps") \
                from None
        order = checkout.catalog_order_place(
            workspace=self.workspace, by=self.membership, shipping_address=v["shipping_address"],
            billing_address=v.get("billing_address"), buyer_email=v.get("buyer_email", ""),
            stamps=stamps, confirmed=v["confirm"],
            lines=[checkout.CheckoutLine(variant_id=ln["catalog_variant_id"],
                                         quantity=ln["quantity"],
                                         personalization=ln.get("personalization", ""))
                   for ln in v["lines"]])
        spec = CatalogOrder.objects.get(workspace=self.workspace, order=order).specifications
        return Response(CatalogOrderSerializer({
            "order_id": order.pk, "number": order.number, "state": order.state,
            "specifications": spec}).data, status=status.HTTP_201_CREATED)
