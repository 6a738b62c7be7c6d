from django.urls import path

from podhub.workspaces import views

app_name = "workspaces"
urlpatterns = [
    path("workspaces/new/", views.workspace_create, name="create"),
    path("workspaces/switch/", views.workspace_switch, name="switch"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/workspace/", views.workspace_update, name="update"),
    path("settings/invitations/", views.invitation_create, name="invite"),
    path("settings/invitations/<id:invitation_id>/revoke/", views.invitation_revoke,
         name="invitation_revoke"),
    path("settings/members/<id:membership_id>/remove/", views.member_remove,
         name="member_remove"),
    path("settings/tokens/", views.token_create, name="token_create"),
    path("settings/tokens/<id:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    # Sections whose issues are still open show an honest empty state.
]
