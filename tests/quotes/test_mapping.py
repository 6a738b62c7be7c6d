"""Mapping store lines to catalog variants: catalog SKU, exact and prefix rules, links."""

import inspect

import pytest
from django_scopes import scope

from orders.models import LineItem, Order, OrderState
from quotes import services
from quotes.models import Quote, QuoteLine, QuoteStatus, RuleKind
from tests.factories import ProductFactory, StoreFactory, VariantFactory

pytestmark = pytest.mark.django_db
S = OrderState


def _lines(order):
    return list(LineItem.objects.filter(order=order).order_by("pk"))


def test_an_order_whose_skus_are_catalog_skus_is_priced_at_import(
    workspace, store, catalog, import_order
):
    # given a catalog with MUG11-WHITE and STAMP-40; when an order of both arrives
    order = import_order(workspace, store, ("MUG11-WHITE", 2), ("STAMP-40", 1))
    # then it is priced at once, each line naming its catalog variant
    with scope(workspace=workspace):
        assert order.state == S.TO_ORDER
        lines = _lines(order)
        assert [ln.catalog_variant_id for ln in lines] == [catalog.mug_white.pk,
                                                          catalog.stamp_40.pk]
        assert [ln.unmapped_reason for ln in lines] == ["", ""]
        assert not Quote.objects.filter(workspace=workspace).exists()


def test_an_unknown_sku_waits_in_quotation_saying_which_line_and_why(
    workspace, store, catalog, import_order
):
    order = import_order(workspace, store, ("MUG11-WHITE", 1),
                         {"sku": "PLAQUE-OAK", "title": "Oak plaque", "quantity": 1})
    with scope(workspace=workspace):
        assert order.state == S.IN_QUOTATION
        mapped, unmapped = _lines(order)
        assert mapped.catalog_variant_id == catalog.mug_white.pk and not mapped.unmapped_reason
        assert unmapped.catalog_variant_id is None
        assert unmapped.unmapped_reason.startswith(
            "Not connected: SKU PLAQUE-OAK matches no catalog product, link or SKU rule.")
        assert "PodHub staff are preparing a quote" in unmapped.unmapped_reason
        quote = Quote.objects.get(workspace=workspace)
        assert quote.title == "Oak plaque" and quote.status == QuoteStatus.REQUESTED
        assert order.events.filter(type="order.quote_requested").exists()


def test_a_line_without_sku_or_store_ids_is_explained(workspace, store, catalog, import_order):
    order = import_order(workspace, store, {"title": "Hand-made thing", "quantity": 1})
    with scope(workspace=workspace):
        (line,) = _lines(order)
        assert "the item has no SKU and its store product is not linked" in line.unmapped_reason


def test_one_quote_per_store_product_not_per_order_with_one_line_per_variant(
    workspace, store, catalog, import_order
):
    # given two orders of the same store product in two variants
    def plaque(variant, sku):
        return {"sku": sku, "title": "Oak plaque", "variant_title": variant,
                "store_product_id": "777", "store_variant_id": sku.lower(), "quantity": 1,
                "images": ["https://img.test/plaque.png"],
                "personalization": [{"key": "Name", "value": "Ana"}]}

    import_order(workspace, store, plaque("Small", "PLQ-S"))
    import_order(workspace, store, plaque("Large", "PLQ-L"), plaque("Small", "PLQ-S"))
    with scope(workspace=workspace):
        quote = Quote.objects.get(workspace=workspace)
        assert quote.product_key == "p:777"
        assert quote.images == [{"key": "", "url": "https://img.test/plaque.png"}]
        assert quote.personalization_sample == [{"key": "Name", "value": "Ana"}]
        assert sorted(QuoteLine.objects.filter(quote=quote).values_list("variant_title",
                                                                       flat=True)) == [
            "Large", "Small"]


def test_exact_sku_rule_maps_a_store_sku(workspace, owner, store, catalog, import_order):
    with scope(workspace=workspace):
        services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="MY-MUG",
                                 variant_id=catalog.mug_black.pk, by=owner.user)
    order = import_order(workspace, store, ("MY-MUG", 1))
    with scope(workspace=workspace):
        assert order.state == S.TO_ORDER
        assert _lines(order)[0].catalog_variant_id == catalog.mug_black.pk


