"""Thin Celery wrappers over orders/services.py."""

from celery import shared_task
from django_scopes import scopes_disabled

from orders import services


@shared_task
def info_request_expiry_sweep_task() -> int:
    """Beat, every 15 min: cancel orders whose information request expired (48 h)."""
    with scopes_disabled():  # a sweep works across workspaces
        return services.info_request_expiry_sweep()
