import json
from decimal import Decimal

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
    """Lives in integrations, the top of the stack, because it seeds every app."""

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
        """The demo catalog, and the seller's SKU rules that connect the Sandbox Shopify
        store's mugs and T-shirts to it; its other products wait for a quote (idempotent)."""
        from django_scopes import scope

        from fulfillment.models import DesignTemplate
        from quotes.demo import load_demo_catalog
        from quotes.models import Product, RuleKind, SkuRule, Variant
        from quotes.services import sku_rule_create

        with scopes_disabled():
            load_demo_catalog()
            # A name print for the personalised demo products (issue 8's templates).
            for product in Product.objects.filter(name__in=DEMO_TEMPLATES):
                DesignTemplate.objects.get_or_create(
                    product=product, side="front",
                    defaults={"name": "Buyer's name", "spec": DEMO_TEMPLATES[product.name]})
            variants = dict(Variant.objects.filter(sku__in=[v for _, v in DEMO_RULES])
                            .values_list("sku", "pk"))
        with scope(workspace=workspace):
            # A starting balance, so the hands-off sandbox WooCommerce store's orders pay
            # themselves (auto-pay); the ledger key makes it once per workspace.
            from billing import ledger
            from billing.models import EntryKind

            ledger.credit(workspace_id=workspace.pk, kind=EntryKind.ADJUSTMENT,
                          amount=DEMO_CREDIT, key=f"demo:credit:{workspace.pk}",
                          memo="Demo credit")
            for pattern, sku in DEMO_RULES:
                if sku in variants and not SkuRule.objects.filter(pattern=pattern).exists():
                    sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern=pattern,
                                    variant_id=variants[sku])


DEMO_CREDIT = Decimal("1000.00")


def _name_print(width_in: float, height_in: float) -> dict:
    return {"width_in": width_in, "height_in": height_in, "layers": [
        {"type": "background", "color": "#ffffff"},
        {"type": "text", "key": "Name", "box": [0.5, 0.5, width_in - 1, height_in - 1],
         "font": "dejavu-sans-bold", "size_pt": 120, "min_size_pt": 18, "color": "#1d232b",
         "align": "center", "valign": "middle", "required": True},
    ], "fonts": ["dejavu-sans", "dejavu-serif", "liberation-sans-bold"],
        "colors": ["#1d232b", "#b91c1c", "#1d4ed8", "#15803d"]}


DEMO_TEMPLATES = {"Mug 11 oz": _name_print(8.5, 3.5), "Classic T-shirt": _name_print(10, 4)}

# Sandbox Shopify store SKU -> demo catalog SKU
DEMO_RULES = [("MUG-11-WHITE", "MUG11-WHITE"), ("TEE-NAME-M", "TEE-M-BLACK")]
