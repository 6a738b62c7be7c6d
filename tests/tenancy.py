"""The cross-tenant walker: every URL pattern, objects of workspace A, a user of B.

Each URL keyword that names a tenant object must be registered in
OBJECT_KWARGS with a function that makes such an object in a workspace; an
unknown keyword fails the walk, so a new route cannot escape it unnoticed.
Routes without object keywords are fetched too, and must not show A's marker.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from django_scopes import scope

MARKER = "ZZTENANTAMARKER"

# kwarg name -> function(workspace, membership) returning the pk of a new A object
OBJECT_KWARGS: dict[str, Callable] = {}


def object_kwarg(name: str):
    def register(fn):
        OBJECT_KWARGS[name] = fn
        return fn

    return register


# URL keywords that name no tenant object (a kind of store: /stores/connect/<platform>/, a
# print side: .../<side>/artwork/):
# filled with this value, the route is fetched like one without keywords (B must not see
# A's data in it).
VALUE_KWARGS = {"platform": "shopify", "side": "front"}
# ... except `platform`, which is walked once per registered store platform (each has its
# own connect and callback pages: Etsy's OAuth callback is not Shopify's).
EACH_PLATFORM = "platform"

# URL names (namespace:name) that hold no tenant data or are not for sellers.
PUBLIC_ROUTES = {
    "healthz",
    "api-schema",
    "api-docs",
    "workspaces:create",
    "workspaces:switch",
    "workspaces:invitation",  # keyed by a secret token, not by a tenant id
    "integrations:shopify_webhook",  # public by design: HMAC-signed by the shop
    "integrations:etsy_webhook",  # public by design: signed by Etsy (the app's secret)
    "integrations:woocommerce_webhook",  # public by design: HMAC-signed by the store
    "integrations:store_webhook",  # the same door for any platform: signed by the store
    "fulfillment:provider_webhook",  # public by design: HMAC-signed by the provider
    "fulfillment:signed_print_file",  # public by design: a signed, expiring provider link
}
# The operator's own endpoints: no tenant data, and refused (401/403) to a seller's
# session or API token (they need the operator's token or address).
OPERATOR_ROUTES = {
    "metrics",  # Prometheus: PODHUB_METRICS_TOKEN or PODHUB_METRICS_ALLOW
}
# The embedded default's development pages: every workspace's e-mails, so they exist only
# with PODHUB_DEV_MAILBOX (off in production) and answer only a loopback client; from any
# other address they are a 404 (checked below; tests/podhub/test_emails_and_account_pages.py).
DEVELOPMENT_ROUTES = {"dev-mail-list", "dev-mail", "dev-mail-html"}
SKIPPED_NAMESPACES = {"admin", "djdt"}


@dataclass
class Route:
    route: str
    name: str
    kwargs: list[str]


def walk() -> list[Route]:
    routes: list[Route] = []

    def visit(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns in SKIPPED_NAMESPACES:
                    continue
                if p.urlconf_name and getattr(p.urlconf_name, "__name__", "").startswith(
                    "allauth"
                ):
                    continue
                visit(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
                route = prefix + str(p.pattern)
                if route.startswith("accounts/"):
                    continue
                kwargs = list(p.pattern.converters.keys()) if hasattr(p.pattern, "converters") \
                    else []
                routes.append(Route(route=route, name=name, kwargs=kwargs))

    visit(get_resolver().url_patterns, "", None)
    return routes


def fill(route: str, values: dict[str, object]) -> str:
    path = route
    for key, value in values.items():
        for conv in ("id", "int", "str", "uuid", "slug", "path"):
            path = path.replace(f"<{conv}:{key}>", str(value))
        path = path.replace(f"<{key}>", str(value))
    return "/" + path.lstrip("^").rstrip("$")


def find_leaks(*, a_membership, b_dashboard, b_api) -> list[str]:
    """Fetch every route as B with A's objects; return what B could see or do."""
    problems: list[str] = []
    made: dict[str, object] = {}
    for r in walk():
        if r.name in PUBLIC_ROUTES:
            continue
        if r.name in DEVELOPMENT_ROUTES:
            url = fill(r.route, dict.fromkeys(r.kwargs, 1))
            status = b_dashboard.get(url, REMOTE_ADDR="203.0.113.9").status_code
            if status != 404:
                problems.append(f"GET {url} ({r.name}) is for this machine only and answered "
                                f"{status} to another address")
            continue
        if r.name in OPERATOR_ROUTES:
            url = fill(r.route, {})
            for client in (b_dashboard, b_api):
                status = client.get(url).status_code
                if status not in (401, 403):
                    problems.append(f"GET {url} ({r.name}) is the operator's and answered "
                                    f"{status} to a user of B")
            continue
        objects = [k for k in r.kwargs if k not in VALUE_KWARGS]
        missing = [k for k in objects if k not in OBJECT_KWARGS]
        if missing:
            problems.append(f"{r.route}: no factory for URL keyword(s) {missing}; "
                            "register one in tests/tenancy.py")
            continue
        base = {k: v for k, v in VALUE_KWARGS.items() if k in r.kwargs}
        for k in objects:
            if k not in made:
                with scope(workspace=a_membership.workspace):
                    made[k] = OBJECT_KWARGS[k](a_membership.workspace, a_membership)
            base[k] = made[k]
        variants = [base]
        if EACH_PLATFORM in r.kwargs:
            from integrations.platforms import registry

            variants = [{**base, EACH_PLATFORM: code} for code in registry.platforms()]
        for values in variants:
            url = fill(r.route, values)
            if r.name == "integrations:connect_callback":
                problems += _walk_callback(url, values[EACH_PLATFORM], a_membership,
                                           b_dashboard)
                continue
            problems += _fetch(r, url, objects, b_api if url.startswith("/api/")
                               else b_dashboard)
    return problems


