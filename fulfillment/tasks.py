"""Thin Celery wrappers: ids in, services do the work (the row is the ledger)."""

from celery import shared_task

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=240, time_limit=300)
def render_task(*, workspace_id: int, render_id: int) -> str:
    """Render one line item's print files (fulfillment.printfiles.services.render_run)."""
    from fulfillment.printfiles.services import render_run
    from podhub.core.doorbell import answered

    answered(f"render:{render_id}")
    return render_run(render_id=render_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def render_for_event_task(*, workspace_id: int, event_id: int, type: str) -> None:
    """An order was priced, edited or changed in the store: re-render what changed."""
    from django_scopes import get_scope

    from fulfillment.printfiles.services import render_for_event

    render_for_event(workspace=get_scope()["workspace"], event_id=event_id, type=type)


@shared_task
def render_sweep_task() -> int:
    """Beat, every 60 s: re-send renders whose task was lost or whose worker died."""
    from fulfillment.printfiles.services import render_sweep

    return render_sweep()


# --- submission, shipments, provider webhooks (issue 7) ------------------------------------


@shared_task(base=WorkspaceTask, acks_late=True, soft_time_limit=60, time_limit=90)
def submission_send_task(*, workspace_id: int, submission_id: int) -> str:
    """Send one submission to its provider (fulfillment.submission.submission_send)."""
    from fulfillment.submission import submission_send

    return submission_send(submission_id=submission_id)


@shared_task(soft_time_limit=240, time_limit=300)
def submit_sweep_task() -> dict:
    """Beat, every 60 s: due orders -> production; unsent or stuck submissions; stored
    provider webhooks whose processing failed."""
    from fulfillment.holds import hold_sweep
    from fulfillment.shipments import webhook_sweep
    from fulfillment.submission import launch_sweep, send_due, submit_sweep

    held = hold_sweep()  # first: a change waiting for a held order goes before its end
    submitted = submit_sweep(send=False)
    launched = launch_sweep()
    return {"held": held, "submitted": submitted, "launched": launched, "sent": send_due(),
            "webhooks": webhook_sweep()}


@shared_task(base=WorkspaceTask, acks_late=True)
def launch_paid_order_task(*, workspace_id: int, event_id: int, type: str) -> bool:
    """`order.paid`: a catalog order of a workspace that launches them goes to production."""
    from django_scopes import get_scope

    from fulfillment.submission import launch_paid_catalog_order
    from orders.models import OrderEvent

    workspace = get_scope()["workspace"]
    event = OrderEvent.objects.filter(workspace=workspace, pk=event_id).first()
    return event is not None and launch_paid_catalog_order(
        workspace=workspace, order_id=event.order_id) is not None


@shared_task(base=WorkspaceTask, acks_late=True)
def hold_for_event_task(*, workspace_id: int, event_id: int, type: str) -> None:
    """An order was paid, changed or cancelled: bring its held orders in line
    (fulfillment/holds.py)."""
    from fulfillment.holds import sync_order
    from orders.models import OrderEvent

    order_id = OrderEvent.objects.filter(pk=event_id).values_list("order_id", flat=True).first()
    if order_id is not None:
        sync_order(order_id=order_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def hold_sync_task(*, workspace_id: int, order_id: int) -> None:
    """Cancel the held orders a submission did not take (fulfillment/holds.py)."""
    from fulfillment.holds import sync_order

    sync_order(order_id=order_id)


@shared_task(soft_time_limit=240, time_limit=300)
def complete_sweep_task() -> int:
    """Beat, every 15 min: shipped orders older than FULFILLMENT_COMPLETE_AFTER_DAYS."""
    from fulfillment.shipments import complete_sweep

    return complete_sweep()


@shared_task(soft_time_limit=240, time_limit=300)
def poll_sweep_task() -> dict:
    """Beat, every 5 min: ask API providers about open submissions not heard of for a
    while (CustomCat always, Printful/Gelato as a safety net); fulfillment.polling."""
    from fulfillment.polling import poll_sweep

    return poll_sweep()
