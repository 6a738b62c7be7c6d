"""Thin Celery wrappers over billing's services: ids in, the service does the work.

Every task is idempotent (ledger keys, row states) and only a doorbell:
billing_sweep_task finds whatever a lost task left behind.
"""

from celery import shared_task
from django_scopes import scopes_disabled

from podhub.celery import WorkspaceTask


@shared_task(base=WorkspaceTask, acks_late=True)
def order_charge_sync_task(*, workspace_id: int, order_event_id: int) -> None:
    """Capture or release an order's holds to match its state (after an order event).
    Kept for messages sent before order_charges_sync_task replaced it."""
    from billing import services

    services.order_charge_sync_for_event(workspace_id=workspace_id, order_event_id=order_event_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def order_charges_sync_task(*, workspace_id: int) -> int:
    """Capture or release the holds of every order of the workspace whose state moved."""
    from billing import handlers, payments
    from podhub.core.doorbell import answered

    answered(handlers.charges_doorbell(workspace_id))
    return payments.order_charges_sync(workspace_id=workspace_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def shipment_capture_task(*, workspace_id: int, event_id: int | None = None, type: str = "",
                          order_event_id: int | None = None) -> None:
    """A parcel shipped (shipment.shipped): capture its share of the order's shipping
    hold. (`order_event_id`: messages sent before the order-event subscriptions.)"""
    from billing import payments

    payments.shipment_shipping_capture(workspace_id=workspace_id,
                                       order_event_id=event_id or order_event_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def auto_pay_task(*, workspace_id: int, event_id: int | None = None, type: str = "",
                  order_event_id: int | None = None) -> None:
    """Pay a connected order of an auto-pay store (or all waiting ones) from the balance.
    (`order_event_id`: messages sent before the order-event subscriptions.)"""
    from billing import services

    services.auto_pay_for_event(workspace_id=workspace_id,
                                order_event_id=event_id or order_event_id)


@shared_task(base=WorkspaceTask, acks_late=True)
def auto_recharge_task(*, workspace_id: int) -> None:
    """Available fell below the threshold: charge the saved card off-session."""
    from billing import services

    services.auto_recharge_check(workspace_id=workspace_id)


@shared_task(acks_late=True)
def stripe_event_process_task(*, stripe_event_id: int) -> None:
    """Apply one stored Stripe event (its workspace is found from our own rows)."""
    from billing import stripe_events

    with scopes_disabled():
        stripe_events.stripe_event_process(stripe_event_id=stripe_event_id)


@shared_task
def billing_sweep_task() -> dict:
    """Beat, every 60 s: Stripe events, captures/releases and recharges left behind."""
    from billing import services

    with scopes_disabled():  # a sweep works across workspaces
        return services.billing_sweep()
