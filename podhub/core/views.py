"""Helpers shared by dashboard views: login + workspace required, domain errors."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

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


def _back(request) -> str:
    referer = request.headers.get("Referer", "")
    host = request.get_host()
    if referer and (referer.startswith(f"http://{host}/") or referer.startswith(f"https://{host}/")):
        return referer
    return reverse("dashboard")
