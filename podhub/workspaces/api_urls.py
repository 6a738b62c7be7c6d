from django.urls import path

from podhub.workspaces import api

urlpatterns = [
    path("workspace/", api.WorkspaceDetailApi.as_view(), name="api-workspace"),
]
