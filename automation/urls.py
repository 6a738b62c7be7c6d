from django.urls import path

from automation import views

app_name = "automation"
urlpatterns = [
    path("rules/", views.rule_list, name="list"),
    path("rules/new/", views.rule_new, name="new"),
    path("rules/row/", views.row, name="row"),
    path("rules/<id:rule_id>/", views.rule_edit, name="edit"),
    path("rules/<id:rule_id>/move/", views.rule_move, name="move"),
    path("rules/<id:rule_id>/toggle/", views.rule_toggle, name="toggle"),
    path("rules/<id:rule_id>/delete/", views.rule_delete, name="delete"),
    path("rules/<id:rule_id>/dry-run/", views.rule_dry_run, name="dry_run"),
    path("rules/<id:rule_id>/apply/", views.rule_apply, name="apply"),
    path("rules/<id:rule_id>/apply/<id:job_id>/", views.apply_progress, name="apply_progress"),
]
