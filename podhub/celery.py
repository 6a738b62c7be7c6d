"""The Celery app `podhub`: `celery -A podhub worker` / `celery -A podhub beat`.

A task only rings the doorbell: the work itself is a row in the database, and
periodic sweeps pick up rows whose task was lost.
"""

import functools
import os

from celery import Celery, Task
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podhub.settings.base")

app = Celery("podhub", task_cls="podhub.celery:PodhubTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class PodhubTask(DjangoTask):
    """Adds `delay_on_commit` (DjangoTask); tasks take ids. A task beat sends (a sweep)
    runs under its sweep's lease, so two beats never run one sweep twice at once
    (podhub/core/sweeps.py)."""

    def __call__(self, *args, **kwargs):
        from podhub.core import sweeps

        entry = _header(self.request, sweeps.BEAT_HEADER)
        sweep = sweeps.sweep_for(self.name, entry)
        if sweep is None:
            return super().__call__(*args, **kwargs)
        run = functools.partial(super().__call__, *args, **kwargs)
        return sweeps.run_exclusive(sweep, run, beat=entry is not None,
                                    lease=sweeps.lease_for(sweep, self.time_limit))


def _header(request, name: str):
    """A custom message header: a worker puts it on the request, `apply()` (eager)
    under request.headers."""
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


class WorkspaceTask(PodhubTask):
    """Runs the task body inside the scope of its `workspace_id` keyword."""

    def __call__(self, *args, **kwargs):
        from django_scopes import scope, scopes_disabled

        from podhub.workspaces.models import Workspace

        with scopes_disabled():
            workspace = Workspace.objects.get(pk=kwargs["workspace_id"])
        with scope(workspace=workspace):
            return Task.__call__(self, *args, **kwargs)
