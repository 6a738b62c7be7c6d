"""Connecting: the operator CLI, custom-app paste in the dashboard, public-app OAuth, tokens."""

import json
from datetime import timedelta
from io import StringIO
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations.models import ConnectionKind, ImportJob, OAuthState, StoreConnection
from integrations.shopify import connect as shopify_connect
from integrations.shopify.hmac import normalize_shop_domain, query_signature, verify_query
from orders.models import Store
from tests.integrations.conftest import TOKEN

pytestmark = pytest.mark.django_db


def _cli(*args):
    out = StringIO()
    call_command("connect_store", *args, stdout=out)
    return json.loads(out.getvalue())


def _counts():
    with scopes_disabled():
        return Store.objects.count(), StoreConnection.objects.count()


def test_cli_connects_shopify_and_prints_json(workspace, sandbox,
                                              django_capture_on_commit_callbacks):
    # `connect_store PLATFORM` (scripts/run.sh); the tests below keep `--platform PLATFORM`
    with django_capture_on_commit_callbacks() as callbacks:
        result = _cli("shopify", "--workspace", str(workspace.pk),
                      "--shop-domain", "Acme-Prints.myshopify.com", "--access-token", "tok",
                      "--webhook-secret", "sec", "--api-base", sandbox.url, "--json")
    assert result["webhook_url"].endswith("/webhooks/shopify/")
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get(store_id=result["store_id"])
        assert conn.shop_domain == "acme-prints.myshopify.com"
        assert conn.api_base == sandbox.url
        assert conn.access_token.reveal() == "tok"
        assert ImportJob.objects.filter(connection=conn).exists()  # a row first
    assert len(callbacks) == 1  # and its doorbell after commit
    from django.db import connection as db

    with db.cursor() as cur:  # encrypted at rest
        cur.execute("SELECT access_token, webhook_secret FROM integrations_storeconnection")
        raw = cur.fetchone()
    assert "tok" not in raw[0] and "sec" not in raw[1]


def test_cli_manual_store(workspace):
    result = _cli("--workspace", str(workspace.pk), "--platform", "manual", "--name", "Etsy",
                  "--json")
    with scope(workspace=workspace):
        assert Store.objects.get(pk=result["store_id"]).platform == "manual"
    assert result["webhook_url"] is None


@pytest.mark.parametrize(("args", "reason"), [
    (["--platform", "woocommerce", "--url", "ftp://x.test", "--consumer-key", "ck",
      "--consumer-secret", "cs"], "not a store address"),
    (["--platform", "shopify", "--shop-domain", "evil.example.com", "--access-token", "t",
      "--webhook-secret", "s"], "not a Shopify store address"),
    (["--platform", "shopify", "--shop-domain", "a.myshopify.com"], "--access-token"),
    (["--platform", "shopify", "--shop-domain", "a.myshopify.com", "--access-token", "t",
      "--webhook-secret", "s", "--api-base", "ftp://x"], "base URL"),
    (["--platform", "manual"], "--name"),
])
def test_cli_errors_change_nothing(workspace, args, reason):
    before = _counts()
    with pytest.raises(CommandError, match=reason):
        call_command("connect_store", "--workspace", str(workspace.pk), *args, "--json")
    assert _counts() == before


def test_cli_unknown_workspace_and_double_connect(workspace, other_workspace):
    with pytest.raises(CommandError, match="no workspace"):
        call_command("connect_store", "--workspace", "999999", "--platform", "manual",
                     "--name", "x")
    args = ["--platform", "shopify", "--shop-domain", "a.myshopify.com", "--access-token", "t",
            "--webhook-secret", "s", "--json"]
    _cli("--workspace", str(workspace.pk), *args)
    before = _counts()
    with pytest.raises(CommandError, match="already connected to another workspace"):
        call_command("connect_store", "--workspace", str(other_workspace.pk), *args)
    assert _counts() == before


