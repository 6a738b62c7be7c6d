"""A public provider's local stand-in on a free port, PodHub's catalog provider
connected to it, and helpers: what test_public_providers.py, test_shineon.py,
test_printify.py and test_polling.py share.

The stand-in's webhooks go through the Django test client (same database
transaction as the test); its clock moves only when a test says (`advance`), and
PodHub's time is passed as `now`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django_scopes import scope, scopes_disabled

from fulfillment import polling
from fulfillment.models import ProviderConnection, Submission
from fulfillment.providers import registry
from orders.models import Order
from sandboxes.providers.base import StandInServer
from tests.factories import LineItemFactory, OrderFactory, StoreFactory

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
API_KEY = "standin-api-key"
SECRET = "standin-webhook-secret"
ADDRESS = {"name": "Ana Buyer", "address1": "1 Main St", "city": "Springfield",
           "zip": "12345", "country_code": "US", "email": "ana@example.test"}
#: provider -> two provider SKUs it makes
SKUS = {"printful": ["4012", "4013:embroidery"], "customcat": ["TEE-BLK-M", "MUG-11"],
        "gelato": ["apparel_product_gca_t-shirt_m", "mug_product_msz_11-oz"],
        "shineon": ["SO-20021", "SO-20023"], "printify": ["6:99:12100", "384:1:45740"]}
#: a 1x1 PNG, as a print file the provider fetches by its signed link
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082")


def path_of(url: str) -> str:
    """A URL PodHub gave out (absolute, PUBLIC_BASE_URL), as the test client's path."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Harness:
    """A running stand-in, the catalog provider connected to it, and helpers."""

    def __init__(self, name: str, server: StandInServer, webhooks: Client):
        self.name = name
        self.server = server
        self.standin = server.standin
        self.code = f"{name}-test"
        self.url = f"/webhooks/providers/{self.code}/"
        self.webhooks = webhooks
        self.key = type(self.standin).connection_key(API_KEY)
        #: every order gets a print file per line (providers that refuse lines without)
        self.with_print_files = False

    def connect(self):
        from quotes.models import Provider

        self.provider = Provider.objects.create(code=self.code, name=self.name.title(),
                                                kind="api")
        self.connection = ProviderConnection.objects.create(
            provider=self.provider, adapter=self.name, api_base=self.server.url,
            api_key=self.key, webhook_secret=SECRET)
        return self

    def client(self, **kwargs):
        client = registry.get(self.name).client(api_base=self.server.url, api_key=self.key,
                                                webhook_secret=SECRET, **kwargs)
        client.webhook_url = settings.PUBLIC_BASE_URL.rstrip("/") + self.url
        return client

    def variants(self, skus=None):
        from quotes.models import Product, Variant, VariantProvider

        out = []
        for n, sku in enumerate(skus or SKUS[self.name], 1):
            product = Product.objects.create(name=f"Product {n}")
            variant = Variant.objects.create(product=product, sku=f"OUR-{n}",
                                             price_amount=Decimal("20"))
            VariantProvider.objects.create(variant=variant, provider=self.provider,
                                           provider_sku=sku, base_cost_amount=Decimal("5"),
                                           priority=1)
            out.append(variant)
        return out

    def order(self, workspace, variants=None, number="#1001", personalization=None):
        variants = variants or self.variants()
        store = StoreFactory(workspace=workspace)
        order = OrderFactory(workspace=workspace, store=store, state="awaiting_submission",
                             submit_at=NOW - timedelta(minutes=1), number=number,
                             paid_at=NOW - timedelta(hours=7), shipping_address=dict(ADDRESS))
        for variant in variants:
            LineItemFactory(order=order, workspace=workspace, sku=variant.sku,
                            title=variant.product.name, catalog_variant_id=variant.pk,
                            personalization=list(personalization or []))
        if self.with_print_files:
            attach_print_file(workspace, order)
        return order

    def post(self, event: dict, headers: dict | None = None, url: str | None = None):
        body = json.dumps(event).encode()
        if headers is None:
            headers = self.standin.webhook_headers(body)
        return self.webhooks.post(url or self.url, data=body, content_type="application/json",
                                  headers=headers)


def harness(name: str, **standin_kwargs):
    """A generator fixture body: yields a connected Harness, stops the server after."""
    webhooks = Client()

    def send(url, body, headers):
        return webhooks.post(path_of(url), data=body, content_type="application/json",
                             headers={k: v for k, v in headers.items()
                                      if k != "Content-Type"}).status_code

    spec = registry.get(name)
    standin = spec.standin_class()(
        api_key=API_KEY, webhook_secret=SECRET, step_seconds=3600, sender=send,
        callback_url=f"/webhooks/providers/{name}-test/" if spec.standin_callback else "",
        **standin_kwargs)
    server = StandInServer(standin).start()
    h = Harness(name, server, webhooks).connect()
    yield h
    server.stop()


