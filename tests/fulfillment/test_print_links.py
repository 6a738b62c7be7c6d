"""Signed, expiring print-file links for providers: fetched without a session; a
tampered link is refused (403), an expired one is gone (410)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from django_scopes import scope

from fulfillment.models import PrintFile, Render, RenderStatus
from fulfillment.printfiles import conf, services
from fulfillment.printfiles.signing import signed_url

pytestmark = [pytest.mark.django_db]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def print_file(workspace, order, line, template, sent_tasks) -> PrintFile:
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)
        return PrintFile.objects.get()


def _get(url: str):
    """As a provider: no cookies, no session, only the link."""
    parts = urlsplit(url)
    return Client().get(parts.path + (f"?{parts.query}" if parts.query else ""))


def test_a_signed_link_serves_the_png_to_anyone_holding_it(workspace, print_file, settings):
    settings.PUBLIC_BASE_URL = "https://podhub.example"
    url = signed_url(print_file)
    assert url.startswith("https://podhub.example/files/print/")
    assert str(print_file.pk) in url  # the file it names, readable; the signature guards it

    response = _get(url)

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(PNG_MAGIC)
    with scope(workspace=workspace), print_file.file.open("rb") as fh:
        assert body == fh.read()
    assert response["Cache-Control"] == "private, no-store"
    assert "attachment" in response["Content-Disposition"]


def test_a_tampered_link_is_refused(workspace, print_file):
    url = signed_url(print_file)
    token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[1]
    pk, stamp, signature = token.split(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (f"{pk}:{stamp}:{flipped}",  # the signature changed
                f"{int(pk) + 1}:{stamp}:{signature}",  # another file, same signature
                f"{pk}:{stamp}",  # no signature
                "nonsense"):
        assert _get(f"/files/print/{bad}/").status_code == 403, bad


def test_an_expired_link_is_gone_and_a_fresh_one_works(workspace, print_file):
    life = conf.signed_url_seconds()
    now = timezone.now()
    old = signed_url(print_file, now=now - timedelta(seconds=life + 60))
    fresh_enough = signed_url(print_file, now=now - timedelta(seconds=life - 60))

    assert _get(old).status_code == 410
    assert _get(fresh_enough).status_code == 200


def test_a_deleted_print_file_is_404(workspace, print_file):
    url = signed_url(print_file)
    with scope(workspace=workspace):
        PrintFile.objects.filter(pk=print_file.pk).delete()
    assert _get(url).status_code == 404


def test_files_in_a_bucket_get_the_storages_presigned_url(workspace, print_file):
    """With S3 (query-string auth) the provider goes to the bucket directly, for as long
    as our own link would live."""

    class Bucket:
        querystring_auth = True
        bucket_name = "podhub-print-files"

        def url(self, name, expire=None):
            return f"https://s3.example/{self.bucket_name}/{name}?X-Amz-Expires={expire}"

    print_file.file.storage = Bucket()
    url = signed_url(print_file)
    assert url == (f"https://s3.example/podhub-print-files/{print_file.file.name}"
                   f"?X-Amz-Expires={conf.signed_url_seconds()}")


def test_factory_order_sends_signed_links(workspace, order, line, print_file, settings):
    """What a provider receives for each item: the newest file of each side, as a signed
    link on PODHUB_PUBLIC_URL that answers without a session."""
    from fulfillment import submission
    from fulfillment.models import Submission
    from tests.fulfillment.fulfillment_support import make_provider

    settings.PUBLIC_BASE_URL = "https://podhub.example/"
    provider = make_provider("link-factory")
    with scope(workspace=workspace):
        sub = Submission.objects.create(
            workspace=workspace, order=order, provider=provider, adapter="sandbox",
            reference=f"PH{order.pk}-1", items=[{"line_item_id": line.pk, "quantity": 1,
                                                 "provider_sku": "X-MUG", "cost": "4.00"}])
        sent = submission.factory_order(sub)
    files = sent.items[0].files
    assert [f["side"] for f in files] == ["front"]
    assert files[0]["url"].startswith("https://podhub.example/files/print/")
    assert _get(files[0]["url"]).status_code == 200
