"""In a real headless Chromium: edit a name, re-render, see the new preview, submit,
and find the editor locked."""

import pytest
from django.core.cache import cache
from django_scopes import scope

from fulfillment.models import DesignTemplate
from fulfillment.printfiles import services
from orders import services as order_services
from orders.events import Actor
from tests.factories import LineItemFactory, OrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME_ONLY = {"width_in": 3, "height_in": 1, "layers": [
    {"type": "background", "color": "#ffffff"},
    {"type": "text", "key": "Name", "box": [0.1, 0.1, 2.8, 0.8], "size_pt": 40,
     "min_size_pt": 8, "required": True}]}


@pytest.fixture
def eager_tasks():
    """Render tasks run at once (on commit, in the server thread) instead of via a worker."""
    from podhub.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _preview_bytes(page, src: str) -> bytes:
    return page.request.get(src).body()


def test_edit_name_rerender_see_new_preview_submit_then_locked(
        page, login, owner, eager_tasks, artifacts_dir):
    from quotes.models import Product, Variant

    workspace = owner.workspace
    variant = Variant.objects.create(product=Product.objects.create(name="Sign"), sku="SIGN-1")
    DesignTemplate.objects.create(product=variant.product, side="front", spec=NAME_ONLY)
    order = OrderFactory(workspace=workspace, number="#5001", state="awaiting_submission")
    LineItemFactory(order=order, title="Name sign", catalog_variant_id=variant.pk,
                    personalization=[{"key": "Name", "value": "Ana"}])
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)  # eager: rendered
    cache.clear()  # login rate limits

    login(owner)
    page.goto(f"/orders/{order.pk}/")

    # the panel arrives over htmx with version 1 of the print file
    first = page.locator("[data-testid=print-file][data-version='1']")
    first.wait_for()
    old_src = first.locator("[data-testid=print-preview]").get_attribute("src")
    old_preview = _preview_bytes(page, old_src)

    # edit the name and save: the file is rendered again at once
    page.fill("input[data-field='Name']", "Beatriz")
    page.click("[data-testid=save-personalization]")
    second = page.locator("[data-testid=print-file][data-version='2']")
    second.wait_for()
    new_src = second.locator("[data-testid=print-preview]").get_attribute("src")
    assert new_src != old_src
    assert _preview_bytes(page, new_src) != old_preview
    assert page.locator("input[data-field='Name']").input_value() == "Beatriz"
    assert "Beatriz" in page.locator("dl.personalization").first.inner_text()  # items card
    page.screenshot(path=f"{artifacts_dir}/print-files-rerendered.png", full_page=True)

    # submitted to production: the editor is read-only with the reason
    with scope(workspace=workspace):
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    page.reload()
    locked = page.locator("[data-testid=print-files-locked]")
    locked.wait_for()
    assert "submitted to production" in locked.inner_text()
    assert page.locator("[data-testid=personalization-editor]").count() == 0
    assert page.locator("[data-testid=rerender]").count() == 0
    assert "Beatriz" in page.locator("[data-testid=personalization-readonly]").inner_text()
    page.screenshot(path=f"{artifacts_dir}/print-files-locked.png", full_page=True)
