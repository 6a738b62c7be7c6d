from django.urls import path

from billing import api

urlpatterns = [
    path("balance/", api.BalanceApi.as_view(), name="api-balance"),
    path("ledger/", api.LedgerApi.as_view(), name="api-ledger"),
    path("payments/", api.PaymentCreateApi.as_view(), name="api-payment-create"),
    path("balance/auto-recharge/", api.AutoRechargeApi.as_view(), name="api-auto-recharge"),
    path("balance/top-ups/", api.TopUpCreateApi.as_view(), name="api-top-up-create"),
]
