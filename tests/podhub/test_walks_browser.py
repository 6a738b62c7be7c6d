"""Issue 18's "done when": the new seller's first hour and the staff's day, walked in a real
headless Chromium at desktop (1280x800) and phone (390x844) sizes.

Every page visited is looked at the same way (`Walk.look`): a full-page screenshot
(<artifacts>/walk-<who>-<size>-<nn>-<page>.png), no sideways scrolling at 390 px, and
axe-core (tests/vendor/axe-core) finds no serious or critical violation. The problems of
every page are gathered and reported together at the end of the walk.

The seller: signs up (the e-mailed code), names the workspace, tries a sandbox Shopify
store (the sandbox runs over real HTTP on a free port and sends its orders by signed
webhook), a buyer orders a product PodHub has no price for, staff send the quote (their
side is walked below), the seller accepts it, tops up through the Stripe sandbox's
checkout over HTTP, pays the order, submits it to the sandbox factory, and sees it
tracked when the factory's shipment callback comes back.

The staff: the admin index with its queues, pricing and sending a quote, an information
request on an order, and the production board (an in-house order past its target, marked
in production and shipped).

Nothing waits on a worker or a clock: the test's thread does what the beat sweeps and the
tasks would (inbox drain), by calling the same services, and the time the product needs to
pass is given as a parameter (the board's late order was submitted at a `now=` in the past).
"""

import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django_scopes import scope, scopes_disabled

from integrations.models import InboundWebhook, StoreConnection
from integrations.services.inbox import inbox_drain
from orders.models import Order
from quotes.models import Quote, QuoteLine, Variant
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings
from tests.conftest import PASSWORD
from tests.fulfillment.test_journey_browser import (  # noqa: F401 (the factory fixture)
    ADDRESS,
    Relay,
    _demo_catalog_routed_to,
    factory,
)
from tests.live import wait_for
from tests.podhub.test_accessibility import violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


class Walk:
    """Looks at each page visited: screenshot, width at phone size, axe, and which page
    broke the CSP (the page fixture fails the test on it, without saying where)."""

    def __init__(self, page, *, who: str, size: str, artifacts_dir: str):
        self.page, self.who, self.size, self.dir = page, who, size, artifacts_dir
        self.problems: dict[str, list] = {}
        self.screenshots: list[str] = []
        self.csp: list[str] = []
        page.on("console", lambda msg: self.csp.append(msg.text) if msg.type == "error"
                and "Content Security Policy" in msg.text else None)
        page.set_viewport_size(SIZES[size])

    def look(self, name: str, *, axe: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")  # htmx panels arrive after the page
        where = f"{name} ({page.url})"
        if self.size == "phone":
            width, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]")
            if width > inner:
                wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ?
                      '.' + String(e.className).trim().split(/\\s+/).join('.') : ''))""")
                self.problems.setdefault(where, []).append(
                    f"{width} px wide in {inner} px: {wide}")
        if axe:
            found = violations(page)
            if found:
                self.problems.setdefault(where, []).extend(found)
        path = Path(self.dir) / (f"walk-{self.who}-{self.size}-{len(self.screenshots) + 1:02d}"
                                 f"-{name}.png")
        page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(str(path))
        if self.csp:
            self.problems.setdefault(where, []).extend(self.csp)
            self.csp = []

    def assert_clean(self) -> None:
        import json

        assert not self.problems, json.dumps(self.problems, indent=1)


# --- the new seller's first hour ----------------------------------------------------------


@pytest.fixture
def shopify_sandbox(settings, live_server):
    """The embedded default's sandbox Shopify (a store per workspace that tries one)."""
    server = SandboxServer(SandboxShop(settings=Settings(restore_rate=5000))).start()
    settings.PODHUB_SANDBOX_STORES = {"shopify": server.url}
    settings.PUBLIC_BASE_URL = live_server.url  # the webhook address given to the sandbox
    yield server
    server.stop()


@pytest.fixture
def stripe_checkout(stripe_sandbox, live_server):
    stripe_sandbox.webhook_url = live_server.url + "/webhooks/stripe/"
    return stripe_sandbox


@pytest.fixture
def tasks_in_process():
    """Tasks run where they are sent (as tests/billing/test_browser.py does): the Stripe
    event credits the top-up before the seller is back from the checkout. Their failures
    do not fail the seller's request, as with a real worker."""
    from podhub.celery import app

    old = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


def _code_from_mail(address: str) -> str:
    sent = [m for m in mail.outbox if address in m.to]
    assert sent, "no sign-up code was e-mailed"
    return re.search(r"\b(\d{6})\b", sent[-1].body).group(1)


def _arrived(conn, external_id: str):
    """What the inbox drain task does when the webhook rings (no worker here)."""
    with scope(workspace=conn.workspace):
        if InboundWebhook.objects.filter(connection=conn).exists():
            inbox_drain(connection_id=conn.pk)
        return Order.objects.filter(store_id=conn.store_id, external_id=external_id).first()


