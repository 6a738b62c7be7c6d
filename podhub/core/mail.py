"""E-mail: a row first, then a task (the broker is a doorbell; docs/architecture.md).

`send(...)` stores an OutgoingEmail in the caller's transaction; the send task leaves
after commit (podhub.celery.PodhubTask), so an e-mail about a change that rolled back
is never sent, and a request never waits on SMTP (a sweep of 500 orders used to send
500 e-mails inside its commit callbacks). A failed send is retried with backoff by
`email_sweep`; after MAX_ATTEMPTS the row stays `failed`, with its last error.
The sweep also sends what a lost task left: with `older_than`, it leaves the fresh
rows to their own task.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from podhub.core.models import EmailStatus, OutgoingEmail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# how long a claimed e-mail is left to its sender before the sweep tries it again
SEND_LEASE = timedelta(minutes=10)


def send(*, to: list[str], subject: str, body: str, html: str = "",
         workspace_id: int | None = None, link: str = "",
         link_label: str = "Open in PodHub") -> OutgoingEmail | None:
    """Queue an e-mail (None when there is nobody to send it to).

    `body` is the plain text; `link` the page where the reader acts (an absolute URL on
    PODHUB_PUBLIC_URL): the text ends with it, the HTML shows it as a button. Without
    `html`, the HTML part is templates/emails/message.html around the text (paragraphs,
    "- " lists), headed with the workspace's name."""
    from podhub.core.tasks import email_send_task

    to = [addr for addr in dict.fromkeys(to) if addr]
    if not to:
        return None
    if not html:
        html = render_html(subject=subject, body=body, link=link, link_label=link_label,
                           workspace_id=workspace_id)
    if link:
        body = f"{body}\n\n{link_label}: {link}"
    email = OutgoingEmail.objects.create(workspace_id=workspace_id, to=to,
                                         subject=subject[:255], body=body, html=html)
    email_send_task.follow_up(email_id=email.pk)
    return email


def _blocks(body: str) -> list[dict]:
    """Paragraphs of the text; a paragraph whose every line starts with "- " is a list."""
    blocks = []
    for para in (p.strip("\n") for p in body.split("\n\n")):
        if not para.strip():
            continue
        lines = para.splitlines()
        if all(line.startswith("- ") for line in lines):
            blocks.append({"items": [line[2:] for line in lines]})
        else:
            blocks.append({"text": para})
    return blocks


def render_html(*, subject: str, body: str, link: str = "", link_label: str = "",
                workspace_id: int | None = None) -> str:
    from django.conf import settings
    from django.template.loader import render_to_string

    from podhub.workspaces.models import Workspace

    name = (Workspace.objects.filter(pk=workspace_id).values_list("name", flat=True).first()
            if workspace_id else "")
    heading = subject.removeprefix(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX).strip()
    return render_to_string("emails/message.html", {
        "subject": subject, "heading": heading, "blocks": _blocks(body), "link": link,
        "link_label": link_label, "workspace_name": name or "",
        "public_url": settings.PUBLIC_BASE_URL})


def _backoff(attempts: int) -> float:
    return min(3600, 30 * 2 ** attempts) * (0.5 + random.random() / 2)  # noqa: S311


def send_now(*, email_id: int, now: datetime | None = None) -> str | None:
    """Send one waiting e-mail: claim it, send outside any transaction, record the
    answer (docs/architecture.md: a locked section never waits on the network; on
    SQLite it would hold the database's write lock for the whole SMTP exchange).

    The claim moves `next_attempt_at` past the lease, so a second task or the sweep
    leaves the row alone while it is being sent: a sent e-mail is never sent twice by
    two workers. A worker that dies between the send and the record leaves it to be
    sent again after the lease (at least once, never silently lost). None when there
    was nothing to send (already sent, failed for good, or claimed by another).
    """
    now = now or timezone.now()
    with transaction.atomic():
        email = (OutgoingEmail.objects.select_for_update(skip_locked=True)
                 .filter(pk=email_id, status=EmailStatus.PENDING, next_attempt_at__lte=now)
                 .first())
        if email is None:
            return None
        email.attempts += 1
        email.next_attempt_at = now + SEND_LEASE
        email.save(update_fields=["attempts", "next_attempt_at"])
    update: dict = {}
    try:
        message = EmailMultiAlternatives(subject=email.subject, body=email.body, to=email.to)
        if email.html:
            message.attach_alternative(email.html, "text/html")
        message.send(fail_silently=False)
    except Exception as exc:  # SMTP down, refused: retry later, keep the reason
        log.warning("e-mail %s not sent (attempt %s): %s", email.pk, email.attempts, exc)
        update["last_error"] = f"{exc.__class__.__name__}: {exc}"[:2000]
        if email.attempts >= MAX_ATTEMPTS:
            update["status"] = EmailStatus.FAILED
        else:
            update["next_attempt_at"] = now + timedelta(seconds=_backoff(email.attempts))
    else:
        update.update(status=EmailStatus.SENT, sent_at=now, last_error="")
    OutgoingEmail.objects.filter(pk=email.pk).update(**update)
    return update.get("status", EmailStatus.PENDING)


def email_sweep(*, now: datetime | None = None, older_than: int = 30, limit: int = 500) -> int:
    """E-mails whose task was lost or whose retry is due."""
    from podhub.core.tasks import email_send_task

    now = now or timezone.now()
    due = list(OutgoingEmail.objects.filter(
        status=EmailStatus.PENDING, next_attempt_at__lte=now,
        created_at__lte=now - timedelta(seconds=older_than),
    ).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in due:
        email_send_task.delay(email_id=pk)
    return len(due)
