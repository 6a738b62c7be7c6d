"""The order API, included at /api/v1/ by podhub/urls.py."""

from django.urls import path

from orders import api

urlpatterns = [
    path("orders/", api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/import-csv/", api.OrderCsvImportApi.as_view(), name="api-orders-import-csv"),
    path("orders/imports/<id:import_id>/", api.OrderCsvImportDetailApi.as_view(),
         name="api-orders-import-detail"),
    path("orders/bulk-cancel/", api.OrderBulkCancelApi.as_view(),
         name="api-orders-bulk-cancel"),
    path("orders/<id:order_id>/", api.OrderDetailApi.as_view(), name="api-order-detail"),
    path("orders/<id:order_id>/cancel/", api.OrderCancelApi.as_view(),
         name="api-order-cancel"),
    path("orders/<id:order_id>/edit/", api.OrderEditApi.as_view(), name="api-order-edit"),
]
