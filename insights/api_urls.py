"""The insights API, included at /api/v1/ by podhub/urls.py."""

from django.urls import path

from insights import api

urlpatterns = [
    path("insights/profit/", api.ProfitApi.as_view(), name="api-insights-profit"),
    path("insights/production/", api.ProductionApi.as_view(), name="api-insights-production"),
]
