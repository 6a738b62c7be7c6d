from django.db.models import QuerySet

from podhub.workspaces.models import ApiToken, Invitation, Membership, Workspace


def member_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("pk")


def open_invitation_list(*, workspace: Workspace) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at")


def api_token_list(*, workspace: Workspace) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(workspace=workspace, revoked_at__isnull=True).select_related(
        "user"
    ).order_by("-created_at")


def home_figures(*, workspace: Workspace) -> dict[str, tuple[str, list]]:
    """The team's part of Home (read by insights.home with the others in one query):
    "workspaces.team", n members plus invitations not revoked (more than 1: a teammate
    was invited)."""
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {Membership._meta.db_table} "  # noqa: S608
        "WHERE workspace_id = %s) "
        f"+ (SELECT COUNT(*) FROM {Invitation._meta.db_table} "
        "WHERE workspace_id = %s AND revoked_at IS NULL) AS n, "
        "CAST(NULL AS text) AS s1, CAST(NULL AS text) AS s2, CAST(NULL AS timestamp) AS t")
    return {"workspaces.team": (sql, [workspace.pk, workspace.pk])}
