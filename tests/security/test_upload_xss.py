"""Finding 3 of issue #13: stored XSS through claim photos (and every other upload).

An `.html` "photo" declared as image/png was kept under the client's filename
and served inline with a type guessed from the extension, so it ran script on
PodHub's origin. Now every upload is typed by its content: images are decoded
and re-encoded by PodHub (EXIF stripped), stored under generated names, and
served as attachments with nosniff and a sandboxing CSP; CSV files must be
UTF-8 text and are kept under generated names; an oversized body is refused
from its Content-Length before it is read (docs/security.md, "Files people
upload").
"""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_scopes import scope
from PIL import Image

from fulfillment import claims
from fulfillment.models import Claim, ClaimMessage
from orders.models import CsvImport
from podhub.core.exceptions import ValidationFailed
from tests.factories import OrderFactory

SCRIPT = b"<html><body><script>fetch('/api/v1/balance/')</script></body></html>"


def _png(size=(8, 6), *, exif_gps: bool = False, trailer: bytes = b"") -> bytes:
    img = Image.new("RGB", size, "red")
    buf = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"  # Make
        exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: latitude
        img.save(buf, "JPEG", exif=exif.tobytes())
    else:
        img.save(buf, "PNG")
    return buf.getvalue() + trailer


@pytest.fixture
def shipped(workspace):
    return OrderFactory(workspace=workspace, state="shipped", lines=1)


def _open_claim(client, order, *files):
    return client.post(f"/orders/{order.pk}/fulfillment/claims/",
                       {"kind": "damaged", "message": "Broken", "photos": list(files)})


def _messages(workspace, order):
    with scope(workspace=workspace):
        return list(ClaimMessage.objects.filter(claim__order=order).exclude(photo=""))


def test_an_html_file_declared_as_a_png_is_refused_and_nothing_is_kept(
        workspace, owner, client_for, shipped):
    client = client_for(owner)
    evil = SimpleUploadedFile("damage.html", SCRIPT, content_type="image/png")
    response = _open_claim(client, shipped, evil)
    assert response.status_code == 302  # back to the page with the reason
    with scope(workspace=workspace):
        assert not Claim.objects.filter(order=shipped).exists()
    page = client.get(f"/orders/{shipped.pk}/", follow=True).content.decode()
    assert "is not a JPEG, PNG, WebP or GIF image" in page


def test_a_photo_is_re_encoded_under_a_generated_name_without_exif(
        workspace, owner, client_for, shipped):
    client = client_for(owner)
    # a real JPEG with GPS in its EXIF, and HTML appended after the image data
    upload = SimpleUploadedFile('..\\evil"<img src=x onerror=alert(1)>.html',
                                _png(exif_gps=True, trailer=SCRIPT), content_type="text/html")
    assert _open_claim(client, shipped, upload).status_code == 302
    [msg] = _messages(workspace, shipped)
    name = msg.photo.name
    assert "evil" not in name and ".html" not in name and "<" not in name
    assert name.endswith(".jpg")
    stored = msg.photo.open("rb").read()
    assert SCRIPT not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and img.size == (8, 6)
    assert not img.getexif()  # no camera, no GPS
    # the client's name is display text only: no path, no markup characters
    assert msg.photo_name.startswith("evil") and not set('<>"\\/') & set(msg.photo_name)


def test_a_photo_is_served_as_an_attachment_that_cannot_run(
        workspace, owner, client_for, shipped):
    client = client_for(owner)
    assert _open_claim(client, shipped, SimpleUploadedFile(
        "x.png", _png(), content_type="image/png")).status_code == 302
    [msg] = _messages(workspace, shipped)
    response = client.get(f"/claim-photos/{msg.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp


def test_staff_see_claim_photos_in_admin_through_the_same_safe_response(
        workspace, owner, client_for, shipped, admin_user):
    client = client_for(owner)
    _open_claim(client, shipped, SimpleUploadedFile("x.png", _png(), content_type="image/png"))
    [msg] = _messages(workspace, shipped)
    staff = Client()
    staff.force_login(admin_user)
    page = staff.get(f"/admin/fulfillment/claim/{msg.claim_id}/change/").content.decode()
    assert "/media/" not in page  # never a direct storage link
    response = staff.get(f"/admin/fulfillment/claim/photo/{msg.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_decompression_bomb_is_refused_before_decoding(workspace, owner, shipped):
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")  # 400 MP, a few kB
    bomb = SimpleUploadedFile("bomb.png", buf.getvalue(), content_type="image/png")
    with scope(workspace=workspace), pytest.raises(ValidationFailed) as exc:
        claims.claim_open(workspace=workspace, order_id=shipped.pk, kind="damaged",
                          message="x", user=owner.user, photos=[bomb])
    assert "pixels" in exc.value.message


def test_an_oversized_claim_body_is_refused_from_its_content_length(
        workspace, owner, client_for, shipped):
    client = client_for(owner)
    limit = claims.MAX_PHOTOS * claims.MAX_PHOTO_BYTES
    response = client.post(f"/orders/{shipped.pk}/fulfillment/claims/", data=b"x",
                           content_type="multipart/form-data; boundary=zz",
                           CONTENT_LENGTH=str(limit + 2 * 1024 * 1024),
                           headers={"HX-Request": "true"})
    assert response.status_code == 413
    assert "MB" in response.content.decode()


def test_a_csv_upload_must_be_utf8_text_and_is_kept_under_a_generated_name(
        workspace, owner, api_client_for):
    api = api_client_for(owner)
    binary = SimpleUploadedFile("orders.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
                                content_type="text/csv")
    response = api.post("/api/v1/orders/import-csv/", {"file": binary}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["fields"]["file"]
    csv = (b"order_number,sku,quantity,unit_price,ship_name,ship_address1,ship_city,ship_zip,"
           b"ship_country\n"
           b"E-1,MUG,1,12.50,Ana,1 Main St,Springfield,62701,US\n")
    good = SimpleUploadedFile("../<script>x</script>.html", csv, content_type="text/html")
    response = api.post("/api/v1/orders/import-csv/", {"file": good}, format="multipart")
    assert response.status_code == 202, response.content
    with scope(workspace=workspace):
        job = CsvImport.objects.get(pk=response.json()["id"])
    assert "script" not in job.file.name and job.file.name.endswith(".csv")
    assert "<" not in job.filename and "/" not in job.filename


def test_an_oversized_csv_body_is_refused_from_its_content_length(owner, api_client_for):
    from orders.csv_import import MAX_BYTES

    response = api_client_for(owner).generic(
        "POST", "/api/v1/orders/import-csv/", b"x",
        content_type="multipart/form-data; boundary=zz",
        CONTENT_LENGTH=str(MAX_BYTES + 2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