def test_prefix_rules_the_longest_prefix_wins(workspace, owner, store, catalog, import_order):
    with scope(workspace=workspace):
        services.sku_rule_create(workspace=workspace, kind=RuleKind.PREFIX, pattern="MUG-",
                                 variant_id=catalog.mug_white.pk)
        services.sku_rule_create(workspace=workspace, kind=RuleKind.PREFIX, pattern="MUG-BLK-",
                                 variant_id=catalog.mug_black.pk)
    order = import_order(workspace, store, ("MUG-ANA", 1), ("MUG-BLK-BOB", 1))
    with scope(workspace=workspace):
        assert order.state == S.TO_ORDER
        assert [ln.catalog_variant_id for ln in _lines(order)] == [catalog.mug_white.pk,
                                                                  catalog.mug_black.pk]


def test_a_rule_for_the_store_beats_a_rule_for_every_store(
    workspace, store, catalog, import_order
):
    other_store = StoreFactory(workspace=workspace, name="Woo")
    with scope(workspace=workspace):
        services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="MUG",
                                 variant_id=catalog.mug_white.pk)
        services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="MUG",
                                 variant_id=catalog.mug_black.pk, store_id=store.pk)
    here = import_order(workspace, store, ("MUG", 1))
    there = import_order(workspace, other_store, ("MUG", 1))
    with scope(workspace=workspace):
        assert _lines(here)[0].catalog_variant_id == catalog.mug_black.pk
        assert _lines(there)[0].catalog_variant_id == catalog.mug_white.pk


def test_a_new_rule_prices_the_orders_already_waiting(
    workspace, store, catalog, import_order, django_capture_on_commit_callbacks
):
    waiting = import_order(workspace, store, ("SHOP-MUG-1", 1))
    with scope(workspace=workspace):
        assert waiting.state == S.IN_QUOTATION
        with django_capture_on_commit_callbacks(execute=True):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.PREFIX,
                                     pattern="SHOP-MUG", variant_id=catalog.mug_white.pk)
        waiting.refresh_from_db()
        assert waiting.state == S.TO_ORDER


def test_a_product_published_from_the_catalog_is_linked_by_store_ids(
    workspace, store, catalog, import_order
):
    # given integrations published MUG11-BLACK as store product 55 / variant 56
    with scope(workspace=workspace):
        services.product_link_published(workspace=workspace, store_id=store.pk,
                                        store_product_id="55", store_variant_id="56",
                                        variant_id=catalog.mug_black.pk)
    # when an order arrives with the store's own SKU, then the link prices it
    order = import_order(workspace, store, {"sku": "SELLER-OWN", "store_product_id": "55",
                                            "store_variant_id": "56", "quantity": 1})
    with scope(workspace=workspace):
        assert order.state == S.TO_ORDER
        assert _lines(order)[0].catalog_variant_id == catalog.mug_black.pk


def test_rules_refuse_bad_patterns_and_other_workspaces_products(
    workspace, other_workspace, catalog
):
    private = VariantFactory(product=ProductFactory(made_for_workspace=other_workspace,
                                                    is_published=False))
    with scope(workspace=workspace):
        with pytest.raises(services.ValidationFailed, match="without spaces"):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT,
                                     pattern="A B", variant_id=catalog.mug_white.pk)
        with pytest.raises(services.ValidationFailed, match="at least 2 characters"):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.PREFIX, pattern="M",
                                     variant_id=catalog.mug_white.pk)
        with pytest.raises(services.NotFound, match="No such catalog product"):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="X1",
                                     variant_id=private.pk)
        services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="X1",
                                 variant_id=catalog.mug_white.pk)
        with pytest.raises(services.Conflict, match="already an “Exact SKU” rule for X1"):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT, pattern="X1",
                                     variant_id=catalog.mug_black.pk)


def test_the_sweep_prices_an_order_whose_follow_up_was_lost(workspace, store, catalog):
    # given an order imported but the after-commit pricing never ran (no callbacks)
    from orders import services as order_services
    from tests.quotes.conftest import STORE_ACTOR, order_data

    with scope(workspace=workspace):
        order, _ = order_services.order_import(workspace=workspace, store=store,
                                               data=order_data(("MUG11-WHITE", 1)),
                                               actor=STORE_ACTOR)
        assert order.state == S.IN_QUOTATION
    # when the beat sweep runs
    assert services.pricing_sweep() == 1
    # then it is priced; a second sweep finds nothing to do
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == S.TO_ORDER
    assert services.pricing_sweep() == 0


