from django.urls import path

from webhooks import api

_one = "webhook-endpoints/<id:endpoint_id>/"
urlpatterns = [
    path("webhook-endpoints/", api.WebhookEndpointListApi.as_view(),
         name="api-webhook-endpoints"),
    path(_one, api.WebhookEndpointDetailApi.as_view(), name="api-webhook-endpoint"),
    path(_one + "rotate-secret/", api.WebhookEndpointRotateApi.as_view(),
         name="api-webhook-endpoint-rotate"),
    path(_one + "test/", api.WebhookEndpointTestApi.as_view(),
         name="api-webhook-endpoint-test"),
    path(_one + "deliveries/", api.WebhookDeliveryListApi.as_view(),
         name="api-webhook-deliveries"),
    path(_one + "deliveries/<id:delivery_id>/", api.WebhookDeliveryDetailApi.as_view(),
         name="api-webhook-delivery"),
    path(_one + "deliveries/<id:delivery_id>/replay/", api.WebhookDeliveryReplayApi.as_view(),
         name="api-webhook-delivery-replay"),
]
