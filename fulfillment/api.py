"""Seller API of issue 7: bulk "Submit now", an order's shipments."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from fulfillment import provider_cancel, selectors, submission
from fulfillment.models import Submission, SubmissionStatus
from orders.events import Actor
from orders.hooks import store_takes_cancels
from orders.serializers import ErrorSerializer
from orders.services import cancel_reaches_store
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.links import http_url


class OrdersSubmitApi(WorkspaceApi):
    """POST /api/v1/orders/submit/ {"order_ids": [...]}: submit paid orders now."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrdersSubmitInput"

        order_ids = serializers.ListField(child=IdField(), allow_empty=False,
                                          max_length=submission.MAX_BULK)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrdersSubmitResult"

        submitted = serializers.ListField(child=serializers.IntegerField())
        failed = serializers.ListField(child=serializers.DictField(),
                                       help_text='[{"id": 12, "message": "why not"}]')

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = submission.orders_submit_now(
            workspace=self.workspace, order_ids=data.validated_data["order_ids"],
            actor=Actor.seller(request.user))
        return Response({"submitted": result.done,
                         "failed": [{"id": pk, "message": msg} for pk, msg in result.failed]})


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    line_items = serializers.ListField(child=serializers.DictField())


class OrderShipmentsSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    shipments = ShipmentSerializer(many=True)


class OrderShipmentsApi(WorkspaceApi):
    """GET /api/v1/orders/<order_id>/shipments/: each parcel with its own tracking."""

    @extend_schema(responses={200: OrderShipmentsSerializer})
    def get(self, request, order_id: int):
        panel = selectors.fulfillment_panel(workspace=self.workspace, order_id=order_id)
        return Response({"order_id": panel.order.pk, "shipments": [{
            "id": row.shipment.pk, "provider": row.provider_name,
            "status": row.shipment.status, "carrier": row.shipment.carrier,
            "tracking_number": row.shipment.tracking_number,
            "tracking_url": http_url(row.shipment.tracking_url),  # http(s) only
            "shipped_at": row.shipment.shipped_at, "delivered_at": row.shipment.delivered_at,
            "line_items": row.shipment.items} for row in panel.shipments]})


class SubmissionStateSerializer(serializers.Serializer):
    reference = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()


class CancelAtProviderSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CancelAtProviderResult"

    order_id = serializers.IntegerField()
    state = serializers.CharField(help_text="cancelled")
    cancel_reason = serializers.CharField()
    submissions = SubmissionStateSerializer(many=True)
    pushed_to_store = serializers.BooleanField(
        help_text="The cancel (with a refund to the buyer) goes to the connected store; "
        "false when the store cancelled the order itself or is not connected.")


class OrderCancelAtProviderApi(WorkspaceApi):
    """POST /api/v1/orders/<order_id>/cancel-at-provider/: an order changed or cancelled in
    the store after it went to production (flagged) is cancelled at its provider, where
    the provider still takes a cancel; then here, with what was paid back on the balance
    and the cancel pushed to the store (docs/store-truth.md "Cancel at the provider").
    Owner or admin only. A cancelled order is answered as it is."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=None, responses={
        200: CancelAtProviderSerializer,
        403: OpenApiResponse(ErrorSerializer, description="Only the owner or an admin."),
        404: OpenApiResponse(ErrorSerializer, description="No such order in this workspace."),
        409: OpenApiResponse(ErrorSerializer, description="Not offered (not flagged, or the "
                             "provider takes no cancel now) or refused by the provider "
                             "(`provider_message`); `current_state`, `needs_attention` and "
                             "`submissions` give the order's state, which did not change."),
        503: OpenApiResponse(ErrorSerializer, description="The provider could not be "
                             "reached; nothing was cancelled.")})
    def post(self, request, order_id: int):
        order = provider_cancel.submission_cancel_at_provider(
            order_id=order_id, workspace=self.workspace, actor=Actor.seller(request.user))
        subs = Submission.objects.filter(order=order, workspace=self.workspace).exclude(
            status=SubmissionStatus.FAILED).select_related("provider").order_by("pk")
        cancelled = order.events.filter(type="order.cancelled").values_list(
            "data", flat=True).first() or {}
        return Response(CancelAtProviderSerializer({
            "order_id": order.pk, "state": order.state, "cancel_reason": order.cancel_reason,
            "submissions": [{"reference": s.reference, "provider": s.provider.code,
                             "status": s.status} for s in subs],
            "pushed_to_store": cancel_reaches_store(order.cancel_reason, cancelled)
            and store_takes_cancels(order)}).data)