def sub_of(workspace, order) -> Submission:
    with scope(workspace=workspace):
        return Submission.objects.get(order=order)


def state_of(order) -> str:
    with scopes_disabled():
        return Order.objects.get(pk=order.pk).state


def ship(h: Harness, sub: Submission, *, now: datetime) -> None:
    """The provider ships: by webhook where it has them, by the poll sweep for CustomCat."""
    h.standin.advance(sub.external_id, to="shipped")
    if h.name == "customcat":
        assert polling.poll_sweep(now=now)["polled"] == 1


def attach_print_file(workspace, order, side: str = "front"):
    """A rendered print file for each of the order's lines (what a provider fetches)."""
    from fulfillment.models import PrintFile

    made = []
    with scope(workspace=workspace):
        for line in order.line_items.all():
            pf = PrintFile(workspace=workspace, order=order, line_item=line, side=side,
                           version=1, format="png", width_px=1, height_px=1)
            pf.file.save(f"{side}.png", ContentFile(PNG), save=False)
            pf.save()
            made.append(pf)
    return made


def backup_provider(variants, *, cost: str = "5"):
    """An in-house factory that may also make `variants` (second choice, same cost)."""
    from quotes.models import Provider, VariantProvider

    backup = Provider.objects.create(code="backup", name="Backup factory", kind="own")
    for variant in variants:
        VariantProvider.objects.create(variant=variant, provider=backup,
                                       provider_sku=f"OWN-{variant.sku}",
                                       base_cost_amount=Decimal(cost), priority=2)
    return backup


def subs_of(order) -> list[tuple[str, str]]:
    with scopes_disabled():
        return list(Submission.objects.filter(order=order).order_by("pk")
                    .values_list("status", "provider__code"))


# --- what every public provider must do (called by each provider's test file) -------------


def check_errors_are_unavailable_then_one_order(h: Harness, fo) -> None:
    """5xx, 429 (with the provider's wait), down and a hang are "unavailable"; once the
    provider is back the order goes through once."""
    import pytest

    from fulfillment.providers import ProviderUnavailable

    h.standin.faults.fail_next, h.standin.faults.fail_status = 1, 500
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        h.client().submit(fo)
    h.standin.faults.fail_next, h.standin.faults.fail_status = 1, 429
    with pytest.raises(ProviderUnavailable, match="retry in 7 s") as caught:
        h.client().submit(fo)
    assert caught.value.retry_after == 7
    h.standin.faults.down = True
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        h.client().fetch_status("anything")
    h.standin.faults.down = False
    h.standin.faults.latency = 0.5  # a hang longer than our timeout
    with pytest.raises(ProviderUnavailable, match="timed out"):
        h.client(timeout=0.1).submit(fo)
    h.standin.faults.latency = 0
    assert h.standin.stats["creates"] == 0
    assert h.client().submit(fo).reference == fo.reference
    assert h.standin.stats["creates"] == 1


def check_a_rate_limited_send_waits_as_asked(h: Harness, workspace) -> None:
    """A 429 asking for 900 s (longer than our own first backoff): not sent again
    before then, sent once after."""
    from fulfillment import submission
    from fulfillment.models import SubmissionStatus

    order = h.order(workspace)
    h.standin.faults.fail_next, h.standin.faults.fail_status = 1, 429
    h.standin.faults.retry_after = 900
    submission.submit_sweep(now=NOW)
    sub = sub_of(workspace, order)
    assert sub.status == SubmissionStatus.PENDING
    assert sub.next_attempt_at == NOW + timedelta(seconds=900)
    assert submission.send_due(now=NOW + timedelta(seconds=600)) == 0
    submission.send_due(now=NOW + timedelta(seconds=901))
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert h.standin.stats["creates"] == 1


def crashed_while_sending(sub: Submission, *, lease_until: datetime) -> None:
    """The worker sending `sub` died: it is left "sending" with its lease."""
    from fulfillment.models import SubmissionStatus

    with scopes_disabled():
        Submission.objects.filter(pk=sub.pk).update(
            status=SubmissionStatus.SENDING, attempts=1, lease_until=lease_until)


