from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "podhub.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"
