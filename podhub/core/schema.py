"""The OpenAPI schema's error responses, for every operation (SPECTACULAR_SETTINGS).

Every API error is the one body of podhub/core/api.py, and which statuses an
operation can answer follows from what it takes, so they are documented here
once instead of on each view: 401 and 403 everywhere (token, role), 404 where
the path names an object, 400 where there is a query or a body, 415 where there
is a body. A view's own `@extend_schema(responses=...)` wins (409s, 413s and
descriptions specific to it); the API fuzz pass (tests/security/test_api_fuzz.py)
fails on any status an operation answers but the schema does not list.
"""

import functools

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {},
                       "description": "field -> reason (400)"},
        },
        "required": ["code", "message"],
    }},
    "required": ["error"],
}
REASONS = {
    "400": "Invalid input: `error.fields` names each bad field (or header) and why.",
    "401": "Missing or bad token.",
    "403": "The token's role in the workspace does not allow this.",
    "404": "No such object in this workspace.",
    "415": "Send the body as JSON (Content-Type: application/json) or as the "
           "operation's form type.",
    "429": "Over the token's rate limit: retry after `Retry-After` seconds (docs/api.md).",
    "409": "Conflict; with an Idempotency-Key: `idempotency_key_in_use` while the first "
           "request with the key still runs.",
    "422": "`idempotency_key_reused`: the Idempotency-Key was sent with another request.",
}
IDEMPOTENCY_HELP = (
    "Optional. Send a unique value (a UUID) to make a retry safe: the same key with the "
    "same request answers the first answer again (header `Idempotent-Replayed: true`) "
    "and does nothing twice; kept 24 hours, per workspace (docs/api.md).")


def _idempotent(operation: dict) -> bool:
    return any(p.get("in") == "header" and p.get("name") == "Idempotency-Key"
               for p in operation.get("parameters", []))


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook."""
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = ERROR_SCHEMA
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = operation.get("parameters", [])
            codes = ["401", "403"]
            if any(p.get("in") == "path" for p in params):
                codes.append("404")
            if "requestBody" in operation or any(p.get("in") in ("query", "header")
                                                 for p in params):
                codes.append("400")
            if "requestBody" in operation:
                codes.append("415")
            if _idempotent(operation):
                codes += ["409", "422"]
            codes.append("429")
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, _error(REASONS[code]))
    return result


def error_response(description: str):
    """`@extend_schema(responses={409: error_response("...")})` for statuses a view
    answers beyond the ones above (a conflict with the object's state, 413 ...)."""
    from drf_spectacular.utils import OpenApiResponse

    return OpenApiResponse(response=_error_serializer(), description=description)


@functools.cache
def _error_serializer():
    """Only names the component `ApiError` for views; its shape is ERROR_SCHEMA, which
    add_error_responses writes over whatever drf-spectacular made of this class."""
    from rest_framework import serializers

    class ApiErrorSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ApiError"

    return ApiErrorSerializer


try:
    from drf_spectacular.openapi import AutoSchema as _AutoSchema
    from drf_spectacular.utils import OpenApiParameter

    class AutoSchema(_AutoSchema):
        """JSON bodies, and the header parameter of the POSTs that take an
        Idempotency-Key (`idempotent = True` on the view, podhub/core/idempotency.py)."""

        def map_parsers(self):
            """A view on the default parsers is documented as taking JSON: its forms are
            for the dashboard's htmx, and a generated client given three body types for
            one operation sends the wrong one. Views that choose their parsers (uploads)
            are documented with theirs."""
            from rest_framework.settings import api_settings

            if type(self.view).parser_classes == api_settings.DEFAULT_PARSER_CLASSES:
                return ["application/json"]
            return super().map_parsers()

        def get_override_parameters(self):
            params = list(super().get_override_parameters())
            if getattr(self.view, "idempotent", False) and self.method == "POST":
                params.append(OpenApiParameter(
                    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                    description=IDEMPOTENCY_HELP))
            return params
except ImportError:  # pragma: no cover
    pass
