"""The API's one error body, and the base view every workspace API extends.

Every error is `{"error": {"code": ..., "message": ..., ...detail}}`.
"""

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from podhub.core.exceptions import PodhubError


def error_body(code: str, message: str, **detail) -> dict:
    return {"error": {"code": code, "message": message, **detail}}


def exception_handler(exc, context):
    if isinstance(exc, PodhubError):
        return Response(error_body(exc.code, exc.message, **exc.detail), status=exc.status)
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
    already in scope (see WorkspaceScopeMiddleware)."""

    @property
    def workspace(self):
        return self.request._request.workspace

    @property
    def membership(self):
        return self.request._request.membership