def _fetch(r: Route, url: str, objects: list[str], client) -> list[str]:
    problems = []
    for method in ("get", "post"):
        resp = getattr(client, method)(url)
        status = resp.status_code
        body = resp.content.decode(errors="replace") if hasattr(resp, "content") else ""
        if objects:
            if status not in (403, 404, 405):
                problems.append(f"{method.upper()} {url} ({r.name}) with A's objects "
                                f"answered {status} to a user of B")
        elif MARKER in body:
            problems.append(f"{method.upper()} {url} ({r.name}) showed A's data to B")
    return problems


def _walk_callback(url: str, platform: str, a_membership, b_dashboard) -> list[str]:
    """A platform's OAuth callback fetched by B with the state of a connection A started
    (what a stolen or replayed consent link carries): it must not connect anything in B,
    must not spend A's state, and must not show A's data."""
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from integrations.models import OAuthState, StoreConnection

    nonce = f"{MARKER.lower()}-{platform}-state"
    with scopes_disabled():
        OAuthState.objects.get_or_create(nonce=nonce, defaults={
            "workspace": a_membership.workspace, "user": a_membership.user,
            "shop_domain": "etsy:" if platform == "etsy" else f"{MARKER.lower()}.myshopify.com",
            "created_at": timezone.now()})
    problems = []
    query = {"state": nonce, "code": f"code-{MARKER}",
             "shop": f"{MARKER.lower()}.myshopify.com"}
    resp = b_dashboard.get(url, query, follow=True)
    body = resp.content.decode(errors="replace")
    if resp.status_code not in (200, 302, 400, 403, 404):
        problems.append(f"GET {url} (callback, {platform}) with A's state answered "
                        f"{resp.status_code} to a user of B")
    if MARKER in body:
        problems.append(f"GET {url} (callback, {platform}) showed A's data to B")
    with scopes_disabled():
        if OAuthState.objects.get(nonce=nonce).used_at is not None:
            problems.append(f"GET {url} (callback, {platform}): B spent A's OAuth state")
        b_workspace = b_dashboard.session.get("workspace_id") if hasattr(
            b_dashboard, "session") else None
        made = StoreConnection.objects.exclude(workspace=a_membership.workspace)
        if b_workspace:
            made = made.filter(workspace_id=b_workspace)
        if made.filter(platform=platform).exists():
            problems.append(f"GET {url} (callback, {platform}): B connected a store with "
                            "A's state")
    return problems


# --- tenant objects behind URL keywords --------------------------------------


@object_kwarg("membership_id")
def _membership(workspace, membership):
    from podhub.workspaces.models import Membership, Role
    from tests.factories import UserFactory

    return Membership.objects.create(
        workspace=workspace, user=UserFactory(email=f"{MARKER.lower()}@a.test"), role=Role.MEMBER
    ).pk


