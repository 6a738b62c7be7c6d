from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("", include("podhub.urls")),
    path("gizmos/<int:gizmo_id>/", lambda request, gizmo_id: HttpResponse("ok")),
]
