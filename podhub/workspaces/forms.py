from django import forms

from podhub.workspaces.models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=120, label="Workspace name")


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(max_length=120, label="Workspace name")
    time_zone = forms.ChoiceField(label="Time zone", help_text="Times on the dashboard, and "
                                  "where “today” starts on Home.")
    launch_catalog_orders = forms.BooleanField(
        required=False, label="Launch catalog orders to production right after payment",
        help_text="Orders you place from the catalog go to production as soon as they are "
        "paid, without “Submit now”.")

    def __init__(self, *args, **kwargs):
        from podhub.workspaces.services import time_zones

        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z.replace("_", " ")) for z in time_zones()]


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, initial="API token")
