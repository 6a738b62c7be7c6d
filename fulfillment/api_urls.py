"""Fulfillment API routes; podhub/urls.py includes them under /api/v1/."""

from django.urls import path

from fulfillment import api

urlpatterns = [
    path("orders/submit/", api.OrdersSubmitApi.as_view(), name="api-orders-submit"),
    path("orders/<id:order_id>/shipments/", api.OrderShipmentsApi.as_view(),
         name="api-order-shipments"),
    path("orders/<id:order_id>/cancel-at-provider/", api.OrderCancelAtProviderApi.as_view(),
         name="api-order-cancel-at-provider"),
    path("shipments/", api.ShipmentListApi.as_view(), name="api-shipments"),
    path("claims/", api.ClaimListCreateApi.as_view(), name="api-claims"),
    path("orders/<id:order_id>/lines/<id:line_id>/artwork/", api.LineArtworkApi.as_view(),
         name="api-line-artwork"),
    path("orders/<id:order_id>/lines/<id:line_id>/design/", api.LineDesignApi.as_view(),
         name="api-line-design"),
    path("orders/<id:order_id>/lines/<id:line_id>/design/approve/",
         api.LineDesignApproveApi.as_view(), name="api-line-design-approve"),
    path("orders/<id:order_id>/lines/<id:line_id>/design/preview/",
         api.LineDesignPreviewApi.as_view(), name="api-line-design-preview"),
    path("print-files/", api.PrintFileListApi.as_view(), name="api-print-files"),
    path("print-files/<id:print_file_id>/download/", api.PrintFileDownloadApi.as_view(),
         name="api-print-file-download"),
]
