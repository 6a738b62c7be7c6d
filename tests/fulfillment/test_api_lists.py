"""The seller API's lists across orders: shipments, claims (list and open) and print
files with attachment downloads (docs/api.md)."""

import pytest
from django.core.files.base import ContentFile
from django_scopes import scope, scopes_disabled

from fulfillment import shipments, submission
from fulfillment.models import Claim, PrintFile, Submission
from orders.models import LineItem, OrderEvent
from tests.fulfillment.fulfillment_support import NOW, make_order, make_provider, make_variant


@pytest.fixture
def shipped(workspace, owner):
    """An order made in-house and shipped from the production board (UPS 1Z999)."""
    own = make_provider("own-factory", kind="own", name="PodHub factory")
    order = make_order(workspace, [make_variant("MUG", [(own, "4.00")])])
    submission.submit_sweep(now=NOW)
    with scopes_disabled():
        sub = Submission.objects.get(order=order)
    shipments.board_mark_in_production(submission_ids=[sub.pk], user=owner.user)
    shipments.board_mark_shipped(submission_ids=[sub.pk], carrier="UPS",
                                 numbers={sub.pk: "1Z999"}, user=owner.user)
    return order


def test_shipments_across_orders_filtered_by_order_and_status(owner, api_client_for,
                                                              shipped):
    api = api_client_for(owner)
    page = api.get("/api/v1/shipments/").json()
    (shipment,) = page["results"]
    assert page["next_cursor"] is None
    assert (shipment["order_id"], shipment["tracking_number"], shipment["provider"]) == \
        (shipped.pk, "1Z999", "own-factory")
    assert shipment["tracking_url"].startswith("https://")
    assert api.get("/api/v1/shipments/", {"order": shipped.pk}).json()["results"]
    assert not api.get("/api/v1/shipments/", {"status": "delivered"}).json()["results"]
    bad = api.get("/api/v1/shipments/", {"status": "lost"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_a_claim_opened_over_the_api_once_per_key(owner, api_client_for, shipped):
    api = api_client_for(owner)
    body = {"order_id": shipped.pk, "kind": "damaged", "message": "Mug arrived broken"}
    opened = api.post("/api/v1/claims/", body, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert opened.status_code == 201, opened.json()
    again = api.post("/api/v1/claims/", body, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert again.json() == opened.json() and again["Idempotent-Replayed"] == "true"
    with scope(workspace=owner.workspace):
        assert Claim.objects.filter(order=shipped).count() == 1
        assert OrderEvent.objects.filter(order=shipped, type="claim.opened").count() == 1
    listed = api.get("/api/v1/claims/", {"order": shipped.pk}).json()["results"]
    assert [(c["id"], c["kind"], c["status"]) for c in listed] == \
        [(opened.json()["id"], "damaged", "open")]


def test_a_claim_before_shipping_is_a_409_and_bad_input_a_400(owner, api_client_for,
                                                             workspace):
    order = make_order(workspace, [])
    api = api_client_for(owner)
    early = api.post("/api/v1/claims/", {"order_id": order.pk, "kind": "lost",
                                         "message": "Never came"}, format="json")
    assert early.status_code == 409
    bad = api.post("/api/v1/claims/", {"order_id": order.pk, "kind": "bored",
                                       "message": ""}, format="json")
    assert bad.status_code == 400
    assert {"kind", "message"} <= set(bad.json()["error"]["fields"])


def test_print_files_listed_per_line_and_downloaded_as_attachments(owner, api_client_for,
                                                                   shipped):
    with scopes_disabled():
        line = LineItem.objects.get(order=shipped)
        pf = PrintFile(workspace=owner.workspace, order=shipped, line_item=line, side="front",
                       version=1, format="png")
        pf.file.save("art.png", ContentFile(b"\x89PNG\r\n\x1a\n fake"), save=False)
        pf.save()
    api = api_client_for(owner)
    (listed,) = api.get("/api/v1/print-files/", {"line_item": line.pk}).json()["results"]
    assert listed["id"] == pf.pk and listed["version"] == 1
    download = api.get(listed["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content).startswith(b"\x89PNG")
    assert not api.get("/api/v1/print-files/", {"order": shipped.pk + 1000}).json()["results"]
