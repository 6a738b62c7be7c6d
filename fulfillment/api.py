"""Seller API of issue 7: bulk "Submit now", an order's shipments."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from fulfillment import selectors, submission
from orders.events import Actor
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.links import http_url


class OrdersSubmitApi(WorkspaceApi):
    """POST /api/v1/orders/submit/ {"order_ids": [...]}: submit paid orders now."""

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
