"""Thin Celery wrappers over quotes/services.py (the broker is a doorbell)."""

from celery import shared_task

from quotes import services


@shared_task
def pricing_sweep_task() -> int:
    """Beat, every 5 min (and rung after catalog changes): evaluate waiting orders whose
    follow-up pricing was lost. The sweep disables scopes itself, per workspace."""
    return services.pricing_sweep()
