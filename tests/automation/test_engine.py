"""Rules firing on new orders through the real import path (orders.services.order_import,
then the subscribers after commit), the issue's three seller rules, loops, deleted
references, and each action through the service people use."""

from decimal import Decimal

import pytest
from django_scopes import scope

from automation import engine, services
from automation.models import ApplyStatus, OrderTag, Rule, RuleFiring
from billing import ledger
from billing.models import EntryKind, OrderCharge
from fulfillment import routing
from orders import services as order_services
from orders.events import Actor, OrderEvents
from orders.models import ActorType, HoldReason, Order, OrderEvent, OrderState
from podhub.core.models import OutgoingEmail
from tests.automation.conftest import line
from tests.factories import ProviderFactory, StoreFactory, VariantFactory
from tests.fulfillment.fulfillment_support import make_provider

S = OrderState
pytestmark = pytest.mark.django_db

BRAZIL_OVER_200 = {
    "name": "Brazil over 200 USD", "trigger": "imported", "match": "all",
    "conditions": [{"field": "country", "op": "in", "value": ["BR"]},
                   {"field": "currency", "op": "in", "value": "USD"},
                   {"field": "total", "op": "gt", "value": "200"}],
    "actions": [{"type": "hold", "value": "Check high-value orders to Brazil."}],
}


def timeline(workspace, order):
    with scope(workspace=workspace):
        return list(OrderEvent.objects.filter(order=order).order_by("created_at", "pk"))


def fired(workspace, order):
    return [e for e in timeline(workspace, order) if e.type == OrderEvents.RULE_FIRED]


# --- the three seller rules, on new orders ---------------------------------------


def test_hold_every_order_to_brazil_over_200_usd(workspace, store, catalog, make_rule,
                                                  import_order):
    rule = make_rule(**BRAZIL_OVER_200)
    big = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="BR")
    small = import_order(workspace, store, line("MUG11-WHITE", 1, "150.00"), country="BR")
    elsewhere = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="US")

    assert big.state == S.ON_HOLD and big.hold_reason == HoldReason.RULE
    assert big.hold_message == "Check high-value orders to Brazil."
    held = [e for e in timeline(workspace, big) if e.type == OrderEvents.HELD_RULE]
    assert held[0].actor_type == ActorType.RULE
    assert held[0].actor_label == "Auto: rule Brazil over 200 USD"
    [entry] = fired(workspace, big)
    assert entry.actor_label == "Auto: rule Brazil over 200 USD"
    assert "Ship-to country is one of BR" in entry.message
    assert "Held: Check high-value orders to Brazil." in entry.message
    with scope(workspace=workspace):
        firing = RuleFiring.objects.get(rule=rule, order=big)
    assert firing.changes == [{"action": "hold",
                               "said": "Held: Check high-value orders to Brazil."}]
    assert small.state != S.ON_HOLD and not fired(workspace, small)
    assert elsewhere.state != S.ON_HOLD and not fired(workspace, elsewhere)


def _mug_with_backup(catalog):
    primary = make_provider("primary-print", kind="own", name="Primary Print")
    backup = make_provider("backup-print", kind="own", name="Backup Print")
    variant = VariantFactory(product=catalog.mug, sku="MUG-RED", price="8.00")
    from quotes.models import VariantProvider

    for priority, provider in enumerate((primary, backup), 1):
        VariantProvider.objects.create(variant=variant, provider=provider,
                                       provider_sku=f"{provider.code}-red",
                                       base_cost_amount=Decimal("4.00"), priority=priority)
    return primary, backup, variant


def test_route_skus_starting_with_mug_to_the_backup_provider(workspace, store, catalog,
                                                             make_rule, import_order):
    primary, backup, _ = _mug_with_backup(catalog)
    make_rule(name="Mugs to backup", trigger="imported",
              conditions=[{"field": "sku", "op": "starts_with", "value": "MUG-"}],
              actions=[{"type": "route", "value": backup.pk}])
    order = import_order(workspace, store, line("MUG-RED", 2), line("MUG11-WHITE", 1))
    with scope(workspace=workspace):
        plan = routing.plan(order)
        chosen = {r.line.sku: r.chosen.provider.code for leg in plan.legs.values()
                  for r in leg}
    assert chosen["MUG-RED"] == "backup-print"
    [entry] = fired(workspace, order)
    assert "Routed MUG-RED to Backup Print." in entry.message
    # without the rule the primary is first
    with scope(workspace=workspace):
        Rule.objects.all().delete()
    other = import_order(workspace, store, line("MUG-RED", 1))
    with scope(workspace=workspace):
        plan = routing.plan(other)
    assert [r.chosen.provider.code for leg in plan.legs.values() for r in leg] == \
        ["primary-print"]


