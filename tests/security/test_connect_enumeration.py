"""Issue 13, finding 12: "already connected to another workspace" told anyone which shops
use PodHub (type a shop's address, read the answer).

Now a seller learns nothing about other workspaces: the store checks the pasted token or
keys first, so without working credentials of the shop the answer is the same as for any
shop ("the store refused"), and with them the answer is a generic "this shop cannot be
connected". The operator's CLI still says which workspace has it.
"""

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scope, scopes_disabled

from integrations.models import StoreConnection
from integrations.shopify import connect as shopify_connect
from integrations.woocommerce import services as woo
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore
from tests.integrations.conftest import SHOP, TOKEN

pytestmark = pytest.mark.django_db

KEY, SECRET = "ck_enum_key", "cs_enum_secret"
FREE = "nobody-here.myshopify.com"
TELLING = ("another workspace", "already connected", "is connected", "in use")


@pytest.fixture
def shops(settings, sandbox):
    # the operator maps both shops to the sandbox, which accepts TOKEN
    settings.SHOPIFY_API_BASES = {SHOP: sandbox.url, FREE: sandbox.url}
    return sandbox


@pytest.fixture
def woo_store():
    server = WooSandboxServer(WooStore(consumer_key=KEY, consumer_secret=SECRET)).start()
    yield server
    server.stop()


def _shopify(client, shop: str, token: str) -> tuple[int, str]:
    resp = client.post("/stores/shopify/connect/", {"shop_domain": shop, "access_token": token,
                                                     "webhook_secret": "s"}, follow=True)
    return resp.status_code, resp.content.decode()


def _errors(page: str) -> list[str]:
    return re.findall(r'<ul class="errorlist"[^>]*><li>(.*?)</li>', page)


def _tells(page: str) -> bool:
    return any(words in page for words in TELLING)


def test_a_shopify_shop_in_another_workspace_is_not_revealed(
        owner, other_owner, client_for, shops, other_workspace):
    status, _ = _shopify(client_for(other_owner), SHOP, TOKEN)  # B connects its shop
    assert status == 200
    attacker = client_for(owner)

    # without the shop's token: the same answer as for a shop nobody connected
    taken = _shopify(attacker, SHOP, "shpat_guess")
    free = _shopify(attacker, FREE, "shpat_guess")
    assert _errors(taken[1]) == _errors(free[1]) == ["The store refused this token: paste the "
                                                      "Admin API access token of the app "
                                                      "installed in this store."]
    assert taken[0] == free[0] == 400 and not _tells(taken[1])

    # with a working token (it is their shop too): a generic refusal
    status, page = _shopify(attacker, SHOP, TOKEN)
    assert status == 409 and "This shop cannot be connected to this workspace" in page
    assert not _tells(page)
    with scopes_disabled():
        assert StoreConnection.objects.get().workspace_id == other_workspace.pk


def test_a_woocommerce_store_in_another_workspace_is_not_revealed(
        owner, other_owner, client_for, woo_store, other_workspace):
    with scope(workspace=other_workspace):
        woo.store_connect_woocommerce(workspace=other_workspace, url=woo_store.url,
                                      consumer_key=KEY, consumer_secret=SECRET,
                                      register_webhooks=False, start_import=False)
    attacker = client_for(owner)
    resp = attacker.post("/stores/woocommerce/connect/", {
        "url": woo_store.url, "consumer_key": KEY, "consumer_secret": "cs_guess"}, follow=True)
    page = resp.content.decode()
    assert resp.status_code == 400 and "refused these keys" in page and not _tells(page)

    resp = attacker.post("/stores/woocommerce/connect/", {
        "url": woo_store.url, "consumer_key": KEY, "consumer_secret": SECRET}, follow=True)
    page = resp.content.decode()
    assert resp.status_code == 409
    assert "This shop cannot be connected to this workspace" in page and not _tells(page)


def test_the_operator_cli_still_says_which_workspace(workspace, other_workspace, shops):
    with scope(workspace=other_workspace):
        shopify_connect.store_connect_shopify(workspace=other_workspace, shop_domain=SHOP,
                                          access_token=TOKEN, webhook_secret="s",
                                          start_import=False)
    with pytest.raises(CommandError,
                       match=f"already connected to another workspace \\(id {other_workspace.pk}"):
        call_command("connect_store", "--workspace", str(workspace.pk), "--platform",
                     "shopify", "--shop-domain", SHOP, "--access-token", TOKEN,
                     "--webhook-secret", "s")
