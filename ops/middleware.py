"""Request timings for /metrics: one histogram by route name, method and status class."""

import time

from ops.metrics import REQUEST_SECONDS

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so the time covers every other middleware too. Labels come
    from the URL conf (route names, not paths), so their number stays bounded."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route) if match else "unmatched"
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(route, method, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started)
        return response
