"""Preflight and untrusted input: every bad input is refused with a reason, and
nothing crashes (the worker that renders stays alive)."""

import io
import socket
import struct
import zlib

import pytest
from PIL import Image

from fulfillment.printfiles import fonts, loading
from fulfillment.printfiles.loading import fetch_url, open_image, read_capped
from fulfillment.printfiles.problems import Code, ImageRefused, Severity
from fulfillment.printfiles.render import render
from fulfillment.printfiles.spec import parse_spec
from tests.fulfillment.engine_fixtures import photo, png_bytes
from tests.stub_server import Answer, StubServer

SPEC = parse_spec({"width_in": 4, "height_in": 3, "layers": [
    {"type": "image", "key": "Photo", "box": [0, 0, 4, 2], "required": True},
    {"type": "text", "key": "Name", "box": [0, 2, 4, 1], "size_pt": 40, "min_size_pt": 20,
     "required": True},
]})


def codes(result):
    return [p.code for p in result.problems]


def test_a_good_order_has_no_problems():
    result = render(SPEC, values={"Name": "Ana"}, images={"Photo": photo((1200, 600))})
    assert result.ok and result.problems == []


def test_low_resolution_photo_names_its_dpi_and_the_size_needed():
    result = render(SPEC, values={"Name": "Ana"}, images={"Photo": photo((400, 200))})

    [problem] = result.problems
    assert problem.code == Code.LOW_RESOLUTION and problem.is_error
    assert "400 × 200 px" in problem.message
    assert "100 DPI" in problem.message
    assert "at least 600 × 300 px" in problem.message


def test_draft_decoded_jpeg_is_judged_at_its_original_resolution():
    buf = io.BytesIO()
    photo((2400, 1200)).save(buf, "JPEG", quality=90)
    loaded = open_image(buf.getvalue(), draft_size=(600, 300))
    assert loaded.image.width < 2400  # decoded at a reduced scale ...

    result = render(SPEC, values={"Name": "Ana"}, images={"Photo": loaded})

    assert result.problems == []  # ... but 2400 px over 4 in is 600 DPI


def test_text_still_overflowing_at_minimum_size():
    result = render(SPEC, values={"Name": "Wolfeschlegelsteinhausenbergerdorff Senior"},
                    images={"Photo": photo((1200, 600))})

    [problem] = result.problems
    assert problem.code == Code.TEXT_OVERFLOW
    assert "minimum size 20 pt" in problem.message
    assert problem.layer == "Name"


def test_missing_required_fields():
    result = render(SPEC, values={"Name": "  "})

    assert codes(result) == [Code.MISSING_FIELD, Code.MISSING_FIELD]
    assert "\"Photo\" is required" in result.problems[0].message


def test_characters_no_font_has_are_reported():
    result = render(SPEC, values={"Name": "Ana \U000f0001"}, images={"Photo": photo((1200, 600))})
    assert codes(result) == [Code.MISSING_GLYPHS]


def test_without_raqm_rtl_and_emoji_get_a_clear_warning(monkeypatch):
    monkeypatch.setattr(fonts, "HAS_RAQM", False)

    result = render(SPEC, values={"Name": "שלום 👍🏽"}, images={"Photo": photo((1200, 600))})

    [problem] = result.problems
    assert problem.code == Code.NO_COMPLEX_LAYOUT
    assert problem.severity == Severity.WARNING
    assert "raqm" in problem.message


def test_refused_image_becomes_the_layers_problem():
    try:
        open_image(b"GIF89a" + b"\0" * 64)
    except ImageRefused as exc:
        refused = exc
    result = render(SPEC, values={"Name": "Ana"}, images={"Photo": refused})
    assert codes(result) == [Code.UNSUPPORTED_IMAGE]
    assert result.problems[0].layer == "Photo"


# --- untrusted bytes ----------------------------------------------------------------


def _refused(fn, *args, **kwargs) -> ImageRefused:
    with pytest.raises(ImageRefused) as exc:
        fn(*args, **kwargs)
    return exc.value


