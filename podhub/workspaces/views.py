from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_scopes import scopes_disabled

from podhub.core.exceptions import PodhubError
from podhub.core.views import workspace_view
from podhub.workspaces import selectors, services
from podhub.workspaces.forms import (
    ApiTokenForm,
    InvitationForm,
    WorkspaceForm,
    WorkspaceSettingsForm,
)
from podhub.workspaces.models import Membership
from podhub.workspaces.resolver import SESSION_KEY


@login_required
def workspace_create(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(name=form.cleaned_data["name"], owner=request.user)
        request.session[SESSION_KEY] = workspace.pk
        messages.success(request, f"Workspace “{workspace.name}” is ready.")
        return redirect("dashboard")
    return render(request, "workspaces/create.html", {"form": form})


@login_required
@require_POST
def workspace_switch(request):
    wanted = request.POST.get("workspace_id", "")
    with scopes_disabled():
        ok = wanted.isdigit() and Membership.objects.filter(
            user=request.user, workspace_id=int(wanted)
        ).exists()
    if not ok:
        messages.error(request, "You are not a member of that workspace.")
    else:
        request.session[SESSION_KEY] = int(wanted)
    return redirect("dashboard")


def _team_context(request, **extra):
    ws = request.workspace
    return {
        "section": "settings",
        "members": selectors.member_list(workspace=ws),
        "invitations": selectors.open_invitation_list(workspace=ws),
        "tokens": selectors.api_token_list(workspace=ws),
        "invite_form": InvitationForm(),
        "token_form": ApiTokenForm(),
        "workspace_form": WorkspaceSettingsForm(initial={
            "name": ws.name, "time_zone": ws.time_zone,
            "launch_catalog_orders": ws.launch_catalog_orders}),
        **extra,
    }


@workspace_view
def settings_page(request):
    return render(request, "workspaces/settings.html", _team_context(request))


@workspace_view
@require_POST
def workspace_update(request):
    form = WorkspaceSettingsForm(request.POST)
    if not form.is_valid():
        return render(request, "workspaces/settings.html",
                      _team_context(request, workspace_form=form), status=400)
    services.workspace_update(workspace=request.workspace, by=request.membership,
                              **form.cleaned_data)
    messages.success(request, "Workspace settings saved.")
    return redirect("workspaces:settings")


@workspace_view
@require_POST
def invitation_create(request):
    form = InvitationForm(request.POST)
    context = {}
    if form.is_valid():
        invitation, _ = services.invitation_create(
            workspace=request.workspace, invited_by=request.membership, **form.cleaned_data
        )
        context["notice"] = f"Invitation sent to {invitation.email}."
    else:
        context["invite_form"] = form
    ctx = _team_context(request)
    ctx.update(context)
    template = "workspaces/_team.html" if request.htmx else "workspaces/settings.html"
    return render(request, template, ctx, status=200 if form.is_valid() else 400)


@workspace_view
@require_POST
def invitation_revoke(request, invitation_id: int):
    services.invitation_revoke(workspace=request.workspace, by=request.membership,
                               invitation_id=invitation_id)
    messages.success(request, "Invitation withdrawn.")
    return redirect("workspaces:settings")


@workspace_view
@require_POST
def member_remove(request, membership_id: int):
    services.membership_remove(workspace=request.workspace, by=request.membership,
                               membership_id=membership_id)
    messages.success(request, "Member removed.")
    return redirect("workspaces:settings")


@workspace_view
@require_POST
def token_create(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name.")
        return redirect("workspaces:settings")
    _, key = services.api_token_create(
        workspace=request.workspace, user=request.user, name=form.cleaned_data["name"]
    )
    return render(request, "workspaces/settings.html", _team_context(request, new_key=key))


@workspace_view
@require_POST
def token_revoke(request, token_id: int):
    services.api_token_revoke(workspace=request.workspace, by=request.membership,
                              token_id=token_id)
    messages.success(request, "Token revoked.")
    return redirect("workspaces:settings")


def invitation(request, token: str):
    """The link in the invitation e-mail: sign up or in, then join."""
    found = services.invitation_for_token(token)
    if found is None or not found.is_open():
        reason = (
            "This invitation link is not valid." if found is None
            else "This invitation has expired or was already used."
        )
        return render(request, "workspaces/invitation.html", {"error": reason}, status=404)
    if not request.user.is_authenticated:
        request.session["pending_invitation"] = token
        return render(request, "workspaces/invitation.html", {"invitation": found})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except PodhubError as exc:
            return render(request, "workspaces/invitation.html",
                          {"invitation": found, "error": exc.message}, status=exc.status)
        request.session.pop("pending_invitation", None)
        request.session[SESSION_KEY] = membership.workspace_id
        messages.success(request, f"You joined {found.workspace.name}.")
        return redirect("dashboard")
    return render(request, "workspaces/invitation.html", {"invitation": found})