def test_cli_runs_as_a_process_and_exits_non_zero_with_one_line(settings):
    import os
    import subprocess
    import sys

    db = settings.DATABASES["default"]
    url = (f"sqlite:///{db['NAME']}" if db["ENGINE"].endswith("sqlite3")
           else f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    proc = subprocess.run(
        [sys.executable, "manage.py", "connect_store", "--workspace", "1", "--platform",
         "woocommerce", "--url", "https://x.test", "--json"],
        capture_output=True, text=True, env={**os.environ, "DATABASE_URL": url}, timeout=60,
        check=False)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0
    assert "--consumer-key, --consumer-secret required for WooCommerce" in proc.stderr


def test_dashboard_paste_and_disconnect(workspace, owner, client_for, sandbox, settings):
    # the operator points this shop at the sandbox; the seller never chooses an address
    settings.SHOPIFY_API_BASES = {"paste.myshopify.com": sandbox.url}
    c = client_for(owner)
    page = c.get("/stores/")
    assert page.status_code == 200 and "Connect a Shopify store" in page.content.decode()
    resp = c.post("/stores/shopify/connect/", {"shop_domain": "bad domain!", "access_token": "t",
                                               "webhook_secret": "s"})
    assert resp.status_code == 400 and "not a Shopify store address" in resp.content.decode()
    resp = c.post("/stores/shopify/connect/", {"shop_domain": "paste.myshopify.com",
                                               "access_token": "wrong", "webhook_secret": "s"})
    assert resp.status_code == 400 and "The store refused this token" in resp.content.decode()
    resp = c.post("/stores/shopify/connect/", {"shop_domain": "paste.myshopify.com",
                                               "access_token": TOKEN, "webhook_secret": "s",
                                               "name": "My shop"})
    assert resp.status_code == 302
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get(shop_domain="paste.myshopify.com")
    assert "My shop" in c.get("/stores/").content.decode()
    assert c.post(f"/stores/{conn.store_id}/disconnect/").status_code == 302
    with scope(workspace=workspace):
        conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.access_token.reveal() == ""
    # reconnecting reuses the store (its orders stay attached)
    c.post("/stores/shopify/connect/", {"shop_domain": "paste.myshopify.com",
                                        "access_token": TOKEN, "webhook_secret": "s2"})
    with scope(workspace=workspace):
        assert StoreConnection.objects.get().status == "active"
        assert Store.objects.filter(platform="shopify").count() == 1


def test_shop_domain_validation():
    assert normalize_shop_domain("Acme") == "acme.myshopify.com"
    assert normalize_shop_domain("https://acme.myshopify.com/admin") == "acme.myshopify.com"
    for bad in ("acme.myshopify.com.evil.com", "evil.com", "", "a b.myshopify.com",
                "-x.myshopify.com", "acme.myshopify.com@evil.com"):
        assert normalize_shop_domain(bad) is None, bad


# --- public-app OAuth -------------------------------------------------------------------


@pytest.fixture
def app_settings(settings, sandbox):
    settings.SHOPIFY_API_KEY = sandbox.shop.app_key
    settings.SHOPIFY_API_SECRET = sandbox.shop.app_secret
    settings.SHOPIFY_API_BASES = {sandbox.shop.shop_domain: sandbox.url}  # the operator's
    return settings


def test_oauth_install_with_expiring_token_and_refresh(workspace, owner, client_for, sandbox,
                                                       app_settings):
    c = client_for(owner)
    resp = c.post("/stores/shopify/install/", {"shop_domain": sandbox.shop.shop_domain})
    assert resp.status_code == 302
    authorize = resp["Location"]
    q = parse_qs(urlparse(authorize).query)
    assert q["client_id"] == [sandbox.shop.app_key] and q["state"][0]
    assert "read_merchant_managed_fulfillment_orders" in q["scope"][0]
    # the merchant approves in the sandbox, which redirects back with a signed query
    back = httpx.get(authorize, follow_redirects=False).headers["location"]
    callback = urlparse(back)
    assert callback.path == "/stores/shopify/callback/"
    resp = c.get(callback.path + "?" + callback.query)
    assert resp.status_code == 302, resp.content
    with scope(workspace=workspace):
        conn = StoreConnection.objects.get()
    assert conn.kind == ConnectionKind.OAUTH and conn.refresh_token.reveal()
    assert conn.token_expires_at > timezone.now() + timedelta(minutes=50)
    # replaying the same callback (state used) is refused
    resp = c.get(callback.path + "?" + callback.query)
    with scope(workspace=workspace):
        assert StoreConnection.objects.count() == 1
    # the token is about to expire: the next call refreshes it first
    with scope(workspace=workspace):
        StoreConnection.objects.filter(pk=conn.pk).update(
            token_expires_at=timezone.now() + timedelta(minutes=1))
        old = conn.access_token.reveal()
        client = shopify_connect.client_for(conn)
        data = client.execute("query PodhubShop { shop { id name myshopifyDomain } }")
        assert data["shop"]["myshopifyDomain"] == sandbox.shop.shop_domain
        conn.refresh_from_db()
        assert conn.access_token.reveal() != old
        assert sandbox.shop.token_ok(conn.access_token.reveal())
        assert not sandbox.shop.token_ok(old)


def test_oauth_callback_with_a_bad_hmac_or_foreign_state_is_refused(workspace, owner,
                                                                    other_owner, client_for,
                                                                    sandbox, app_settings):
    c = client_for(owner)
    resp = c.post("/stores/shopify/install/", {"shop_domain": sandbox.shop.shop_domain})
    back = urlparse(httpx.get(resp["Location"], follow_redirects=False).headers["location"])
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    tampered = dict(params, shop="other.myshopify.com")
    resp = c.get(back.path, tampered)
    assert resp.status_code == 302
    with scope(workspace=workspace):
        assert not StoreConnection.objects.exists()
    # a member of another workspace cannot complete this install
    resp = client_for(other_owner).get(back.path + "?" + back.query)
    with scopes_disabled():
        assert not StoreConnection.objects.exists()
        assert OAuthState.objects.get().used_at is None


def test_query_hmac_matches_shopify_rules():
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": "some-shop.myshopify.com",
              "state": "0.6784241404160823", "timestamp": "1337178173"}
    sig = query_signature(params, "hush")
    assert verify_query({**params, "hmac": sig}, "hush", now=1337178173)
    assert not verify_query({**params, "hmac": sig}, "hush", now=1337178173 + 2 * 86400)
    assert not verify_query({**params, "hmac": "0" * 64}, "hush", now=1337178173)


def test_staff_admin_lists_connections_without_secrets(connection, client):
    from tests.factories import UserFactory

    staff = UserFactory(email="staff@podhub.test", is_staff=True, is_superuser=True)
    client.force_login(staff)
    for url in ("/admin/integrations/storeconnection/",
                f"/admin/integrations/storeconnection/{connection.pk}/change/",
                "/admin/integrations/inboundwebhook/", "/admin/integrations/outboxmessage/",
                "/admin/integrations/importjob/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert "shpat_test_token" not in resp.content.decode()
        assert "whsec_test_secret" not in resp.content.decode()
