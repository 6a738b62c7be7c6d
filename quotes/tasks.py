"""Thin Celery wrappers over quotes/services.py (the broker is a doorbell)."""

from celery import shared_task

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True)
def order_evaluate_task(*, workspace_id: int, event_id: int, type: str = "") -> None:
    """An order was imported, entered or changed: map and price it (the pricing sweep
    catches a lost one)."""
    from podhub.workspaces.models import Workspace
    from quotes.services import order_evaluate_for_event

    order_evaluate_for_event(workspace=Workspace.objects.get(pk=workspace_id),
                             event_id=event_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def orders_evaluate_task(*, workspace_id: int, order_ids: list[int]) -> int:
    """Re-evaluate waiting orders after a quote was accepted or a rule added."""
    from podhub.workspaces.models import Workspace
    from quotes.services import orders_evaluate

    return orders_evaluate(workspace=Workspace.objects.get(pk=workspace_id),
                           order_ids=order_ids)


@shared_task
def pricing_sweep_task() -> int:
    """Beat, every 60 s (and rung after catalog changes): evaluate waiting orders whose
    follow-up pricing was lost. The sweep disables scopes itself, per workspace."""
    from quotes.services import pricing_sweep  # services import this module

    return pricing_sweep()
