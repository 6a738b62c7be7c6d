"""Thin Celery wrappers over orders/services/ and orders/csv_jobs.py."""

from celery import shared_task
from django_scopes import scopes_disabled

from orders import csv_jobs, services
from podhub.celery import WorkspaceTask


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
