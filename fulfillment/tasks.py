"""Thin Celery wrappers: ids in, services do the work (the row is the ledger)."""

from celery import shared_task

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=240, time_limit=300)
def render_task(*, workspace_id: int, render_id: int) -> str:
    """Render one line item's print files (fulfillment.printfiles.services.render_run)."""
    from fulfillment.printfiles.services import render_run

    return render_run(render_id=render_id)


@shared_task
def render_sweep_task() -> int:
    """Beat, every 60 s: re-send renders whose task was lost or whose worker died."""
    from fulfillment.printfiles.services import render_sweep

    return render_sweep()