@object_kwarg("invitation_id")
def _invitation(workspace, membership):
    from podhub.workspaces import services

    invitation, _ = services.invitation_create(
        workspace=workspace, invited_by=membership, email=f"invite-{MARKER.lower()}@a.test"
    )
    return invitation.pk


@object_kwarg("token_id")
def _token(workspace, membership):
    from podhub.workspaces import services

    token, _ = services.api_token_create(workspace=workspace, user=membership.user, name=MARKER)
    return token.pk


@object_kwarg("order_id")
def _order(workspace, membership):
    from orders.models import LineItem, Order, OrderState, Platform, Store

    store = Store.objects.create(workspace=workspace, name=f"Store {MARKER}",
                                 platform=Platform.MANUAL)
    order = Order.objects.create(
        workspace=workspace, store=store, external_id=f"ext-{MARKER}", number=f"#{MARKER}",
        buyer_name=f"Buyer {MARKER}", buyer_email=f"{MARKER.lower()}@a.test", currency="USD",
        state=OrderState.TO_ORDER, search_text=f"#{MARKER} buyer {MARKER}".lower(),
    )
    LineItem.objects.create(workspace=workspace, order=order, sku=f"SKU-{MARKER}",
                            title=f"Item {MARKER}", quantity=1)
    return order.pk


@object_kwarg("invoice_id")
def _invoice(workspace, membership):
    from billing.models import Invoice, InvoiceKind

    return Invoice.objects.create(
        workspace=workspace, number=f"PH-{MARKER}", kind=InvoiceKind.PAYMENT,
        bill_to=f"A {MARKER}", lines=[{"order": f"#{MARKER}", "description": MARKER,
                                       "quantity": 1, "unit_amount": "1.00", "amount": "1.00"}],
    ).pk


@object_kwarg("line_id")
def _line(workspace, membership):
    from orders.models import LineItem, Order

    order = Order.objects.filter(workspace=workspace, external_id=f"ext-{MARKER}").first()
    if order is None:  # order_id's factory made none yet
        order = Order.objects.get(pk=_order(workspace, membership))
    return LineItem.objects.filter(order=order).order_by("pk").first().pk


@object_kwarg("print_file_id")
def _print_file(workspace, membership):
    from django.core.files.base import ContentFile

    from fulfillment.models import PrintFile
    from orders.models import LineItem

    line = LineItem.objects.get(pk=_line(workspace, membership))
    pf = PrintFile(workspace=workspace, order_id=line.order_id, line_item=line, side="front",
                   version=PrintFile.objects.filter(line_item=line).count() + 1, format="png")
    for field in ("file", "preview", "mockup"):
        getattr(pf, field).save(f"{MARKER}.png", ContentFile(MARKER.encode()), save=False)
    pf.save()
    return pf.pk


@object_kwarg("photo_id")
def _design_photo(workspace, membership):
    """A photo uploaded in the design editor (issue 17)."""
    from django.core.files.base import ContentFile

    from fulfillment.models import DesignPhoto
    from orders.models import LineItem

    line = LineItem.objects.get(pk=_line(workspace, membership))
    photo = DesignPhoto(workspace=workspace, order_id=line.order_id, line_item=line,
                        name=MARKER)
    photo.file.save(f"{MARKER}.png", ContentFile(MARKER.encode()), save=False)
    photo.save()
    return photo.pk


@object_kwarg("store_id")
def _store(workspace, membership):
    from integrations.models import StoreConnection
    from orders.models import Platform, Store

    store = Store.objects.create(workspace=workspace, name=f"Shop {MARKER}",
                                 platform=Platform.SHOPIFY)
    StoreConnection.objects.create(workspace=workspace, store=store, platform="shopify",
                                   shop_domain=f"{MARKER.lower()}.myshopify.com",
                                   access_token="t", webhook_secret="s")
    return store.pk


@object_kwarg("quote_id")
def _quote(workspace, membership):
    from orders.models import Platform, Store
    from quotes.models import Quote, QuoteLine, QuoteStatus

    store = Store.objects.create(workspace=workspace, name=f"Quoted {MARKER}",
                                 platform=Platform.MANUAL)
    quote = Quote.objects.create(workspace=workspace, store=store, product_key=f"t:{MARKER}",
                                 title=f"Plaque {MARKER}", status=QuoteStatus.SENT)
    QuoteLine.objects.create(workspace=workspace, quote=quote, variant_key=f"s:{MARKER}",
                             variant_title=MARKER, unit_price_amount=1, production_days=1)
    return quote.pk


