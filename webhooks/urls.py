from django.urls import path

from webhooks import views

app_name = "webhooks"
_one = "settings/webhooks/<id:endpoint_id>/"
urlpatterns = [
    path("settings/webhooks/", views.endpoint_list, name="endpoints"),
    path(_one, views.endpoint_detail, name="endpoint"),
    path(_one + "delete/", views.endpoint_delete, name="delete"),
    path(_one + "enable/", views.endpoint_enable, name="enable"),
    path(_one + "rotate/", views.endpoint_rotate, name="rotate"),
    path(_one + "test/", views.endpoint_test, name="test"),
    path(_one + "deliveries/<id:delivery_id>/", views.delivery_detail, name="delivery"),
    path(_one + "deliveries/<id:delivery_id>/replay/", views.delivery_replay, name="replay"),
]
