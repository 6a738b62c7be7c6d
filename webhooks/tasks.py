"""Thin Celery wrappers over webhooks/services.py (the broker is a doorbell)."""

from celery import shared_task

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True)
def order_events_fanout_task(*, workspace_id: int) -> int:
    """A burst of the workspace's order events (one doorbell for all of them): one
    delivery per endpoint that wants each, sent at once (the sweep catches a lost
    task)."""
    from django_scopes import get_scope

    from podhub.core.doorbell import answered
    from webhooks.services import FANOUT_DOORBELL, fanout_drain

    answered(f"{FANOUT_DOORBELL}:{workspace_id}")  # before reading: a later event rings again
    return fanout_drain(workspace=get_scope()["workspace"])


@shared_task(base=WorkspaceTask, acks_late=True)
def order_event_fanout_task(*, workspace_id: int, event_id: int, type: str = "") -> int:
    """One order event (the subscription before the coalesced doorbell: messages
    still queued at an upgrade are answered by the drain)."""
    from django_scopes import get_scope

    from webhooks.services import fanout_drain

    return fanout_drain(workspace=get_scope()["workspace"])


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