def test_the_sweep_goes_on_while_it_finds_full_batches_within_its_budget(workspace, store,
                                                                         catalog):
    # given five orders whose pricing follow-ups were lost (Redis restarted, say)
    from orders import services as order_services
    from tests.quotes.conftest import STORE_ACTOR, order_data

    with scope(workspace=workspace):
        orders = [order_services.order_import(
            workspace=workspace, store=store, data=order_data(("MUG11-WHITE", 1)),
            actor=STORE_ACTOR)[0] for _ in range(5)]
    # a sweep with no time left stops after its first batch of two
    assert services.pricing_sweep(limit=2, budget_seconds=0) == 2
    # a sweep with time takes every batch, not one per tick
    assert services.pricing_sweep(limit=2) == 3
    with scope(workspace=workspace):
        assert {Order.objects.get(pk=o.pk).state for o in orders} == {S.TO_ORDER}
    assert services.pricing_sweep(limit=2) == 0


def test_a_sku_fixed_in_the_store_prices_the_waiting_order(
    workspace, store, catalog, import_order, django_capture_on_commit_callbacks
):
    # given an order waiting because the store had a typo in the SKU
    from orders import services as order_services
    from tests.quotes.conftest import STORE_ACTOR, order_data

    data = order_data({"sku": "MUG11-WHTIE", "quantity": 1, "external_id": "li-typo"},
                      updated_at="2026-05-01T10:00:00Z")
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order, _ = order_services.order_import(workspace=workspace, store=store, data=data,
                                               actor=STORE_ACTOR)
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == S.IN_QUOTATION
    # when the seller fixes the SKU in the store and the store sends the update
    data["line_items"][0]["sku"] = "MUG11-WHITE"
    data["updated_at"] = "2026-05-01T11:00:00Z"
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order_services.order_import(workspace=workspace, store=store, data=data,
                                    actor=STORE_ACTOR)
    # then it is priced: an order is never silently stuck after a SKU edit
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == S.TO_ORDER


def test_staff_adding_the_product_to_the_catalog_prices_waiting_orders(
    workspace, store, catalog, import_order, django_capture_on_commit_callbacks
):
    order = import_order(workspace, store, ("TOTE-NATURAL", 1))
    assert order.state == S.IN_QUOTATION
    # staff add the product in the admin (the admin calls catalog_recheck after saving)
    VariantFactory(sku="TOTE-NATURAL", price="6.00")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.catalog_recheck() == 1
    assert len(callbacks) == 1  # the doorbell: the sweep task, sent after commit
    with scope(workspace=workspace):
        line = LineItem.objects.get(order=order)
        assert line.unmapped_reason == services.PENDING_REASON
    assert services.pricing_sweep() == 1
    with scope(workspace=workspace):
        order.refresh_from_db()
        assert order.state == S.TO_ORDER


def test_the_sweep_runs_every_minute_within_its_interval():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["quotes-pricing-sweep"]
    # the beat header (podhub/core/sweeps.py) rides in its options
    assert {k: entry[k] for k in ("task", "schedule")} == \
        {"task": "quotes.tasks.pricing_sweep_task", "schedule": 60.0}
    budget = inspect.signature(services.pricing_sweep).parameters["budget_seconds"]
    assert budget.default < entry["schedule"]  # one tick ends before the next is due


def test_a_held_waiting_order_is_priced_and_stays_held(
    workspace, owner, store, catalog, import_order, django_capture_on_commit_callbacks
):
    from orders import services as order_services
    from orders.events import Actor

    order = import_order(workspace, store, ("LATER-SKU", 1))
    with scope(workspace=workspace):
        order_services.order_request_info(order_id=order.pk, message="Which colour?",
                                          actor=Actor.staff(owner.user))
        with django_capture_on_commit_callbacks(execute=True):
            services.sku_rule_create(workspace=workspace, kind=RuleKind.EXACT,
                                     pattern="LATER-SKU", variant_id=catalog.mug_white.pk)
        order.refresh_from_db()
        assert (order.state, order.return_state) == (S.ON_HOLD, S.TO_ORDER)
        assert _lines(order)[0].catalog_variant_id == catalog.mug_white.pk