def test_skip_importing_skus_starting_with_digital(workspace, store, catalog, make_rule,
                                                   import_order):
    rule = make_rule(name="No digital", trigger="imported",
                     conditions=[{"field": "sku", "op": "starts_with", "value": "DIGITAL-"}],
                     actions=[{"type": "skip_import", "value": "items"}])
    assert import_order(workspace, store, line("DIGITAL-EBOOK", 1),
                        external_id="only-digital") is None
    mixed = import_order(workspace, store, line("DIGITAL-EBOOK", 1), line("MUG11-WHITE", 1),
                         external_id="mixed")
    with scope(workspace=workspace):
        assert not Order.objects.filter(external_id="only-digital").exists()
        assert [ln.sku for ln in mixed.line_items.all()] == ["MUG11-WHITE"]
        skipped = RuleFiring.objects.get(rule=rule, external_id="only-digital")
        assert skipped.order is None and skipped.store == store
        assert skipped.changes[0]["said"] == "Skipped at import: the whole order."
    [entry] = fired(workspace, mixed)
    assert entry.message.endswith("Skipped at import: DIGITAL-EBOOK.")
    assert entry.actor_label == "Auto: rule No digital"


def test_the_whole_order_is_skipped_by_default(workspace, store, catalog, make_rule,
                                               import_order):
    make_rule(name="No digital", trigger="imported",
              conditions=[{"field": "sku", "op": "starts_with", "value": "DIGITAL-"}],
              actions=[{"type": "skip_import"}])
    assert import_order(workspace, store, line("DIGITAL-EBOOK", 1), line("MUG11-WHITE", 1)) \
        is None


def test_skip_import_applies_to_csv_api_and_typed_orders(workspace, owner, catalog, make_rule,
                                                          api_client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_rule(name="No digital", trigger="imported",
              conditions=[{"field": "sku", "op": "starts_with", "value": "DIGITAL-"}],
              actions=[{"type": "skip_import", "value": "items"}])
    header = "order_number,ship_name,ship_address1,ship_city,ship_zip,ship_country,sku," \
             "quantity,unit_price"
    csv = "\n".join([header, "E-1,Ana,1 Main St,Springfield,62701,US,DIGITAL-EBOOK,1,5.00",
                     "E-2,Ben,2 Main St,Springfield,62701,US,DIGITAL-EBOOK,1,5.00",
                     "E-2,Ben,2 Main St,Springfield,62701,US,MUG11-WHITE,1,14.50"])
    with scope(workspace=workspace):
        report = order_services.csv_import(
            workspace=workspace, actor=Actor.seller(owner.user),
            file=SimpleUploadedFile("orders.csv", csv.encode(), content_type="text/csv"))
        e2 = Order.objects.get(number="E-2")
        assert [ln.sku for ln in e2.line_items.all()] == ["MUG11-WHITE"]
        assert not Order.objects.filter(number="E-1").exists()
    assert [o.number for o in report.created] == ["E-2"]
    [(row, reason)] = report.rejected
    assert (row, reason) == (2, "Not imported: skipped by rule No digital")
    # the API (and the dashboard's form, the same service): a 400 naming the rule's skip
    api = api_client_for(owner)
    order = {"channel": "etsy", "number": "E-3", "currency": "USD",
             "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                  "city": "Springfield", "province": "IL", "zip": "62701",
                                  "country_code": "US"},
             "line_items": [{"sku": "DIGITAL-EBOOK", "quantity": 1, "unit_price": "5.00"}]}
    refused = api.post("/api/v1/orders/", order, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Not imported: skipped by rule No digital"
    with scope(workspace=workspace):
        assert not Order.objects.filter(number="E-3").exists()


# --- apply to existing orders -------------------------------------------------------------


def _apply(workspace, owner, rule, state=""):
    with scope(workspace=workspace):
        job = services.apply_start(workspace=workspace, membership=owner, rule_id=rule.pk,
                                   state=state)
        return services.apply_process(job_id=job.pk)


def test_the_three_rules_applied_to_existing_orders(workspace, owner, store, catalog,
                                                    make_rule, import_order,
                                                    django_capture_on_commit_callbacks):
    primary, backup, _ = _mug_with_backup(catalog)
    brazil = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="BR")
    mug = import_order(workspace, store, line("MUG-RED", 1))
    digital = import_order(workspace, store, line("DIGITAL-EBOOK", 1))
    assert digital.state == S.IN_QUOTATION  # imported before the rule: waits for a quote
    hold = make_rule(**BRAZIL_OVER_200)
    route = make_rule(name="Mugs to backup", trigger="imported",
                      conditions=[{"field": "sku", "op": "starts_with", "value": "MUG-"}],
                      actions=[{"type": "route", "value": backup.pk}])
    skip = make_rule(name="No digital", trigger="imported",
                     conditions=[{"field": "sku", "op": "starts_with", "value": "DIGITAL-"}],
                     actions=[{"type": "skip_import"}])
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [_apply(workspace, owner, r) for r in (hold, route, skip)]
    assert [(j.status, j.total, j.done, j.matched) for j in jobs] == \
        [(ApplyStatus.DONE, 3, 3, 1)] * 3
    with scope(workspace=workspace):
        for o in (brazil, mug, digital):
            o.refresh_from_db()
        plan = routing.plan(mug)
    assert brazil.state == S.ON_HOLD and brazil.hold_reason == HoldReason.RULE
    assert [r.chosen.provider.code for leg in plan.legs.values() for r in leg] == \
        ["backup-print"]
    assert digital.state == S.CANCELLED
    assert "Skipped by rule No digital" in digital.cancel_note
    for order, said in ((brazil, "Held"), (mug, "Routed MUG-RED"),
                        (digital, "Cancelled (skipped")):
        [entry] = fired(workspace, order)
        assert said in entry.message
    # applying again changes nothing more: each rule says why
    with django_capture_on_commit_callbacks(execute=True):
        again = _apply(workspace, owner, hold)
    assert again.matched == 1
    assert "Already on hold" in fired(workspace, brazil)[-1].message


