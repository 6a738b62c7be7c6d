"""Thin Celery wrappers over quotes/services.py (the broker is a doorbell)."""

from celery import shared_task


@shared_task
def pricing_sweep_task() -> int:
    """Beat, every 5 min (and rung after catalog changes): evaluate waiting orders whose
    follow-up pricing was lost. The sweep disables scopes itself, per workspace."""
    from quotes.services import pricing_sweep  # services import this module

    return pricing_sweep()
