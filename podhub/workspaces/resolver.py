"""The one place that decides which workspace a request acts for.

Everything else reads `request.workspace`. Lookups here run with scopes
disabled on purpose: they are how a scope is found.
"""

from dataclasses import dataclass

from django.utils import timezone
from django_scopes import scopes_disabled

from podhub.workspaces.models import ApiToken, Membership, Workspace

SESSION_KEY = "workspace_id"


@dataclass
class Resolution:
    workspace: Workspace | None = None
    membership: Membership | None = None
    api_token: ApiToken | None = None
    token_error: str = ""
    # The user's own workspaces (for the switcher), read in the same query.
    my_workspaces: list[Workspace] | None = None


def parse_token_header(header: str) -> str | None:
    """The key of 'Token <key>', or None when the header is not a token header."""
    parts = header.split()
    if not parts or parts[0].lower() != "token":
        return None
    if len(parts) != 2:
        return ""
    return parts[1]


@scopes_disabled()
def resolve(request) -> Resolution:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    key = parse_token_header(header) if header else None
    if key is not None:
        return _resolve_token(key)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Resolution()
    memberships = list(
        Membership.objects.select_related("workspace").filter(user=user)
        .order_by("created_at", "pk")
    )
    mine = [m.workspace for m in memberships]
    wanted = request.session.get(SESSION_KEY)
    membership = next((m for m in memberships if m.workspace_id == wanted), None)
    if membership is None and memberships:
        membership = memberships[0]
    if membership is None:
        return Resolution(my_workspaces=mine)
    return Resolution(workspace=membership.workspace, membership=membership, my_workspaces=mine)


def _resolve_token(key: str) -> Resolution:
    if not key or len(key) > 100:
        return Resolution(token_error="Malformed token header: use 'Authorization: Token <key>'.")
    token = (
        ApiToken.objects.select_related("workspace", "user")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return Resolution(token_error="Invalid or revoked token.")
    membership = Membership.objects.filter(workspace=token.workspace, user=token.user).first()
    if membership is None:  # the user left the workspace: the token dies with it
        return Resolution(token_error="Invalid or revoked token.")
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Resolution(workspace=token.workspace, membership=membership, api_token=token)
