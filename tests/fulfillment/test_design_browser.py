"""Issue 17's design editor in a real headless Chromium, at desktop and phone sizes with axe:
open the editor from the order's print-file panel, change the text (and its colour), upload
a photo and move and scale it by keyboard, see the live preview (rendered by the server),
see the 3D preview (or, without WebGL, its still image), finish (the 300 DPI version and its
mock-up), approve, submit, and find the editor locked.

Renders run at once in the server thread (eager tasks), not via a worker.
"""

import io
import json
import re

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django_scopes import scope
from PIL import Image
from playwright.sync_api import expect

from fulfillment.models import Design, DesignTemplate, PrintFile, TemplateAsset
from orders import services as order_services
from orders.events import Actor
from tests.factories import LineItemFactory, OrderFactory
from tests.fulfillment.conftest import jpeg
from tests.fulfillment.test_browser import eager_tasks  # noqa: F401  (fixture)
from tests.fulfillment.test_design import SPEC
from tests.podhub.test_walks_browser import SIZES, Walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png(size, colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("size", list(SIZES))
def test_design_edit_preview_3d_finish_approve_submit_then_locked(
        page, login, owner, eager_tasks, artifacts_dir, size, tmp_path):  # noqa: F811
    from quotes.models import Product, ProductShape, Variant

    workspace = owner.workspace
    product = Product.objects.create(name="Mug 11 oz", shape=ProductShape.CYLINDER)
    variant = Variant.objects.create(product=product, sku="MUG-11-W")
    spec = {**SPEC, "mockup": {"asset": "mug-photo", "box": [100, 120, 600, 250]}}
    template = DesignTemplate.objects.create(product=product, side="front", spec=spec)
    asset = TemplateAsset(template=template, name="mug-photo")
    asset.file.save("mug.png", ContentFile(_png((800, 500), (230, 230, 230))))
    order = OrderFactory(workspace=workspace, number="#7001", state="awaiting_submission")
    line = LineItemFactory(order=order, title="Photo mug", catalog_variant_id=variant.pk,
                           personalization=[{"key": "Name", "value": "Ana"}])
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(jpeg((1200, 1200)))
    cache.clear()  # login rate limits

    login(owner)
    walk = Walk(page, who="designer", size=size, artifacts_dir=artifacts_dir)
    page.goto(f"/orders/{order.pk}/")
    page.click("[data-testid=open-design][data-side=front]")  # the panel arrives over htmx
    page.wait_for_url(f"**/lines/{line.pk}/front/design/")
    page.locator("#editor[data-ready='1']").wait_for()
    assert page.locator("[data-testid=layer-text]").input_value() == "Ana"  # the buyer's
    walk.look("design-editor")

    # the text and its colour: the live preview comes back from the server
    page.fill("[data-testid=layer-text]", "Beatriz")
    page.select_option("[data-testid=layer-color]", "#b91c1c")
    status = page.locator("[data-testid=design-status]")
    preview = page.locator("#design-preview")
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(status).to_have_text("Preview updated")

    # a photo uploaded, then moved and scaled by keyboard on the canvas
    photo_layer = page.locator("fieldset[data-layer-type=photo]")
    photo_layer.locator("[data-testid=layer-upload]").set_input_files(str(photo))
    expect(photo_layer.locator("[data-testid=layer-photo]")).not_to_have_value("")
    photo_layer.locator("[data-select-layer]").click()  # selects it and focuses the canvas
    canvas = page.locator("[data-testid=design-canvas]")
    for key in ("ArrowRight", "ArrowRight", "ArrowDown", "-", "-"):
        canvas.press(key)
    photo_layer.locator("[data-testid=layer-zoom]").fill("1.5")
    photo_layer.locator("[data-testid=layer-cx]").fill("0.4")  # cropped: the window moved
    fresh = preview.get_attribute("data-fresh")
    expect(preview).not_to_have_attribute("data-fresh", fresh)
    expect(status).to_have_text("Preview updated")
    x, y, w = (float(photo_layer.locator(f"[data-testid=layer-{p}]").input_value())
               for p in "xyw")
    assert (x, y) != (0.25, 0.25) and w < 3  # moved and scaled
    assert page.locator("[data-testid=design-problems] li.error").count() == 0
    walk.look("design-edited")

    # 3D: the design on a cylinder, or the still image where this browser has no WebGL
    view = page.locator("[data-testid=design-3d]")
    expect(view).to_have_attribute("data-mode", re.compile(r"^(webgl|fallback)$"))
    mode = view.get_attribute("data-mode")
    assert mode in ("webgl", "fallback")
    if mode == "webgl":
        assert view.locator("canvas").count() == 1
        view.locator("[data-testid=design-3d-rotate]").fill("90")
    else:
        assert page.locator("[data-testid=design-3d-fallback]").is_hidden() is False

    # Finish & preview: the 300 DPI file, rendered through the render path, with its mock-up
    page.click("[data-testid=design-finish]")
    newest = page.locator("[data-testid=design-newest][data-version='1']")
    newest.wait_for()
    assert page.locator("[data-testid=design-mockup]").is_visible()
    with scope(workspace=workspace):
        pf = PrintFile.objects.get(line_item=line, side="front")
        edits = {e["id"]: e for e in pf.inputs["designs"]["front"]["layers"]}
    assert (pf.width_px, pf.height_px) == (2550, 1050)
    assert edits["2"]["text"] == "Beatriz" and edits["2"]["color"] == "#b91c1c"
    assert edits["1"]["photo"] and edits["1"]["box"][:3] == [x, y, w]
    assert edits["1"]["crop"] == [0.067, 0.167, 0.733, 0.833]  # zoom 1.5 around (0.4, 0.5)
    walk.look("design-finished")

    page.click("[data-testid=design-approve]")
    page.locator("[data-testid=design-approved]").wait_for()
    assert page.locator("[data-testid=approved-badge]").count() == 1
    with scope(workspace=workspace):
        assert Design.objects.get(line_item=line).approved_print_file_id == pf.pk
    walk.look("design-approved")

    # submitted: the editor is locked with the reason, nothing can be edited
    with scope(workspace=workspace):
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    page.reload()
    page.locator("[data-testid=design-locked]").wait_for()
    assert "submitted to production" in page.locator("[data-testid=design-locked]").inner_text()
    assert page.locator("[data-testid=design-finish]").count() == 0
    assert page.locator("[data-testid=layer-text]").is_disabled()
    state = json.dumps({"layers": [{"id": "2", "text": "Eve"}]})
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    refused = page.request.post(f"/orders/{order.pk}/print-files/lines/{line.pk}/front/design/"
                                "preview/", data=state,
                                headers={"Content-Type": "application/json",
                                         "X-CSRFToken": token})
    assert refused.status == 409
    walk.look("design-locked")
    walk.assert_clean()
