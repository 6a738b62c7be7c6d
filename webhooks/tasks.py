"""Thin Celery wrappers over webhooks/services.py (the broker is a doorbell)."""

from celery import shared_task

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True)
def order_event_fanout_task(*, workspace_id: int, event_id: int, type: str = "") -> int:
    """An order event: one delivery per endpoint that wants it, then send them (the
    sweep catches a lost one)."""
    from podhub.workspaces.models import Workspace
    from webhooks.services import fanout_order_event

    return len(fanout_order_event(workspace=Workspace.objects.get(pk=workspace_id),
                                  event_id=event_id))


@shared_task(base=WorkspaceTask, acks_late=True)
def deliveries_send_task(*, workspace_id: int, delivery_ids: list[int]) -> dict:
    """Send these deliveries if they are due and nobody else holds them."""
    from webhooks.services import send_deliveries

    return send_deliveries(delivery_ids=delivery_ids)


@shared_task
def deliveries_sweep_task() -> dict:
    """Beat, every 15 s: retries that are due, and deliveries or fan-outs whose task
    was lost (across workspaces: the sweep reads every workspace's due rows)."""
    from django_scopes import scopes_disabled

    from webhooks.services import deliveries_sweep

    with scopes_disabled():
        return deliveries_sweep()
