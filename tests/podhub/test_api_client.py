"""A Python client generated from our served OpenAPI schema (openapi-python-client)
drives one integrator's flow against the live server, so the schema cannot drift
from the code (docs/api.md "Generated clients"). The client is generated into a
temporary folder on each run, never committed."""

import importlib
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from django_scopes import scope

from billing import ledger
from billing.models import EntryKind
from podhub.workspaces import services as workspace_services

PACKAGE = "podhub_generated_client"
ORDER = {"channel": "etsy", "currency": "USD", "buyer_name": "Ana Lima",
         "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                              "city": "Springfield", "province": "IL", "zip": "62701",
                              "country_code": "US"},
         "line_items": [{"sku": "MUG-11", "title": "Mug", "quantity": 2,
                         "unit_price": "14.50"}]}


@pytest.fixture
def generated_client(live_server, tmp_path):
    schema = tmp_path / "schema.json"
    answer = httpx.get(live_server.url + "/api/v1/schema/?format=json", timeout=60)
    assert answer.status_code == 200
    schema.write_bytes(answer.content)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: speed only
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema),
         "--output-path", str(tmp_path / PACKAGE), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def mug(db):
    """A public mug at 12.00 USD; standard shipping to the US 5.00 + 2.00 each further
    item, 1.00 handling."""
    from quotes.models import Product, ShippingMethod, ShippingRate, ShippingZone, Variant

    product = Product.objects.create(name="Mug", currency="USD")
    zone = ShippingZone.objects.create(name="United States", countries="US")
    standard = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                             handling_amount=Decimal("1.00"))
    ShippingRate.objects.create(method=standard, zone=zone, currency="USD",
                                first_item_amount=Decimal("5.00"),
                                additional_item_amount=Decimal("2.00"))
    return Variant.objects.create(product=product, sku="MUG-11", price_amount=Decimal("12.00"))


@pytest.mark.django_db(transaction=True)
def test_an_integrator_flow_through_the_generated_client(generated_client, live_server,
                                                         owner, mug):
    from podhub_generated_client import AuthenticatedClient
    from podhub_generated_client.api.estimates import estimates_create
    from podhub_generated_client.api.ledger import ledger_list
    from podhub_generated_client.api.orders import orders_create, orders_list
    from podhub_generated_client.models import (
        EstimateInput,
        LedgerPage,
        ManualOrderInput,
        OrderDetailOutput,
        OrderPage,
    )

    with scope(workspace=owner.workspace):
        _, key = workspace_services.api_token_create(workspace=owner.workspace,
                                                     user=owner.user)
        ledger.credit(workspace_id=owner.workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100.00"), key="top-up-1", memo="first top-up")
    api = AuthenticatedClient(base_url=live_server.url, token=key, prefix="Token")

    # create with an Idempotency-Key; the retry answers the same order
    first = orders_create.sync_detailed(client=api, idempotency_key="order-1001",
                                        body=ManualOrderInput.from_dict({**ORDER,
                                                                         "number": "1001"}))
    assert first.status_code == 201, first.content
    assert isinstance(first.parsed, OrderDetailOutput)
    again = orders_create.sync_detailed(client=api, idempotency_key="order-1001",
                                        body=ManualOrderInput.from_dict({**ORDER,
                                                                         "number": "1001"}))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.id == first.parsed.id
    assert orders_create.sync(client=api, idempotency_key="order-1002",
                              body=ManualOrderInput.from_dict({**ORDER, "number": "1002"}))

    # the order list, one page at a time, with the budget in the headers
    seen, after = [], None
    while True:
        page = orders_list.sync_detailed(client=api, limit=1,
                                         **({"after": after} if after else {}))
        assert isinstance(page.parsed, OrderPage) and "RateLimit-Remaining" in page.headers
        seen += [o.number for o in page.parsed.results]
        after = page.parsed.next_cursor
        if not after:
            break
    assert seen == ["1002", "1001"]

    # an estimate of a draft holds no money; the ledger still has its one entry
    estimate = estimates_create.sync(client=api, body=EstimateInput.from_dict({
        "country_code": "US", "lines": [{"catalog_variant_id": mug.pk,
                                         "quantity": 2}]}))
    assert (estimate.currency, estimate.total) == ("USD", "32.00")  # 24 + 7 + 1
    entries = ledger_list.sync(client=api)
    assert isinstance(entries, LedgerPage)
    assert [(e.kind, e.amount) for e in entries.results] == [("top_up", "100.000")]
    assert entries.next_cursor is None
