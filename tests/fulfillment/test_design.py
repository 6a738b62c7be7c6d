"""Issue 17, the design editor's server side: the edit state is checked against the template
(the server is the authority), previewed by the production renderer, finished into a 300 DPI
version through the render path, approved (locked for submission), and refused once the
order is submitted. Every refusal answers the reason, stores nothing and leaves the order
as it was."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope
from PIL import Image

from fulfillment.models import Design, DesignPhoto, DesignTemplate, PrintFile, Render, RenderStatus
from fulfillment.printfiles import editor, services
from orders.events import Actor
from orders.models import Order, OrderEvent, OrderState
from tests.fulfillment.conftest import jpeg

pytestmark = [pytest.mark.django_db]

# The demo mug's print area with a photo and a name, the fonts and colours it offers.
SPEC = {
    "width_in": 8.5, "height_in": 3.5, "dpi": 300,
    "fonts": ["dejavu-sans", "dejavu-serif"], "colors": ["#1d232b", "#b91c1c"],
    "layers": [
        {"type": "background", "color": "#ffffff"},
        {"type": "image", "key": "Photo", "box": [0.25, 0.25, 3, 3], "fit": "cover"},
        {"type": "text", "key": "Name", "box": [3.5, 0.5, 4.5, 2.5], "font": "dejavu-sans-bold",
         "size_pt": 72, "min_size_pt": 12, "color": "#1d232b", "max_chars": 40,
         "required": True},
    ],
}
TEXT = {"id": "2", "text": "Ana", "font": "dejavu-sans-bold", "color": "#1d232b",
        "box": [3.5, 0.5, 4.5, 2.5]}


@pytest.fixture
def design_template(variant):
    return DesignTemplate.objects.create(product=variant.product, side="front", spec=SPEC)


def _url(order, line, what=""):
    return f"/orders/{order.pk}/print-files/lines/{line.pk}/front/design/{what}"


def _snapshot(workspace, order):
    with scope(workspace=workspace):
        o = Order.objects.get(pk=order.pk)
        return (o.state, o.hold_reason, o.updated_at, PrintFile.objects.count(),
                Design.objects.count(), DesignPhoto.objects.count(), Render.objects.count(),
                OrderEvent.objects.filter(order=o).count())


def _preview(c, order, line, state):
    return c.post(_url(order, line, "preview/"), data=json.dumps(state),
                  content_type="application/json")


def test_the_preview_is_an_image_of_the_print_area_rendered_by_the_server(
        client_for, owner, workspace, order, line, design_template):
    c = client_for(owner)
    before = _snapshot(workspace, order)

    resp = _preview(c, order, line, {"layers": [{**TEXT, "text": "Bea", "font": "dejavu-serif",
                                                 "color": "#b91c1c"}]})

    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(resp.content))
    assert img.width == 638 and abs(img.width / img.height - 8.5 / 3.5) < 0.01  # 640 px max
    red = [px for px in img.convert("RGB").get_flattened_data() if px[0] > 150 and px[1] < 80]
    assert red, "the name is drawn in the chosen colour"
    assert json.loads(resp["X-Design-Problems"]) == []
    assert _snapshot(workspace, order) == before  # a preview stores nothing


REFUSALS = [
    ("outside the print area", {"layers": [{**TEXT, "box": [6, 0.5, 4.5, 2.5]}]},
     "lies outside the print area"),
    ("negative position", {"layers": [{**TEXT, "box": [-1, 0.5, 4.5, 2.5]}]},
     "lies outside the print area"),
    ("unknown font", {"layers": [{**TEXT, "font": "comic-sans"}]},
     "is not one this design offers"),
    ("unknown colour", {"layers": [{**TEXT, "color": "#00ff00"}]},
     "The colour #00ff00 is not one this design offers"),
    ("unknown layer", {"layers": [{**TEXT, "id": "7"}]}, "There is no editable layer '7'"),
    ("the background is not editable", {"layers": [{"id": "0", "color": "#000000"}]},
     "There is no editable layer '0'"),
    ("text too long", {"layers": [{**TEXT, "text": "A" * 41}]}, "at most 40 characters"),
    ("oversized box", {"layers": [{**TEXT, "box": [0, 0, 1e9, 1e9]}]},
     "lies outside the print area"),
    ("not a number", {"layers": [{**TEXT, "box": [0, 0, "1", 1]}]}, "finite number"),
    ("a box too small", {"layers": [{**TEXT, "box": [1, 1, 0.01, 0.01]}]}, "too small"),
    ("a photo of another item", {"layers": [{"id": "1", "photo": 99999}]},
     "not uploaded for this item"),
    ("a crop outside the photo", {"layers": [{"id": "1", "crop": [0.5, 0.5, 1.5, 1.5]}]},
     "within the photo"),
    ("an unknown field", {"layers": [{**TEXT, "size_pt": 4000}]}, "not size_pt"),
    ("a layer twice", {"layers": [TEXT, TEXT]}, "edited twice"),
    ("not a design", {"layers": [TEXT], "script": "x"}, "\"layers\" only"),
]


@pytest.mark.parametrize(("case", "state", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_crafted_edit_is_refused_with_the_reason_and_nothing_changes(
        client_for, owner, workspace, order, line, design_template, case, state, reason):
    c = client_for(owner)
    before = _snapshot(workspace, order)

    resp = _preview(c, order, line, state)

    assert resp.status_code == 400, resp.content
    assert reason in resp.json()["error"]["message"]
    assert resp.json()["error"]["code"] == "design_refused"
    # Finish & preview with the same state: refused too, nothing saved or rendered
    finish = c.post(_url(order, line, "finish/"), {"state": json.dumps(state)})
    assert finish.status_code == 302
    assert _snapshot(workspace, order) == before


def test_an_oversized_body_is_refused_unread(client_for, owner, workspace, order, line,
                                             design_template):
    c = client_for(owner)
    before = _snapshot(workspace, order)
    resp = _preview(c, order, line, {"layers": [{**TEXT, "text": "x" * 70_000}]})
    assert resp.status_code == 413
    assert _snapshot(workspace, order) == before


def test_the_api_checks_the_same_way(api_client_for, owner, workspace, order, line,
                                     design_template):
    api = api_client_for(owner)
    url = f"/api/v1/orders/{order.pk}/lines/{line.pk}/design/preview/"
    before = _snapshot(workspace, order)

    bad = api.post(url, {"side": "front", "layers": [{**TEXT, "box": [8, 3, 4.5, 2.5]}]},
                   format="json")
    assert bad.status_code == 400 and "lies outside the print area" in bad.json()["error"][
        "message"]
    font = api.post(url, {"side": "front", "layers": [{**TEXT, "font": "wingdings"}]},
                    format="json")
    assert font.status_code == 400 and "is not one this design offers" in font.json()[
        "error"]["message"]
    ok = api.post(url, {"side": "front", "layers": [TEXT]}, format="json")
    assert ok.status_code == 200 and ok["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(ok.content)).format == "PNG"
    assert _snapshot(workspace, order) == before


def test_another_workspace_cannot_preview_or_upload(client_for, other_owner, order, line,
                                                    design_template):
    c = client_for(other_owner)
    assert _preview(c, order, line, {"layers": [TEXT]}).status_code == 404
    assert c.get(_url(order, line)).status_code == 404


def test_photos_are_checked_like_artwork(client_for, owner, workspace, order, line,
                                         design_template):
    c = client_for(owner)
    before = _snapshot(workspace, order)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = c.post(_url(order, line, "photos/"),
                     {"file": SimpleUploadedFile("x.svg", svg, "image/svg+xml")})
    assert refused.status_code == 400 and "contains a script" in refused.json()["error"][
        "message"]
    assert _snapshot(workspace, order) == before

    ok = c.post(_url(order, line, "photos/"),
                {"file": SimpleUploadedFile("cat.jpg", jpeg((1200, 1200)), "image/jpeg")})
    assert ok.status_code == 201
    photo = ok.json()
    assert (photo["width"], photo["height"]) == (1200, 1200)
    assert c.get(photo["url"]).status_code == 200
    moved = _preview(c, order, line, {"layers": [
        {"id": "1", "photo": photo["id"], "box": [0.5, 0.5, 2.5, 2.5],
         "crop": [0.2, 0.2, 0.8, 0.8]}, TEXT]})
    assert moved.status_code == 200


def _run(workspace, order):
    with scope(workspace=workspace):
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)


def test_finish_renders_a_version_approve_locks_it_and_submission_refuses_edits(
        client_for, owner, workspace, order, line, design_template, sent_tasks):
    c = client_for(owner)
    photo = c.post(_url(order, line, "photos/"),
                   {"file": SimpleUploadedFile("cat.jpg", jpeg((1200, 1200)),
                                               "image/jpeg")}).json()
    state = {"layers": [{"id": "1", "photo": photo["id"], "box": [0.5, 0.25, 2.8, 2.8],
                         "crop": [0.1, 0.1, 0.9, 0.9]},
                        {**TEXT, "text": "Bea", "color": "#b91c1c", "font": "dejavu-serif"}]}

    resp = c.post(_url(order, line, "finish/"), {"state": json.dumps(state)})
    assert resp.status_code == 302
    _run(workspace, order)
    with scope(workspace=workspace):
        pf = PrintFile.objects.get(line_item=line, side="front")
        assert pf.inputs["designs"]["front"] == state
        assert (pf.width_px, pf.height_px, pf.dpi) == (2550, 1050, 300)
        assert not pf.has_errors, pf.problems
        art = Image.open(pf.file.open("rb")).convert("RGB")
        # the name is red (the chosen colour) inside its box, the photo where it was moved
        name_box = art.crop((3.5 * 300, 0.5 * 300, 8 * 300, 3 * 300))
        assert any(p[0] > 150 and p[1] < 80 for p in name_box.get_flattened_data())
    page = c.get(_url(order, line)).content.decode()
    assert 'data-testid="design-approve"' in page and 'data-testid="design-history"' in page

    # approve: the version is locked for submission; renders leave the side alone
    approve = c.post(_url(order, line, "approve/"), {"print_file_id": pf.pk})
    assert approve.status_code == 302
    with scope(workspace=workspace):
        d = Design.objects.get(line_item=line, side="front")
        assert d.approved_print_file_id == pf.pk
        services.render_request(order_id=order.pk, workspace=workspace)
    _run(workspace, order)
    with scope(workspace=workspace):
        assert list(PrintFile.objects.filter(line_item=line).values_list("version", flat=True)) \
            == [1]
        assert [f.pk for f in services.newest_print_files(order)] == [pf.pk]
    assert _preview(c, order, line, state).status_code == 409  # approved: reopen first

    # submitted: the editor is locked, every edit answers 409, nothing changes
    with scope(workspace=workspace):
        Order.objects.filter(pk=order.pk).update(state=OrderState.IN_PRODUCTION)
    before = _snapshot(workspace, order)
    locked = _preview(c, order, line, state)
    assert locked.status_code == 409 and "submitted to production" in locked.json()["error"][
        "message"]
    assert c.post(_url(order, line, "photos/"), {"file": SimpleUploadedFile(
        "cat.jpg", jpeg((600, 600)), "image/jpeg")}).status_code == 409
    assert c.post(_url(order, line, "reopen/")).status_code == 302  # refused: a message
    with scope(workspace=workspace), pytest.raises(services.PrintFilesLocked):
        editor.design_finish(workspace=workspace, order_id=order.pk, line_id=line.pk,
                             side="front", state=state, actor=Actor.seller(owner.user))
    assert _snapshot(workspace, order) == before
    page = c.get(_url(order, line)).content.decode()
    assert 'data-testid="design-locked"' in page and 'data-locked="1"' in page
    assert 'data-testid="design-finish"' not in page and "design-approve" not in page


def test_the_api_refuses_a_submitted_order(api_client_for, owner, workspace, order, line,
                                           design_template):
    with scope(workspace=workspace):
        Order.objects.filter(pk=order.pk).update(state=OrderState.IN_PRODUCTION)
    resp = api_client_for(owner).post(
        f"/api/v1/orders/{order.pk}/lines/{line.pk}/design/preview/",
        {"side": "front", "layers": [TEXT]}, format="json")
    assert resp.status_code == 409


def test_the_api_finishes_approves_and_reopens_a_design(api_client_for, owner, workspace,
                                                        order, line, design_template,
                                                        sent_tasks):
    """The editor's finish, approve and reopen through the API, checked the same way."""
    api = api_client_for(owner)
    base = f"/api/v1/orders/{order.pk}/lines/{line.pk}/design/"
    assert api.get(base, {"side": "front"}).status_code == 404  # nothing saved yet
    outside = {"side": "front", "layers": [{**TEXT, "box": [7, 0.5, 4.5, 2.5]}]}
    before = _snapshot(workspace, order)
    refused = api.post(base, outside, format="json")
    assert refused.status_code == 400 and _snapshot(workspace, order) == before
    state = {"layers": [{**TEXT, "text": "Bea"}]}
    done = api.post(base, {"side": "front", **state}, format="json",
                    HTTP_IDEMPOTENCY_KEY="finish-1")
    assert done.status_code == 202, done.content
    assert done.json()["layers"] == state["layers"]
    _run(workspace, order)
    with scope(workspace=workspace):
        pf = PrintFile.objects.get(line_item=line, side="front")
    assert api.post(base + "approve/", {"side": "front"}, format="json").status_code == 400
    approved = api.post(base + "approve/", {"side": "front", "print_file_id": pf.pk},
                        format="json")
    assert approved.status_code == 200 and approved.json()["approved_print_file_id"] == pf.pk
    assert api.get(base, {"side": "front"}).json()["approved_print_file_id"] == pf.pk
    assert api.post(base, {"side": "front", **state}, format="json").status_code == 409
    reopened = api.post(base + "approve/", {"side": "front", "reopen": True}, format="json")
    assert reopened.status_code == 200 and reopened.json()["approved_print_file_id"] is None


def test_the_panel_links_to_the_editor_and_the_page_prefills_the_buyer(
        client_for, owner, order, line, design_template):
    c = client_for(owner)
    panel = c.get(f"/orders/{order.pk}/print-files/").content.decode()
    assert f'href="{_url(order, line)}"' in panel
    page = c.get(_url(order, line)).content.decode()
    assert 'id="design-data" type="application/json"' in page
    assert 'value="Ana"' in page  # the buyer's personalisation, prefilled
    assert "vendor/konva/konva.min.js" in page and "js/design-3d.js" in page
    assert 'data-shape="plane"' in page


def test_the_openapi_schema_documents_the_preview(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    op = schema["paths"]["/api/v1/orders/{order_id}/lines/{line_id}/design/preview/"]["post"]
    assert set(op["responses"]) >= {"200", "400", "404", "409"}
    assert "application/octet-stream" in op["responses"]["200"]["content"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"side", "layers"} <= set(schema["components"]["schemas"][ref]["properties"])
