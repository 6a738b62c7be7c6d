from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors, topups
from billing.models import PaymentProfile
from orders.models import Order
from podhub.core.api import IdListField, WorkspaceApi
from podhub.core.money import quantize
from podhub.core.pagination import PageParams, answer, page_of, paginate
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
    """The ledger, newest first, a page at a time (filters: kind, from, to, order)."""

    @extend_schema(operation_id="ledger_list",
                   parameters=[PageParams, OpenApiParameter("kind", str),
                               OpenApiParameter("from", OpenApiTypes.DATE),
                               OpenApiParameter("to", OpenApiTypes.DATE),
                               OpenApiParameter("order", str, description="order number")],
                   responses=page_of(LedgerEntryOutputSerializer, "LedgerPage"))
    def get(self, request):
        filters = selectors.LedgerFilter.from_query(request.query_params)
        page = paginate(selectors.entry_list(workspace=self.workspace, filters=filters),
                        params=request.query_params, ordering=("-created_at", "-id"))
        return Response(answer(page, LedgerEntryOutputSerializer))


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

    idempotent = True  # Idempotency-Key (docs/api.md)

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


# --- money in from the card: owner and admins only (docs/security.md) ----------------------


def _money_error_responses() -> dict:
    return {400: OpenApiResponse(description="invalid input (the one error body)"),
            403: OpenApiResponse(description="only the owner or an admin can do this")}


class AutoRechargeSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    threshold = serializers.CharField(help_text="decimal string: charge when available is below")
    amount = serializers.CharField(help_text="decimal string: charged each time")
    currency = serializers.CharField()
    card = serializers.CharField(allow_null=True, help_text='"visa 4242", or null: no card saved')
    max_charges_per_day = serializers.IntegerField(help_text="in any 24 hours")
    max_amount_per_day = serializers.CharField(help_text="decimal string, in any 24 hours")
    last_failure = serializers.CharField(allow_blank=True)


def _auto_recharge_data(workspace) -> dict:
    acct = selectors.account_get(workspace=workspace)
    profile = selectors.profile_get(workspace=workspace) or PaymentProfile(workspace=workspace)
    count, total = topups.recharge_caps(profile)
    return {
        "enabled": profile.auto_recharge,
        "threshold": str(quantize(profile.recharge_threshold_amount, acct.currency)),
        "amount": str(quantize(profile.recharge_amount, acct.currency)),
        "currency": acct.currency,
        "card": f"{profile.card_brand} {profile.card_last4}" if profile.has_card else None,
        "max_charges_per_day": count,
        "max_amount_per_day": str(quantize(total, acct.currency)),
        "last_failure": profile.recharge_failure,
    }


class AutoRechargeApi(WorkspaceApi):
    """Auto-recharge from the saved card. Any member reads it; only the owner or an admin
    changes it (403). On: 0 < threshold < amount, within the limits of docs/billing.md."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AutoRechargeInput"

        enabled = serializers.BooleanField()
        threshold = serializers.DecimalField(max_digits=20, decimal_places=3, min_value=0)
        amount = serializers.DecimalField(max_digits=20, decimal_places=3, min_value=0)

    @extend_schema(responses=AutoRechargeSerializer)
    def get(self, request):
        return Response(_auto_recharge_data(self.workspace))

    @extend_schema(request=InputSerializer, responses={
        200: AutoRechargeSerializer, **_money_error_responses(),
        409: OpenApiResponse(description="no saved card")})
    def put(self, request):
        topups.require_money_role(self.membership)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        topups.auto_recharge_configure(workspace=self.workspace, by=self.membership,
                                       enabled=v["enabled"], threshold=str(v["threshold"]),
                                       amount=str(v["amount"]))
        return Response(_auto_recharge_data(self.workspace))


class TopUpOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.CharField()
    checkout_url = serializers.CharField(help_text="pay here (Stripe Checkout)")


class TopUpCreateApi(WorkspaceApi):
    """Start a card top-up (owner or admin only): 201 with the Stripe Checkout page to pay
    at; the balance is credited when Stripe confirms the payment."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TopUpInput"

        amount = serializers.DecimalField(max_digits=20, decimal_places=3)

    @extend_schema(request=InputSerializer, responses={
        201: TopUpOutputSerializer, **_money_error_responses(),
        503: OpenApiResponse(description="Stripe could not be reached; nothing was charged")})
    def post(self, request):
        topups.require_money_role(self.membership)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        top_up = topups.top_up_start(
            workspace=self.workspace, by=self.membership,
            amount=str(data.validated_data["amount"]),
            success_url=base + reverse("billing:top_up_return") + "?top_up=TOPUP_ID",
            cancel_url=base + reverse("billing:balance"))
        return Response({"id": top_up.pk, "currency": top_up.currency,
                         "amount": str(quantize(top_up.amount, top_up.currency)),
                         "status": top_up.status, "checkout_url": top_up.checkout_url},
                        status=201)
