import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_scopes import scope

from podhub.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from podhub.workspaces import services
from podhub.workspaces.models import Invitation, Membership, Role
from tests.factories import MembershipFactory, UserFactory


def _invite(client, email="mate@acme.test", role="member"):
    return client.post("/settings/invitations/", {"email": email, "role": role})


def _token_from_mail() -> str:
    return re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body).group(1)


def test_owner_invites_by_email_and_the_invitee_joins(
    owner, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client_for(owner))
    assert response.status_code == 200
    assert mail.outbox[-1].to == ["mate@acme.test"]
    token = _token_from_mail()

    mate = UserFactory(email="mate@acme.test")
    from django.test import Client

    c = Client()
    c.force_login(mate)
    response = c.post(f"/invitations/{token}/")
    assert response.status_code == 302
    with scope(workspace=owner.workspace):
        joined = Membership.objects.get(user=mate)
    assert joined.role == Role.MEMBER
    # and the dashboard now acts for that workspace
    assert "Acme Prints" in c.get("/").content.decode()


def test_invitation_followed_before_signing_in_is_accepted_after_login(owner, client):
    with scope(workspace=owner.workspace):
        _, token = services.invitation_create(workspace=owner.workspace, invited_by=owner,
                                              email="late@acme.test")
    mate = UserFactory(email="late@acme.test")
    assert client.get(f"/invitations/{token}/").status_code == 200
    response = client.post("/accounts/login/", {"login": mate.email,
                                                "password": "correct horse battery"})
    assert response["Location"] == f"/invitations/{token}/"
    client.post(f"/invitations/{token}/")
    with scope(workspace=owner.workspace):
        assert Membership.objects.filter(user=mate).exists()


@pytest.mark.parametrize("problem", ["unknown", "expired", "used", "wrong_user"])
def test_invalid_invitations_are_refused_and_change_nothing(owner, client_for, problem):
    with scope(workspace=owner.workspace):
        invitation, token = services.invitation_create(
            workspace=owner.workspace, invited_by=owner, email="mate@acme.test")
    mate = MembershipFactory(user=UserFactory(email="mate@acme.test"))  # own workspace
    if problem == "unknown":
        token = "not-a-real-token"
    elif problem == "expired":
        with scope(workspace=owner.workspace):
            Invitation.objects.filter(pk=invitation.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1))
    elif problem == "used":
        with scope(workspace=owner.workspace):
            Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    elif problem == "wrong_user":
        mate = MembershipFactory(user=UserFactory(email="someone-else@acme.test"))
    response = client_for(mate).post(f"/invitations/{token}/")
    assert response.status_code in (403, 404, 409)
    with scope(workspace=owner.workspace):
        assert not Membership.objects.filter(user=mate.user).exists()


def test_members_cannot_invite(owner, client_for):
    member = MembershipFactory(workspace=owner.workspace, role=Role.MEMBER)
    response = _invite(client_for(member), "x@acme.test")
    assert response.status_code == 302  # back, with the reason as a message
    with scope(workspace=owner.workspace):
        assert not Invitation.objects.exists()
    page = client_for(member).get("/settings/").content.decode()
    assert "Send invitation" not in page


def test_invite_rules(owner):
    ws = owner.workspace
    with scope(workspace=ws):
        with pytest.raises(ValidationFailed):
            services.invitation_create(workspace=ws, invited_by=owner, email="not-an-email")
        services.invitation_create(workspace=ws, invited_by=owner, email="a@acme.test")
        with pytest.raises(Conflict, match="open invitation"):
            services.invitation_create(workspace=ws, invited_by=owner, email="A@acme.test")
        with pytest.raises(Conflict, match="already a member"):
            services.invitation_create(workspace=ws, invited_by=owner, email=owner.user.email)
        admin = MembershipFactory(workspace=ws, role=Role.ADMIN)
        with pytest.raises(PermissionDenied):
            services.invitation_create(workspace=ws, invited_by=admin, email="b@acme.test",
                                       role=Role.ADMIN)
        with pytest.raises(Conflict, match="owner cannot be removed"):
            services.membership_remove(workspace=ws, by=admin, membership_id=owner.pk)


def test_workspace_switcher_only_switches_to_own_workspaces(owner, other_owner, client_for):
    second = MembershipFactory(workspace=other_owner.workspace, user=owner.user,
                               role=Role.MEMBER)
    c = client_for(owner)
    assert "Other Co" in c.get("/").content.decode()  # listed in the switcher
    c.post("/workspaces/switch/", {"workspace_id": second.workspace_id})
    assert c.session["workspace_id"] == second.workspace_id
    stranger = MembershipFactory()
    c.post("/workspaces/switch/", {"workspace_id": stranger.workspace_id})
    assert c.session["workspace_id"] == second.workspace_id
