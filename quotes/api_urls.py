"""The catalog and quotes API, included at /api/v1/ by podhub/urls.py."""

from django.urls import path

from quotes import api

urlpatterns = [
    path("catalog/products/", api.CatalogProductListApi.as_view(), name="api-catalog-products"),
    path("catalog/orders/", api.CatalogOrderApi.as_view(), name="api-catalog-orders"),
    path("catalog/shipping/", api.CatalogShippingApi.as_view(), name="api-catalog-shipping"),
    path("catalog/sku-rules/", api.SkuRuleListCreateApi.as_view(), name="api-sku-rules"),
    path("catalog/sku-rules/<id:rule_id>/", api.SkuRuleDeleteApi.as_view(),
         name="api-sku-rule-delete"),
    path("quotes/", api.QuoteListApi.as_view(), name="api-quotes"),
    path("quotes/<id:quote_id>/", api.QuoteDetailApi.as_view(), name="api-quote-detail"),
    path("quotes/<id:quote_id>/accept/", api.QuoteAcceptApi.as_view(), name="api-quote-accept"),
    path("quotes/<id:quote_id>/decline/", api.QuoteDeclineApi.as_view(),
         name="api-quote-decline"),
    path("estimates/", api.EstimateApi.as_view(), name="api-estimates"),
    path("orders/<id:order_id>/price/", api.OrderPriceApi.as_view(), name="api-order-price"),
]
