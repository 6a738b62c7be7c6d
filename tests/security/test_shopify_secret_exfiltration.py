"""Issue 13, finding 1: the app secret (and shops' tokens) sent to a seller-chosen address.

The install and connect forms took an "API base URL"; the OAuth code exchange and the token
refresh sent `client_id` + `client_secret` there, and the Admin API calls sent the shop's
access token. With the app secret an attacker forges webhooks and OAuth callbacks for every
OAuth-connected shop. Now the endpoints are derived from the validated *.myshopify.com
domain, or from the operator's SHOPIFY_API_BASES; no seller input can move them.

The hostile server is a real server on 127.0.0.1 that records what it receives; the real
shop is the Shopify sandbox (sandboxes/shopify), which signs the OAuth callback with the
app secret as Shopify does.
"""

import importlib
import json
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from django.apps import apps
from django_scopes import scope, scopes_disabled

from integrations.models import StoreConnection
from integrations.shopify import connect as shopify_connect
from orders.models import Store
from tests.integrations.conftest import SHOP, TOKEN
from tests.stub_server import Answer, StubServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile():
    """Answers like a token endpoint and a GraphQL endpoint would, and keeps every body."""
    tokens = Answer(200, {"Content-Type": "application/json"}, json.dumps(
        {"access_token": "shpat_stolen", "scope": "read_orders"}).encode())
    graphql = Answer(200, {"Content-Type": "application/json"}, json.dumps(
        {"data": {"shop": {"id": "gid://shopify/Shop/1"}}}).encode())
    with StubServer({"/admin/oauth/access_token": tokens,
                     "/admin/api/2025-10/graphql.json": graphql}) as server:
        yield server


@pytest.fixture
def app(settings, sandbox):
    settings.SHOPIFY_API_KEY = sandbox.shop.app_key
    settings.SHOPIFY_API_SECRET = sandbox.shop.app_secret
    settings.SHOPIFY_API_BASES = {SHOP: sandbox.url}  # the operator's sandbox mapping
    return settings


def _received(server: StubServer) -> bytes:
    return b"\n".join(r.body + json.dumps(r.headers).encode() for r in server.received)


def test_the_oauth_code_exchange_never_sends_the_app_secret_to_a_seller_chosen_address(
        workspace, owner, client_for, sandbox, app, hostile):
    c = client_for(owner)
    # the attacker, a member of a workspace, starts an install naming its own "API base"
    resp = c.post("/stores/shopify/install/", {"shop_domain": SHOP, "api_base": hostile.url})
    assert resp.status_code == 302
    state = parse_qs(urlparse(resp["Location"]).query)["state"][0]
    assert not resp["Location"].startswith(hostile.url)
    # ... approves the app in a real shop with that state; Shopify signs the callback
    consent = f"{sandbox.url}/admin/oauth/authorize?" + urlencode({
        "client_id": sandbox.shop.app_key, "scope": "read_orders", "state": state,
        "redirect_uri": "http://testserver/stores/shopify/callback/"})
    back = urlparse(httpx.get(consent, follow_redirects=False).headers["location"])
    resp = c.get(f"{back.path}?{back.query}")

    assert resp.status_code == 302
    assert sandbox.shop.app_secret.encode() not in _received(hostile)
    assert hostile.received == []  # nothing at all went there
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get()
    assert conn.access_token.reveal() != "shpat_stolen"
    assert conn.api_base == "" and conn.base_url == sandbox.url


def test_a_pasted_token_is_only_ever_sent_to_the_shop_itself(
        workspace, owner, client_for, sandbox, app, hostile):
    c = client_for(owner)
    resp = c.post("/stores/shopify/connect/", {
        "shop_domain": SHOP, "access_token": TOKEN, "webhook_secret": "whsec",
        "api_base": hostile.url})  # an old form's field: ignored
    assert resp.status_code == 302
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get()
        with shopify_connect.client_for(conn) as client:
            client.execute("query PodhubShop { shop { id } }")
    assert conn.api_base == ""
    assert TOKEN.encode() not in _received(hostile) and hostile.received == []
    page = c.get("/stores/").content.decode()
    assert 'name="api_base"' not in page  # neither form offers the field


def test_api_bases_a_seller_may_have_stored_before_the_fix_are_forgotten(workspace, hostile):
    forget = importlib.import_module(
        "integrations.migrations.0005_shopify_api_base_operator_only").forget_shopify_api_bases
    with scopes_disabled():
        shop_store = Store.objects.create(workspace=workspace, name="S", platform="shopify")
        woo_store = Store.objects.create(workspace=workspace, name="W", platform="woocommerce")
        shopify = StoreConnection.objects.create(
            workspace=workspace, store=shop_store, platform="shopify",
            shop_domain="victim.myshopify.com", api_base=hostile.url)
        woo = StoreConnection.objects.create(
            workspace=workspace, store=woo_store, platform="woocommerce",
            shop_domain="shop.example.com", api_base="https://shop.example.com")

        forget(apps, None)

        shopify.refresh_from_db()
        woo.refresh_from_db()
    assert shopify.api_base == "" and shopify.base_url == "https://victim.myshopify.com"
    assert woo.api_base == "https://shop.example.com"  # a WooCommerce store's own address
