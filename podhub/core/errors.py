"""Django's own error responses (handler400/403/404/500 in podhub/urls.py).

Under /api/ and /webhooks/ every error is the API's one JSON body
(podhub/core/api.py), also when Django answers before or around DRF: a bad Host
header, too many form fields, an unknown path, a crash. Pages keep their HTML.
"""

from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def _json(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def bad_request(request, exception):
    if _wants_json(request):
        return _json(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if _wants_json(request):
        return _json(403, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if _wants_json(request):
        return _json(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def server_error(request):
    if _wants_json(request):
        return _json(500, "server_error", "Something went wrong on our side.")
    return render(request, "500.html", status=500)