def check_revoked_key_stops_calls_and_loses_nothing(h: Harness, workspace) -> None:
    """The provider refuses our key: the connection says so, no more calls go out, the
    orders wait (in production, their submissions pending with the reason), and once
    staff save the connection everything goes through once."""
    from fulfillment import submission
    from fulfillment.admin import ProviderConnectionForm
    from fulfillment.models import SubmissionStatus
    from orders.models import OrderEvent

    variants = h.variants()
    first = h.order(workspace, variants)
    h.standin.faults.revoked = True
    submission.submit_sweep(now=NOW)
    h.connection.refresh_from_db()
    assert "401" in h.connection.problem and h.connection.problem_at is not None
    sub = sub_of(workspace, first)
    assert sub.status == SubmissionStatus.PENDING and "401" in sub.error
    calls = h.standin.stats["calls"]
    # another order, and the first one's retries: no call reaches the provider
    second = h.order(workspace, variants, number="#1002")
    submission.submit_sweep(now=NOW + timedelta(minutes=1))
    assert submission.send_due(now=NOW + timedelta(minutes=5)) == 2
    assert h.standin.stats["calls"] == calls
    for order in (first, second):
        assert state_of(order) == "in_production"
        assert subs_of(order) == [("pending", h.code)]
        assert "save a working key" in sub_of(workspace, order).error
    with scope(workspace=workspace):
        said = OrderEvent.objects.filter(order=first, type="fulfillment.provider_unavailable")
        assert "the key was refused" in said.get().message
    # staff save a working key (the provider re-enabled ours): calls go again
    h.standin.faults.revoked = False
    form = ProviderConnectionForm(instance=h.connection, data={
        "provider": h.provider.pk, "adapter": h.name, "api_base": h.server.url,
        "api_key": "", "webhook_secret": "", "destinations": "", "production_hours": 72,
        "is_enabled": "on"})
    assert form.is_valid(), form.errors
    form.save()
    h.connection.refresh_from_db()
    assert h.connection.problem == ""
    submission.send_due(now=NOW + timedelta(hours=1))
    assert [subs_of(o) for o in (first, second)] == [[("accepted", h.code)]] * 2
    assert h.standin.stats["creates"] == 2


def check_an_outage_falls_back_to_another_provider(h: Harness, workspace, settings) -> None:
    from fulfillment import submission

    settings.FULFILLMENT_FALLBACK_AFTER_MINUTES = 10
    variants = h.variants()
    backup_provider(variants)
    order = h.order(workspace, variants)
    h.standin.faults.down = True
    submission.submit_sweep(now=NOW)
    for minutes in (1, 3, 5, 9):
        submission.send_due(now=NOW + timedelta(minutes=minutes))
    assert subs_of(order) == [("pending", h.code)]  # nine minutes: still waiting for it
    with scopes_disabled():
        retry_at = Submission.objects.get(order=order).next_attempt_at
    submission.send_due(now=retry_at)
    assert subs_of(order) == [("failed", h.code), ("accepted", "backup")]
    assert state_of(order) == "in_production"
    assert h.standin.stats["creates"] == 0


def check_revoked_key_stops_polls_and_loses_nothing(h: Harness, workspace) -> None:
    """The key is revoked while an order is at the provider: the poll that meets the 401
    records it on the connection (staff see it in admin → Provider connections), later
    polls make no call, the submission keeps its state (no error, nothing lost), and once
    staff save a working key the next poll brings the shipment."""
    from fulfillment import submission
    from fulfillment.models import SubmissionStatus

    h.standin.callback_url = ""  # no webhooks: only the poll can tell
    order = h.order(workspace)
    submission.submit_sweep(now=NOW)
    sub = sub_of(workspace, order)
    if hasattr(h.standin, "extra"):  # ShineOn: the notification URL goes with each order
        h.standin.extra[h.standin.find(sub.reference).id]["url"] = ""
    h.standin.faults.revoked = True
    h.standin.advance(sub.external_id, to="shipped")
    polling.poll_sweep(now=NOW + timedelta(hours=7))
    h.connection.refresh_from_db()
    assert "401" in h.connection.problem and h.connection.problem_at is not None
    calls = h.standin.stats["calls"]
    for hours in (14, 21):
        result = polling.poll_sweep(now=NOW + timedelta(hours=hours))
        assert result["applied"] == 0
    assert h.standin.stats["calls"] == calls  # no call while the key is refused
    assert sub_of(workspace, order).status == SubmissionStatus.ACCEPTED
    h.standin.faults.revoked = False
    with scopes_disabled():
        ProviderConnection.objects.filter(pk=h.connection.pk).update(problem="",
                                                                     problem_at=None)
    polling.poll_sweep(now=NOW + timedelta(hours=30))
    assert state_of(order) == "shipped"
