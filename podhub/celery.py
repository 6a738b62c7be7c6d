"""The Celery app `podhub`: `celery -A podhub worker` / `celery -A podhub beat`.

A task only rings the doorbell: the work itself is a row in the database, and
periodic sweeps pick up rows whose task was lost.
"""

import os

from celery import Celery, Task
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podhub.settings.base")

app = Celery("podhub", task_cls="podhub.celery:PodhubTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class PodhubTask(DjangoTask):
    """Adds `delay_on_commit` (DjangoTask) and nothing else: tasks take ids."""


class WorkspaceTask(PodhubTask):
    """Runs the task body inside the scope of its `workspace_id` keyword."""

    def __call__(self, *args, **kwargs):
        from django_scopes import scope, scopes_disabled

        from podhub.workspaces.models import Workspace

        with scopes_disabled():
            workspace = Workspace.objects.get(pk=kwargs["workspace_id"])
        with scope(workspace=workspace):
            return Task.__call__(self, *args, **kwargs)
