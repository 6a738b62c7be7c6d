"""/api/v1/webhook-endpoints/: endpoints, their secret, test events, the delivery log and
replays (docs/webhooks.md). Owners and admins manage; members read. The payloads sent
are documented in the schema's webhooks section (webhooks/schema.py)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status as http
from rest_framework.response import Response

from podhub.core.api import WorkspaceApi
from podhub.core.pagination import PageParams, answer, page_of, paginate
from podhub.core.schema import error_response
from webhooks import selectors, services
from webhooks.models import WebhookEndpoint
from webhooks.serializers import (
    WebhookDeliveryDetailOutputSerializer,
    WebhookDeliveryOutputSerializer,
    WebhookEndpointCreateInputSerializer,
    WebhookEndpointOutputSerializer,
    WebhookEndpointSecretOutputSerializer,
    WebhookEndpointUpdateInputSerializer,
)

STATUS = OpenApiParameter("status", str, enum=["pending", "delivered", "failed"],
                          description="only deliveries in this state")


DISABLED = error_response("The endpoint is disabled (`conflict`): enable it first.")


def _with_secret(endpoint, secret: str) -> dict:
    return {**WebhookEndpointOutputSerializer(endpoint).data, "secret": secret}


class WebhookEndpointListApi(WorkspaceApi):
    """The workspace's webhook endpoints, newest first; POST adds one (its secret is shown
    once)."""

    @extend_schema(operation_id="webhook_endpoints_list", parameters=[PageParams],
                   responses=page_of(WebhookEndpointOutputSerializer, "WebhookEndpointPage"))
    def get(self, request):
        page = paginate(WebhookEndpoint.objects.filter(workspace=self.workspace),
                        params=request.query_params)
        return Response(answer(page, WebhookEndpointOutputSerializer))

    @extend_schema(request=WebhookEndpointCreateInputSerializer,
                   responses={201: WebhookEndpointSecretOutputSerializer})
    def post(self, request):
        data = WebhookEndpointCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(workspace=self.workspace,
                                                    by=self.membership, **data.validated_data)
        return Response(_with_secret(endpoint, secret), status=http.HTTP_201_CREATED)


class WebhookEndpointDetailApi(WorkspaceApi):
    """One endpoint: read, change (URL, description, event types, enabled) or delete."""

    @extend_schema(responses=WebhookEndpointOutputSerializer)
    def get(self, request, endpoint_id: int):
        return Response(WebhookEndpointOutputSerializer(selectors.endpoint_get(
            workspace=self.workspace, endpoint_id=endpoint_id)).data)

    @extend_schema(request=WebhookEndpointUpdateInputSerializer,
                   responses=WebhookEndpointOutputSerializer)
    def patch(self, request, endpoint_id: int):
        selectors.endpoint_get(workspace=self.workspace, endpoint_id=endpoint_id)
        data = WebhookEndpointUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(workspace=self.workspace, by=self.membership,
                                            endpoint_id=endpoint_id, **data.validated_data)
        return Response(WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id: int):
        services.endpoint_delete(workspace=self.workspace, by=self.membership,
                                 endpoint_id=endpoint_id)
        return Response(status=http.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateApi(WorkspaceApi):
    """A new secret (shown once); the old one keeps signing beside it for 24 hours."""

    @extend_schema(request=None, responses=WebhookEndpointSecretOutputSerializer)
    def post(self, request, endpoint_id: int):
        endpoint, secret = services.endpoint_rotate_secret(
            workspace=self.workspace, by=self.membership, endpoint_id=endpoint_id)
        return Response(_with_secret(endpoint, secret))


class WebhookEndpointTestApi(WorkspaceApi):
    """Send a `webhook.test` event to this endpoint now; the delivery it made."""

    @extend_schema(request=None, responses={202: WebhookDeliveryOutputSerializer,
                                            409: DISABLED})
    def post(self, request, endpoint_id: int):
        delivery = services.endpoint_send_test(workspace=self.workspace, by=self.membership,
                                               endpoint_id=endpoint_id)
        return Response(WebhookDeliveryOutputSerializer(delivery).data,
                        status=http.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(WorkspaceApi):
    """The endpoint's deliveries, newest first, a page at a time."""

    @extend_schema(operation_id="webhook_endpoints_deliveries_list",
                   parameters=[STATUS, PageParams],
                   responses=page_of(WebhookDeliveryOutputSerializer, "WebhookDeliveryPage"))
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(workspace=self.workspace, endpoint_id=endpoint_id)
        rows = selectors.deliveries(workspace=self.workspace, endpoint=endpoint,
                                    status=request.query_params.get("status") or None)
        page = paginate(rows, params=request.query_params)
        return Response(answer(page, WebhookDeliveryOutputSerializer))


class WebhookDeliveryDetailApi(WorkspaceApi):
    """One delivery: its payload and every attempt (request headers, response, timing)."""

    @extend_schema(responses=WebhookDeliveryDetailOutputSerializer)
    def get(self, request, endpoint_id: int, delivery_id: int):
        endpoint = selectors.endpoint_get(workspace=self.workspace, endpoint_id=endpoint_id)
        delivery = selectors.delivery_get(workspace=self.workspace, endpoint=endpoint,
                                          delivery_id=delivery_id)
        return Response(WebhookDeliveryDetailOutputSerializer(delivery).data)


class WebhookDeliveryReplayApi(WorkspaceApi):
    """Send the delivery again now: a new attempt with the same `webhook-id`."""

    @extend_schema(request=None, responses={202: WebhookDeliveryOutputSerializer,
                                            409: DISABLED})
    def post(self, request, endpoint_id: int, delivery_id: int):
        endpoint = selectors.endpoint_get(workspace=self.workspace, endpoint_id=endpoint_id)
        selectors.delivery_get(workspace=self.workspace, endpoint=endpoint,
                               delivery_id=delivery_id)
        delivery = services.delivery_replay(workspace=self.workspace, by=self.membership,
                                            delivery_id=delivery_id)
        return Response(WebhookDeliveryOutputSerializer(delivery).data,
                        status=http.HTTP_202_ACCEPTED)
