"""GET /metrics for Prometheus: a bearer token or an allowed address, else refused."""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ops.metrics import exposition


def _allowed_address(request) -> bool:
    """REMOTE_ADDR against PODHUB_METRICS_ALLOW (addresses or networks). A reverse proxy
    on the same host makes every client look like it: list the scraper's address only
    when Prometheus reaches PodHub directly (docs/operations.md)."""
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in net for net in _networks(tuple(settings.PODHUB_METRICS_ALLOW)))


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> list:
    try:
        return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]
    except ValueError as exc:
        raise ImproperlyConfigured(f"PODHUB_METRICS_ALLOW: {exc}") from exc


def _refusal(request) -> HttpResponse | None:
    token = settings.PODHUB_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    if not given and _allowed_address(request):
        return None
    if token or given:
        response = HttpResponse("A valid metrics token is required "
                                "(Authorization: Bearer <PODHUB_METRICS_TOKEN>).\n",
                                status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not settings.PODHUB_METRICS_ALLOW:
        return HttpResponse("Metrics are off: set PODHUB_METRICS_TOKEN or "
                            "PODHUB_METRICS_ALLOW.\n", status=403, content_type="text/plain")
    return HttpResponse("This address may not read the metrics.\n", status=403,
                        content_type="text/plain")


@require_GET
def metrics(request):
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
