"""Finding 8 of issue #13: inputs that made PodHub answer 500 (or HTML from the API).

- deeply nested JSON in a *signed* webhook (Shopify, WooCommerce, Stripe, a
  provider): Python's JSON reader gives up with RecursionError -> 500. Now 400
  with the reason, and nothing stored;
- a 20-digit id in a URL (larger than any id column): 404, never 500, on every
  route with an `<int:...>` keyword;
- `"store": [null, null]` on order create: 400 naming `store`;
- errors Django raises before DRF sees the request (too many form fields, a
  bad Host header, CSRF, an unknown path) answer `/api/` with the one JSON error
  body, not an HTML page.
"""

import json

import pytest
from django.test import Client
from django_scopes import scope, scopes_disabled

from billing.models import StripeEvent
from fulfillment.models import ProviderWebhook
from integrations.models import InboundWebhook, StoreConnection
from integrations.woocommerce.signature import sign as base64_hmac
from tests.factories import StoreFactory
from tests.tenancy import walk

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
DEEP_OBJECT = b'{"id": 1, "note": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}"
HUGE_ID = "9" * 20


@pytest.fixture
def webhook_client():
    return Client()


def _connection(workspace, platform, shop):
    store = StoreFactory(workspace=workspace, platform=platform)
    return StoreConnection.objects.create(workspace=workspace, store=store, platform=platform,
                                          shop_domain=shop, webhook_secret="hook-secret")


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_in_a_signed_shopify_webhook_is_a_400(workspace, webhook_client, body):
    _connection(workspace, "shopify", "deep.myshopify.com")
    response = webhook_client.post(
        "/webhooks/shopify/", data=body, content_type="application/json",
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "deep.myshopify.com",
                 "X-Shopify-Event-Id": "ev-deep", "X-Shopify-Hmac-Sha256": base64_hmac(
                     body, "hook-secret")})
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["error"]["message"]
    with scope(workspace=workspace):
        assert not InboundWebhook.objects.exists()


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_in_a_signed_woocommerce_webhook_is_a_400(workspace, webhook_client, body):
    conn = _connection(workspace, "woocommerce", "https://deep.example")
    response = webhook_client.post(
        f"/webhooks/woocommerce/{conn.store_id}/", data=body, content_type="application/json",
        headers={"X-WC-Webhook-Topic": "order.updated",
                 "X-WC-Webhook-Signature": base64_hmac(body, "hook-secret")})
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["error"]["message"]
    with scope(workspace=workspace):
        assert not InboundWebhook.objects.exists()


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_in_a_signed_stripe_webhook_is_a_400(db, webhook_client, settings, body):
    from sandboxes.stripe.server import sign

    response = webhook_client.post("/webhooks/stripe/", data=body,
                                   content_type="application/json",
                                   HTTP_STRIPE_SIGNATURE=sign(body,
                                                              settings.STRIPE_WEBHOOK_SECRET))
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["error"]["message"]
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_in_a_signed_provider_webhook_is_a_400(db, webhook_client, body):
    from sandboxes.factory.factory import sign
    from tests.fulfillment.fulfillment_support import SECRET, make_provider

    make_provider("sandbox-factory", adapter="sandbox", api_base="http://127.0.0.1:9")
    response = webhook_client.post("/webhooks/providers/sandbox-factory/", data=body,
                                   content_type="application/json",
                                   headers={"X-PodHub-Signature": sign(body, SECRET)})
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["error"]["message"]
    with scopes_disabled():
        assert not ProviderWebhook.objects.exists()


def test_every_id_in_a_url_uses_the_id_converter():
    """`<int:...>` hands any number of digits to the database; `<id:...>` stops at 2^63-1."""
    assert not [r.route for r in walk() if "<int:" in r.route]


def test_a_20_digit_id_in_any_url_is_a_404(owner, client_for, api_client_for, admin_user):
    """Every route with an id keyword, as a member (dashboard and API) and as staff."""
    dashboard, api = client_for(owner), api_client_for(owner)
    staff = Client()
    staff.force_login(admin_user)
    problems = []
    for route in walk():
        if not any(f"<{conv}:" in route.route for conv in ("id", "int")):
            continue
        path = "/" + route.route
        for key in route.kwargs:
            for conv in ("id", "int"):
                path = path.replace(f"<{conv}:{key}>", HUGE_ID)
            path = path.replace(f"<str:{key}>", "x").replace(f"<slug:{key}>", "x")
        client = api if path.startswith("/api/") else dashboard
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            if response.status_code not in (302, 404, 405):
                problems.append(f"{method.upper()} {path}: {response.status_code}")
            elif path.startswith("/api/") and response.status_code != 405:
                assert response["Content-Type"].startswith("application/json"), path
    for model in ("orders/order", "fulfillment/claim", "billing/payment", "quotes/quote",
                  "integrations/storeconnection"):
        for suffix in ("change/", "delete/", "history/"):
            path = f"/admin/{model}/{HUGE_ID}/{suffix}"
            status = staff.get(path).status_code
            if status not in (302, 403, 404):  # 403: a model staff may never delete
                problems.append(f"GET {path}: {status}")
    assert not problems, problems


def test_an_order_with_a_store_that_is_not_an_id_is_a_400(owner, api_client_for):
    api = api_client_for(owner)
    for store in ([None, None], {"id": 1}, "abc", HUGE_ID, -1, True, 1.5):
        response = api.post("/api/v1/orders/", {"store": store, "number": "1"}, format="json")
        assert response.status_code == 400, (store, response.content)
        assert "store" in response.json()["error"]["fields"], store


def test_errors_django_or_the_parser_raise_before_the_api_view_are_json(owner, api_client_for,
                                                                        settings):
    api = api_client_for(owner)
    too_many = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5))
    cases = {
        "too many fields": api.generic("POST", "/api/v1/orders/", too_many,
                                       content_type="application/x-www-form-urlencoded"),
        "unknown path": api.get("/api/v1/no-such-thing/"),
        "bad host": api.get("/api/v1/orders/", HTTP_HOST="evil.example"),
        "not json": api.generic("POST", "/api/v1/orders/", b"{", content_type="application/json"),
        "deep json": api.generic("POST", "/api/v1/orders/", DEEP,
                                 content_type="application/json"),
    }
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, name
        assert response["Content-Type"].startswith("application/json"), name
        body = response.json()
        assert set(body["error"]) >= {"code", "message"}, name


def test_a_server_error_under_the_api_is_the_json_error_body(owner, api_client_for,
                                                            monkeypatch):
    from orders import api as orders_api

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(orders_api, "_order_detail", boom)
    api = api_client_for(owner)
    api.raise_request_exception = False
    response = api.get("/api/v1/orders/1/")
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"
