"""Issue 13, finding 6: a provider's `tracking_url` was stored unchecked and rendered as a
link, so `javascript:` ran in the seller's session when clicked.

Now a tracking link is kept only if it is a valid http(s) URL, wherever tracking arrives
(provider webhooks, polling, the sandbox factory, the seller typing it for a manual
provider); a refused one is dropped with a note on the order's timeline. And every outside
URL rendered in a template goes through one filter, `safe_url`, so even a link stored
before this check never becomes an href.
"""

import json

import pytest
from django.template import Context, Template
from django_scopes import scope, scopes_disabled

from fulfillment import shipments, submission
from fulfillment.models import Shipment, Submission
from fulfillment.providers.base import ProviderUpdate, RemoteShipment
from orders.events import Actor
from orders.models import OrderEvent
from podhub.core.exceptions import ValidationFailed
from sandboxes.factory.factory import sign
from tests.fulfillment import fulfillment_support as support
from tests.fulfillment.fulfillment_support import NOW, SECRET, make_order, make_variant

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider
webhook_client = support.webhook_client

pytestmark = pytest.mark.django_db

HOSTILE = ["javascript:alert(document.cookie)", "JavaScript:alert(1)",
           " javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
           "vbscript:msgbox(1)", "//evil.example/track", "https://", "http://exa mple.com/x",
           "https://track.example/" + "x" * 600]


@pytest.fixture
def submitted(workspace, sandbox_provider):
    variant = make_variant("MUG", [(sandbox_provider, "4.00")])
    order = make_order(workspace, [variant])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        return order, Submission.objects.get(order=order)


def _ship(client, sub, url, *, event_id="e1"):
    body = json.dumps({"id": event_id, "type": "shipment_shipped", "data": {
        "order": {"id": sub.external_id, "external_id": sub.reference, "status": "shipped"},
        "shipment": {"id": "P1", "carrier": "USPS", "tracking_number": "9400111",
                     "tracking_url": url, "status": "shipped"}}}).encode()
    return client.post("/webhooks/providers/sandbox-factory/", data=body,
                       content_type="application/json",
                       headers={"X-PodHub-Signature": sign(body, SECRET)})


@pytest.mark.parametrize("url", HOSTILE)
def test_a_provider_link_that_is_not_http_is_dropped_with_a_note(
        workspace, owner, client_for, submitted, webhook_client, url):
    order, sub = submitted
    assert _ship(webhook_client, sub, url).status_code == 200
    with scope(workspace=workspace):
        shipment = Shipment.objects.get(order=order)
        shipped = OrderEvent.objects.get(order=order, type="shipment.shipped")
        note = OrderEvent.objects.get(order=order, type="shipment.tracking_url_dropped")
    # the parcel ships with its number; the link is the carrier's own, not the provider's
    assert shipment.tracking_number == "9400111"
    assert shipment.tracking_url.startswith("https://tools.usps.com/")
    assert shipped.data["url"] == shipment.tracking_url  # what the store and buyer get
    assert "was dropped" in note.message
    panel = client_for(owner).get(f"/orders/{order.pk}/fulfillment/").content.decode()
    assert "javascript:" not in panel.lower() and "data:text" not in panel


def test_a_good_provider_link_is_kept(workspace, submitted, webhook_client):
    order, sub = submitted
    url = "https://track.example.com/p/9400111?lang=en#top"
    assert _ship(webhook_client, sub, url).status_code == 200
    with scope(workspace=workspace):
        assert Shipment.objects.get(order=order).tracking_url == url
        assert not OrderEvent.objects.filter(order=order,
                                             type="shipment.tracking_url_dropped").exists()


def test_polling_and_every_provider_path_go_through_the_same_check(workspace, submitted):
    order, sub = submitted
    update = ProviderUpdate(event_key="poll-1", reference=sub.reference,
                            external_id=sub.external_id,
                            status="shipped", shipment=RemoteShipment(
                                external_id="P9", status="shipped", carrier="Acme Post",
                                number="A1", url="javascript:alert(1)"))
    with scopes_disabled():
        shipments.apply_update(provider=sub.provider, update=update, now=NOW)
    with scope(workspace=workspace):
        assert Shipment.objects.get(order=order).tracking_url == ""  # no carrier template


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://", "ftp://x.example/t",
                                 "https://exa mple.com/x"])
def test_a_seller_typing_a_bad_tracking_link_is_told_so(workspace, url):
    from fulfillment.models import Adapter
    from tests.fulfillment.fulfillment_support import make_provider

    manual = make_provider("my-printer", kind="manual", adapter=Adapter.MANUAL)
    order = make_order(workspace, [make_variant("TEE", [(manual, "3.00")])])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        shipment = Shipment.objects.get(order=order)
        with pytest.raises(ValidationFailed) as refused:
            shipments.shipment_enter_tracking(
                workspace=workspace, order_id=order.pk, shipment_id=shipment.pk,
                carrier="UPS", number="1Z999", url=url, actor=Actor.system("seller"))
    assert refused.value.detail["fields"]["url"].startswith("Enter the tracking link")


def test_a_link_stored_before_the_check_is_never_rendered(workspace, owner, client_for,
                                                          submitted, webhook_client):
    order, sub = submitted
    assert _ship(webhook_client, sub, "https://ok.example/t").status_code == 200
    with scopes_disabled():  # as if stored by an older version
        Shipment.objects.filter(order=order).update(tracking_url="javascript:alert(1)")
    panel = client_for(owner).get(f"/orders/{order.pk}/fulfillment/").content.decode()
    assert "javascript:" not in panel
    assert 'data-testid="tracking-number">9400111<' in panel


@pytest.mark.parametrize(("value", "shown"), [
    ("https://a.example/x?y=1", "https://a.example/x?y=1"),
    ("http://a.example", "http://a.example"),
    ("javascript:alert(1)", ""), ("JAVASCRIPT:alert(1)", ""), ("data:image/png;base64,AA", ""),
    ("/orders/1/", ""), ("//evil.example/", ""), ("", ""), (None, ""),
    ("https://a.example/\"onmouseover=\"x", "https://a.example/&quot;onmouseover=&quot;x"),
])
def test_the_one_filter_every_outside_url_goes_through(value, shown):
    # a template builtin: no {% load %} needed anywhere
    html = Template('{{ url|safe_url }}').render(Context({"url": value}))
    assert html == shown
