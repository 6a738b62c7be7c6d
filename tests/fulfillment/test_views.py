"""The order page's print-file panel, the editor, downloads; files private to their workspace."""

import io
import zipfile

import pytest
from django_scopes import scope
from PIL import Image

from fulfillment.models import PrintFile, Render, RenderStatus
from fulfillment.printfiles import services
from orders import services as order_services
from orders.events import Actor
from tests.fulfillment.conftest import jpeg
from tests.tenancy import MARKER, find_leaks

pytestmark = [pytest.mark.django_db]


def _render_all(workspace, order):
    with scope(workspace=workspace):
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)


@pytest.fixture
def rendered(workspace, order, line, template, downloads, sent_tasks):
    downloads["https://cdn.test/p.jpg"] = jpeg()
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"images": [{"key": "Photo", "url": "https://cdn.test/p.jpg"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
    _render_all(workspace, order)
    with scope(workspace=workspace):
        return PrintFile.objects.get()


def test_panel_shows_preview_versions_editor_and_downloads(client_for, owner, order, rendered):
    resp = client_for(owner).get(f"/orders/{order.pk}/print-files/", HTTP_HX_REQUEST="true")

    html = resp.content.decode()
    assert resp.status_code == 200
    assert f"/print-files/{rendered.pk}/preview/" in html
    assert f"/print-files/{rendered.pk}/download/" in html
    assert f"/orders/{order.pk}/print-files.zip" in html
    assert 'data-testid="personalization-editor"' in html
    assert 'data-field="Name" maxlength="500"' in html and 'value="Ana"' in html
    assert "600 × 300 px · 300 DPI · PNG" in html


def test_preflight_problems_are_listed_with_their_reason(workspace, client_for, owner, order,
                                                         line, template, sent_tasks):
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(),
                                  changes={"lines": {line.pk: {"personalization": []}}})
        services.render_request(order_id=order.pk, workspace=workspace)
    _render_all(workspace, order)

    html = client_for(owner).get(f"/orders/{order.pk}/print-files/").content.decode()

    assert 'data-code="missing_field"' in html
    assert "Fix: &quot;Name&quot; is required but empty." in html
    assert "Name *" in html  # the template's required field is in the editor


def test_download_is_the_png_named_by_order_line_and_side(client_for, owner, rendered):
    resp = client_for(owner).get(f"/print-files/{rendered.pk}/download/")

    assert resp.status_code == 200
    assert resp["Content-Disposition"] == \
        'attachment; filename="order-1001_line-1_front_v1.png"'
    img = Image.open(io.BytesIO(b"".join(resp.streaming_content)))
    assert img.format == "PNG" and img.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_zip_holds_the_newest_file_of_each_line_and_side(workspace, client_for, owner, order,
                                                         rendered):
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
    _render_all(workspace, order)

    resp = client_for(owner).get(f"/orders/{order.pk}/print-files.zip")

    assert resp.status_code == 200
    assert 'filename="order-1001-print-files.zip"' in resp["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content)))
    assert archive.namelist() == ["order-1001_line-1_front_v2.png"]
    assert archive.read("order-1001_line-1_front_v2.png").startswith(b"\x89PNG")


def test_editing_saves_the_personalisation_and_queues_a_render(
        workspace, client_for, owner, order, line, rendered, sent_tasks,
        django_capture_on_commit_callbacks):
    sent_tasks.clear()
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            f"/orders/{order.pk}/print-files/lines/{line.pk}/personalization/",
            {"key": ["Name"], "value": ["Beatriz"], "image_key": ["Photo"],
             "image_url": ["https://cdn.test/p.jpg"]}, HTTP_HX_REQUEST="true")

    # the whole order page comes back, so its items card shows the new name too
    assert resp.status_code == 204
    assert resp["HX-Redirect"] == f"/orders/{order.pk}/#print-files"
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Saved; re-rendering." in page
    assert "<dd>Beatriz</dd>" in page
    with scope(workspace=workspace):
        line.refresh_from_db()
        assert line.personalization == [{"key": "Name", "value": "Beatriz"}]
        job = Render.objects.get(status=RenderStatus.PENDING)
    assert sent_tasks == [(workspace.pk, job.pk)]
    html = client_for(owner).get(f"/orders/{order.pk}/print-files/").content.decode()
    assert 'data-testid="rendering"' in html  # and the panel polls until it is done
    assert 'hx-trigger="every 2s"' in html
    # sent from that very page, a link differing by its #fragment would only scroll:
    # htmx reloads the page instead
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            f"/orders/{order.pk}/print-files/lines/{line.pk}/personalization/",
            {"key": ["Name"], "value": ["Bea"]}, HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver/orders/{order.pk}/#print-files")
    assert again.status_code == 204 and again["HX-Refresh"] == "true"
    assert "HX-Redirect" not in again


def test_rerender_button_queues_a_render(workspace, client_for, owner, order, line, rendered,
                                         sent_tasks):
    resp = client_for(owner).post(f"/orders/{order.pk}/print-files/render/",
                                  {"line_id": line.pk})

    assert resp.status_code == 302
    with scope(workspace=workspace):
        assert Render.objects.filter(status=RenderStatus.PENDING).count() == 1


def test_after_submission_the_editor_is_read_only_with_the_reason(
        workspace, client_for, owner, order, line, rendered):
    with scope(workspace=workspace):
        order_services.order_mark_paid(order_id=order.pk, actor=Actor.system())
        order_services.order_submit(order_id=order.pk, actor=Actor.system())
    client = client_for(owner)

    html = client.get(f"/orders/{order.pk}/print-files/").content.decode()
    edit = client.post(f"/orders/{order.pk}/print-files/lines/{line.pk}/personalization/",
                       {"key": ["Name"], "value": ["Zed"]}, HTTP_HX_REQUEST="true")
    again = client.post(f"/orders/{order.pk}/print-files/render/", HTTP_HX_REQUEST="true")

    assert "personalization-editor" not in html and 'data-testid="rerender"' not in html
    assert "was submitted to production" in html and "can no longer be changed" in html
    assert edit.status_code == 409 and "submitted to production" in edit.content.decode()
    assert again.status_code == 409
    assert client.get(f"/print-files/{rendered.pk}/download/").status_code == 200


def test_other_workspaces_get_404_for_everything(client_for, other_owner, order, line,
                                                  rendered):
    client = client_for(other_owner)
    for url in (f"/orders/{order.pk}/print-files/", f"/orders/{order.pk}/print-files.zip",
                f"/print-files/{rendered.pk}/download/", f"/print-files/{rendered.pk}/preview/",
                f"/print-files/{rendered.pk}/mockup/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/orders/{order.pk}/print-files/render/").status_code == 404
    assert client.post(f"/orders/{order.pk}/print-files/lines/{line.pk}/personalization/",
                       {"key": ["Name"], "value": ["x"]}).status_code == 404


def test_signed_out_visitors_are_sent_to_login(client, rendered):
    resp = client.get(f"/print-files/{rendered.pk}/download/")
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_the_tenancy_walker_covers_the_print_file_routes(owner, other_owner, client_for,
                                                         api_client_for):
    with scope(workspace=owner.workspace):
        owner.workspace.name = f"A {MARKER}"
        owner.workspace.save()

    problems = find_leaks(a_membership=owner, b_dashboard=client_for(other_owner),
                          b_api=api_client_for(other_owner))

    # (other apps' routes are the whole-site walk's business: tests/podhub/test_tenancy.py)
    assert [p for p in problems if "print-files" in p] == []
