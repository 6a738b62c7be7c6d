"""Thin Celery wrappers over automation/engine.py and automation/services.py."""

from celery import shared_task
from django_scopes import scopes_disabled

from automation import engine, services
from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True)
def rules_for_event_task(*, workspace_id: int, event_id: int, type: str) -> int:
    """An order event of a rule trigger (subscribed once per trigger in apps.py)."""
    from django_scopes import get_scope

    return engine.run_for_event(workspace=get_scope()["workspace"], event_id=event_id,
                                type=type)


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=240, time_limit=300)
def apply_process_task(*, workspace_id: int, job_id: int) -> str:
    """Apply a rule to existing orders from where its job stopped (the row is the work)."""
    return services.apply_process(job_id=job_id).status


@shared_task
def apply_sweep_task() -> int:
    """Beat, every 60 s: apply-to-existing jobs whose task was lost or whose worker died."""
    with scopes_disabled():  # a sweep works across workspaces
        return services.apply_sweep()
