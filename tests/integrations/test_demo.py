"""The demo: a starting balance once per workspace, and the hands-off WooCommerce store
(auto-pay, submit an hour after payment) that lets the journey run without anyone."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_scopes import scopes_disabled

from billing.models import Account, EntryKind, LedgerEntry
from orders.models import Store
from sandboxes.management.commands.run_woocommerce_sandbox import Command as WooSandbox
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore

pytestmark = pytest.mark.django_db


def _load_demo() -> int:
    out = io.StringIO()
    call_command("load_demo", json=True, stdout=out)
    return json.loads(out.getvalue())["workspace_id"]


def test_the_demo_credit_is_given_once():
    ws_id = _load_demo()
    assert _load_demo() == ws_id  # a second run finds the same workspace
    with scopes_disabled():
        assert Account.objects.get(workspace_id=ws_id).balance_amount == Decimal("1000.00")
        assert LedgerEntry.objects.filter(workspace_id=ws_id,
                                          kind=EntryKind.ADJUSTMENT).count() == 1


def test_the_demo_woocommerce_store_pays_and_submits_on_its_own():
    ws_id = _load_demo()
    server = WooSandboxServer(WooStore(consumer_key="ck_demo", consumer_secret="cs_demo")).start()
    try:
        command = WooSandbox(stdout=io.StringIO())
        # the store's webhook registration is a durable outbox push: not run here
        command._connect(server, {"workspace": ws_id, "consumer_key": "ck_demo",
                                  "consumer_secret": "cs_demo"})
    finally:
        server.stop()
    with scopes_disabled():
        store = Store.objects.get(workspace_id=ws_id, platform="woocommerce")
    assert (store.auto_pay, store.submit_mode, store.submit_after_hours) == (
        True, "after_hours", 1)
