from django import forms

from podhub.workspaces.models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=120, label="Workspace name")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, initial="API token")
