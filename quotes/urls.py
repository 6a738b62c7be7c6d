from django.urls import path

from quotes import views

app_name = "quotes"
urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/order/", views.catalog_order, name="catalog_order"),
    path("catalog/order/price/", views.catalog_order_price, name="catalog_order_price"),
    path("catalog/rules/", views.sku_rules, name="sku_rules"),
    path("catalog/rules/<id:rule_id>/delete/", views.sku_rule_delete, name="sku_rule_delete"),
    path("quotes/", views.quote_list, name="list"),
    path("quotes/<id:quote_id>/accept/", views.quote_accept, name="accept"),
    path("quotes/<id:quote_id>/decline/", views.quote_decline, name="decline"),
    path("quotes/<id:quote_id>/cancel-orders/", views.quote_cancel_orders,
         name="cancel_orders"),
    path("quotes/<id:quote_id>/request-again/", views.quote_rerequest, name="rerequest"),
    path("quotes/<id:quote_id>/link/", views.quote_link, name="link"),
    # htmx panel on the order page (the page itself belongs to orders)
    path("orders/<id:order_id>/price/", views.order_price, name="order_price"),
]
