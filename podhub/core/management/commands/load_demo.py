import json

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django_scopes import scopes_disabled

from podhub.accounts.models import User
from podhub.workspaces import services
from podhub.workspaces.models import Membership

DEMO_EMAIL = "demo@podhub.local"
DEMO_PASSWORD = "podhub-demo-2026"
STAFF_EMAIL = "staff@podhub.local"


class Command(BaseCommand):
    help = "Create (once) the demo workspace, its seller login and a staff login."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    @transaction.atomic
    def handle(self, *args, **opts):
        with scopes_disabled():
            seller = self._user(DEMO_EMAIL, staff=False)
            self._user(STAFF_EMAIL, staff=True)
            membership = Membership.objects.filter(user=seller).select_related("workspace").first()
            workspace = membership.workspace if membership else services.workspace_create(
                name="Demo Prints", owner=seller)
        self._demo_data(workspace)
        result = {"workspace_id": workspace.pk, "seller": DEMO_EMAIL, "staff": STAFF_EMAIL,
                  "password": DEMO_PASSWORD}
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"\n  Demo login (seller):  {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
                f"  Staff login (admin):  {STAFF_EMAIL} / {DEMO_PASSWORD}  → /admin/\n"
            )

    def _user(self, email: str, *, staff: bool) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD,
                                            is_staff=staff, is_superuser=staff)
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    def _demo_data(self, workspace) -> None:
        """Sample data from the apps that have some (idempotent)."""
        try:
            from orders.demo import load_demo_orders
        except ImportError:
            return
        load_demo_orders(workspace=workspace)
