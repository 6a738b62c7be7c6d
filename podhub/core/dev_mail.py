"""The development outbox (`make run`): every e-mail PodHub queued, readable in the
browser at /dev/mail/ — the sign-up code, invitations, quotes — since the embedded default
sends none (they are also written under var/mail/). Off in production settings
(PODHUB_DEV_MAILBOX), and answered only to the machine itself (a loopback address): it
shows sign-in codes."""

from ipaddress import ip_address

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from podhub.core.models import OutgoingEmail

SHOWN = 100


def _only_here(request) -> None:
    if not settings.PODHUB_DEV_MAILBOX:
        raise Http404
    try:
        local = ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        local = False
    if not local:
        raise Http404


def mail_list(request):
    _only_here(request)
    emails = OutgoingEmail.objects.order_by("-pk")[:SHOWN]
    return render(request, "dev/mail_list.html", {"emails": emails, "shown": SHOWN})


def mail_detail(request, email_id: int):
    _only_here(request)
    email = get_object_or_404(OutgoingEmail, pk=email_id)
    return render(request, "dev/mail_detail.html", {"email": email})


def mail_html(request, email_id: int):
    """The HTML part as its own page (the site's CSP applies: no script runs in it)."""
    _only_here(request)
    email = get_object_or_404(OutgoingEmail, pk=email_id)
    if not email.html:
        raise Http404
    return HttpResponse(email.html, content_type="text/html; charset=utf-8")