@object_kwarg("rule_id")
def _sku_rule(workspace, membership):
    from quotes.models import Product, RuleKind, SkuRule, Variant

    product = Product.objects.create(name=f"Catalog {MARKER}", made_for_workspace=workspace,
                                     is_published=False)
    variant = Variant.objects.create(product=product, sku=f"CAT-{MARKER}-{product.pk}",
                                     price_amount=1)
    return SkuRule.objects.create(workspace=workspace, kind=RuleKind.EXACT,
                                  pattern=f"SKU-{MARKER}-{product.pk}", variant=variant).pk


@object_kwarg("shipment_id")
def _shipment(workspace, membership):
    from fulfillment.models import Shipment
    from orders.models import Order

    order = Order.objects.filter(workspace=workspace, external_id=f"ext-{MARKER}").first()
    if order is None:
        order = Order.objects.get(pk=_order(workspace, membership))
    return Shipment.objects.create(workspace=workspace, order=order, carrier=MARKER,
                                   tracking_number=MARKER).pk


@object_kwarg("claim_id")
def _claim(workspace, membership):
    from fulfillment.models import Claim, ClaimKind
    from orders.models import Order

    order = Order.objects.filter(workspace=workspace, external_id=f"ext-{MARKER}").first()
    if order is None:
        order = Order.objects.get(pk=_order(workspace, membership))
    return Claim.objects.create(workspace=workspace, order=order, kind=ClaimKind.MISPRINT).pk


@object_kwarg("claim_message_id")
def _claim_message(workspace, membership):
    from django.core.files.base import ContentFile

    from fulfillment.models import ClaimMessage

    msg = ClaimMessage(workspace=workspace, claim_id=_claim(workspace, membership), body=MARKER)
    msg.photo.save(f"{MARKER}.png", ContentFile(MARKER.encode()), save=False)
    msg.save()
    return msg.pk


@object_kwarg("import_id")
def _csv_import(workspace, membership):
    from django.core.files.base import ContentFile

    from orders.models import CsvImport, Platform, Store

    store = Store.objects.create(workspace=workspace, name=f"CSV {MARKER}",
                                 platform=Platform.MANUAL)
    job = CsvImport(workspace=workspace, store=store, filename=f"{MARKER}.csv", sha256="0" * 64,
                    total_rows=1, total_groups=1)
    job.file.save(f"{MARKER}.csv", ContentFile(f"order_number\n{MARKER}\n".encode()), save=False)
    job.save()
    return job.pk


@object_kwarg("endpoint_id")
def _webhook_endpoint(workspace, membership):
    from webhooks.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(
        workspace=workspace, url=f"https://{MARKER.lower()}.example/hook",
        description=MARKER, event_types=["order.paid"], secret="whsec_" + "A" * 43).pk


@object_kwarg("delivery_id")
def _webhook_delivery(workspace, membership):
    from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

    endpoint = WebhookEndpoint.objects.filter(workspace=workspace, description=MARKER).first() \
        or WebhookEndpoint.objects.get(pk=_webhook_endpoint(workspace, membership))
    delivery = WebhookDelivery.objects.create(
        workspace=workspace, endpoint=endpoint, event_type="order.paid",
        body=f'{{"type":"order.paid","data":{{"marker":"{MARKER}"}}}}')
    WebhookAttempt.objects.create(workspace=workspace, delivery=delivery, number=1,
                                  url=endpoint.url, response_status=500,
                                  response_body=MARKER)
    return delivery.pk
@object_kwarg("rule_id")
def _rule(workspace, membership):
    from automation.models import Rule

    return Rule.objects.create(workspace=workspace, name=f"Rule {MARKER}", trigger="imported",
                               actions=[{"type": "tag", "value": MARKER.lower()}]).pk


@object_kwarg("job_id")
def _apply_job(workspace, membership):
    from automation.models import ApplyJob

    return ApplyJob.objects.create(workspace=workspace, rule_id=_rule(workspace, membership),
                                   total=1).pk
