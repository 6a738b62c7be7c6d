"""Request bodies are refused by size before they are read (docs/security.md "Request
limits").

Each path family has a limit (settings REQUEST_BODY_LIMITS, first matching pattern, else
REQUEST_BODY_MAX_BYTES). A request whose Content-Length is above it gets 413 at once —
JSON for /api/ and /webhooks/, an HTML page otherwise — before Django parses it, so
neither memory nor a temporary upload file ever holds it. A body without a length
(Transfer-Encoding: chunked) is counted while it is read and refused with 413 past the
limit; that needs a server which ends the input at the end of the body (gunicorn sets
`wsgi.input_terminated`). Django's own server cannot hand such a body over, so there it is
refused with 411 Length Required. Then Django's DATA_UPLOAD_* / FILE_UPLOAD_* settings
bound what a body that fits may do (fields, files, memory).

The middleware runs first, before anything could read the body.
"""

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from podhub.core.errors import _wants_json

BLOCK = 64 * 1024


class BodyTooLarge(RequestDataTooBig):
    """A body without a declared length went past its limit while it was read."""


def body_limit(path: str) -> int:
    """The largest body accepted for this path, in bytes."""
    for pattern, limit in settings.REQUEST_BODY_LIMITS:
        if re.match(pattern, path):
            return limit
    return settings.REQUEST_BODY_MAX_BYTES


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):.3g} MB"


def refuse(request, status: int, code: str, message: str) -> HttpResponse:
    if _wants_json(request):
        response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    else:
        response = HttpResponse(render_to_string("request_refused.html", {
            "status": status, "message": message}), status=status)
    response["Content-Length"] = str(len(response.content))  # answered before CommonMiddleware
    return response


def too_large(request, limit: int) -> HttpResponse:
    return refuse(request, 413, "too_large",
                  f"The request is too large: at most {_megabytes(limit)} here.")


class CappedInput:
    """The input of a body without Content-Length, read through a counter: past `limit`
    bytes it marks the request and raises BodyTooLarge (the middleware answers 413)."""

    def __init__(self, stream, limit: int, request):
        self.stream, self.limit, self.request = stream, limit, request
        self.seen = 0

    def _count(self, data: bytes) -> bytes:
        self.seen += len(data)
        if self.seen > self.limit:
            self.request.body_too_large = True
            raise BodyTooLarge(f"Request body over {self.limit} bytes.")
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self._count(self.stream.read(min(size, self.limit + 1 - self.seen)))
        parts = []
        while data := self._count(self.stream.read(BLOCK)):
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        """Like Django's LimitedStream: the server owns the input and closes it."""

    def readline(self, size: int | None = -1) -> bytes:
        room = self.limit + 1 - self.seen
        return self._count(self.stream.readline(room if size is None or size < 0
                                                else min(size, room)))


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request.path_info)
        meta = request.META
        declared = meta.get("CONTENT_LENGTH") or ""
        if declared:
            if not declared.isdigit():
                return refuse(request, 400, "bad_request", "Content-Length is not a number.")
            if int(declared) > limit:
                return too_large(request, limit)
        elif meta.get("HTTP_TRANSFER_ENCODING"):
            if not meta.get("wsgi.input_terminated"):
                return refuse(request, 411, "length_required",
                              "Send the body with a Content-Length.")
            # Django reads Content-Length bytes, i.e. none here; read the body through
            # the counter instead (HttpRequest reads from _stream).
            request._stream = CappedInput(meta["wsgi.input"], limit, request)
        response = self.get_response(request)
        if getattr(request, "body_too_large", False):
            return too_large(request, limit)
        return response
