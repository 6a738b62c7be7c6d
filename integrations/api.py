"""The sync-health API of a store: its failed webhook deliveries and pushes, replayed or
retried (issue 12: every acknowledged delivery ends as an order, a deliberate skip with
its reason, or a visible failure that can be replayed; docs/store-truth.md "Never dropped")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from integrations import selectors
from integrations.platforms.base import NAME_FIELD
from integrations.services import connections
from integrations.services.inbox import inbox_replay
from integrations.services.outbox import outbox_retry
from orders.models import Store
from podhub.core.api import IdListField, WorkspaceApi
from podhub.core.exceptions import NotFound
from podhub.core.pagination import PageParams, answer, page_of, paginate
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
    """The store's webhook deliveries, newest first, a page at a time."""

    @extend_schema(operation_id="stores_deliveries_list", parameters=[STATUS, PageParams],
                   responses=page_of(DeliveryOutputSerializer, "StoreDeliveryPage"))
    def get(self, request, store_id: int):
        conn = selectors.connection_get(workspace=self.workspace, store_id=store_id)
        rows = selectors.deliveries(workspace=self.workspace, connection=conn,
                                    status=request.query_params.get("status") or None)
        page = paginate(rows, params=request.query_params, ordering=selectors.NEWEST_FIRST)
        return Response(answer(page, DeliveryOutputSerializer))


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
    """What PodHub sent (or sends) to the store, newest first, a page at a time."""

    @extend_schema(operation_id="stores_pushes_list", parameters=[STATUS, PageParams],
                   responses=page_of(PushOutputSerializer, "StorePushPage"))
    def get(self, request, store_id: int):
        conn = selectors.connection_get(workspace=self.workspace, store_id=store_id)
        rows = selectors.pushes(workspace=self.workspace, connection=conn,
                                status=request.query_params.get("status") or None)
        page = paginate(rows, params=request.query_params, ordering=selectors.NEWEST_FIRST)
        return Response(answer(page, PushOutputSerializer))


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
    the store is connected already. A platform connected by OAuth (`etsy`) answers 202
    `{"authorize_url"}`: the seller's browser goes there, the platform sends it back to
    /stores/connect/<platform>/callback/ (docs/etsy.md)."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses={
        201: ConnectedStoreOutputSerializer,
        202: OpenApiTypes.OBJECT,
        409: error_response("The store is connected already (to this workspace or, "
                            "unnamed, to another).")})
    def post(self, request, platform: str):
        chosen = connections.connectable(platform)  # 404 for any other
        if chosen.authorizes:  # OAuth: the seller's browser goes to the platform first
            url = connections.store_authorize(
                workspace=self.workspace, membership=self.membership, user=request.user,
                platform=chosen.code)
            return Response({"authorize_url": url}, status=status.HTTP_202_ACCEPTED)
        data = _connect_serializer(chosen)(data=request.data)
        data.is_valid(raise_exception=True)
        conn = connections.store_connect(workspace=self.workspace, membership=self.membership,
                                         platform=chosen.code, credentials=data.validated_data)
        conn.webhook_url = chosen.webhook_url(conn)
        return Response(ConnectedStoreOutputSerializer(conn).data,
                        status=status.HTTP_201_CREATED)


# --- the workspace's stores (docs/api.md) ------------------------------------------------------


class ConnectionOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    shop_domain = serializers.CharField()
    connected_at = serializers.DateTimeField()
    last_webhook_at = serializers.DateTimeField(allow_null=True)
    last_sweep_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    last_error_at = serializers.DateTimeField(allow_null=True)


class StoreOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()
    currency = serializers.CharField()
    is_active = serializers.BooleanField()
    submit_mode = serializers.CharField()
    auto_pay = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    connection = serializers.SerializerMethodField(
        help_text="How PodHub talks to the store; null for outside-order stores.")

    @extend_schema_field(ConnectionOutputSerializer(allow_null=True))
    def get_connection(self, store) -> dict | None:
        conn = getattr(store, "connection", None)
        return ConnectionOutputSerializer(conn).data if conn is not None else None


class SyncHealthOutputSerializer(serializers.Serializer):
    healthy = serializers.BooleanField(help_text="active, nothing failed, lag under 5 minutes")
    waiting = serializers.IntegerField(help_text="webhook deliveries not processed yet")
    lag_seconds = serializers.FloatField(help_text="age of the oldest waiting delivery")
    failed_deliveries = serializers.IntegerField(help_text="failed in the last 7 days")
    pushes_pending = serializers.IntegerField()
    pushes_failed = serializers.IntegerField()
    last_webhook_age = serializers.FloatField(allow_null=True, help_text="seconds")
    last_sweep_age = serializers.FloatField(allow_null=True, help_text="seconds")


class ImportOutputSerializer(serializers.Serializer):
    """The store's latest initial import (docs/shopify.md "Initial import", "Large stores")."""

    id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, running, done, failed, cancelled")
    method = serializers.CharField(help_text='"pages", "bulk" (one Shopify bulk operation), '
                                             'or "" before the orders are counted')
    total = serializers.IntegerField(allow_null=True)
    imported = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    bulk_status = serializers.CharField(help_text="Shopify's status of the bulk operation")
    bulk_objects = serializers.IntegerField(help_text="records Shopify has read so far")
    error = serializers.CharField()
    problems = serializers.ListField(child=serializers.DictField(),
                                     help_text="lines of the bulk file that could not be "
                                               "read, with the reason")


class StoreDetailOutputSerializer(StoreOutputSerializer):
    sync_health = SyncHealthOutputSerializer(allow_null=True)
    last_import = ImportOutputSerializer(allow_null=True)


class StoreListApi(WorkspaceApi):
    """GET /api/v1/stores/: the workspace's stores, newest first, with their connection."""

    @extend_schema(operation_id="stores_list", parameters=[PageParams],
                   responses=page_of(StoreOutputSerializer, "StorePage"))
    def get(self, request):
        rows = Store.objects.filter(workspace=self.workspace).select_related("connection")
        return Response(answer(paginate(rows, params=request.query_params),
                               StoreOutputSerializer))


class StoreDetailApi(WorkspaceApi):
    """GET /api/v1/stores/<id>/: one store, with its sync health (the store page's figures:
    deliveries waiting and failed, pushes pending and failed, lag, last webhook and sweep)."""

    @extend_schema(responses=StoreDetailOutputSerializer)
    def get(self, request, store_id: int):
        store = Store.objects.filter(workspace=self.workspace, pk=store_id).select_related(
            "connection").first()
        if store is None:
            raise NotFound("No such store in this workspace.")
        conn = getattr(store, "connection", None)
        health = job = None
        if conn is not None:
            h = selectors.sync_health(workspace=self.workspace, connection=conn)
            health = {"healthy": h.healthy, "waiting": h.waiting, "lag_seconds": h.lag_seconds,
                      "failed_deliveries": h.failed_inbox, "pushes_pending": h.outbox_pending,
                      "pushes_failed": h.outbox_failed, "last_webhook_age": h.last_webhook_age,
                      "last_sweep_age": h.last_sweep_age}
            latest = selectors.latest_import(workspace=self.workspace, connection=conn)
            job = ImportOutputSerializer(latest).data if latest is not None else None
        body = StoreOutputSerializer(store).data
        return Response({**body, "sync_health": health, "last_import": job})
