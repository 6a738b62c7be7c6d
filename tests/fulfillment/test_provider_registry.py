"""The provider registry: settings.PODHUB_PROVIDERS is the list of adapters, and every
place that knows providers reads it (the connection's adapter choices, client_for,
the webhook endpoint, the poll sweep, run_provider_standin). Adding a provider is a
module and a line: tests/fulfillment/registry_example.py is one, added here."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import Client
from django_scopes import scope, scopes_disabled

from fulfillment import polling, submission
from fulfillment.models import ProviderConnection, ProviderWebhook, Shipment, SubmissionStatus
from fulfillment.providers import ProviderClient, ProviderUnavailable, client_for, registry
from fulfillment.providers.base import WEBHOOK_TOKEN_HEADER
from sandboxes.management.commands.run_provider_standin import Command
from sandboxes.providers.base import StandInServer
from tests.factories import UserFactory
from tests.fulfillment import registry_example
from tests.fulfillment.provider_harness import ADDRESS, NOW, path_of, state_of, sub_of

ECHO = "tests.fulfillment.registry_example"
BUILT_IN = ["own", "manual", "sandbox", "printful", "customcat", "gelato", "shineon",
            "printify"]


@pytest.fixture
def with_echo(settings):
    settings.PODHUB_PROVIDERS = [*settings.PODHUB_PROVIDERS, ECHO]
    registry_example.SENT.clear()
    registry_example.STATUS.clear()
    return settings


def _variant(provider, sku: str, cost: str = "5"):
    from quotes.models import Product, Variant, VariantProvider

    product = Product.objects.create(name=f"Product {sku}")
    variant = Variant.objects.create(product=product, sku=f"OUR-{sku}",
                                     price_amount=Decimal("20"))
    VariantProvider.objects.create(variant=variant, provider=provider, provider_sku=sku,
                                   base_cost_amount=Decimal(cost), priority=1)
    return variant


def _order(workspace, variant, number="#1001"):
    from tests.factories import LineItemFactory, OrderFactory, StoreFactory

    order = OrderFactory(workspace=workspace, store=StoreFactory(workspace=workspace),
                         state="awaiting_submission", number=number,
                         submit_at=NOW - timedelta(minutes=1),
                         paid_at=NOW - timedelta(hours=7), shipping_address=dict(ADDRESS))
    LineItemFactory(order=order, workspace=workspace, sku=variant.sku, title="Thing",
                    catalog_variant_id=variant.pk)
    return order


def _echo_provider():
    from quotes.models import Provider

    provider = Provider.objects.create(code="echo-co", name="Echo Co", kind="api")
    ProviderConnection.objects.create(provider=provider, adapter="echo", api_key="k",
                                      webhook_secret="echo-token")
    return provider


def test_the_settings_list_is_the_registry(db):
    assert list(registry.providers()) == BUILT_IN
    for code, spec in registry.providers().items():
        assert issubclass(spec.client, ProviderClient) and spec.client.code == code
        assert spec.polling in (registry.POLL_ALWAYS, registry.POLL_SAFETY_NET,
                                registry.POLL_NEVER)
    field = ProviderConnection._meta.get_field("adapter")
    assert list(field.choices) == registry.adapter_choices()
    # only providers with an API are polled, each on its declared interval
    intervals = polling.poll_intervals()
    assert set(intervals) == {"sandbox", "printful", "customcat", "gelato", "shineon",
                              "printify"}
    assert intervals["customcat"] == intervals["shineon"] == timedelta(minutes=30)
    assert intervals["printify"] == timedelta(hours=6)


def test_adding_a_provider_is_a_module_and_a_line(with_echo, workspace, client):
    # staff pick it when connecting a provider
    client.force_login(UserFactory(email="staff@podhub.test", is_staff=True,
                                   is_superuser=True))
    page = client.get("/admin/fulfillment/providerconnection/add/").content.decode()
    assert 'value="echo"' in page and "Echo (tests)" in page
    provider = _echo_provider()
    ProviderConnection.objects.get(provider=provider).full_clean()
    # an order routed to it is sent by the sweep through its client
    order = _order(workspace, _variant(provider, "ECHO-1"))
    assert submission.submit_sweep(now=NOW) == 1
    sub = sub_of(workspace, order)
    assert (sub.adapter, sub.status, sub.external_id) == ("echo", "accepted",
                                                          f"E-{sub.reference}")
    assert [o.reference for o in registry_example.SENT] == [sub.reference]
    # it is polled on the interval it declared ("always": 30 minutes)
    registry_example.STATUS[sub.external_id] = "in_production"
    assert polling.poll_sweep(now=NOW + timedelta(minutes=31))["applied"] == 1
    assert sub_of(workspace, order).status == SubmissionStatus.IN_PRODUCTION
    # its webhooks are verified by its own rule at /webhooks/providers/<provider>/
    event = json.dumps({"id": "e1", "reference": sub.reference, "status": "in_production"})
    webhooks = Client()
    assert webhooks.post("/webhooks/providers/echo-co/", data=event,
                         content_type="application/json").status_code == 401
    response = webhooks.post("/webhooks/providers/echo-co/", data=event,
                             content_type="application/json",
                             headers={WEBHOOK_TOKEN_HEADER: "echo-token"})
    assert response.status_code == 200
    assert ProviderWebhook.objects.get().reason.endswith("(duplicate or late)")


def test_a_provider_taken_out_of_the_list_fails_gently(with_echo, workspace, settings):
    provider = _echo_provider()
    order = _order(workspace, _variant(provider, "ECHO-1"))
    settings.PODHUB_PROVIDERS = [p for p in settings.PODHUB_PROVIDERS if p != ECHO]
    with pytest.raises(ProviderUnavailable, match="no provider adapter 'echo'"):
        client_for(provider)
    with pytest.raises(ValidationError):
        ProviderConnection.objects.get(provider=provider).full_clean()
    # its orders wait with the reason (nothing lost), its webhooks are 404 with the reason
    submission.submit_sweep(now=NOW)
    sub = sub_of(workspace, order)
    assert sub.status == SubmissionStatus.PENDING and "no provider adapter" in sub.error
    response = Client().post("/webhooks/providers/echo-co/", data="{}",
                             content_type="application/json")
    assert response.status_code == 404
    assert "no provider adapter 'echo'" in response.json()["error"]["message"]


def test_a_misconfigured_list_is_refused_by_name(settings):
    settings.PODHUB_PROVIDERS = [*settings.PODHUB_PROVIDERS, "tests.fulfillment.registry_broken"]
    with pytest.raises(ImproperlyConfigured, match="registry_broken"):
        registry.providers()
    settings.PODHUB_PROVIDERS = ["fulfillment.providers.printful",
                                 "fulfillment.providers.printful"]
    with pytest.raises(ImproperlyConfigured, match="two modules declare 'printful'"):
        registry.providers()
    settings.PODHUB_PROVIDERS = []
    with pytest.raises(ImproperlyConfigured, match="lists no provider"):
        registry.providers()


def test_run_provider_standin_offers_every_registered_stand_in():
    parser = Command().create_parser("manage.py", "run_provider_standin")
    action = next(a for a in parser._actions if a.dest == "provider")
    assert action.choices == ["customcat", "gelato", "printful", "printify", "shineon"]


# --- the demo: a catalog product routed to a stand-in, and tracking back ------------------


@pytest.mark.parametrize("name", ["shineon", "printify"])
def test_the_demo_routes_a_catalog_product_to_a_stand_in(name, workspace, db):
    from quotes.demo import load_demo_catalog
    from quotes.models import Variant
    from tests.fulfillment.provider_harness import attach_print_file

    with scopes_disabled():
        load_demo_catalog()
    webhooks = Client()
    spec = registry.get(name)
    standin = spec.standin_class()(
        api_key="standin-key", webhook_secret="standin-secret", step_seconds=3600,
        callback_url=f"/webhooks/providers/{name}-standin/" if spec.standin_callback else "",
        sender=lambda url, body, headers: webhooks.post(
            path_of(url), data=body, content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"}).status_code)
    server = StandInServer(standin).start()
    try:
        # what `run_provider_standin --provider <name> --connect --route-product "Mug 11 oz"`
        # does before it runs the stand-in's clock
        Command()._connect(name, f"{name}-standin", server.url, {
            "api_key": "standin-key", "webhook_secret": "standin-secret",
            "route_product": ["Mug 11 oz"]})
        mug = Variant.objects.get(sku="MUG11-WHITE")
        order = _order(workspace, mug)
        attach_print_file(workspace, order)
        assert submission.submit_sweep(now=NOW) == 1
        sub = sub_of(workspace, order)
        assert (sub.provider.code, sub.status) == (f"{name}-standin", "accepted")
        standin.advance(sub.external_id, to="shipped")
        assert state_of(order) == "shipped"
        with scope(workspace=workspace):
            shipment = Shipment.objects.get(order=order)
        assert shipment.tracking_number == standin.find(sub.reference).shipments[0]["number"]
    finally:
        server.stop()