def test_apply_to_one_tab_only(workspace, owner, store, catalog, make_rule, import_order,
                               django_capture_on_commit_callbacks):
    quoted = import_order(workspace, store, line("UNKNOWN-1", 1))
    priced = import_order(workspace, store, line("MUG11-WHITE", 1))
    assert (quoted.state, priced.state) == (S.IN_QUOTATION, S.TO_ORDER)
    rule = make_rule(name="Tag", trigger="priced",
                     actions=[{"type": "tag", "value": "Wholesale"}])
    with django_capture_on_commit_callbacks(execute=True):
        job = _apply(workspace, owner, rule, state=S.TO_ORDER)
    assert (job.total, job.matched) == (1, 1)
    with scope(workspace=workspace):
        assert list(OrderTag.objects.values_list("order_id", "name")) == \
            [(priced.pk, "wholesale")]


# --- loops and depth ---------------------------------------------------------------------


def test_a_rule_never_retriggers_itself(workspace, store, catalog, make_rule, import_order):
    # on hold -> release, then hold again: its own hold is an "order held" event
    rule = make_rule(name="Bounce", trigger="held",
                     actions=[{"type": "release"}, {"type": "hold", "value": "again"}])
    order = import_order(workspace, store, line("MUG11-WHITE", 1))
    with scope(workspace=workspace):
        order_services.order_hold(order_id=order.pk, reason=HoldReason.ADDRESS_INVALID,
                                  message="bad", actor=Actor.system())
    # run the held event's subscribers as after commit
    with scope(workspace=workspace):
        event = OrderEvent.objects.filter(order=order, type=OrderEvents.HELD_ADDRESS_INVALID
                                          ).get()
        engine.run_for_event(workspace=workspace, event_id=event.pk)
        own = OrderEvent.objects.filter(order=order, type=OrderEvents.HELD_RULE).get()
        assert own.actor_label == "Auto: rule Bounce"
        assert engine.run_for_event(workspace=workspace, event_id=own.pk) == 0
        assert RuleFiring.objects.filter(rule=rule).count() == 1
        order.refresh_from_db()
    assert order.state == S.ON_HOLD and order.hold_reason == HoldReason.RULE


def test_a_chain_of_rules_stops_at_the_depth_limit(workspace, store, catalog, make_rule,
                                                   import_order,
                                                   django_capture_on_commit_callbacks):
    make_rule(name="Ping", trigger="held", actions=[{"type": "release"}])
    make_rule(name="Pong", trigger="released", actions=[{"type": "hold", "value": "pong"}])
    order = import_order(workspace, store, line("MUG11-WHITE", 1))
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_hold(order_id=order.pk, reason=HoldReason.ADDRESS_INVALID,
                                  message="bad", actor=Actor.system())
    with scope(workspace=workspace):
        firings = list(RuleFiring.objects.filter(order=order).order_by("pk"))
    assert [f.depth for f in firings] == list(range(engine.MAX_DEPTH + 1))
    assert "Stopped: 5 rule firings in a row" in firings[-1].error
    assert firings[-1].changes == []


