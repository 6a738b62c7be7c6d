from django.urls import path

from integrations import api

urlpatterns = [
    path("stores/", api.StoreListApi.as_view(), name="api-stores"),
    path("stores/<id:store_id>/", api.StoreDetailApi.as_view(), name="api-store-detail"),
    path("stores/connect/<slug:platform>/", api.StoreConnectApi.as_view(),
         name="api-store-connect"),
    path("stores/<id:store_id>/deliveries/", api.StoreDeliveriesApi.as_view(),
         name="api-store-deliveries"),
    path("stores/<id:store_id>/deliveries/replay/", api.StoreDeliveriesReplayApi.as_view(),
         name="api-store-deliveries-replay"),
    path("stores/<id:store_id>/pushes/", api.StorePushesApi.as_view(),
         name="api-store-pushes"),
    path("stores/<id:store_id>/pushes/retry/", api.StorePushesRetryApi.as_view(),
         name="api-store-pushes-retry"),
]
