"""Seller-supplied artwork (issue 17, item 1): per line and side, a file or a link becomes
the side's next print-file version, preflighted like a render; a refused one stores
nothing and leaves the order as it was."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope
from fpdf import FPDF
from PIL import Image

from fulfillment.models import DesignTemplate, PrintFile, Render, RenderStatus
from fulfillment.printfiles import artwork, services
from fulfillment.printfiles.problems import Code
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, Order, OrderEvent, OrderState
from podhub.core.exceptions import NotFound, ValidationFailed
from quotes.models import ArtworkSource
from tests.fulfillment.conftest import MUG_SPEC
from tests.fulfillment.test_preflight import _png_header_only
from tests.stub_server import Answer, StubServer

pytestmark = [pytest.mark.django_db]
SELLER = Actor.system("test seller")


def png(size=(1700, 700), mode="RGB", colour=(20, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour if mode != "CMYK" else (0, 80, 90, 0)).save(
        buf, "JPEG" if mode == "CMYK" else "PNG")
    return buf.getvalue()


def pdf(pages=1, size_in=(8.5, 3.5)) -> bytes:
    doc = FPDF(unit="in", format=size_in)
    for _ in range(pages):
        doc.add_page()
        doc.set_fill_color(200, 0, 0)
        doc.rect(0.5, 0.5, 2, 2, "F")
    return bytes(doc.output())


def upload(data: bytes, name="art.png", content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def supply(workspace, order, line, **kwargs):
    kwargs.setdefault("side", "front")
    with scope(workspace=workspace):
        return artwork.artwork_supply(workspace=workspace, order_id=order.pk, line_id=line.pk,
                                      actor=SELLER, **kwargs)


def snapshot(workspace, order):
    with scope(workspace=workspace):
        o = Order.objects.get(pk=order.pk)
        return ((o.state, o.hold_reason, o.hold_message, o.updated_at),
                list(PrintFile.objects.filter(order=order).values_list("pk", flat=True)),
                OrderEvent.objects.filter(order=order).count())


def test_uploaded_png_becomes_the_next_version_and_releases_the_hold(workspace, held, line,
                                                                     sent_tasks):
    pf = supply(workspace, held, line, upload=upload(png()))

    with scope(workspace=workspace):
        held.refresh_from_db()
        assert (pf.version, pf.side, pf.source, pf.has_errors) == (2, "front", "seller", False)
        assert (pf.width_px, pf.height_px, pf.dpi, pf.format) == (1700, 700, 200, "png")
        assert pf.file.read() == png()  # a plain RGB PNG is kept byte for byte
        assert pf.inputs["artwork"] == {"from": "upload", "name": "art.png", "kind": "png"}
        assert held.state == OrderState.TO_ORDER and held.hold_reason == ""
        assert [pf.pk] == [f.pk for f in services.newest_print_files(held)]
        assert OrderEvent.objects.filter(order=held, type="order.note_added",
                                         message__contains="Artwork added for item 1").exists()
        # a later render (the buyer's order updated) leaves the seller's side alone
        services.render_request(order_id=held.pk, workspace=workspace, reason="order.updated")
        for job in Render.objects.filter(order=held, status=RenderStatus.PENDING):
            assert services.render_run(render_id=job.pk) == "done"
        assert [pf.pk] == [f.pk for f in services.newest_print_files(held)]


def test_each_artwork_is_a_new_version_of_its_side(workspace, held, line):
    first = supply(workspace, held, line, upload=upload(png()))
    second = supply(workspace, held, line, upload=upload(png(colour=(0, 0, 0))))

    assert (first.version, second.version) == (2, 3)
    with scope(workspace=workspace):
        assert PrintFile.objects.filter(line_item=line, side="front").count() == 3
        assert services.newest_print_files(held)[0].pk == second.pk


def test_seller_artwork_replaces_the_template_render_of_its_side(workspace, order, line,
                                                                 template, sent_tasks):
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)
        rendered = PrintFile.objects.get(line_item=line)
    assert rendered.source == "render"

    pf = supply(workspace, order, line, upload=upload(png((600, 300))))  # 2 × 1 in at 300 DPI

    assert (pf.version, pf.dpi, pf.problems) == (2, 300, [])
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=SELLER, changes={
            "lines": {line.pk: {"personalization": [{"key": "Name", "value": "Bo"}]}}})
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)
        assert services.newest_print_files(order)[0].pk == pf.pk


def test_a_one_page_pdf_is_drawn_at_300_dpi(workspace, held, line):
    pf = supply(workspace, held, line, upload=upload(pdf(), "art.pdf", "application/pdf"))

    assert (pf.width_px, pf.height_px, pf.dpi, pf.format) == (2550, 1050, 300, "png")
    assert pf.inputs["artwork"]["kind"] == "pdf" and not pf.has_errors
    with scope(workspace=workspace):
        pf.file.open("rb")
        assert Image.open(pf.file).size == (2550, 1050)
        pf.file.close()


def test_a_link_is_fetched_through_the_outbound_policy(workspace, held, line):
    with StubServer({"/art.png": Answer(200, {"Content-Type": "image/png"}, png())}) as cdn:
        pf = supply(workspace, held, line, url=f"{cdn.url}/art.png")
    assert pf.inputs["artwork"]["from"] == "link" and not pf.has_errors


def test_preflight_names_low_resolution_bad_fit_and_cmyk(workspace, held, line):
    low = supply(workspace, held, line, upload=upload(png((850, 350))))
    assert [p["code"] for p in low.problems] == [Code.LOW_RESOLUTION]
    assert "100 DPI, below the 150 DPI minimum" in low.problems[0]["message"]
    assert "at least 1275 × 525 px" in low.problems[0]["message"]
    with scope(workspace=workspace):
        held.refresh_from_db()
    assert held.hold_reason == HoldReason.PREFLIGHT and "100 DPI" in held.hold_message

    square = supply(workspace, held, line, upload=upload(png((1700, 1700))))
    assert [(p["code"], p["severity"]) for p in square.problems] == [(Code.NOT_FITTING,
                                                                      "error")]
    assert "2550 × 1050 px" in square.problems[0]["message"]

    cmyk = supply(workspace, held, line, upload=upload(png((1700, 700), "CMYK"), "a.jpg",
                                                       "image/jpeg"))
    assert [(p["code"], p["severity"]) for p in cmyk.problems] == [(Code.COLOUR_CONVERTED,
                                                                    "warning")]
    assert cmyk.format == "jpeg" and not cmyk.has_errors
    with scope(workspace=workspace):
        cmyk.file.open("rb")
        assert Image.open(cmyk.file).mode == "RGB"  # converted to sRGB for printing
        cmyk.file.close()
        held.refresh_from_db()
    assert held.state == OrderState.TO_ORDER  # a warning does not hold


def _refused(workspace, order, line, **kwargs) -> artwork.ArtworkRefused:
    before = snapshot(workspace, order)
    with pytest.raises(artwork.ArtworkRefused) as caught:
        supply(workspace, order, line, **kwargs)
    assert snapshot(workspace, order) == before  # nothing stored, the order unchanged
    return caught.value


SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
SVG_OUTSIDE = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
               b'xmlns:xlink="http://www.w3.org/1999/xlink"><image '
               b'xlink:href="http://169.254.169.254/latest/meta-data"/></svg>')


@pytest.mark.parametrize(("data", "code", "reason"), [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 200, Code.UNSUPPORTED_IMAGE, "damaged"),
    (png()[:400], Code.CORRUPT_IMAGE, "damaged or cut short"),
    (_png_header_only(60_000, 60_000), Code.TOO_MANY_PIXELS, "decompression bomb"),
    (SVG_SCRIPT, Code.SVG_REFUSED, "this one contains a script"),
    (SVG_OUTSIDE, Code.SVG_REFUSED, "refers to outside files"),
    (pdf(pages=3), Code.PDF_REFUSED, "The PDF has 3 pages"),
    (pdf(size_in=(200, 200)), Code.TOO_MANY_PIXELS, "60000 × 60000 px"),
    (b"%PDF-1.7 not really", Code.CORRUPT_IMAGE, "The PDF cannot be read"),
    (b"GIF89a" + b"\0" * 100, Code.UNSUPPORTED_IMAGE, "Not a PNG, JPEG"),
], ids=["not-an-image", "cut-short", "bomb", "svg-script", "svg-outside", "pdf-many-pages",
        "pdf-huge-page", "pdf-corrupt", "gif-bytes"])
def test_bad_files_are_refused_with_the_reason(workspace, held, line, data, code, reason):
    # named like a PNG whatever it is: the content decides
    refused = _refused(workspace, held, line, upload=upload(data, "art.png"))
    assert refused.reason == code and refused.status == 400
    assert reason in refused.message


def test_an_oversized_file_is_refused_before_it_is_read(workspace, held, line, settings):
    settings.PRINTFILES_MAX_UPLOAD_MB = 1
    refused = _refused(workspace, held, line, upload=upload(b"\x89PNG" + b"\0" * (2 << 20)))
    assert refused.reason == Code.TOO_LARGE and refused.status == 413
    assert "the limit is 1 MB" in refused.message


def test_a_link_to_a_private_address_is_refused_by_the_outbound_policy(workspace, held, line,
                                                                       settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    with StubServer({"/art.png": Answer(200, {"Content-Type": "image/png"}, png())}) as cdn:
        refused = _refused(workspace, held, line, url=f"{cdn.url}/art.png")
        assert cdn.received == []  # never connected
    assert refused.reason == Code.DOWNLOAD_FAILED and "private" in refused.message
    refused = _refused(workspace, held, line, url="file:///etc/passwd")
    assert "http and https" in refused.message


def test_a_link_to_a_web_page_or_svg_is_refused(workspace, held, line):
    routes = {"/page": Answer(200, {"Content-Type": "text/html"}, b"<html></html>"),
              "/art.svg": Answer(200, {"Content-Type": "image/svg+xml"}, SVG_SCRIPT)}
    with StubServer(routes) as cdn:
        assert "it sent text/html" in _refused(workspace, held, line,
                                               url=f"{cdn.url}/page").message
        assert _refused(workspace, held, line, url=f"{cdn.url}/art.svg").reason == \
            Code.SVG_REFUSED


def test_the_target_must_take_seller_artwork(workspace, held, line, mug):
    with pytest.raises(ValidationFailed, match="no side \"back\""):
        supply(workspace, held, line, side="back", upload=upload(png()))
    with pytest.raises(ValidationFailed, match="one of the two"):
        supply(workspace, held, line)
    mug.artwork_source = ArtworkSource.TEMPLATE
    mug.save()
    before = snapshot(workspace, held)
    with pytest.raises(ValidationFailed, match="printed from its design template"):
        supply(workspace, held, line, upload=upload(png()))
    assert snapshot(workspace, held) == before


def test_a_product_whose_artwork_comes_from_the_seller_ignores_its_templates(
        workspace, order, line, variant, sent_tasks):
    DesignTemplate.objects.create(product=variant.product, side="front", spec=MUG_SPEC)
    variant.product.artwork_source = ArtworkSource.SELLER
    variant.product.save()
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)
        [pf] = services.newest_print_files(order)
    assert (pf.source, pf.problems[0]["code"]) == ("buyer", Code.NO_TEMPLATE_NO_FILE)


def test_a_submitted_order_takes_no_artwork(workspace, held, line):
    with scope(workspace=workspace):
        Order.objects.filter(pk=held.pk).update(state=OrderState.IN_PRODUCTION,
                                                submitted_at=held.placed_at)
    before = snapshot(workspace, held)
    with pytest.raises(services.PrintFilesLocked):
        supply(workspace, held, line, upload=upload(png()))
    assert snapshot(workspace, held) == before


def test_another_workspaces_line_is_not_found(workspace, other_workspace, held, line):
    with scope(workspace=other_workspace), pytest.raises(NotFound):
        artwork.artwork_supply(workspace=other_workspace, order_id=held.pk, line_id=line.pk,
                               side="front", actor=SELLER, upload=upload(png()))
