"""The API's one error body, the base view every workspace API extends, and the
checks every API input goes through (docs/security.md, "Malformed input").

Every error is `{"error": {"code": ..., "message": ..., ...detail}}` — from DRF
here, and from Django itself (400/403/404/500 before or around DRF) in
podhub/core/errors.py. Ids in a body or a query are `IdField`s (a whole number
that fits an id column; with `visible=`, one the token's workspace can see),
JSON bodies are read with a nesting limit (podhub/core/parsers.py).
"""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from podhub.core import idempotency
from podhub.core.converters import MAX_ID
from podhub.core.exceptions import PodhubError, ValidationFailed
from podhub.core.throttling import ApiRateThrottle


def error_body(code: str, message: str, **detail) -> dict:
    return {"error": {"code": code, "message": message, **detail}}


def parse_id(value, *, field: str, what: str = "object") -> int:
    """An id in API input: a JSON whole number or a string of digits, 1 to MAX_ID;
    anything else (null, a list, 1.5, true, 20 digits) is a 400 naming the field."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationFailed(f"{field}: enter the id of a {what}.",
                               fields={field: f"Enter the id of a {what} (a whole number)."})
    return value


class IdField(serializers.IntegerField):
    """An object id in a serializer: 1 to MAX_ID. With `visible` (a function of the
    workspace returning a queryset), the id must name an object the request's
    workspace can see, else 400 naming the field (never a 404 that would tell the
    object exists in another workspace). The workspace comes from the serializer's
    context (`context={"workspace": ...}`)."""

    default_error_messages = {"not_visible": "No such {what} in this workspace."}

    def __init__(self, *, visible=None, what: str = "object", **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        self.visible, self.what = visible, what
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if self.visible is not None and \
                not self.visible(self.context["workspace"]).filter(pk=value).exists():
            self.fail("not_visible", what=self.what)
        return value


class IdListField(serializers.ListField):
    """A list of ids (each an IdField). With `visible`, every one must name an object
    the workspace can see (one query), else 400 naming the ones that do not."""

    def __init__(self, *, visible=None, what: str = "object", **kwargs):
        kwargs.setdefault("child", IdField())
        self.visible, self.what = visible, what
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        ids = super().to_internal_value(data)
        if self.visible is not None and ids:
            found = set(self.visible(self.context["workspace"]).filter(pk__in=ids)
                        .values_list("pk", flat=True))
            missing = [i for i in ids if i not in found]
            if missing:
                raise serializers.ValidationError(
                    f"No such {self.what} in this workspace: "
                    + ", ".join(map(str, missing[:10])) + ("…" if len(missing) > 10 else ""))
        return ids


def exception_handler(exc, context):
    if isinstance(exc, PodhubError):
        return Response(error_body(exc.code, exc.message, **exc.detail), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", str(exc) or "The request is too large."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):  # too many fields, a bad multipart body ...
        return Response(error_body("bad_request", str(exc) or "The request is malformed."),
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", "The request is invalid.", fields=exc.detail)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Request failed."
        response.data = error_body(exc.get_codes() if isinstance(exc.get_codes(), str)
                                   else exc.default_code, message)
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


class WorkspaceApi(APIView):
    """Base for every seller API view: `self.workspace` is the token's workspace,
    already in scope (see WorkspaceScopeMiddleware).

    Every answer carries the caller's rate-limit headers (podhub/core/throttling.py).
    `idempotent = True`: its POST takes an `Idempotency-Key` (podhub/core/idempotency.py);
    set on every POST that creates or moves orders or money (docs/api.md)."""

    idempotent = False
    _idempotency_record = None

    def initial(self, request, *args, **kwargs):
        if request._request.workspace is None:  # no valid credentials: 401 below
            ApiRateThrottle().check_anonymous(request)
        super().initial(request, *args, **kwargs)
        if self.idempotent and request.method == "POST":
            self._idempotency_record = idempotency.begin(request, workspace=self.workspace)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def raise_uncaught_exception(self, exc):
        if self._idempotency_record is not None:  # a 500: the key is free for a retry
            idempotency.release(self._idempotency_record)
            self._idempotency_record = None
        super().raise_uncaught_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_record is not None:
            idempotency.finish(self._idempotency_record, response)
            self._idempotency_record = None
        budget = getattr(request._request, "rate_limit", None)  # podhub/core/throttling.py
        if budget is not None:
            for name, value in budget.headers().items():
                response[name] = value
        return response

    @property
    def workspace(self):
        return self.request._request.workspace

    @property
    def membership(self):
        return self.request._request.membership
