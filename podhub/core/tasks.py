from celery import shared_task
from django.utils import timezone

from podhub.core.models import Heartbeat


@shared_task
def heartbeat_task() -> None:
    """Beat sends it, a worker runs it: a fresh row proves the whole chain works."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})
