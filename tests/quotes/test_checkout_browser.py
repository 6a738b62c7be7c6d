"""Issue 17's made-to-order journey in a real headless Chromium, at desktop and phone
sizes: from the catalog, a mini-bulk order of a product with a stamps setup fee — the
price per item follows the quantity live, "Develop custom stamps" chosen — reviewed and
confirmed, the specifications e-mailed, paid from the balance, and (the workspace launches
catalog orders when paid) in production without "Submit now". Each page is looked at
like the walks do (tests/podhub/test_walks_browser.py: screenshot, no sideways scrolling
on a phone, axe, the CSP)."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django_scopes import scope

from billing import ledger
from billing.models import EntryKind
from orders.models import Order, OrderState
from podhub.core.models import OutgoingEmail
from quotes.models import SetupFeeCharge, Stamps, StampsChoice, VariantProvider
from tests.fulfillment.fulfillment_support import make_provider
from tests.podhub.test_walks_browser import SIZES, Walk
from tests.quotes.conftest import catalog  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", list(SIZES))
def test_a_mini_bulk_order_from_the_catalog_with_stamps_is_paid_and_goes_to_production(
        page, login, owner, catalog, artifacts_dir, size):  # noqa: F811
    cache.clear()  # login rate limits
    ws = owner.workspace
    ws.launch_catalog_orders = True
    ws.save()
    stamp = catalog.stamp_40  # "Custom stamp", a $30.00 setup fee
    stamp.tiers = [{"min_quantity": 10, "max_quantity": 49, "unit_price": "10.00",
                    "label": "mini-bulk"}]
    stamp.save()
    VariantProvider.objects.create(variant=stamp, provider=make_provider("house", kind="own"),
                                   provider_sku="H-STAMP", base_cost_amount=Decimal("4.00"))
    walk = Walk(page, who="mto", size=size, artifacts_dir=artifacts_dir)
    login(owner)

    page.goto("/catalog/")
    page.click("[data-testid=new-catalog-order]")
    page.wait_for_url("**/catalog/order/")
    page.select_option("select[name=line_0_variant]", str(stamp.pk))
    page.fill("input[name=line_0_quantity]", "1")
    price = page.locator("[data-testid=checkout-price]")
    price.locator("[data-testid=unit-price]", has_text="$12.00").wait_for()
    page.fill("input[name=line_0_quantity]", "12")  # a mini-bulk run: the price follows
    price.locator("[data-testid=unit-price]", has_text="mini-bulk").wait_for()
    assert "$10.00" in price.locator("[data-testid=unit-price]").inner_text()
    stamps = page.locator("[data-testid=stamps-choice]")
    assert "Custom stamp: your first order of it" in stamps.inner_text()
    stamps.get_by_label("Develop custom stamps").check()
    page.fill("input[name=line_0_personalization]", "ACME 2026")
    for name, value in {"name": "Ana Lima", "address1": "1 Main St", "city": "Springfield",
                        "zip": "62701", "province": "IL", "country_code": "US"}.items():
        page.fill(f"input[name=address_{name}]", value)
    page.locator("[data-testid=checkout-total]", has_text="$").wait_for()
    walk.look("checkout")
    assert stamps.get_by_label("Develop custom stamps").is_checked()
    assert "Standard to North America" in price.inner_text()  # the country re-priced it

    page.click("[data-testid=review]")
    page.locator("h1", has_text="Confirm the specifications").wait_for()
    specs = page.locator("[data-testid=specifications]").inner_text()
    assert "ACME 2026" in specs and "custom stamps are developed" in specs
    walk.look("review")
    page.click("[data-testid=place-order]")  # not confirmed yet: refused, nothing placed
    assert "Confirm the specifications to place the order." in page.locator(
        "ul.errorlist").inner_text()
    with scope(workspace=ws):
        assert not Order.objects.exists()
    page.check("[data-testid=confirm]")
    page.click("[data-testid=place-order]")
    page.wait_for_url("**/orders/*/")
    with scope(workspace=ws):
        order = Order.objects.get()
        assert StampsChoice.objects.get().choice == Stamps.CUSTOM
    assert page.locator("[data-testid=order-state]").inner_text() == "To order"
    assert f"Order {order.number} is placed" in page.locator("ul.messages").inner_text()
    mail = OutgoingEmail.objects.get(subject=f"[PodHub] Order {order.number}: specifications")
    assert "12 × Custom stamp (40 mm, STAMP-40) at $10.00 each (10-49 mini-bulk)" in mail.body
    assert "custom stamps, setup fee $30.00" in mail.body
    walk.look("placed")

    with scope(workspace=ws):
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=Decimal("500.00"),
                      key="mto-top-up", memo="Top-up (credited by the test)")
    page.click("[data-testid=actions] [data-testid=next-pay]")
    page.wait_for_url("**/pay/?orders=**")
    walk.look("pay")
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url(f"**/orders/{order.pk}/")
    page.reload()  # the order.paid subscriber ran after the payment's commit
    page.locator("[data-testid=order-state]", has_text="In production").wait_for()
    walk.look("in-production")
    with scope(workspace=ws):
        order.refresh_from_db()
        assert order.state == OrderState.IN_PRODUCTION
        assert SetupFeeCharge.objects.get().amount == Decimal("30.00")
        assert order.events.filter(type="order.submitted",
                                   actor_label="Launched when paid").exists()
    walk.assert_clean()
