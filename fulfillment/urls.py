"""Fulfillment dashboard routes; podhub/urls.py includes them at the root."""

from django.urls import path

from fulfillment.printfiles import views

app_name = "fulfillment"
urlpatterns = [
    path("orders/<int:order_id>/print-files/", views.panel, name="panel"),
    path("orders/<int:order_id>/print-files/render/", views.rerender, name="rerender"),
    path("orders/<int:order_id>/print-files/lines/<int:line_id>/personalization/",
         views.edit_personalization, name="edit_personalization"),
    path("orders/<int:order_id>/print-files.zip", views.download_zip, name="zip"),
    path("print-files/<int:print_file_id>/download/", views.download, name="download"),
    path("print-files/<int:print_file_id>/preview/", views.preview, name="preview"),
    path("print-files/<int:print_file_id>/mockup/", views.mockup, name="mockup"),
]
