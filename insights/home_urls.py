from django.urls import path

from insights import views

# Home is the site's root, named "dashboard" as every page's links call it (no namespace).
urlpatterns = [
    path("", views.home, name="dashboard"),
]
