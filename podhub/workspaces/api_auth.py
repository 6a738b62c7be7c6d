"""DRF authentication that trusts the workspace the middleware resolved.

The middleware has already looked the token up and entered the scope; these
classes only tell DRF who the caller is, or refuse a bad token with 401.
"""

from rest_framework import authentication, exceptions, permissions


class WorkspaceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        raw = request._request
        if raw.api_token_error:
            raise exceptions.AuthenticationFailed(raw.api_token_error)
        if raw.api_token is None:
            return None
        return (raw.api_token.user, raw.api_token)

    def authenticate_header(self, request):
        return self.keyword


class WorkspaceSessionAuthentication(authentication.SessionAuthentication):
    """The dashboard's own session, for htmx calls into the API (CSRF enforced)."""

    def authenticate(self, request):
        if request._request.workspace is None:
            return None
        return super().authenticate(request)


class IsWorkspaceMember(permissions.BasePermission):
    message = "Authentication credentials were not provided."

    def has_permission(self, request, view):
        return bool(request.user and request._request.workspace is not None)


try:  # document the token scheme in the OpenAPI schema
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class WorkspaceTokenScheme(OpenApiAuthenticationExtension):
        target_class = "podhub.workspaces.api_auth.WorkspaceTokenAuthentication"
        name = "tokenAuth"

        def get_security_definition(self, auto_schema):
            return {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <key>`: create a key under Settings → API tokens.",
            }

    class WorkspaceSessionScheme(OpenApiAuthenticationExtension):
        target_class = "podhub.workspaces.api_auth.WorkspaceSessionAuthentication"
        name = "cookieAuth"

        def get_security_definition(self, auto_schema):
            return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
except ImportError:  # pragma: no cover
    pass
