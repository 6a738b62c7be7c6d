"""Publishing catalog products to WooCommerce and Shopify stores, and the product links
that keep their orders mapped after the seller edits a SKU in the store (issue #16 item 4;
docs/woocommerce.md "Publishing catalog products", docs/shopify.md "Product links").

Against the sandbox stores over real HTTP; the WooCommerce payloads follow the REST API v3
documentation (woocommerce/woocommerce-rest-api-docs, source/includes/wp-api-v3/
_products.md, _product-variations.md "Batch update product variations"), the refused SKU
WooCommerce's own `WC_Product::set_sku` (`product_invalid_sku`, "Invalid or duplicated
SKU.", 400) and `WC_REST_Controller::batch_items` (a refused item in its place); the
docs' "Create a product variation" example is kept verbatim in
fixtures/woocommerce/docs-product-variation-732.json.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope

from integrations.models import OutboxMessage, OutboxStatus
from integrations.services.inbox import inbox_drain
from integrations.services.outbox import outbox_deliver, publish_catalog_product
from integrations.woocommerce import services as woo
from integrations.woocommerce.products import product_sku
from orders.models import LineItem, Order, OrderState
from quotes.models import LinkSource, ProductLink
from tests.integrations.test_woocommerce import (  # noqa: F401 - fixtures
    webhook_client,
    woo_conn,
    woo_store,
)
from tests.integrations.woocommerce.test_published_payloads import published
from tests.quotes.conftest import catalog  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
S = OrderState
USD_ORDER = {"status": "processing", "currency": "USD"}  # the catalog and billing currency


def _publish_from_the_page(client_for, owner, store_id, product_id, markup="100"):
    c = client_for(owner)
    page = c.get(f"/stores/{store_id}/").content.decode()
    assert f'<option value="{product_id}">' in page  # offered for this store
    resp = c.post(f"/stores/{store_id}/publish/", {"product_id": product_id,
                                                   "markup_percent": markup})
    assert resp.status_code == 302
    return c


def _deliver_last(workspace, *, now=None) -> OutboxMessage:
    with scope(workspace=workspace):
        msg = OutboxMessage.objects.filter(kind="product_create").latest("pk")
        return outbox_deliver(message_id=msg.pk, now=now)


def _links(workspace, store_id) -> dict:
    with scope(workspace=workspace):
        return {(ln.product_key, ln.variant_key): (ln.variant.sku, ln.source)
                for ln in ProductLink.objects.filter(store_id=store_id)
                .select_related("variant")}


def _line(workspace, external_id) -> tuple[Order, LineItem]:
    with scope(workspace=workspace):
        order = Order.objects.get(external_id=str(external_id))
        return order, LineItem.objects.get(order=order)


# --- WooCommerce ---------------------------------------------------------------------------


def woo_sync(store, conn, workspace, capture):
    store.deliver_due()
    with scope(workspace=workspace), capture(execute=True):
        inbox_drain(connection_id=conn.pk)


def test_a_catalog_product_is_published_to_woocommerce_as_a_variable_product(
        woo_conn, woo_store, workspace, owner, client_for, catalog):  # noqa: F811
    c = _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [product] = woo_store.store.list_products({})
    assert (product["name"], product["type"], product["sku"]) == (
        "Mug 11 oz", "variable", product_sku(f"catalog-{catalog.mug.pk}"))
    assert product["attributes"][0] | {"slug": None} == {
        "id": 0, "name": "Variant", "slug": None, "position": 0, "visible": True,
        "variation": True, "options": ["White", "Black"]}
    variations = woo_store.store.list_variations(product["id"])
    assert [(v["sku"], v["regular_price"], v["attributes"][0]["option"]) for v in variations] \
        == [("MUG11-WHITE", "16.00", "White"), ("MUG11-BLACK", "18.00", "Black")]
    # each store variation is linked to its catalog variant by the store's ids
    assert _links(workspace, woo_conn.store_id) == {
        (f"p:{product['id']}", f"v:{v['id']}"): (v["sku"], LinkSource.PUBLISHED)
        for v in variations}
    page = c.get(f"/stores/{woo_conn.store_id}/").content.decode()
    assert f"product {product['id']}, variant {variations[0]['id']}" in page
    assert "Published from the catalog" in page


def test_the_sandbox_variations_carry_every_field_of_the_published_example(
        woo_store):  # noqa: F811
    shop = woo_store.store
    product = shop.create_product({"name": "Ship Your Idea", "type": "variable", "attributes": [
        {"name": "Color", "variation": True, "options": ["Black"]}]})
    answer = shop.batch_variations(product["id"], {"create": [
        {"regular_price": "9.00", "attributes": [{"name": "Color", "option": "Black"}]}]})
    [made] = answer["create"]
    example = published("docs-product-variation-732.json")
    assert set(example) - {"_links"} <= set(made)
    assert (made["regular_price"], made["attributes"]) == ("9.00", [
        {"id": 0, "name": "Color", "option": "Black"}])


def test_a_sku_edited_in_the_woocommerce_store_still_maps_and_is_priced(
        woo_conn, woo_store, workspace, owner, client_for, catalog,  # noqa: F811
        django_capture_on_commit_callbacks):
    _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [product] = woo_store.store.list_products({})
    black = woo_store.store.list_variations(product["id"])[1]
    # the seller renames the variation's SKU in the store (PUT, over HTTP)
    with scope(workspace=workspace):
        edited = woo.client_for(woo_conn).put(
            f"products/{product['id']}/variations/{black['id']}", {"sku": "MY-BLACK-MUG"})
    assert edited["sku"] == "MY-BLACK-MUG"
    remote = woo_store.store.create_order({**USD_ORDER, "line_items": [
        {"variation_id": black["id"], "quantity": 2}]})
    woo_sync(woo_store.store, woo_conn, workspace, django_capture_on_commit_callbacks)
    order, line = _line(workspace, remote["id"])
    assert (line.sku, line.store_variant_id) == ("MY-BLACK-MUG", str(black["id"]))
    assert line.catalog_variant_id == catalog.mug_black.pk, line.unmapped_reason  # the link
    assert order.state == S.TO_ORDER  # priced, not waiting for a quote


def test_publishing_again_updates_the_woocommerce_product(
        woo_conn, woo_store, workspace, owner, client_for, catalog):  # noqa: F811
    _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [product] = woo_store.store.list_products({})
    before = woo_store.store.list_variations(product["id"])
    # the seller edits a SKU in the store; PodHub's catalog price changes
    woo_store.store.update_variation(product["id"], before[0]["id"], {"sku": "MY-WHITE"})
    catalog.mug_white.price_amount = Decimal("10.00")
    catalog.mug_white.save()
    _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [again] = woo_store.store.list_products({})  # not a second product
    after = woo_store.store.list_variations(product["id"])
    assert again["id"] == product["id"]
    assert [(v["id"], v["sku"], v["regular_price"]) for v in after] == [
        (before[0]["id"], "MY-WHITE", "20.00"),  # the seller's SKU kept, the price updated
        (before[1]["id"], "MUG11-BLACK", "18.00")]
    assert len(_links(workspace, woo_conn.store_id)) == 2
    with scope(workspace=workspace):
        assert OutboxMessage.objects.filter(kind="product_create").count() == 2


@pytest.mark.parametrize("lost", ["products", "variations/batch"])
def test_a_lost_answer_is_retried_without_a_second_product_or_variation(
        woo_conn, woo_store, workspace, catalog, lost):  # noqa: F811
    with scope(workspace=workspace):
        publish_catalog_product(workspace=workspace, store=woo_conn.store,
                                product_id=catalog.mug.pk)
    # made in the store, its answer lost on the way (504): not sent again blindly
    woo_store.store.lose_next, woo_store.store.lose_route = 1, f"{lost}$"
    assert _deliver_last(workspace).status == OutboxStatus.PENDING
    assert len(woo_store.store.list_products({})) == 1
    msg = _deliver_last(workspace, now=timezone.now() + timedelta(hours=2))
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [product] = woo_store.store.list_products({})
    assert [v["sku"] for v in woo_store.store.list_variations(product["id"])] == [
        "MUG11-WHITE", "MUG11-BLACK"]
    assert len(_links(workspace, woo_conn.store_id)) == 2


def test_a_sku_another_woocommerce_product_has_fails_the_publish_with_the_reason(
        woo_conn, woo_store, workspace, catalog):  # noqa: F811
    woo_store.store.create_product({"name": "Someone's mug", "sku": "MUG11-BLACK"})
    with scope(workspace=workspace):
        publish_catalog_product(workspace=workspace, store=woo_conn.store,
                                product_id=catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.FAILED
    assert "MUG11-BLACK: product_invalid_sku Invalid or duplicated SKU." in msg.last_error
    # the variation the store made is linked; the refused one is not
    assert [sku for sku, _ in _links(workspace, woo_conn.store_id).values()] == ["MUG11-WHITE"]


def test_a_product_deleted_in_the_store_is_made_again_and_its_old_link_stops_matching(
        woo_conn, woo_store, workspace, owner, client_for, catalog,  # noqa: F811
        django_capture_on_commit_callbacks):
    _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [old] = woo_store.store.list_products({})
    old_black = woo_store.store.list_variations(old["id"])[1]
    woo_store.store.delete_product(old["id"], force=True)
    _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [new] = woo_store.store.list_products({})
    assert new["id"] != old["id"]
    assert {key[0] for key in _links(workspace, woo_conn.store_id)} == {f"p:{new['id']}"}
    # a late order of the deleted product, its SKU edited: no link, no rule -> a quote
    remote = woo_store.store.create_order({**USD_ORDER, "line_items": [
        {"name": "Mug", "sku": "MY-OLD-BLACK", "price": "18.00", "quantity": 1,
         "product_id": old["id"], "variation_id": old_black["id"]}]})
    woo_sync(woo_store.store, woo_conn, workspace, django_capture_on_commit_callbacks)
    order, line = _line(workspace, remote["id"])
    assert line.catalog_variant_id is None
    assert order.state == S.IN_QUOTATION


def test_a_link_to_a_variant_no_longer_in_the_catalog_waits_for_a_quote(
        woo_conn, woo_store, workspace, catalog,  # noqa: F811
        django_capture_on_commit_callbacks):
    with scope(workspace=workspace):
        publish_catalog_product(workspace=workspace, store=woo_conn.store,
                                product_id=catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [product] = woo_store.store.list_products({})
    white = woo_store.store.list_variations(product["id"])[0]
    catalog.mug_white.is_active = False  # withdrawn from the catalog
    catalog.mug_white.save()
    remote = woo_store.store.create_order({**USD_ORDER, "line_items": [
        {"variation_id": white["id"], "quantity": 1}]})
    woo_sync(woo_store.store, woo_conn, workspace, django_capture_on_commit_callbacks)
    order, line = _line(workspace, remote["id"])
    assert (order.state, line.catalog_variant_id) == (S.IN_QUOTATION, None)


# --- Shopify -------------------------------------------------------------------------------


def test_a_sku_edited_in_the_shopify_store_still_maps_and_is_priced(
        connection, sandbox, workspace, owner, client_for, catalog, sync):  # noqa: F811
    c = _publish_from_the_page(client_for, owner, connection.store_id, catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [product] = sandbox.shop.products()
    pid = product["id"].rsplit("/", 1)[-1]
    ids = {v["sku"]: v["id"].rsplit("/", 1)[-1] for v in product["variants"]}
    assert _links(workspace, connection.store_id) == {
        (f"p:{pid}", f"v:{ids['MUG11-WHITE']}"): ("MUG11-WHITE", LinkSource.PUBLISHED),
        (f"p:{pid}", f"v:{ids['MUG11-BLACK']}"): ("MUG11-BLACK", LinkSource.PUBLISHED)}
    assert f"product {pid}, variant {ids['MUG11-WHITE']}" in \
        c.get(f"/stores/{connection.store_id}/").content.decode()
    # the merchant renames the variant's SKU in the admin; a buyer orders it
    sandbox.shop.update_variant(ids["MUG11-WHITE"], {"sku": "MY-WHITE-MUG"})
    remote = sandbox.shop.create_order({"line_items": [
        {"variant_id": int(ids["MUG11-WHITE"]), "price": "16.00", "quantity": 1}]})
    sync()
    order, line = _line(workspace, remote["id"])
    assert (line.sku, line.store_variant_id) == ("MY-WHITE-MUG", ids["MUG11-WHITE"])
    assert line.catalog_variant_id == catalog.mug_white.pk
    assert order.state == S.TO_ORDER


def test_publishing_to_shopify_again_does_not_make_a_second_product(
        connection, sandbox, workspace, catalog):  # noqa: F811
    for _ in range(2):
        with scope(workspace=workspace):
            publish_catalog_product(workspace=workspace, store=connection.store,
                                    product_id=catalog.mug.pk)
        assert _deliver_last(workspace).status == OutboxStatus.DONE
    assert len(sandbox.shop.products()) == 1
    assert len(_links(workspace, connection.store_id)) == 2


def test_publishing_to_shopify_again_updates_the_product_and_keeps_the_sellers_sku(
        connection, sandbox, workspace, owner, client_for, catalog):  # noqa: F811
    from tests.factories import VariantFactory

    _publish_from_the_page(client_for, owner, connection.store_id, catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [product] = sandbox.shop.products()
    before = {v["sku"]: v["id"] for v in product["variants"]}
    # the seller renames a SKU in Shopify; the catalog's price changes and gains a colour
    sandbox.shop.update_variant(before["MUG11-WHITE"], {"sku": "MY-WHITE"})
    catalog.mug_white.price_amount = Decimal("10.00")
    catalog.mug_white.save()
    red = VariantFactory(product=catalog.mug, sku="MUG11-RED", options={"Colour": "Red"},
                         price="9.50")
    _publish_from_the_page(client_for, owner, connection.store_id, catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [again] = sandbox.shop.products()  # the same product, updated
    assert again["id"] == product["id"]
    assert [(v["id"], v["sku"], v["price"]) for v in again["variants"]] == [
        (before["MUG11-WHITE"], "MY-WHITE", "20.00"),  # the seller's SKU, the new price
        (before["MUG11-BLACK"], "MUG11-BLACK", "18.00"),
        (again["variants"][2]["id"], "MUG11-RED", "19.00")]  # added, and linked
    links = _links(workspace, connection.store_id)
    pid = again["id"].rsplit("/", 1)[-1]
    assert links[(f"p:{pid}", "v:" + again["variants"][2]["id"].rsplit("/", 1)[-1])] == (
        "MUG11-RED", LinkSource.PUBLISHED)
    assert {sku for sku, _ in links.values()} == {"MUG11-WHITE", "MUG11-BLACK", red.sku}


def test_a_product_deleted_in_shopify_is_made_again_when_published_again(
        connection, sandbox, workspace, catalog):  # noqa: F811
    with scope(workspace=workspace):
        publish_catalog_product(workspace=workspace, store=connection.store,
                                product_id=catalog.mug.pk)
    assert _deliver_last(workspace).status == OutboxStatus.DONE
    [gone] = sandbox.shop.products()
    sandbox.shop.delete_product(gone["id"])
    with scope(workspace=workspace):
        publish_catalog_product(workspace=workspace, store=connection.store,
                                product_id=catalog.mug.pk)
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    [made] = sandbox.shop.products()
    assert made["id"] != gone["id"]
    assert [v["sku"] for v in made["variants"]] == ["MUG11-WHITE", "MUG11-BLACK"]
    pid = made["id"].rsplit("/", 1)[-1]
    new_links = {key: sku for key, (sku, _) in _links(workspace, connection.store_id).items()
                 if key[0] == f"p:{pid}"}
    assert sorted(new_links.values()) == ["MUG11-BLACK", "MUG11-WHITE"]


def test_the_shopify_sandbox_refuses_variants_on_product_create_as_shopify_does(sandbox):
    """ProductCreateInput has no `variants` since API 2024-04 (shopify.dev, admin-graphql
    input-objects/ProductCreateInput): a client sending them gets a GraphQL error, which is
    why publishing uses productSet."""
    from sandboxes.shopify.server import GraphQL

    with pytest.raises(ValueError, match="not defined on ProductCreateInput"):
        GraphQL(sandbox.shop).productCreate({"product": {"title": "Mug", "variants": [
            {"sku": "MUG11-WHITE", "price": "16.00"}]}})


# --- a variations batch WooCommerce takes only in part --------------------------------------


def test_a_partly_refused_variations_batch_links_what_was_made_and_a_retry_makes_the_rest(
        woo_conn, woo_store, workspace, owner, client_for, catalog):  # noqa: F811
    from integrations.services.outbox import outbox_retry

    other = woo_store.store.create_product({"name": "Someone's mug", "sku": "MUG11-BLACK"})
    c = _publish_from_the_page(client_for, owner, woo_conn.store_id, catalog.mug.pk)
    msg = _deliver_last(workspace)
    # failed with WooCommerce's reason for the refused one...
    assert msg.status == OutboxStatus.FAILED
    assert "MUG11-BLACK: product_invalid_sku Invalid or duplicated SKU." in msg.last_error
    assert msg.result["refused"] == [{
        "sku": "MUG11-BLACK", "variant_id": catalog.mug_black.pk,
        "code": "product_invalid_sku", "message": "Invalid or duplicated SKU."}]
    # ...and the variation it made is linked (its orders map by the store's ids)
    [product] = [p for p in woo_store.store.list_products({}) if p["id"] != other["id"]]
    [white] = woo_store.store.list_variations(product["id"])
    assert white["sku"] == "MUG11-WHITE"
    assert _links(workspace, woo_conn.store_id) == {
        (f"p:{product['id']}", f"v:{white['id']}"): ("MUG11-WHITE", LinkSource.PUBLISHED)}
    page = c.get(f"/stores/{woo_conn.store_id}/").content.decode()
    assert "MUG11-BLACK: Invalid or duplicated SKU. (product_invalid_sku)" in page
    assert "1 made and linked; trying again makes only the refused ones." in page
    # the seller frees the SKU in the store and tries again: only the missing one is made
    woo_store.store.products.pop(other["id"])
    with scope(workspace=workspace):
        assert outbox_retry(workspace=workspace, message_ids=[msg.pk]) == [msg.pk]
    msg = _deliver_last(workspace)
    assert msg.status == OutboxStatus.DONE, msg.last_error
    variations = woo_store.store.list_variations(product["id"])
    assert [(v["id"], v["sku"]) for v in variations] == [
        (white["id"], "MUG11-WHITE"), (variations[1]["id"], "MUG11-BLACK")]
    assert len(woo_store.store.list_products({})) == 1
    assert set(_links(workspace, woo_conn.store_id)) == {
        (f"p:{product['id']}", f"v:{v['id']}") for v in variations}


def test_the_docs_batch_answer_with_a_refused_item_in_its_place_is_read_as_published():
    """WooCommerce's published "Batch update product variations" answer, its second
    `create` item replaced by a refused item as WC_REST_Controller::batch_items answers it:
    the first is made (the docs' id 735), the second refused with WooCommerce's words."""
    from integrations.platforms.base import PartlyDone
    from integrations.woocommerce import products as woo_products

    docs = published("docs-variations-batch.json")
    answer = {"create": [docs["create"][0], {"id": 0, "error": {
        "code": "product_invalid_sku", "message": "Invalid or duplicated SKU.",
        "data": {"status": 400, "resource_id": 0, "unique_sku": "MUG11-BLACK-1"}}}]}

    class Answers:
        max_retries = 1

        def get(self, path, **params):
            class R:
                headers = {"X-WP-TotalPages": "1"}

                @staticmethod
                def json():
                    return [] if path.endswith("variations") else {"id": 22, "status": "publish"}
            return R()

        def put(self, path, body):
            return {"id": 22}

        def post(self, path, body):
            assert path == "products/22/variations/batch"
            assert [i["sku"] for i in body["create"]] == ["MUG11-BLUE", "MUG11-BLACK"]
            return answer

    class Msg:
        pk = 0
        payload = {"product_ref": "catalog-1", "title": "Mug", "store_product_id": "22",
                   "variants": [{"sku": "MUG11-BLUE", "price": "10.00", "option": "Blue",
                                 "variant_id": 7},
                                {"sku": "MUG11-BLACK", "price": "10.00", "option": "Black",
                                 "variant_id": 8}]}

    with pytest.raises(PartlyDone) as caught:
        woo_products.publish(Answers(), None, Msg())
    assert caught.value.result == {
        "product_id": "22", "variants": [{"id": "735", "sku": "", "variant_id": 7}],
        "refused": [{"sku": "MUG11-BLACK", "variant_id": 8, "code": "product_invalid_sku",
                     "message": "Invalid or duplicated SKU."}]}
    assert "MUG11-BLACK: product_invalid_sku Invalid or duplicated SKU." in str(caught.value)