def _staff_send_quote(order) -> None:
    """Staff's side of the quote (walked in the admin by the staff's day below): the
    plaque is made as the demo's white mug, 15.00 a piece."""
    from podhub.accounts.models import User
    from quotes import services as quote_services

    with scopes_disabled():
        quote = Quote.objects.get(workspace=order.workspace, status="requested",
                                  title__icontains="Oak plaque")
        staff = User.objects.create_superuser(email="staff@podhub.test", password=PASSWORD)
        QuoteLine.objects.filter(quote=quote).update(
            unit_price_amount="15.00", production_days=3, currency="USD",
            catalog_variant=Variant.objects.get(sku="MUG11-WHITE"))
        quote_services.quote_send(quote_id=quote.pk, by=staff)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_new_sellers_first_hour(page, size, shopify_sandbox, stripe_checkout, factory,  # noqa: F811
                                    tasks_in_process, artifacts_dir):
    cache.clear()  # sign-in and sign-up rate limits
    email = f"new-{size}@seller.test"
    walk = Walk(page, who="seller", size=size, artifacts_dir=artifacts_dir)

    # 1. sign up, with the code e-mailed to the address
    page.goto("/accounts/signup/")
    walk.look("signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    if page.locator("input[name=password2]").count():
        page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    walk.look("confirm-email")
    page.fill("input[name=code]", _code_from_mail(email))
    page.click("form button[type=submit]")
    page.wait_for_url("**/workspaces/new/")
    walk.look("new-workspace")
    page.fill("input[name=name]", f"First Hour {size}")
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/workspaces/new/" not in url)
    page.goto("/")
    walk.look("home-new")
    assert page.locator("[data-testid=setup-checklist]").count() == 1
    with scopes_disabled():
        from podhub.workspaces.models import Workspace

        workspace = Workspace.objects.get(name=f"First Hour {size}")
    _demo_catalog_routed_to(factory.url, workspace)

    # 2. try a sandbox store: connected, and its orders arrive by webhook
    page.goto("/stores/")
    walk.look("stores")
    page.click("[data-testid=sandbox-choices] button[data-platform=shopify]")
    page.wait_for_load_state()
    walk.look("sandbox-store")
    with scopes_disabled():
        conn = StoreConnection.objects.select_related("workspace").get(
            store__workspace=workspace)
    shop = shopify_sandbox.shops[conn.shop_domain]

    # 3. a buyer orders a product PodHub has no price for yet: it waits for a quote
    placed = shop.create_order({
        "line_items": [{"title": "Oak plaque", "sku": "PLQ-OAK", "price": "30.00",
                        "quantity": 1, "properties": [{"name": "Name", "value": "Ana"}]}],
        "shipping_address": ADDRESS, "email": "ana@example.com"})
    order = wait_for(lambda: _arrived(conn, str(placed["id"])),
                     what="the sandbox store's order to arrive by webhook")
    assert order.state == "in_quotation"
    page.goto(f"/orders/{order.pk}/")
    walk.look("order-in-quotation")
    assert page.locator("[data-testid=order-state]").inner_text() == "In quotation"

    # 4. staff send the quote; the seller accepts it
    _staff_send_quote(order)
    page.goto("/quotes/")
    walk.look("quotes")
    page.locator("[data-testid=quote]", has_text="Oak plaque").locator(
        "[data-testid=accept]").click()
    page.wait_for_url("**/quotes/?tab=answered")
    assert "accepted" in page.locator("ul.messages").inner_text()
    walk.look("quote-accepted")

    # 5. top up through the Stripe sandbox's checkout (real HTTP)
    page.goto("/balance/")
    walk.look("balance")
    page.fill("[data-testid=top-up-form] input[name=amount]", "50")
    page.click("[data-testid=top-up-form] button[type=submit]")
    page.wait_for_url(stripe_checkout.public_url + "/checkout/**")
    walk.look("stripe-checkout", axe=False)  # the sandbox's page, not PodHub's
    page.click("button[value=pay]")
    page.wait_for_url("**/balance/**")
    assert "Top-up of $50.00 received." in page.locator("ul.messages").inner_text()
    walk.look("topped-up")

    # 6. pay the order from its page, and return to it
    page.goto(f"/orders/{order.pk}/")
    with scopes_disabled():
        held = Order.objects.values_list("state", "hold_reason", "hold_message").get(
            pk=order.pk)
    assert page.locator("[data-testid=order-state]").inner_text() == "To order", held
    walk.look("order-to-pay")
    page.click("[data-testid=actions] [data-testid=next-pay]")
    page.wait_for_url("**/pay/?orders=**")
    walk.look("pay")
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url(f"**/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Awaiting submission"
    walk.look("order-paid")

    # 7. submit it now: it goes to the sandbox factory
    page.once("dialog", lambda dialog: dialog.accept())  # "Submit order … now?"
    with page.expect_navigation():
        page.click("[data-testid=actions] [data-testid=next-submit]")
    assert page.locator("[data-testid=order-state]").inner_text() == "In production"
    walk.look("order-submitted")

    # 8. the factory ships it and calls back: the order is tracked
    with scopes_disabled():
        sub = Order.objects.get(pk=order.pk).submissions.get()
    made = factory.factory.orders[factory.factory.by_external[sub.reference]]
    factory.factory.advance(made.id, to="shipped")
    page.goto(f"/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Shipped"
    panel = page.locator("[data-testid=fulfillment]")
    panel.locator("[data-testid=tracking-number]").first.wait_for()
    walk.look("order-tracked")
    page.goto("/")
    walk.look("home-after")
    page.goto("/orders/")
    walk.look("orders")
    walk.assert_clean()
    assert len(walk.screenshots) >= 17


# --- the staff's day ----------------------------------------------------------------------


@pytest.fixture
def staff_day(workspace, owner):
    """What waits for staff: a quote request, an order to ask about, and an in-house
    order on the production board past its production target."""
    from fulfillment import submission
    from orders import services as order_services
    from podhub.accounts.models import User
    from tests.factories import StoreFactory
    from tests.fulfillment.fulfillment_support import NOW, make_order, make_provider, make_variant
    from tests.quotes.conftest import STORE_ACTOR, order_data

    store = StoreFactory(workspace=workspace, name="Acme Shopify", currency="USD")
    with scope(workspace=workspace):  # real commits: the quotes subscriber prices them
        for lines in ([{"sku": "PLQ-S", "title": "Oak plaque", "variant_title": "Small",
                        "store_product_id": "900", "store_variant_id": "901",
                        "quantity": 1, "unit_price": "30.00"}],
                      [{"sku": "LAMP-1", "title": "Moon lamp", "quantity": 1,
                        "unit_price": "40.00"}]):
            order_services.order_import(workspace=workspace, store=store,
                                        data=order_data(*lines), actor=STORE_ACTOR)
    own = make_provider("own-factory", kind="own", name="PodHub factory")
    board = make_order(workspace, [make_variant("MUG-OWN", [(own, "4.00")])], store=store)
    submission.submit_sweep(now=NOW)  # submitted then: its production target has passed
    staff = User.objects.create_superuser(email="staff@podhub.test", password=PASSWORD)
    return {"staff": staff, "board": board}


@pytest.mark.parametrize("size", list(SIZES))
def test_the_staffs_day(page, size, staff_day, artifacts_dir):
    cache.clear()
    walk = Walk(page, who="staff", size=size, artifacts_dir=artifacts_dir)
    page.goto("/admin/login/?next=/admin/")
    walk.look("admin-login")
    page.fill("input[name=username]", staff_day["staff"].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")

    # the queues, with counts and what is overdue
    walk.look("admin-index")
    queues = page.locator("[data-testid=staff-queues]")
    assert "Quote requests to price" in queues.inner_text()

    # a quote: priced and sent
    page.goto("/admin/quotes/quote/?status__exact=requested")
    walk.look("quote-queue")
    page.locator("#result_list tbody tr", has_text="Oak plaque").locator("th a").click()
    page.wait_for_selector("input[name=lines-0-unit_price_amount]")
    walk.look("quote-form")
    page.fill("input[name=lines-0-unit_price_amount]", "15.00")
    page.fill("input[name=lines-0-production_days]", "4")
    page.fill("textarea[name=staff_notes]", "Solid oak, laser engraved.")
    page.click("[data-testid=send-quote]")
    page.wait_for_url("**/admin/quotes/quote/**")
    assert "Quote for Oak plaque sent to the seller." in page.locator(
        ".messagelist").inner_text()
    walk.look("quote-sent")

    # an information request on an order
    page.goto("/admin/orders/order/")
    walk.look("orders")
    row = page.locator("#result_list tbody tr", has_text="in quotation").filter(
        has_not_text="Oak plaque").first
    number = row.locator("th").inner_text()
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "request_information")
    page.click("button[name=index]")
    page.wait_for_selector("textarea[name=message]")
    walk.look("request-information")
    page.fill("textarea[name=message]", "Which colour should the lamp be?")
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist")
    assert f"Information requested: {number}." in page.locator(".messagelist").inner_text()
    page.goto("/admin/orders/order/?hold_reason__exact=info_requested")
    walk.look("information-requests")

    # the production board: the late in-house order made and shipped
    page.goto("/admin/")
    page.locator("[data-testid=staff-queues] a", has_text="Production board").click()
    page.wait_for_url("**/admin/fulfillment/submission/**")
    walk.look("production-board")
    board_row = page.locator("#result_list tbody tr").first
    board_row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "mark_in_production")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "1 order(s) in production." in page.locator(".messagelist").inner_text()
    page.locator("#result_list tbody tr").first.locator(
        "input[name=_selected_action]").check()
    page.select_option("select[name=action]", "mark_shipped")
    page.fill("input[name=carrier]", "UPS")
    page.fill("input[name=tracking_numbers]", "1Z999AA10123456784")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    walk.look("board-shipped")
    with scopes_disabled():
        assert Order.objects.get(pk=staff_day["board"].pk).state == "shipped"
    page.goto("/admin/")
    walk.look("admin-index-after")
    walk.assert_clean()
