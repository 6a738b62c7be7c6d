"""Issue 13, finding 4: SSRF through store URLs.

The WooCommerce store URL and the Shopify API base accepted loopback and private hosts, a
trailing `#` cut off the API path PodHub appends, the store's keys were sent along, and the
internal service's answer was stored in the import job's error and shown to the seller.
Now every store URL passes the outbound HTTP policy before anything is sent, and only a
store's own error shape (WordPress' {code, message}) is ever copied into a message.

Hostile and internal services are real servers on 127.0.0.1.
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scope, scopes_disabled

from integrations.models import ImportJob, JobStatus, StoreConnection
from integrations.services.imports import import_job_run
from integrations.woocommerce import services as woo
from integrations.woocommerce.client import WooClient
from orders.models import Store
from podhub.core.exceptions import ValidationFailed
from tests.stub_server import Answer, Received, StubServer

pytestmark = pytest.mark.django_db

KEY, SECRET = "ck_victim_key", "cs_victim_secret"
INTERNAL = b"root:x:0:0:root:/root:/bin/bash INTERNAL-ONLY"


def _nothing_stored():
    with scopes_disabled():
        return not Store.objects.exists() and not StoreConnection.objects.exists()


def _sent(server: StubServer) -> bytes:
    return b"\n".join(r.path.encode() + json.dumps(r.headers).encode() + r.body
                      for r in server.received)


def test_a_private_store_url_is_refused_and_the_keys_never_leave(workspace, no_private):
    with StubServer({"/wp-json/wc/v3/orders": Answer(200, {}, b"[]")}) as internal, \
            scope(workspace=workspace), \
            pytest.raises(ValidationFailed, match="not on the public internet"):
        woo.store_connect_woocommerce(workspace=workspace, url=internal.url,
                                      consumer_key=KEY, consumer_secret=SECRET)
    assert internal.received == []
    assert KEY.encode() not in _sent(internal) and _nothing_stored()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data",
                                 "http://[::ffff:127.0.0.1]/", "http://10.0.0.8:8080/shop",
                                 "http://localhost/", "file:///etc/passwd"])
def test_the_dashboard_refuses_internal_store_urls_with_a_reason(workspace, owner, client_for,
                                                                  no_private, url):
    resp = client_for(owner).post("/stores/woocommerce/connect/", {
        "url": url, "consumer_key": KEY, "consumer_secret": SECRET})
    assert resp.status_code == 400
    assert "is not a store address PodHub can use" in resp.content.decode()
    assert _nothing_stored()


@pytest.mark.parametrize("suffix", ["/steal#", "/steal?", "/steal?x=", "/steal%23",
                                    "\\@evil.example"])
def test_an_operator_api_base_cannot_cut_off_our_path(workspace, settings, suffix):
    # even the operator's --api-base must be a plain base URL we can append paths to
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    with StubServer() as hostile:
        base = hostile.url + suffix
        if suffix == "/steal%23":  # an encoded # is a path character: fine, kept as is
            call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                         "shopify", "--shop-domain", "ops.myshopify.com", "--access-token",
                         "t", "--webhook-secret", "s", "--api-base", base, "--no-import")
            with scopes_disabled():
                assert StoreConnection.objects.get().base_url == base
            return
        with pytest.raises(CommandError, match="base URL"):
            call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                         "shopify", "--shop-domain", "ops.myshopify.com", "--access-token",
                         "t", "--webhook-secret", "s", "--api-base", base)
    assert _nothing_stored()


def test_an_operator_api_base_on_a_private_network_is_refused_in_production(workspace,
                                                                            no_private):
    with StubServer() as internal, pytest.raises(CommandError, match="not on the public"):
        call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                     "shopify", "--shop-domain", "ops.myshopify.com", "--access-token", "t",
                     "--webhook-secret", "s", "--api-base", internal.url)
    assert _nothing_stored()


def _store_that_answers(probe: Answer, pages: Answer):
    """A "store" whose key check (per_page=1) and import pages answer as given."""
    def orders(got: Received) -> Answer:
        return probe if "per_page=1&" in got.path or got.path.endswith("per_page=1") \
            else pages
    return StubServer({"/wp-json/wc/v3/orders": orders})


def test_an_internal_answer_is_never_shown_when_connecting(workspace, settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True  # as for the sandboxes: the address is allowed
    for answer in (Answer(404, {"Content-Type": "text/plain"}, INTERNAL),
                   Answer(500, {"Content-Type": "application/json"},
                          json.dumps({"secret": INTERNAL.decode()}).encode())):
        with _store_that_answers(answer, answer) as internal, scope(workspace=workspace), \
                pytest.raises(ValidationFailed) as refused:
            woo.store_connect_woocommerce(workspace=workspace, url=internal.url,
                                          consumer_key=KEY, consumer_secret=SECRET)
        assert "INTERNAL-ONLY" not in refused.value.message
        assert f"HTTP {answer.status}" in refused.value.message
    assert _nothing_stored()


def test_an_internal_answer_is_never_stored_in_the_import_job(workspace, settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    probe = Answer(200, {"Content-Type": "application/json", "X-WP-Total": "0",
                         "X-WP-TotalPages": "0"}, b"[]")
    for failing in (Answer(500, {"Content-Type": "text/html"}, INTERNAL),
                    Answer(404, {"Content-Type": "application/json"},
                           json.dumps({"detail": INTERNAL.decode()}).encode())):
        with _store_that_answers(probe, failing) as internal, scope(workspace=workspace):
            conn = woo.store_connect_woocommerce(
                workspace=workspace, url=internal.url, consumer_key=KEY,
                consumer_secret=SECRET, register_webhooks=False)
            job = ImportJob.objects.filter(connection=conn).latest("pk")
            client = WooClient(url=conn.base_url, consumer_key=KEY,
                               consumer_secret=SECRET, sleep=lambda _: None)
            job = import_job_run(job_id=job.pk, client=client)
            conn.refresh_from_db()
        assert job.error and "INTERNAL-ONLY" not in job.error
        assert "INTERNAL-ONLY" not in conn.last_error
        if failing.status == 404:  # refused for good, not retried forever
            assert job.status == JobStatus.FAILED
        with scope(workspace=workspace):
            StoreConnection.objects.all().delete()
            Store.objects.all().delete()


def test_a_wordpress_error_still_reaches_the_seller(workspace, settings):
    # the store's own REST error shape is what the seller needs to fix the keys
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    refused = Answer(401, {"Content-Type": "application/json"}, json.dumps({
        "code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
        "data": {"status": 401}}).encode())
    with _store_that_answers(refused, refused) as store, scope(workspace=workspace), \
            pytest.raises(ValidationFailed, match="woocommerce_rest_cannot_view"):
        woo.store_connect_woocommerce(workspace=workspace, url=store.url,
                                      consumer_key=KEY, consumer_secret=SECRET)