# --- deleted references ----------------------------------------------------------------------


def test_a_rule_naming_a_deleted_store_is_disabled_and_intake_goes_on(
        workspace, store, catalog, make_rule, import_order):
    gone = StoreFactory(workspace=workspace, name="Old shop")
    rule = make_rule(name="Old shop orders", conditions=[
        {"field": "store", "op": "is", "value": gone.pk}],
        actions=[{"type": "tag", "value": "old"}])
    with scope(workspace=workspace):
        gone.delete()
    order = import_order(workspace, store, line("MUG11-WHITE", 1))
    assert order.state == S.TO_ORDER
    with scope(workspace=workspace):
        rule.refresh_from_db()
    assert not rule.enabled
    assert rule.disabled_reason.startswith("It names a store that was deleted")


def test_a_rule_routing_to_a_deleted_provider_is_disabled(workspace, store, catalog,
                                                          make_rule, import_order):
    provider = ProviderFactory(code="gone-print")
    rule = make_rule(name="To gone", actions=[{"type": "route", "value": provider.pk}])
    provider.delete()
    order = import_order(workspace, store, line("MUG11-WHITE", 1))
    assert order is not None and order.state == S.TO_ORDER
    with scope(workspace=workspace):
        rule.refresh_from_db()
        assert not RuleFiring.objects.filter(rule=rule).exists()
    assert not rule.enabled and "provider" in rule.disabled_reason


def test_a_failing_rule_never_stops_an_import(workspace, store, catalog, make_rule,
                                              import_order, monkeypatch):
    make_rule(name="Skip", conditions=[{"field": "sku", "op": "is", "value": "X"}],
              actions=[{"type": "skip_import"}])

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.facts, "for_input", broken)
    order = import_order(workspace, store, line("X", 1))
    assert order is not None


# --- each action through its service ---------------------------------------------------------


def test_tag_untag_note_and_email(workspace, owner, store, catalog, make_rule, import_order):
    make_rule(name="Wholesale", trigger="imported",
              conditions=[{"field": "quantity", "op": "gte", "value": 10}],
              actions=[{"type": "tag", "value": "Wholesale"},
                       {"type": "add_note", "value": "Big order: check stock."},
                       {"type": "email_team", "value": "A wholesale order came in."}])
    make_rule(name="Not retail", trigger="priced",
              conditions=[{"field": "tag", "op": "has", "value": "wholesale"}],
              actions=[{"type": "untag", "value": "Wholesale"}, {"type": "tag", "value": "b2b"}])
    order = import_order(workspace, store, line("MUG11-WHITE", 12))
    with scope(workspace=workspace):
        tags = set(OrderTag.objects.filter(order=order).values_list("name", flat=True))
        mail = OutgoingEmail.objects.get()
    assert tags == {"b2b"}  # tagged on import, then swapped once priced
    notes = [e for e in timeline(workspace, order) if e.type == OrderEvents.NOTE_ADDED]
    assert notes[0].message == "Big order: check stock."
    assert notes[0].actor_label == "Auto: rule Wholesale"
    assert mail.to == ["owner@acme.test"] and "Rule Wholesale" in mail.subject


def test_auto_pay_with_the_rule_shipping_method_and_a_cap(workspace, store, catalog,
                                                          make_rule, import_order):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100"), key="fund")
    make_rule(name="Express", trigger="imported",
              actions=[{"type": "set_shipping_method", "value": "express"}])
    make_rule(name="Pay small", trigger="priced",
              conditions=[{"field": "margin", "op": "gt", "value": "0"}],
              actions=[{"type": "auto_pay", "value": "30"}])
    paid = import_order(workspace, store, line("MUG11-WHITE", 1, "40.00"))
    capped = import_order(workspace, store, line("MUG11-WHITE", 5, "40.00"))
    with scope(workspace=workspace):
        charge = OrderCharge.objects.get(order=paid)
    assert paid.state == S.AWAITING_SUBMISSION and charge.shipping_method == "express"
    assert capped.state == S.TO_ORDER
    assert "above the rule's cap" in fired(workspace, capped)[-1].message


