"""The sync-health API of a store: its failed webhook deliveries and pushes, replayed or
retried (issue 12: every acknowledged delivery ends as an order, a deliberate skip with
its reason, or a visible failure that can be replayed; docs/store-truth.md "Never dropped")."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from integrations import selectors
from integrations.services.inbox import inbox_replay
from integrations.services.outbox import outbox_retry
from podhub.core.api import IdListField, WorkspaceApi

# The error statuses (400, 401, 403, 404) are documented for every operation by
# podhub/core/schema.py.
STATUS = OpenApiParameter("status", str, description="pending, processed, ignored or failed "
                          "(deliveries); pending, done, failed or cancelled (pushes)")


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    received_at = serializers.DateTimeField(source="created_at")
    topic = serializers.CharField()
    resource_id = serializers.CharField(help_text="the store's order id")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    result = serializers.CharField(help_text="what became of it: created, updated, "
                                   "skipped:<why>, ignored: <why>")
    error = serializers.CharField()


class PushOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    order_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_error = serializers.CharField()
    result = serializers.JSONField()


class IdsInputSerializer(serializers.Serializer):
    ids = IdListField(min_length=1, max_length=500)


class DoneOutputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(),
                                help_text="the ids replayed (others were not failed)")


class StoreDeliveriesApi(WorkspaceApi):
    """The store's webhook deliveries, newest first (at most 200)."""

    @extend_schema(parameters=[STATUS], responses=DeliveryOutputSerializer(many=True))
    def get(self, request, store_id: int):
        conn = selectors.connection_get(workspace=self.workspace, store_id=store_id)
        rows = selectors.deliveries(workspace=self.workspace, connection=conn,
                                    status=request.query_params.get("status") or None)
        return Response(DeliveryOutputSerializer(rows, many=True).data)


class StoreDeliveriesReplayApi(WorkspaceApi):
    """Process failed or skipped deliveries again from their raw body."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=IdsInputSerializer, responses=DoneOutputSerializer)
    def post(self, request, store_id: int):
        selectors.connection_get(workspace=self.workspace, store_id=store_id)
        data = IdsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = inbox_replay(workspace=self.workspace, inbox_ids=data.validated_data["ids"],
                           store_id=store_id)
        return Response({"ids": ids})


class StorePushesApi(WorkspaceApi):
    """What PodHub sent (or sends) to the store, newest first (at most 200)."""

    @extend_schema(parameters=[STATUS], responses=PushOutputSerializer(many=True))
    def get(self, request, store_id: int):
        conn = selectors.connection_get(workspace=self.workspace, store_id=store_id)
        rows = selectors.pushes(workspace=self.workspace, connection=conn,
                                status=request.query_params.get("status") or None)
        return Response(PushOutputSerializer(rows, many=True).data)


class StorePushesRetryApi(WorkspaceApi):
    """Try failed pushes again now."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=IdsInputSerializer, responses=DoneOutputSerializer)
    def post(self, request, store_id: int):
        selectors.connection_get(workspace=self.workspace, store_id=store_id)
        data = IdsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = outbox_retry(workspace=self.workspace, message_ids=data.validated_data["ids"],
                           store_id=store_id)
        return Response({"ids": ids})
