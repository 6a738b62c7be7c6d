"""The sync-health API of a store: its failed webhook deliveries and pushes, replayed or
retried (issue 12: every acknowledged delivery ends as an order, a deliberate skip with
its reason, or a visible failure that can be replayed; docs/store-truth.md "Never dropped")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations import selectors
from integrations.platforms.base import NAME_FIELD
from integrations.services import connections
from integrations.services.inbox import inbox_replay
from integrations.services.outbox import outbox_retry
from podhub.core.api import IdListField, WorkspaceApi
from podhub.core.schema import error_response

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

    @extend_schema(request=IdsInputSerializer, responses=DoneOutputSerializer)
    def post(self, request, store_id: int):
        selectors.connection_get(workspace=self.workspace, store_id=store_id)
        data = IdsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = outbox_retry(workspace=self.workspace, message_ids=data.validated_data["ids"],
                           store_id=store_id)
        return Response({"ids": ids})


def _connect_serializer(platform) -> type[serializers.Serializer]:
    """The connect body of a platform: its `connect_fields()` (and the name), strings."""
    fields = {spec.name: serializers.CharField(required=spec.required, allow_blank=not
                                               spec.required, max_length=spec.max_length,
                                               help_text=spec.help or spec.label)
              for spec in [*platform.connect_fields(), NAME_FIELD]}
    return type(f"Connect{platform.code.title()}Input", (serializers.Serializer,), fields)


class ConnectedStoreOutputSerializer(serializers.Serializer):
    store_id = serializers.IntegerField()
    platform = serializers.CharField()
    name = serializers.CharField(source="store.name")
    shop_domain = serializers.CharField(help_text="the store's address")
    status = serializers.CharField()
    webhook_url = serializers.CharField(help_text="where the store sends its webhooks")


class StoreConnectApi(WorkspaceApi):
    """Connect a store of a registered platform (`shopify`: shop_domain, access_token,
    webhook_secret; `woocommerce`: url, consumer_key, consumer_secret, webhook_secret
    optional; each with an optional name): the credentials are checked against the store
    first; owners and admins only. 400 names the field the store or PodHub refused, 409:
    the store is connected already."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses={
        201: ConnectedStoreOutputSerializer,
        409: error_response("The store is connected already (to this workspace or, "
                            "unnamed, to another).")})
    def post(self, request, platform: str):
        chosen = connections.connectable(platform)  # 404 for any other
        data = _connect_serializer(chosen)(data=request.data)
        data.is_valid(raise_exception=True)
        conn = connections.store_connect(workspace=self.workspace, membership=self.membership,
                                         platform=chosen.code, credentials=data.validated_data)
        conn.webhook_url = chosen.webhook_url(conn)
        return Response(ConnectedStoreOutputSerializer(conn).data,
                        status=status.HTTP_201_CREATED)
