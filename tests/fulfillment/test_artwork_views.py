"""Seller artwork through the dashboard and the API: the on-hold order links straight to
the upload form; refusals answer 400 with the reason (413 when too big), store nothing."""


import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope

from fulfillment import api
from fulfillment.models import PrintFile
from fulfillment.printfiles import views
from orders.models import HoldReason, Order, OrderState
from tests.fulfillment.test_artwork import SVG_SCRIPT, png

pytestmark = [pytest.mark.django_db]


def _files(workspace, order):
    with scope(workspace=workspace):
        return PrintFile.objects.filter(order=order).count()


def _state(workspace, order):
    with scope(workspace=workspace):
        o = Order.objects.get(pk=order.pk)
        return o.state, o.hold_reason


def test_the_held_order_links_straight_to_the_upload_form(client_for, owner, held, line):
    c = client_for(owner)
    page = c.get(f"/orders/{held.pk}/").content.decode()
    assert 'data-testid="next-artwork"' in page and "Add artwork" in page
    assert f'href="/orders/{held.pk}/artwork/"' in page

    fix = c.get(f"/orders/{held.pk}/artwork/")
    form_url = f"/orders/{held.pk}/print-files/lines/{line.pk}/front/artwork/"
    assert fix.status_code == 302 and fix.url == form_url
    form = c.get(form_url).content.decode()
    assert 'data-testid="artwork-form"' in form and 'enctype="multipart/form-data"' in form
    assert "8.5 × 3.5 in: at 300 DPI, 2550 × 1050 px" in form
    assert "add artwork (upload the file or give its link)" in form  # the current problem

    panel = c.get(f"/orders/{held.pk}/print-files/").content.decode()
    assert f'href="{form_url}"' in panel


def test_uploading_from_the_form_releases_the_order(client_for, owner, workspace, held, line):
    c = client_for(owner)
    url = f"/orders/{held.pk}/print-files/lines/{line.pk}/front/artwork/"

    resp = c.post(url, {"file": SimpleUploadedFile("mug.png", png(), "image/png")})

    assert resp.status_code == 302 and resp.url == f"/orders/{held.pk}/#print-files"
    assert _state(workspace, held) == (OrderState.TO_ORDER, "")
    page = c.get(resp.url).content.decode()
    assert "Artwork saved as version 2 of the front: it passes preflight." in page
    assert 'data-testid="next-artwork"' not in page
    panel = c.get(f"/orders/{held.pk}/print-files/").content.decode()
    assert "Your artwork (mug.png)" in panel


def test_a_refused_file_is_shown_with_its_reason_and_nothing_changes(client_for, owner,
                                                                     workspace, held, line):
    url = f"/orders/{held.pk}/print-files/lines/{line.pk}/front/artwork/"
    before = (_files(workspace, held), _state(workspace, held))

    resp = client_for(owner).post(url, {"file": SimpleUploadedFile("logo.png", SVG_SCRIPT,
                                                                   "image/png")})

    assert resp.status_code == 400
    assert "SVG artwork is not accepted: this one contains a script" in resp.content.decode()
    assert (_files(workspace, held), _state(workspace, held)) == before


def test_an_oversized_form_is_refused_unread(client_for, owner, workspace, held, line,
                                             monkeypatch):
    monkeypatch.setattr(views.artwork, "max_upload_bytes", 10_000)
    url = f"/orders/{held.pk}/print-files/lines/{line.pk}/front/artwork/"

    resp = client_for(owner).post(url, {"file": SimpleUploadedFile("big.png", b"x" * 20_000,
                                                                   "image/png")})

    assert resp.status_code == 413
    assert _files(workspace, held) == 1


# --- the API -------------------------------------------------------------------------------


def test_api_upload_answers_the_new_version(api_client_for, owner, workspace, held, line):
    resp = api_client_for(owner).post(
        f"/api/v1/orders/{held.pk}/lines/{line.pk}/artwork/",
        {"side": "front", "file": SimpleUploadedFile("a.png", png(), "image/png")},
        format="multipart")

    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["version"], body["side"], body["source"], body["has_errors"]) == \
        (2, "front", "seller", False)
    assert body["download_url"].endswith(f"/api/v1/print-files/{body['id']}/download/")
    assert _state(workspace, held) == (OrderState.TO_ORDER, "")


def test_a_retried_api_upload_with_its_idempotency_key_makes_one_version(
        api_client_for, owner, workspace, held, line):
    api = api_client_for(owner)

    def upload():
        return api.post(f"/api/v1/orders/{held.pk}/lines/{line.pk}/artwork/",
                        {"side": "front", "file": SimpleUploadedFile("a.png", png(),
                                                                     "image/png")},
                        format="multipart", HTTP_IDEMPOTENCY_KEY="art-1")

    first, again = upload(), upload()
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    with scope(workspace=workspace):
        assert PrintFile.objects.filter(line_item=line, source="seller").count() == 1


def test_api_refusals_say_why(api_client_for, owner, workspace, held, line, settings,
                              monkeypatch):
    c = api_client_for(owner)
    url = f"/api/v1/orders/{held.pk}/lines/{line.pk}/artwork/"

    svg = c.post(url, {"file": SimpleUploadedFile("a.png", SVG_SCRIPT, "image/png")},
                 format="multipart")
    assert svg.status_code == 400
    assert svg.json()["error"]["code"] == "artwork_refused"
    assert svg.json()["error"]["reason"] == "svg_refused"
    assert "contains a script" in svg.json()["error"]["message"]

    nothing = c.post(url, {"side": "front"}, format="multipart")
    assert nothing.status_code == 400 and "one of the two" in nothing.json()["error"]["message"]

    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    private = c.post(url, {"url": "http://10.0.0.7/art.png"}, format="multipart")
    assert private.status_code == 400 and "private" in private.json()["error"]["message"]

    settings.PRINTFILES_MAX_UPLOAD_MB = 1
    big = c.post(url, {"file": SimpleUploadedFile("a.png", b"\x89PNG" + b"\0" * (2 << 20))},
                 format="multipart")
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

    monkeypatch.setattr(api.LineArtworkApi, "max_upload_bytes", 1000)
    unread = c.post(url, {"file": SimpleUploadedFile("a.png", png())}, format="multipart")
    assert unread.status_code == 413

    assert _files(workspace, held) == 1 and _state(workspace, held) == (OrderState.ON_HOLD,
                                                                         HoldReason.PREFLIGHT)


def test_api_schema_documents_the_artwork_upload(api_client_for, owner):
    schema = api_client_for(owner).get("/api/v1/schema/?format=json").json()
    post = schema["paths"]["/api/v1/orders/{order_id}/lines/{line_id}/artwork/"]["post"]
    assert set(post["responses"]) >= {"201", "400", "409", "413"}
    assert "multipart/form-data" in post["requestBody"]["content"]
