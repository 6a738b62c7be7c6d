from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors
from orders.models import Order
from podhub.core.api import IdListField, WorkspaceApi
from podhub.core.money import quantize
from podhub.core.schema import error_response


class BalanceOutputSerializer(serializers.Serializer):
    balance = serializers.CharField(help_text="decimal string")
    available = serializers.CharField(help_text="balance minus open holds; never negative")
    currency = serializers.CharField()


class BalanceApi(WorkspaceApi):
    """The workspace's prepaid balance (a public contract: scripts read these keys)."""

    @extend_schema(responses=BalanceOutputSerializer)
    def get(self, request):
        acct = selectors.account_get(workspace=self.workspace)
        return Response({"balance": str(quantize(acct.balance_amount, acct.currency)),
                         "available": str(quantize(acct.available_amount, acct.currency)),
                         "currency": acct.currency})


class LedgerEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()
    balance_after = serializers.DecimalField(max_digits=20, decimal_places=3)
    available_after = serializers.DecimalField(max_digits=20, decimal_places=3)
    order_id = serializers.IntegerField(allow_null=True)
    memo = serializers.CharField()


class LedgerApi(WorkspaceApi):
    """The latest ledger entries (filters: kind, from, to, order; at most 500)."""

    @extend_schema(responses=LedgerEntryOutputSerializer(many=True))
    def get(self, request):
        filters = selectors.LedgerFilter.from_query(request.query_params)
        entries = selectors.entry_list(workspace=self.workspace, filters=filters)[:500]
        return Response(LedgerEntryOutputSerializer(entries, many=True).data)


class PaymentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    total = serializers.CharField()
    product = serializers.CharField()
    shipping = serializers.CharField()
    currency = serializers.CharField()
    order_ids = serializers.ListField(child=serializers.IntegerField())
    invoice = serializers.CharField(allow_null=True)


class PaymentCreateApi(WorkspaceApi):
    """Pay `to_order` orders from the balance (all or nothing).

    Not enough available: 409 `insufficient_funds` with `needed`, `available` and
    `missing`; nothing is held. An order whose buyer has not paid the store yet:
    409 `store_unpaid` with its `order_id`; nothing is held. Send the same `key`
    again to retry safely."""

    class InputSerializer(serializers.Serializer):
        order_ids = IdListField(visible=lambda ws: Order.objects.filter(workspace=ws),
                                what="order", min_length=1, max_length=200)
        shipping_methods = serializers.DictField(child=serializers.CharField(max_length=64),
                                                 required=False, default=dict,
                                                 help_text='{"<order id>": "express"}')
        key = serializers.CharField(max_length=100, help_text="idempotency key")
        expected_total = serializers.DecimalField(max_digits=20, decimal_places=3,
                                                  required=False)

    @extend_schema(request=InputSerializer, responses={201: PaymentOutputSerializer, 409: (
        error_response("Nothing is held: not enough available (`insufficient_funds` with "
                       "`missing`), an order not “To order” (`conflict`), or not paid in its "
                       "store yet (`store_unpaid`)."))})
    def post(self, request):
        from billing import payments

        data = self.InputSerializer(data=request.data, context={"workspace": self.workspace})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        methods = {int(k): m for k, m in v["shipping_methods"].items() if str(k).isdigit()}
        payment = payments.orders_pay(
            workspace=self.workspace, order_ids=v["order_ids"], shipping_methods=methods,
            key=v["key"], user=request.user, expected_total=v.get("expected_total"))
        invoice = getattr(payment, "invoice", None)
        return Response({
            "id": payment.pk, "currency": payment.currency,
            "total": str(quantize(payment.total_amount, payment.currency)),
            "product": str(quantize(payment.product_amount, payment.currency)),
            "shipping": str(quantize(payment.shipping_amount, payment.currency)),
            "order_ids": sorted(payment.charges.values_list("order_id", flat=True)),
            "invoice": invoice.number if invoice else None,
        }, status=201)
