"""Issue 7 test support: the sandbox factory on a free port, and order builders."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from fulfillment.models import Adapter, ProviderConnection
from sandboxes.factory.factory import Config, SandboxFactory
from sandboxes.factory.server import SandboxFactoryServer
from tests.factories import LineItemFactory, OrderFactory, StoreFactory

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECRET = "sandbox-webhook-secret"
API_KEY = "sandbox-factory-key"
ADDRESS = {"name": "Ana Buyer", "address1": "1 Main St", "city": "Springfield", "zip": "12345",
           "country_code": "US"}


@pytest.fixture
def webhook_client():
    return Client()


@pytest.fixture
def factory_server(webhook_client):
    """The sandbox factory over HTTP; its callbacks go through the Django test client
    (same database transaction as the test). The clock moves only when a test says."""
    def send(url, body, headers):
        return webhook_client.post(url, data=body, content_type="application/json",
                                   headers={k: v for k, v in headers.items()
                                            if k != "Content-Type"}).status_code

    factory = SandboxFactory(api_key=API_KEY, webhook_secret=SECRET,
                             callback_url="/webhooks/providers/sandbox-factory/",
                             config=Config(step_seconds=3600), sender=send)
    server = SandboxFactoryServer(factory).start()
    yield server
    server.stop()


def make_provider(code: str, *, kind: str = "api", adapter: str | None = None,
                  api_base: str = "", destinations: str = "", name: str = ""):
    from quotes.models import Provider

    provider = Provider.objects.create(code=code, name=name or code.replace("-", " ").title(),
                                       kind=kind)
    if adapter:
        ProviderConnection.objects.create(provider=provider, adapter=adapter, api_base=api_base,
                                          api_key=API_KEY, webhook_secret=SECRET,
                                          destinations=destinations)
    return provider


@pytest.fixture
def sandbox_provider(factory_server):
    return make_provider("sandbox-factory", adapter=Adapter.SANDBOX, api_base=factory_server.url,
                         name="Sandbox factory")


def make_variant(sku: str, providers: list[tuple[object, str]]):
    """providers: [(provider, cost)] in priority order."""
    from quotes.models import Product, Variant, VariantProvider

    product = Product.objects.create(name=f"Product {sku}")
    variant = Variant.objects.create(product=product, sku=sku, price_amount=Decimal("10"))
    for priority, (provider, cost) in enumerate(providers, 1):
        VariantProvider.objects.create(variant=variant, provider=provider,
                                       provider_sku=f"{provider.code}-{sku}",
                                       base_cost_amount=Decimal(cost), priority=priority)
    return variant


def make_order(workspace, variants, *, store=None, submit_at=NOW - timedelta(minutes=1),
               state="awaiting_submission", **store_kwargs):
    store = store or StoreFactory(workspace=workspace, **store_kwargs)
    order = OrderFactory(workspace=workspace, store=store, state=state, submit_at=submit_at,
                         paid_at=NOW - timedelta(hours=7), shipping_address=dict(ADDRESS))
    for variant in variants:
        LineItemFactory(order=order, workspace=workspace, sku=variant.sku,
                        title=variant.product.name, catalog_variant_id=variant.pk)
    return order