def test_corrupt_and_truncated_images():
    data = png_bytes(photo((200, 200)))
    assert _refused(open_image, data[: len(data) // 2]).code == Code.CORRUPT_IMAGE
    assert _refused(open_image, b"\x89PNG\r\n\x1a\n" + b"garbage" * 10).code in (
        Code.CORRUPT_IMAGE, Code.UNSUPPORTED_IMAGE)
    assert _refused(open_image, b"").code == Code.CORRUPT_IMAGE


def test_unsupported_formats_are_refused():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "BMP")
    refused = _refused(open_image, buf.getvalue())
    assert refused.code == Code.UNSUPPORTED_IMAGE
    assert "PNG, JPEG" in refused.message


def test_svg_with_a_script_is_refused_unparsed():
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
           b'height="10"><script>alert(document.cookie)</script><rect width="10" '
           b'height="10"/></svg>')
    refused = _refused(open_image, svg)
    assert refused.code == Code.SVG_REFUSED
    assert "scripts" in refused.message
    assert _refused(open_image, b"\xef\xbb\xbf  <svg onload='x()'></svg>").code == \
        Code.SVG_REFUSED


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width x height: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _png_header_only(60_000, 60_000)  # 3.6 billion pixels, 10 GB decoded
    refused = _refused(open_image, bomb)
    assert refused.code == Code.TOO_MANY_PIXELS
    assert "3,600 million pixels" in refused.message
    assert "decompression bomb" in refused.message


def test_pillows_own_bomb_guard_is_reported_the_same_way(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    refused = _refused(open_image, png_bytes(photo((100, 100))))  # 10 000 px > Pillow's limit
    assert refused.code == Code.TOO_MANY_PIXELS


class EndlessUpload(io.RawIOBase):
    """A 200 MB upload that is never in memory: counts what was read."""

    def __init__(self, total: int):
        self.total, self.served = total, 0

    def readable(self):
        return True

    def read(self, n=-1):
        n = min(n if n > 0 else 1 << 20, self.total - self.served)
        self.served += n
        return b"\0" * n


def test_a_200_mb_upload_is_refused_without_reading_it_all():
    upload = EndlessUpload(200 * 1024 * 1024)

    refused = _refused(read_capped, upload, max_bytes=50 * 1024 * 1024)

    assert refused.code == Code.TOO_LARGE
    assert upload.served <= 50 * 1024 * 1024 + loading.CHUNK


def test_an_upload_declaring_200_mb_is_refused_before_any_read():
    upload = EndlessUpload(200 * 1024 * 1024)
    upload.size = 200 * 1024 * 1024  # as Django's UploadedFile says

    refused = _refused(read_capped, upload, max_bytes=50 * 1024 * 1024)

    assert upload.served == 0
    assert "200 MB" in refused.message


# --- downloads (through the outbound HTTP policy; a real server on 127.0.0.1) -----------


def test_url_download_returns_the_image_bytes():
    body = png_bytes(photo((10, 10)))
    with StubServer({"/p.png": Answer(200, {"Content-Type": "image/png"}, body)}) as cdn:
        assert fetch_url(f"{cdn.url}/p.png") == body


def test_url_download_checks_content_type_size_and_status():
    routes = {
        "/html": Answer(200, {"Content-Type": "text/html"}, b"<html>"),
        "/svg": Answer(200, {"Content-Type": "image/svg+xml"}, b"<svg/>"),
        "/huge": Answer(200, {"Content-Type": "image/png",
                              "Content-Length": str(300 * 1024 * 1024)}, iter([b""])),
        # no length given: counted as it streams
        "/endless": Answer(200, {"Content-Type": "image/jpeg"}, iter([b"\0" * (1 << 20)] * 100)),
        "/gone": Answer(404),
    }
    with StubServer(routes) as cdn:
        assert _refused(fetch_url, f"{cdn.url}/html").code == Code.UNSUPPORTED_IMAGE
        assert _refused(fetch_url, f"{cdn.url}/svg").code == Code.SVG_REFUSED
        huge = _refused(fetch_url, f"{cdn.url}/huge")
        assert huge.code == Code.TOO_LARGE and "300 MB" in huge.message
        endless = _refused(fetch_url, f"{cdn.url}/endless", max_bytes=5 << 20)
        assert endless.code == Code.TOO_LARGE
        assert endless.message == "The image is larger than the 5 MB limit."
        assert "404" in _refused(fetch_url, f"{cdn.url}/gone").message


def test_only_public_http_urls_are_fetched(settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    assert "http and https" in _refused(fetch_url, "file:///etc/passwd").message
    assert "private" in _refused(fetch_url, "http://127.0.0.1:9/x.png").message


def test_a_url_that_never_answers_times_out():
    # A listening socket that never accepts: the TCP handshake completes in the
    # kernel, then no byte ever comes back.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    try:
        refused = _refused(fetch_url, f"http://127.0.0.1:{port}/photo.jpg", timeout=0.5)
    finally:
        server.close()
    assert refused.code == Code.DOWNLOAD_FAILED
    assert "did not answer within 0.5 seconds" in refused.message
