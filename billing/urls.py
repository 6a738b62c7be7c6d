from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("balance/", views.balance, name="balance"),
    path("balance/top-up/", views.top_up, name="top_up"),
    path("balance/top-up/return/", views.top_up_return, name="top_up_return"),
    path("balance/top-up/cancel/", views.top_up_cancel, name="top_up_cancel"),
    path("balance/card/", views.card_setup, name="card_setup"),
    path("balance/card/return/", views.card_return, name="card_return"),
    path("balance/auto-recharge/", views.auto_recharge, name="auto_recharge"),
    path("balance/ledger.csv", views.ledger_csv, name="ledger_csv"),
    path("balance/statement/", views.statement, name="statement"),
    path("balance/invoices/", views.invoice_list, name="invoices"),
    path("balance/invoices/<id:invoice_id>/", views.invoice_detail, name="invoice"),
    path("balance/invoices/<id:invoice_id>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("balance/groups/", views.groups, name="groups"),
    path("pay/", views.pay, name="pay"),
    path("orders/bulk/pay/", views.pay_selected, name="pay_selected"),
    path("balance/orders/<id:order_id>/panel/", views.order_panel, name="order_panel"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
]
