"""Business actions on workspaces, members, invitations and API tokens."""

import zoneinfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from podhub.accounts.models import User
from podhub.core import mail
from podhub.core.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from podhub.workspaces.models import (
    MANAGING_ROLES,
    ApiToken,
    Invitation,
    Membership,
    Role,
    Workspace,
)


@transaction.atomic
def workspace_create(*, name: str, owner: User, billing_currency: str = "USD") -> Workspace:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A workspace needs a name.")
    workspace = Workspace.objects.create(name=name[:120], billing_currency=billing_currency)
    with scope(workspace=workspace):
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def time_zones() -> list[str]:
    """The IANA time zones a workspace may keep its clock in."""
    return sorted(zoneinfo.available_timezones() | {"UTC"})


@transaction.atomic
def workspace_update(*, workspace: Workspace, by: Membership | None, name: str,
                     time_zone: str, launch_catalog_orders: bool | None = None) -> Workspace:
    """The workspace's name, time zone and whether catalog orders launch when paid
    (owners and admins; None: unchanged)."""
    require_manager(by, message="Only the owner or an admin can change the workspace.")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A workspace needs a name.", field="name")
    if time_zone not in zoneinfo.available_timezones() | {"UTC"}:
        raise ValidationFailed(f"{time_zone!r} is not a time zone: choose one such as "
                               "Europe/Berlin.", field="time_zone")
    if launch_catalog_orders is not None:
        workspace.launch_catalog_orders = bool(launch_catalog_orders)
    Workspace.objects.filter(pk=workspace.pk).update(
        name=name[:120], time_zone=time_zone,
        launch_catalog_orders=workspace.launch_catalog_orders)
    workspace.name, workspace.time_zone = name[:120], time_zone
    return workspace


def require_manager(membership: Membership | None, *,
                    message: str = "Only the owner or an admin can manage members.") -> None:
    """Owners and admins only: the one role check of actions that manage a workspace
    (its team, its rules, its webhook endpoints)."""
    if membership is None or not membership.can_manage:
        raise PermissionDenied(message)


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, invited_by: Membership, email: str, role: str = Role.MEMBER
) -> tuple[Invitation, str]:
    """Invite an e-mail address; returns the invitation and its one-time token."""
    require_manager(invited_by)
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        raise ValidationFailed("Enter a valid e-mail address.", field="email")
    if role not in Role.values or role == Role.OWNER:
        raise ValidationFailed("Invite as an admin or a member.", field="role")
    if role == Role.ADMIN and invited_by.role != Role.OWNER:
        raise PermissionDenied("Only the owner can invite admins.")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of this workspace.")
    now = timezone.now()
    # An expired, never-accepted invitation is replaced by the new one.
    Invitation.objects.filter(
        workspace=workspace, email=email, accepted_at__isnull=True, revoked_at__isnull=True,
        expires_at__lte=now,
    ).update(revoked_at=now)
    token, token_hash = Invitation.new_token()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                workspace=workspace, email=email, role=role, token_hash=token_hash,
                invited_by=invited_by.user, expires_at=Invitation.default_expiry(now),
            )
    except IntegrityError:
        raise Conflict(f"{email} already has an open invitation.") from None
    url = settings.PUBLIC_BASE_URL + reverse("workspaces:invitation", kwargs={"token": token})
    inviter = invited_by.user.email
    mail.send(
        to=[email], workspace_id=workspace.pk,
        subject=f"[PodHub] {inviter} invited you to {workspace.name}",
        body=(f"{inviter} invited you to join the workspace \"{workspace.name}\" on PodHub "
              f"as {invitation.get_role_display().lower()}.\n\n"
              f"The link works for {(invitation.expires_at - now).days} days."),
        link=url, link_label="Accept the invitation",
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, workspace: Workspace, by: Membership, invitation_id: int) -> None:
    invitation = Invitation.objects.select_for_update().filter(
        workspace=workspace, pk=invitation_id
    ).first()
    if invitation is None:
        raise NotFound("No such invitation.")
    require_manager(by)
    if not invitation.is_open():
        raise Conflict("That invitation is no longer open.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])


def invitation_for_token(token: str) -> Invitation | None:
    """Look an invitation up by its token (before any workspace is in scope)."""
    with scopes_disabled():
        return (
            Invitation.objects.select_related("workspace")
            .filter(token_hash=Invitation.hash_token(token or ""))
            .first()
        )


@transaction.atomic
def invitation_accept(*, token: str, user: User, now=None) -> Membership:
    now = now or timezone.now()
    with scopes_disabled():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("workspace")
            .filter(token_hash=Invitation.hash_token(token or ""))
            .first()
        )
        if invitation is None:
            raise ValidationFailed("This invitation link is not valid.")
        if invitation.accepted_at or invitation.revoked_at:
            raise Conflict("This invitation has already been used or was withdrawn.")
        if invitation.expires_at <= now:
            raise Conflict("This invitation has expired: ask for a new one.")
        if invitation.email.lower() != user.email.lower():
            raise PermissionDenied(
                f"This invitation is for {invitation.email}; you are signed in as {user.email}."
            )
        membership, _ = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = now
        invitation.save(update_fields=["accepted_at", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, workspace: Workspace, by: Membership, membership_id: int) -> None:
    target = Membership.objects.select_for_update().filter(
        workspace=workspace, pk=membership_id
    ).first()
    if target is None:
        raise NotFound("No such member.")
    require_manager(by)
    if target.role == Role.OWNER:
        raise Conflict("The owner cannot be removed.")
    if target.role == Role.ADMIN and by.role != Role.OWNER:
        raise PermissionDenied("Only the owner can remove an admin.")
    target.delete()


@transaction.atomic
def api_token_create(*, workspace: Workspace, user: User, name: str = "API token") -> tuple[
    ApiToken, str
]:
    key, key_hash = ApiToken.new_key()
    token = ApiToken.objects.create(
        workspace=workspace, user=user, name=(name or "API token")[:80], prefix=key[3:9],
        key_hash=key_hash,
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, workspace: Workspace, by: Membership, token_id: int) -> None:
    token = ApiToken.objects.select_for_update().filter(workspace=workspace, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at:
        raise Conflict("That token is already revoked.")
    if token.user_id != by.user_id and by.role not in MANAGING_ROLES:
        raise PermissionDenied("You can revoke only your own tokens.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at", "updated_at"])
