"""Helpers shared by dashboard views: login + workspace required, domain errors, and
the one way to send the browser to a URL that came with the request."""

from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from podhub.core.exceptions import PodhubError


def workspace_view(view):
    """A dashboard page: signed in, acting for a workspace (else onboarding).

    Domain errors become a message and a redirect back (or a 4xx for htmx), so
    an illegal action always tells the seller why.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.workspace is None:
            return redirect("workspaces:create")
        try:
            return view(request, *args, **kwargs)
        except PodhubError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            if request.htmx:
                response = HttpResponse(exc.message, status=exc.status)
                response["HX-Trigger"] = "podhub-error"
                return response
            messages.error(request, exc.message)
            return redirect(_back(request))

    return wrapper


def local_path(request, candidate: str | None, *, fallback: str) -> str:
    """`candidate` as a path on this site, or `fallback` when it is anything else.

    A redirect target taken from the request (`next`, the Referer) must not send the
    seller to another site (issue 13, finding 10). It passes only when Django's
    url_has_allowed_host_and_scheme accepts it for this host alone (HTTPS required when
    the request is secure), and only its path and query are kept, so the answer is
    always a same-host relative path ("/orders/?state=x"), never "//host" or a scheme.
    """
    candidate = (candidate or "").strip()
    if not candidate or not url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return fallback
    parts = urlsplit(candidate)
    path = "/" + parts.path.lstrip("/\\")
    return path + (f"?{parts.query}" if parts.query else "")


def redirect_local(request, candidate: str | None, *, fallback: str) -> HttpResponse:
    """Redirect to a same-host path from the request (see local_path): a 302, or for
    htmx a 204 with HX-Redirect, which htmx follows like a link — or HX-Refresh when the
    target is the page the request came from: a link that differs only by its #fragment
    would only scroll, and the page would keep showing what the action changed."""
    target = local_path(request, candidate, fallback=fallback)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        current = urlsplit(request.headers.get("HX-Current-URL") or "")
        wanted = urlsplit(target)
        if (current.path, current.query) == (wanted.path, wanted.query):
            response["HX-Refresh"] = "true"
        else:
            response["HX-Redirect"] = target
        return response
    return redirect(target)


def _back(request) -> str:
    return local_path(request, request.headers.get("Referer"), fallback=reverse("dashboard"))
