"""Doorbells and sweeps. Every task takes ids; the rows hold the work (docs/architecture.md,
"The broker is a doorbell")."""

from celery import shared_task
from django_scopes import scopes_disabled

from podhub.celery import WorkspaceTask
from podhub.core.doorbell import SWEEP_TTL, answered, ring_once


@shared_task(base=WorkspaceTask, acks_late=True)
def inbox_drain_task(*, workspace_id: int, connection_id: int) -> int:
    from integrations.services.inbox import inbox_drain

    return inbox_drain(connection_id=connection_id)


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=None, time_limit=None)
def import_job_task(*, workspace_id: int, job_id: int) -> None:
    from integrations.services.imports import import_job_run

    # A store outage is kept on the job row; the sweep resumes it from its cursor.
    import_job_run(job_id=job_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def reconcile_store_task(*, workspace_id: int, connection_id: int) -> dict:
    from integrations.services.imports import reconcile_store

    return reconcile_store(connection_id=connection_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def outbox_deliver_task(*, workspace_id: int, message_id: int) -> None:
    from integrations.services.outbox import outbox_deliver

    answered(f"outbox:{message_id}")
    outbox_deliver(message_id=message_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def order_event_task(*, workspace_id: int, event_id: int, type: str = "") -> None:
    from integrations.services.outbox import order_event_handle

    answered(f"order-event:{event_id}")
    order_event_handle(event_id=event_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def order_events_push_task(*, workspace_id: int) -> int:
    """A burst of the workspace's order events: push what has no outbox message yet."""
    from integrations.services.outbox import (
        EVENTS_DOORBELL,
        order_event_handle,
        order_events_missing,
    )
    from podhub.core.doorbell import answered

    answered(f"{EVENTS_DOORBELL}:{workspace_id}")
    events = order_events_missing(workspace_id=workspace_id)
    for _, event_id in events:
        order_event_handle(event_id=event_id)
    return len(events)


@shared_task
def integrations_sweep_task() -> dict:
    """Beat: ring again for every row a lost task left behind."""
    from integrations.services.imports import import_jobs_due
    from integrations.services.inbox import inbox_due, inbox_prune
    from integrations.services.outbox import order_events_missing, outbox_due

    with scopes_disabled():
        inbox = inbox_due()
        jobs = import_jobs_due()
        outbox = outbox_due()
        pushes = order_events_missing()
        pruned = inbox_prune()
    for ws, conn in inbox:
        inbox_drain_task.delay(workspace_id=ws, connection_id=conn)
    for ws, job in jobs:
        import_job_task.delay(workspace_id=ws, job_id=job)
    for ws, msg in outbox:
        ring_once(outbox_deliver_task, key=f"outbox:{msg}", ttl=SWEEP_TTL, from_sweep=True,
                  workspace_id=ws, message_id=msg)
    for ws, event in pushes:
        ring_once(order_event_task, key=f"order-event:{event}", ttl=SWEEP_TTL,
                  from_sweep=True, workspace_id=ws, event_id=event)
    return {"inbox": len(inbox), "imports": len(jobs), "outbox": len(outbox),
            "events": len(pushes), "pruned": pruned}


@shared_task
def poll_sweep_task() -> int:
    """Beat: stores without webhooks (Etsy) read every `poll_seconds` of their platform."""
    from integrations.services.imports import connections_to_poll

    due = connections_to_poll()
    for ws, pk in due:
        reconcile_store_task.delay(workspace_id=ws, connection_id=pk)
    return len(due)


@shared_task
def reconcile_sweep_task() -> int:
    from integrations.services.imports import connections_to_reconcile

    conns = connections_to_reconcile()
    for ws, pk in conns:
        reconcile_store_task.delay(workspace_id=ws, connection_id=pk)
    return len(conns)
