from django.urls import path

app_name = "orders"
urlpatterns: list = [
    path("orders/", __import__("podhub.workspaces.views", fromlist=["x"]).section_placeholder,
         {"section": "orders"}, name="list"),
]
