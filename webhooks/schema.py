"""The outbound webhooks in the OpenAPI schema's `webhooks` section
(SPECTACULAR_SETTINGS["WEBHOOKS"]): one entry per event type, each the same Standard
Webhooks envelope (docs/webhooks.md "Payload")."""

from drf_spectacular.utils import OpenApiWebhook, extend_schema
from rest_framework import serializers

from webhooks.services import EVENT_TYPES, ORDER_EVENT_TYPES, TEST_EVENT


class WebhookStoreSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()


class WebhookLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    title = serializers.CharField()
    variant_title = serializers.CharField()
    quantity = serializers.IntegerField()


class WebhookOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    external_id = serializers.CharField(help_text="the store's order id")
    store = WebhookStoreSerializer()
    status = serializers.CharField(help_text="the order's state (docs/orders.md)")
    hold_reason = serializers.CharField()
    cancel_reason = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    placed_at = serializers.DateTimeField()
    line_items = WebhookLineSerializer(many=True)


class WebhookActorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="seller, staff, store, provider, system or rule")
    label = serializers.CharField()


class OrderEventDataSerializer(serializers.Serializer):
    event_id = serializers.IntegerField(help_text="the order timeline entry")
    order = WebhookOrderSerializer(help_text="the order when the event happened")
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor = WebhookActorSerializer()
    message = serializers.CharField()
    details = serializers.DictField(help_text="what the event itself recorded")


class OrderEventPayloadSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    timestamp = serializers.DateTimeField(help_text="when the event happened (UTC)")
    data = OrderEventDataSerializer()


HEADERS = ("Headers: `webhook-id` (the delivery's id, the same on every retry and replay: "
           "deduplicate on it), `webhook-timestamp` (seconds since the epoch when this "
           "attempt was sent), `webhook-signature` (`v1,<base64 HMAC-SHA256>` of "
           "`{id}.{timestamp}.{body}` with the endpoint's secret; during a secret rotation "
           "two, space-separated). ")

ORDER_EVENT = OpenApiWebhook(
    name="orderEvent",
    decorator=extend_schema(
        summary="An order event, sent to each endpoint subscribed to its type",
        description=("POSTed as JSON, signed per Standard Webhooks. " + HEADERS
                     + "Answer 2xx within 15 s; anything else is retried for about 3 days "
                     "(docs/webhooks.md). "
                     "`type` is one of: " + ", ".join(ORDER_EVENT_TYPES)
                     + f"; `{TEST_EVENT}` is sent by \"Send test event\"."),
        request=OrderEventPayloadSerializer,
        responses={200: None},
    ),
)
