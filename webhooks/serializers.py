"""API input and output for webhook endpoints and their deliveries (docs/webhooks.md)."""

import json

from rest_framework import serializers

from webhooks.services import ORDER_EVENT_TYPES


class WebhookEndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    is_enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="after a rotation: until then both secrets sign")
    failing_since = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookEndpointSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(help_text="shown once: `whsec_` + base64 (Standard "
                                   "Webhooks); store it in the receiving system")


class WebhookEndpointCreateInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")
    event_types = serializers.ListField(child=serializers.ChoiceField(ORDER_EVENT_TYPES),
                                        min_length=1, max_length=len(ORDER_EVENT_TYPES))


class WebhookEndpointUpdateInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(ORDER_EVENT_TYPES),
                                        min_length=1, required=False,
                                        max_length=len(ORDER_EVENT_TYPES))
    is_enabled = serializers.BooleanField(required=False)


class WebhookAttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    trigger = serializers.CharField(help_text="auto or replay")
    created_at = serializers.DateTimeField()
    url = serializers.CharField()
    request_headers = serializers.DictField(child=serializers.CharField())
    response_status = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(help_text="the first 4 KB")
    duration_ms = serializers.IntegerField()
    error = serializers.CharField()


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.CharField(source="msg_id", help_text="the `webhook-id` header")
    event_type = serializers.CharField()
    order_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="pending, delivered or failed")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()


class WebhookDeliveryDetailOutputSerializer(WebhookDeliveryOutputSerializer):
    payload = serializers.SerializerMethodField()
    attempt_log = WebhookAttemptOutputSerializer(many=True)

    def get_payload(self, delivery) -> dict:
        return json.loads(delivery.body)
