"""Issue 17's stuck journey, in a real headless Chromium: staff quote "Mug 11 oz" (a catalog
product with no design template), the seller accepts, the waiting order goes on hold
"Print file needs fixing"; the seller follows "Add artwork" from the order page, uploads a
PNG, preflight is clean and the hold released; the seller pays and submits it.

Nothing waits on a worker: the test's thread runs the pending renders as render_task
would. The balance is credited through the ledger service (the Stripe top-up is
browser-tested in tests/billing/test_browser.py).
"""

import io
from decimal import Decimal

import pytest
from django.core.cache import cache
from django_scopes import scope, scopes_disabled
from PIL import Image

from billing import ledger
from billing.models import EntryKind
from fulfillment.models import PrintFile, Render, RenderStatus
from fulfillment.printfiles import services as printfiles
from orders import services as order_services
from orders.models import HoldReason, Order, OrderState
from quotes import services as quote_services
from quotes.models import Quote, QuoteLine, VariantProvider
from tests.fulfillment.fulfillment_support import make_provider
from tests.quotes.conftest import STORE_ACTOR, catalog, order_data, staff, store  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _artwork_png() -> bytes:
    """8.5 × 3.5 in at 200 DPI: the mug's whole print area."""
    buf = io.BytesIO()
    Image.new("RGB", (1700, 700), (30, 90, 160)).save(buf, "PNG")
    return buf.getvalue()


def _run_renders(workspace, order) -> None:
    with scope(workspace=workspace):
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            printfiles.render_run(render_id=job.pk)


def _order(workspace, order) -> Order:
    with scope(workspace=workspace):
        return Order.objects.get(pk=order.pk)


def test_quote_without_template_then_artwork_uploaded_from_the_hold_then_paid_and_submitted(
        page, login, owner, store, staff, catalog, artifacts_dir):  # noqa: F811
    cache.clear()  # login rate limits
    ws = owner.workspace
    mug = catalog.mug  # "Mug 11 oz": no design template
    mug.print_width_in, mug.print_height_in = Decimal("8.5"), Decimal("3.5")
    mug.save()
    own = make_provider("own-factory", kind="own", name="PodHub factory")
    VariantProvider.objects.create(variant=catalog.mug_white, provider=own, priority=1,
                                   provider_sku="MUG11-W", base_cost_amount=Decimal("4.00"),
                                   currency="USD")

    # an order of a product PodHub does not know yet waits for a quote
    with scope(workspace=ws):
        order, _ = order_services.order_import(workspace=ws, store=store, actor=STORE_ACTOR,
                                               data=order_data({
                                                   "sku": "PHOTO-MUG", "title": "Photo mug",
                                                   "store_product_id": "700", "quantity": 1,
                                                   "unit_price": "25.00"}))
    assert _order(ws, order).state == OrderState.IN_QUOTATION

    # staff quote it as the catalog's Mug 11 oz, and the seller accepts
    with scope(workspace=ws):
        quote = Quote.objects.get(workspace=ws, product_key="p:700")
        QuoteLine.objects.filter(quote=quote).update(
            catalog_variant=catalog.mug_white, unit_price_amount=Decimal("9.00"),
            production_days=3)
    with scopes_disabled():
        quote_services.quote_send(quote_id=quote.pk, by=staff)
    login(owner)
    page.goto("/quotes/")
    page.locator("[data-testid=quote]", has_text="Photo mug").locator(
        "[data-testid=accept]").click()
    page.wait_for_url("**/quotes/?tab=answered")
    _run_renders(ws, order)  # order.priced -> a render; no template, no file

    # the order is on hold for its print file, and the page leads to the fix
    held = _order(ws, order)
    assert (held.state, held.hold_reason) == (OrderState.ON_HOLD, HoldReason.PREFLIGHT)
    page.goto(f"/orders/{order.pk}/")
    status = page.locator("[data-testid=status]").inner_text()
    assert "Print file needs fixing" in status and "add artwork" in status
    page.screenshot(path=f"{artifacts_dir}/artwork-held.png", full_page=True)
    page.click("[data-testid=actions] [data-testid=next-artwork]")
    page.wait_for_url("**/front/artwork/")
    assert "2550 × 1050 px" in page.locator("[data-testid=artwork-form]").locator(
        "xpath=..").inner_text()
    page.set_input_files("[data-testid=artwork-file]", files=[{
        "name": "mug-wrap.png", "mimeType": "image/png", "buffer": _artwork_png()}])
    page.click("[data-testid=artwork-submit]")
    page.wait_for_url(f"**/orders/{order.pk}/#print-files")
    assert "it passes preflight" in page.locator("ul.messages").inner_text()
    assert page.locator("[data-testid=order-state]").inner_text() == "To order"
    seller_file = page.locator("[data-testid=print-file][data-version='2']")
    seller_file.wait_for()
    assert "Your artwork (mug-wrap.png)" in seller_file.inner_text()
    assert seller_file.locator("[data-testid=preflight-problems]").count() == 0
    page.screenshot(path=f"{artifacts_dir}/artwork-uploaded.png", full_page=True)

    # the seller pays it, then sends it to production
    with scope(workspace=ws):
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=Decimal("100.00"),
                      key="artwork-top-up", memo="Top-up (credited by the test)")
    page.click("[data-testid=actions] [data-testid=next-pay]")
    page.wait_for_url("**/pay/?orders=**")
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url(f"**/orders/{order.pk}/")
    assert page.locator("[data-testid=order-state]").inner_text() == "Awaiting submission"
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=actions] [data-testid=next-submit]")
    page.wait_for_url(f"**/orders/{order.pk}/**")
    page.locator("[data-testid=order-state]", has_text="In production").wait_for()
    submitted = _order(ws, order)
    assert submitted.state == OrderState.IN_PRODUCTION
    with scope(workspace=ws):
        [pf] = printfiles.newest_print_files(submitted)
        assert (pf.source, pf.version, pf.has_errors) == ("seller", 2, False)
        assert PrintFile.objects.filter(order=order).count() == 2
    # once submitted the artwork can no longer change
    assert page.locator("[data-testid=add-artwork]").count() == 0
    page.screenshot(path=f"{artifacts_dir}/artwork-submitted.png", full_page=True)
