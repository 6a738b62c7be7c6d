import json

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django_scopes import scopes_disabled

from podhub.accounts.models import User
from podhub.workspaces import services


class Command(BaseCommand):
    help = "Create a workspace with its owner (e-mail verified) and an API token."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        email = opts["email"].strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"not a valid e-mail address: {email!r}") from None
        if not opts["name"].strip():
            raise CommandError("--name must not be empty")
        currency = opts["currency"].upper()
        if len(currency) != 3 or not currency.isalpha():
            raise CommandError(f"not a currency code: {opts['currency']!r}")
        try:
            validate_password(opts["password"])
        except ValidationError as exc:
            raise CommandError("password refused: " + " ".join(exc.messages)) from None
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"a user with e-mail {email} already exists; nothing was changed")
        with transaction.atomic(), scopes_disabled():
            user = User.objects.create_user(email=email, password=opts["password"])
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            workspace = services.workspace_create(
                name=opts["name"], owner=user, billing_currency=currency
            )
            _, key = services.api_token_create(workspace=workspace, user=user, name="CLI")
        result = {"workspace_id": workspace.pk, "user_id": user.pk, "api_token": key}
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"Workspace {workspace.pk} “{workspace.name}” created; owner {email} "
                f"(user {user.pk}); API token: {key}"
            )
