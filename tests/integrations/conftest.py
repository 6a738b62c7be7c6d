"""Fixtures for the Shopify integration: a real sandbox store over HTTP on a free port."""

import json
import secrets

import pytest
from django.test import Client
from django_scopes import scope

from integrations.services.inbox import inbox_drain
from integrations.shopify import connect as shopify_connect
from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import SandboxShop, Settings, sign
from tests.live import worker  # noqa: F401 - the live tests' Celery worker fixture

SHOP = "podhub-sandbox.myshopify.com"
TOKEN = "shpat_test_token"
SECRET = "whsec_test_secret"


@pytest.fixture(autouse=True)
def _fresh_connection_cache():
    shopify_connect._CACHE.clear()
    yield
    shopify_connect._CACHE.clear()


@pytest.fixture
def sandbox():
    """The sandbox store on 127.0.0.1:<free port>. Webhooks are sent when a test says so."""
    shop = SandboxShop(shop_domain=SHOP, access_token=TOKEN,
                       settings=Settings(bucket_max=1000, restore_rate=5000))
    server = SandboxServer(shop)
    server.httpd_thread = None
    import threading

    t = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    t.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def webhook_headers(topic: str, body: bytes, *, secret: str = SECRET, shop: str = SHOP,
                    event_id: str | None = None) -> dict:
    return {
        "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Event-Id": event_id or secrets.token_hex(8),
        "X-Shopify-Webhook-Id": secrets.token_hex(8), "X-Shopify-API-Version": "2025-10",
    }


def post_webhook(client: Client, topic: str, payload, **kwargs):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/webhooks/shopify/", data=body, content_type="application/json",
                       headers=webhook_headers(topic, body, **kwargs))


@pytest.fixture
def webhook_client():
    return Client()


@pytest.fixture
def connection(workspace, owner, sandbox, webhook_client):
    """A store of `workspace` connected to the sandbox; sandbox webhooks go through the
    Django test client (same database transaction as the test)."""
    with scope(workspace=workspace):
        conn = shopify_connect.store_connect_shopify(
            workspace=workspace, shop_domain=SHOP, access_token=TOKEN, webhook_secret=SECRET,
            api_base=sandbox.url, name="Sandbox Shopify store", start_import=False)

    def send(url, body, headers):
        return webhook_client.post("/webhooks/shopify/", data=body,
                                   content_type="application/json", headers=headers).status_code

    sandbox.shop.subscribe(secret=SECRET, sender=send)
    return conn


@pytest.fixture
def sync(connection, sandbox, workspace, django_capture_on_commit_callbacks):
    """Deliver the store's webhooks and process them, with what follows each commit."""

    def run():
        sandbox.shop.deliver_due()
        with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
            inbox_drain(connection_id=connection.pk)

    return run
