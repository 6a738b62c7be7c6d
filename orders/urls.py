from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("orders/", views.order_list, name="list"),
    path("orders/tabs/", views.tab_counts, name="tabs"),
    path("orders/bulk/cancel/", views.bulk_cancel, name="bulk_cancel"),
    path("orders/new/", views.order_create, name="create"),
    path("orders/import/", views.order_import, name="import"),
    path("orders/import/<id:import_id>/", views.import_detail, name="import_detail"),
    path("orders/<id:order_id>/", views.order_detail, name="detail"),
    path("orders/<id:order_id>/cancel/", views.order_cancel, name="cancel"),
    path("orders/<id:order_id>/edit/", views.order_edit, name="edit"),
]
