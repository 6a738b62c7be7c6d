from celery import shared_task
from django.utils import timezone

from podhub.core.models import Heartbeat


@shared_task
def heartbeat_task() -> None:
    """Beat sends it, a worker runs it: a fresh row proves the whole chain works."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})


@shared_task(acks_late=True)
def email_send_task(*, email_id: int) -> str | None:
    """Send one stored e-mail (podhub/core/mail.py)."""
    from podhub.core.mail import send_now

    return send_now(email_id=email_id)


@shared_task
def email_sweep_task() -> int:
    """Beat, every 60 s: e-mails whose task was lost, and retries that are due; and
    (core's housekeeping) API idempotency keys past their 24 hours."""
    from podhub.core.idempotency import prune
    from podhub.core.mail import email_sweep

    prune()
    return email_sweep()
