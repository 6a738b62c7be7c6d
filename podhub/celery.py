"""The Celery app `podhub`: `celery -A podhub worker` / `celery -A podhub beat`.

A task only rings the doorbell: the work itself is a row in the database, and
periodic sweeps pick up rows whose task was lost.
"""

import functools
import os

from celery import Celery, Task, signals
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podhub.settings.base")

app = Celery("podhub", task_cls="podhub.celery:PodhubTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect(weak=False)
@signals.task_postrun.connect(weak=False)
def _database_between_tasks(sender=None, **_):
    """Between tasks, as between requests: a connection that failed (a PostgreSQL
    restart) or is older than CONN_MAX_AGE is closed, the others are kept
    (CELERY_DB_REUSE_MAX in settings turns off the fixup's close after every task). Not
    for a task run in-process (`apply`): it runs inside its caller's transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


class PodhubTask(DjangoTask):
    """Every PodHub task: transaction-aware (pretix's TransactionAwareTask). Sent from
    inside a transaction, the message leaves only once the transaction commits — a
    worker never looks for a row that is not there yet, and a rolled-back change rings
    nothing — so a caller cannot forget `on_commit`. Outside a transaction it is sent at
    once. Tasks take ids; the rows are the work (docs/architecture.md, "The broker is a
    doorbell"). A task beat sends (a sweep) runs under its sweep's lease, so two beats
    never run one sweep twice at once (podhub/core/sweeps.py)."""

    def __call__(self, *args, **kwargs):
        from podhub.core import sweeps

        entry = _header(self.request, sweeps.BEAT_HEADER)
        sweep = sweeps.sweep_for(self.name, entry)
        if sweep is None:
            return super().__call__(*args, **kwargs)
        run = functools.partial(super().__call__, *args, **kwargs)
        return sweeps.run_exclusive(sweep, run, beat=entry is not None,
                                    lease=sweeps.lease_for(sweep, self.time_limit))

    def apply_async(self, args=None, kwargs=None, **options):
        from django.db import connection, transaction

        if connection.in_atomic_block:
            # robust: a broker that is down must not fail the committed request; the
            # row is there and its sweep rings again
            transaction.on_commit(
                lambda: super(PodhubTask, self).apply_async(args, kwargs, **options),
                robust=True)
            return None
        return super().apply_async(args, kwargs, **options)

    def follow_up(self, **kwargs):
        """Send work that follows a change (an order event's subscriber, an e-mail, a
        re-pricing): after commit, like `delay`. With settings.PODHUB_FOLLOW_UPS_EAGER
        (the test settings) the task body runs in this process right after commit
        instead, so a test sees its effect; tests/podhub/test_events.py sends follow-ups
        through the real broker."""
        from django.conf import settings
        from django.db import transaction

        if getattr(settings, "PODHUB_FOLLOW_UPS_EAGER", False):
            transaction.on_commit(lambda: self.apply(kwargs=kwargs, throw=True))
            return None
        return self.delay(**kwargs)

    def follow_up_once(self, *, key: str, **kwargs):
        """`follow_up` for a burst: after commit, sent only if none for `key` is waiting
        (podhub/core/doorbell.py). The doorbell is rung at commit, not before: a change
        that rolls back, or commits after the waiting task has read, must not silence
        the next ring."""
        from django.conf import settings
        from django.db import transaction

        from podhub.core.doorbell import ring_once

        # robust as apply_async is, except where follow-ups run eagerly (tests): there
        # a failing task body must fail the test
        transaction.on_commit(lambda: ring_once(self, key=key, **kwargs),
                              robust=not getattr(settings, "PODHUB_FOLLOW_UPS_EAGER", False))


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
