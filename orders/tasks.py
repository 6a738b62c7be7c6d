"""Thin Celery wrappers over orders/services/ and orders/csv_jobs.py."""

import logging

from celery import shared_task
from django.conf import settings
from django_scopes import scopes_disabled

from orders import csv_jobs, services
from podhub.celery import WorkspaceTask, app

log = logging.getLogger(__name__)


@shared_task
def info_request_expiry_sweep_task() -> int:
    """Beat, every 15 min: cancel orders whose information request expired (48 h)."""
    with scopes_disabled():  # a sweep works across workspaces
        return services.info_request_expiry_sweep()


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=240, time_limit=300)
def csv_import_process_task(*, workspace_id: int, job_id: int) -> str:
    """Import a CSV job's orders from where it stopped (the job row is the work)."""
    job = csv_jobs.csv_import_process(job_id=job_id,
                                      budget_seconds=csv_jobs.TASK_BUDGET_SECONDS)
    return job.status


@shared_task
def csv_import_sweep_task() -> int:
    """Beat, every 60 s: CSV imports whose task was lost or whose worker died."""
    with scopes_disabled():  # a sweep works across workspaces
        return csv_jobs.csv_import_sweep()


@shared_task(base=WorkspaceTask, acks_late=True)
def order_events_task(*, workspace_id: int, task: str, events: list) -> int:
    """One message for a batch of order events (events.dispatch `batch`: a bulk import's
    batch of new orders): run the subscribed `task` for each [event id, type], in order,
    as its own message would have. One that fails is sent again on its own (its own
    message, its app's sweep behind it), and the others go on. The number run here."""
    subscribed = app.tasks[task]
    done = 0
    for event_id, type in events:
        kwargs = {"workspace_id": workspace_id, "event_id": event_id, "type": type}
        try:
            subscribed(**kwargs)
            done += 1
        except Exception:
            if getattr(settings, "PODHUB_FOLLOW_UPS_EAGER", False):
                raise  # in tests a failing body fails the test, as its own follow-up would
            log.exception("%s failed for order event %s; sent on its own", task, event_id)
            subscribed.delay(**kwargs)  # PodhubTask: sent after commit
    return done