def test_paying_by_hand_uses_the_rule_shipping_method_unless_the_seller_picks(
        workspace, store, catalog, make_rule, import_order):
    from billing import payments

    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                      amount=Decimal("100"), key="fund")
    make_rule(name="Express", trigger="imported",
              actions=[{"type": "set_shipping_method", "value": "express"}])
    first = import_order(workspace, store, line("MUG11-WHITE", 1, "40.00"))
    second = import_order(workspace, store, line("MUG11-WHITE", 1, "40.00"))
    with scope(workspace=workspace):
        # the Pay page preselects the rule's method ...
        sel = payments.selection_price(workspace=workspace, order_ids=[first.pk, second.pk])
        assert [sel.prices[o].shipping_method for o in (first.pk, second.pk)] == [
            "express", "express"]
        # ... paying without a pick uses it; the seller's own pick wins
        payments.orders_pay(workspace=workspace, order_ids=[first.pk, second.pk],
                            shipping_methods={second.pk: "standard"}, key="by-hand")
        charges = dict(OrderCharge.objects.filter(order__in=[first, second])
                       .values_list("order_id", "shipping_method"))
    assert charges == {first.pk: "express", second.pk: "standard"}


def test_a_loss_making_order_never_matches_a_margin_condition(workspace, store, catalog,
                                                              make_rule, import_order):
    make_rule(name="Pay", trigger="priced",
              conditions=[{"field": "margin", "op": "gt", "value": "0"}],
              actions=[{"type": "tag", "value": "profitable"}])
    order = import_order(workspace, store, line("MUG11-WHITE", 1, "5.00"))
    assert not fired(workspace, order)


def test_submit_now_and_release(workspace, store, catalog, make_rule, import_order,
                                django_capture_on_commit_callbacks):
    make_rule(name="Release address holds", trigger="held",
              conditions=[{"field": "address", "op": "complete"}],
              actions=[{"type": "release"}])
    order = import_order(workspace, store, line("MUG11-WHITE", 1))
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_hold(order_id=order.pk, reason=HoldReason.ADDRESS_INVALID,
                                  message="check", actor=Actor.system())
    with scope(workspace=workspace):
        order.refresh_from_db()
    assert order.state == S.TO_ORDER
    released = [e for e in timeline(workspace, order) if e.type == OrderEvents.RELEASED]
    assert released[-1].actor_label == "Auto: rule Release address holds"


def test_submit_now_goes_through_routing(workspace, store, catalog, make_rule,
                                         django_capture_on_commit_callbacks):
    from tests.fulfillment.fulfillment_support import make_order, make_variant

    provider = make_provider("own-board", kind="own")
    variant = make_variant("MUG-BLUE", [(provider, "4.00")])
    order = make_order(workspace, [variant], store=store, state=S.AWAITING_SUBMISSION)
    rule = make_rule(name="Rush", trigger="paid", actions=[{"type": "submit_now"}])
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        firing = engine.fire(rule, order, event="order.paid", matched=[])
        order.refresh_from_db()
    assert firing.error == ""
    assert order.state == S.IN_PRODUCTION, firing.changes
    submitted = [e for e in timeline(workspace, order) if e.type == OrderEvents.SUBMITTED]
    assert submitted[0].actor_label == "Auto: rule Rush"


def test_skip_import_rules_apply_to_a_bulk_import_batch(workspace, store, catalog, make_rule,
                                                        django_capture_on_commit_callbacks):
    """orders_import (the bulk import's batch) reads the skip-import rules once and skips
    as order_import does: the whole order, some of its items, or nothing."""
    from tests.quotes.conftest import STORE_ACTOR, T0, order_data

    rule = make_rule(name="No digital", trigger="imported",
                     conditions=[{"field": "sku", "op": "starts_with", "value": "DIGITAL-"}],
                     actions=[{"type": "skip_import", "value": "items"}])
    items = [order_data(line("DIGITAL-EBOOK", 1), external_id="only-digital"),
             order_data(line("DIGITAL-EBOOK", 1), line("MUG11-WHITE", 1), external_id="mixed"),
             order_data(line("MUG11-WHITE", 1), external_id="plain")]
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        got = order_services.orders_import(workspace=workspace, store=store, items=items,
                                           actor=STORE_ACTOR, now=T0)
    assert isinstance(got[0], order_services.NothingToMake)
    assert got[0].message == "Not imported: skipped by rule No digital"
    (mixed, created), (plain, plain_created) = got[1], got[2]
    assert created and plain_created
    with scope(workspace=workspace):
        assert not Order.objects.filter(external_id="only-digital").exists()
        assert [ln.sku for ln in mixed.line_items.all()] == ["MUG11-WHITE"]
        assert [ln.sku for ln in plain.line_items.all()] == ["MUG11-WHITE"]
        assert RuleFiring.objects.get(rule=rule, external_id="only-digital").order is None
    [entry] = fired(workspace, mixed)
    assert entry.message.endswith("Skipped at import: DIGITAL-EBOOK.")
    assert fired(workspace, plain) == []
