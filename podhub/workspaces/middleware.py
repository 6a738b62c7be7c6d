from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django_scopes import scope, scopes_disabled

from podhub.workspaces import resolver

ADMIN_PREFIX = "/admin/"
API_PREFIX = "/api/"


class WorkspaceScopeMiddleware:
    """Runs every request inside the scope of the workspace it acts for.

    Tenant models use django-scopes' ScopedManager, so a query on them with no
    workspace in scope raises ScopeError: a view that forgets its tenant fails
    loudly instead of leaking. Staff work across workspaces in the admin only.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.workspace = None
        request.membership = None
        request.api_token = None
        request.api_token_error = ""
        request.my_workspaces = None
        if request.path.startswith(ADMIN_PREFIX):
            if request.user.is_authenticated and request.user.is_staff:
                with scopes_disabled():
                    return self._render(self.get_response(request))
            return self.get_response(request)
        found = resolver.resolve(request)
        request.workspace = found.workspace
        request.membership = found.membership
        request.api_token = found.api_token
        request.api_token_error = found.token_error
        request.my_workspaces = found.my_workspaces
        if found.workspace is None:
            # Never scope(workspace=None): django-scopes reads None as "all".
            return self.get_response(request)
        with scope(workspace=found.workspace), timezone.override(self._zone(request)):
            return self._render(self.get_response(request))

    @staticmethod
    def _zone(request):
        """The dashboard shows times on the workspace's clock; the API keeps UTC (its
        timestamps carry their offset, and integrators compare them)."""
        if request.path.startswith(API_PREFIX):
            return None  # timezone.override(None): the default, UTC
        try:
            return ZoneInfo(request.workspace.time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return None

    @staticmethod
    def _render(response):
        # Template responses render lazily; make them render inside the scope.
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response = response.render()
        return response


