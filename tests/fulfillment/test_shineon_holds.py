"""ShineOn holds the order during PodHub's submit countdown (fulfillment/holds.py,
docs/fulfillment.md "Holds"): sent on hold (`ready: 0`) when the countdown starts, buyer
and seller changes applied to the held order (`PUT`), cancelled with the order, and
released (`POST …/ready`) by the submission at the countdown's end, under the same
`source_id`. Against the ShineOn stand-in over real HTTP.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment import holds, submission
from fulfillment.models import HoldStatus, ProviderHold, SubmissionStatus
from orders import services as order_services
from orders.events import Actor
from orders.models import Order, OrderEvent
from tests.fulfillment import provider_harness as ph
from tests.fulfillment.provider_harness import NOW, sub_of

SELLER = Actor.system("test seller")
ENGRAVING = [{"key": "Engraving Line 1", "value": "Always"}]


@pytest.fixture
def shineon(db):
    yield from ph.harness("shineon")


def _counting(h, workspace, *, start=NOW, hours=6, **kwargs):
    """An order paid at `start` whose countdown ends `hours` later."""
    order = h.order(workspace, **kwargs)
    with scopes_disabled():
        Order.objects.filter(pk=order.pk).update(submit_at=start + timedelta(hours=hours))
    return order


def _hold(order) -> ProviderHold:
    with scopes_disabled():
        return ProviderHold.objects.get(order=order)


def _said(workspace, order, type) -> list[str]:
    with scope(workspace=workspace):
        return list(OrderEvent.objects.filter(order=order, type=type).order_by("pk")
                    .values_list("message", flat=True))


def test_sent_on_hold_at_countdown_start_changes_applied_and_released_at_its_end(
        workspace, shineon):
    h = shineon
    order = _counting(h, workspace, personalization=ENGRAVING)
    # the countdown starts: ShineOn gets the order on hold under a reference of ours
    assert holds.sync_order(order_id=order.pk, now=NOW) == ["held"]
    hold = _hold(order)
    remote = h.standin.find(hold.reference)
    assert hold.reference == f"PH{order.pk}-H1" and hold.external_id == remote.id
    assert h.standin.status(remote) == "on_hold"
    assert h.standin.stats["creates"] == 1 and h.standin.stats["confirms"] == 0
    assert "on hold" in _said(workspace, order, "fulfillment.held")[0]
    # nothing changed: nothing is sent again
    assert holds.sync_order(order_id=order.pk, now=NOW + timedelta(minutes=5)) == []
    # the seller fixes the address and the engraving during the countdown
    with scope(workspace=workspace):
        line = order.line_items.first()
        order_services.order_edit(order_id=order.pk, actor=SELLER, changes={
            "shipping_address": {"address1": "2 Elm St"},
            "lines": {str(line.pk): {"personalization": [
                {"key": "Engraving Line 1", "value": "Forever"}]}}})
    assert holds.sync_order(order_id=order.pk, now=NOW + timedelta(hours=1)) == ["held"]
    remote = h.standin.find(hold.reference)
    assert remote.recipient["address1"] == "2 Elm St"
    by_line = {int(i["ref"]): i for i in remote.items}
    assert by_line[line.pk]["properties"]["Engraving Line 1"] == "Forever"
    assert h.standin.status(remote) == "on_hold" and h.standin.stats["updates"] == 1
    assert _said(workspace, order, "fulfillment.hold_updated")
    # the countdown ends: the submission takes the hold's reference and releases it
    assert submission.submit_sweep(now=NOW + timedelta(hours=6, minutes=1)) == 1
    sub = sub_of(workspace, order)
    assert sub.reference == hold.reference and sub.status == SubmissionStatus.ACCEPTED
    assert sub.external_id == hold.external_id
    assert h.standin.status(h.standin.find(hold.reference)) == "awaiting_payment"
    assert h.standin.stats["creates"] == 1 and h.standin.stats["confirms"] == 1
    assert _hold(order).status == HoldStatus.SUBMITTED


def test_a_change_the_last_sync_missed_goes_with_the_release(workspace, shineon):
    """An edit whose sync never ran (a lost task) is still what ShineOn makes: the
    submission replaces the held order before releasing it."""
    h = shineon
    order = _counting(h, workspace)
    holds.sync_order(order_id=order.pk, now=NOW)
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=SELLER,
                                  changes={"shipping_address": {"city": "Shelbyville"}})
    submission.submit_sweep(now=NOW + timedelta(hours=7))
    remote = h.standin.find(_hold(order).reference)
    assert remote.recipient["city"] == "Shelbyville"
    assert h.standin.status(remote) == "awaiting_payment"
    assert h.standin.stats["creates"] == 1


def test_the_store_cancelling_the_order_cancels_the_held_order(workspace, shineon):
    h = shineon
    order = _counting(h, workspace)
    holds.sync_order(order_id=order.pk, now=NOW)
    with scope(workspace=workspace):
        order_services.order_cancel(order_id=order.pk, reason="store",
                                    actor=Actor.store("Shopify"))
    assert holds.sync_order(order_id=order.pk, now=NOW + timedelta(minutes=2)) == ["cancelled"]
    hold = _hold(order)
    assert hold.status == HoldStatus.CANCELLED
    assert h.standin.status(h.standin.find(hold.reference)) == "cancelled"
    assert "the order was cancelled" in _said(workspace, order,
                                              "fulfillment.hold_cancelled")[0]
    # replayed: nothing more is sent
    assert holds.sync_order(order_id=order.pk, now=NOW + timedelta(minutes=3)) == []


def test_a_crash_after_the_hold_was_made_is_found_by_source_id(workspace, shineon):
    h = shineon
    order = _counting(h, workspace)
    # the worker claimed the hold, made it at ShineOn, and died before saving
    with scope(workspace=workspace), scopes_disabled():
        from django.db import transaction

        with transaction.atomic():
            claimed = holds._claim(order.pk, now=NOW)
        hold = ProviderHold.objects.get(pk=claimed[0][0])
        h.client().hold_order(holds.factory_order(hold))
    assert h.standin.stats["creates"] == 1
    # the lease runs: the sweep leaves it alone; after it, sends it again
    assert holds.hold_sweep(now=NOW + timedelta(minutes=1)) == 0
    assert holds.hold_sweep(now=NOW + timedelta(minutes=3)) == 1
    hold = _hold(order)
    assert hold.status == HoldStatus.HELD
    assert hold.external_id == h.standin.find(hold.reference).id
    assert h.standin.stats["creates"] == 1  # found by source_id, replaced, not made again


def test_shineon_down_during_the_countdown_loses_nothing(workspace, shineon):
    h = shineon
    order = _counting(h, workspace)
    h.standin.faults.down = True
    assert holds.sync_order(order_id=order.pk, now=NOW) == ["retry later"]
    hold = _hold(order)
    assert hold.status == HoldStatus.NEW and hold.dirty
    assert "unavailable" in _said(workspace, order, "fulfillment.provider_unavailable")[0]
    h.standin.faults.down = False
    assert holds.hold_sweep(now=NOW + timedelta(minutes=1)) == 1
    assert _hold(order).status == HoldStatus.HELD
    assert len(_said(workspace, order, "fulfillment.provider_unavailable")) == 1


def test_a_revoked_key_stops_hold_calls_and_the_submission_still_goes(workspace, shineon):
    h = shineon
    order = _counting(h, workspace)
    h.standin.faults.revoked = True
    assert holds.sync_order(order_id=order.pk, now=NOW) == ["retry later"]
    h.connection.refresh_from_db()
    assert "401" in h.connection.problem
    calls = h.standin.stats["calls"]
    holds.hold_sweep(now=NOW + timedelta(minutes=5))
    assert h.standin.stats["calls"] == calls  # no call while the key is refused
    h.standin.faults.revoked = False
    with scopes_disabled():
        h.connection.problem = ""
        h.connection.save()
    submission.submit_sweep(now=NOW + timedelta(hours=7))
    sub = sub_of(workspace, order)
    assert sub.reference == _hold(order).reference
    assert sub.status == SubmissionStatus.ACCEPTED and h.standin.stats["creates"] == 1


def test_a_hold_nothing_took_is_cancelled_after_submission(
        workspace, shineon, django_capture_on_commit_callbacks):
    """At the countdown's end the items go to another provider (ShineOn no longer makes
    them): the submission goes there and the order ShineOn holds is cancelled."""
    from quotes.models import VariantProvider

    h = shineon
    variants = h.variants()
    order = _counting(h, workspace, variants=variants)
    holds.sync_order(order_id=order.pk, now=NOW)
    hold = _hold(order)
    with scopes_disabled():
        ph.backup_provider(variants)
        VariantProvider.objects.filter(provider=h.provider).delete()
    with django_capture_on_commit_callbacks(execute=True):  # the follow-up cancels it
        submission.submit_sweep(now=NOW + timedelta(hours=7))
    assert ph.subs_of(order) == [("accepted", "backup")]
    assert _hold(order).status == HoldStatus.CANCELLED
    assert h.standin.status(h.standin.find(hold.reference)) == "cancelled"
    assert "the submission did not take it" in _said(workspace, order,
                                                     "fulfillment.hold_cancelled")[0]


def test_other_providers_are_untouched(workspace, db):
    gen = ph.harness("printful")
    h = next(gen)
    try:
        order = _counting(h, workspace)
        assert holds.sync_order(order_id=order.pk, now=NOW) == []
        with scopes_disabled():
            assert not ProviderHold.objects.exists()
        assert h.standin.stats["creates"] == 0
    finally:
        next(gen, None)


def test_the_order_event_starts_the_hold(workspace, shineon,
                                         django_capture_on_commit_callbacks):
    """Through the subscription (the follow-up runs after commit with the real clock)."""
    h = shineon
    order = _counting(h, workspace, start=timezone.now())
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_edit(order_id=order.pk, actor=SELLER,
                                  changes={"shipping_address": {"address2": "Apt 4"}})
    hold = _hold(order)
    assert hold.status == HoldStatus.HELD
    assert h.standin.find(hold.reference).recipient["address2"] == "Apt 4"


def test_staff_see_the_holds_in_the_admin(workspace, shineon, client):
    from tests.factories import UserFactory

    h = shineon
    order = _counting(h, workspace)
    h.standin.faults.down = True
    holds.sync_order(order_id=order.pk, now=NOW)
    client.force_login(UserFactory(email="staff@podhub.test", is_staff=True,
                                   is_superuser=True))
    page = client.get("/admin/fulfillment/providerhold/").content.decode()
    hold = _hold(order)
    assert hold.reference in page and "Not at the provider yet" in page
    assert "HTTP 503" in page  # why it waits


def test_a_change_already_carried_by_the_send_under_way_sends_nothing_more(workspace,
                                                                           shineon):
    """A change arrived while a send was under way (marked dirty) but that send already
    carried it: the sweep finds the held order as the order is and sends nothing."""
    h = shineon
    order = _counting(h, workspace)
    holds.sync_order(order_id=order.pk, now=NOW)
    with scopes_disabled():
        ProviderHold.objects.filter(order=order).update(dirty=True)
    calls = h.standin.stats["calls"]
    assert holds.hold_sweep(now=NOW + timedelta(minutes=1)) == 1
    assert h.standin.stats["calls"] == calls and not _hold(order).dirty
    assert holds.hold_sweep(now=NOW + timedelta(minutes=2)) == 0  # not picked again
