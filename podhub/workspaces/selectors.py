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
