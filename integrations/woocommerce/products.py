"""Publishing a catalog product to a WooCommerce store: one variable product whose
variations carry PodHub's SKUs (docs/woocommerce.md, "Publishing catalog products").

The calls, as WooCommerce's REST API v3 documents them
(https://woocommerce.github.io/woocommerce-rest-api-docs/#create-a-product,
#list-all-products, #update-a-product, #list-all-product-variations and
#batch-update-product-variations; the source is woocommerce/woocommerce-rest-api-docs,
source/includes/wp-api-v3/_products.md and _product-variations.md):

1. find the product: the id an earlier try of this message stored, else the store
   product the catalog product was published as before (its product link), else
   `GET /products?sku=<our product SKU>` (a try whose answer was lost);
2. `POST /products {name, type: "variable", sku, description, attributes: [{name:
   "Variant", position: 0, visible: true, variation: true, options: [...]}]}` when there is
   none (its id is stored on the message at once), else `PUT /products/<id>` with the same
   name, description and attribute;
3. `GET /products/<id>/variations`, then `POST /products/<id>/variations/batch` (100 items
   at most per request, the documented default limit)
   {create: [{sku, regular_price, attributes: [{name, option}]}], update: [{id,
   regular_price, attributes}]}`: a variation already there (by the variant id its link
   holds, else its option, else its SKU) is updated, never duplicated, and its SKU left as
   the seller made it; prices are strings, as the API takes them.

A batch answers 200 even when items fail: each refused item comes back in its place as
`{"id": 0, "error": {code, message, data}}` (WC_REST_Controller::batch_items), e.g.
`product_invalid_sku` "Invalid or duplicated SKU." (HTTP 400 in `data.status`:
WC_Product::set_sku) when another product of the store has that SKU. Such an answer is a
push done in part (PartlyDone): the variations the store made are kept in the result and
linked to their catalog variants, the refused ones are listed with WooCommerce's code and
message (the push fails with them), and trying the push again finds the product and the
variations made (by link, option or SKU) and creates only the missing ones.
"""

from __future__ import annotations

import copy

from integrations.models import OutboxMessage, StoreConnection
from integrations.platforms.base import PartlyDone
from integrations.woocommerce.client import WooClient, WooUserError

ATTRIBUTE = "Variant"  # the one variation attribute; its options are the variants' labels
BATCH_MAX = 100  # items per batch request, WooCommerce's default limit


def product_sku(product_ref: str) -> str:
    """The variable product's own SKU: how a retry finds the product it made."""
    return f"PODHUB-{product_ref}".upper()[:100]


def _find(client: WooClient, msg: OutboxMessage) -> dict | None:
    p = msg.payload
    for known in (p.get("created_product_id"), p.get("store_product_id")):
        if not known:
            continue
        try:
            product = client.get(f"products/{known}").json()
        except WooUserError as exc:
            if exc.status != 404:  # deleted for good in the store: made again below
                raise
            continue
        if product.get("status") != "trash":  # trashed: its SKU is free, made again
            return product
    found = client.get("products", sku=product_sku(p["product_ref"])).json() or []
    return found[0] if found else None


def _variations(client: WooClient, pid) -> list[dict]:
    """Every variation of the product (X-WP-TotalPages pages of 100)."""
    found, page = [], 1
    while True:
        resp = client.get(f"products/{pid}/variations", per_page=100, page=page)
        found.extend(resp.json() or [])
        if page >= int(resp.headers.get("X-WP-TotalPages") or 1):
            return found
        page += 1


def _remember(msg: OutboxMessage, product_id) -> None:
    """The product exists from now on: a retry after a crash updates it."""
    msg.payload = {**msg.payload, "created_product_id": product_id}
    OutboxMessage.objects.filter(pk=msg.pk).update(payload=msg.payload)


def _match(variants: list[dict], existing: list[dict], linked: dict) -> dict[int, dict]:
    """Our variant index -> the store variation that already is it."""
    by_id = {str(v["id"]): v for v in existing}
    by_option = {}
    for v in existing:
        for a in v.get("attributes") or []:
            if (a.get("name") or "").lower() == ATTRIBUTE.lower():
                by_option.setdefault(a.get("option"), v)
    by_sku = {v.get("sku"): v for v in existing if v.get("sku")}
    out, taken = {}, set()
    for i, ours in enumerate(variants):
        for found in (by_id.get(str(linked.get(str(ours.get("variant_id"))) or "")),
                      by_option.get(ours["option"]), by_sku.get(ours["sku"])):
            if found is not None and found["id"] not in taken:
                out[i] = found
                taken.add(found["id"])
                break
    return out


def publish(client: WooClient, conn: StoreConnection, msg: OutboxMessage) -> dict:
    """The PRODUCT_CREATE push: the product and its variations, created or updated."""
    p = msg.payload
    variants = p["variants"]
    body = {"name": p["title"], "type": "variable", "description": p.get("description") or "",
            "attributes": [{"name": ATTRIBUTE, "position": 0, "visible": True,
                            "variation": True, "options": [v["option"] for v in variants]}]}
    # Writes are sent once: a lost answer is not sent again blindly (the product or the
    # variations would be made twice, or refused for their own SKU); the outbox tries the
    # whole push again later, which finds what the lost answer made.
    once = copy.copy(client)
    once.max_retries = 0
    product = _find(client, msg)
    if product is None:
        product = once.post("products", {**body, "sku": product_sku(p["product_ref"])})
        _remember(msg, product["id"])
    else:
        product = once.put(f"products/{product['id']}", body)
    pid = product["id"]
    existing = _variations(client, pid)
    matched = _match(variants, existing, p.get("linked_variants") or {})
    create, update, order = [], [], []
    for i, v in enumerate(variants):
        attrs = [{"name": ATTRIBUTE, "option": v["option"]}]
        price = str(v.get("price") or "0")
        if i in matched:
            update.append({"id": matched[i]["id"], "regular_price": price, "attributes": attrs})
            order.append(("update", len(update) - 1, v))
        else:
            create.append({"sku": v["sku"], "regular_price": price, "attributes": attrs})
            order.append(("create", len(create) - 1, v))
    answer: dict[str, list] = {"create": [], "update": []}
    ops = [("create", item) for item in create] + [("update", item) for item in update]
    for start in range(0, len(ops), BATCH_MAX):
        body = {}
        for part, item in ops[start:start + BATCH_MAX]:
            body.setdefault(part, []).append(item)
        got = once.post(f"products/{pid}/variations/batch", body)
        for part in body:
            answer[part].extend(got.get(part) or [])
    errors, made = [], []
    for part, index, ours in order:
        item = (answer.get(part) or [])[index] if index < len(answer.get(part) or []) else {}
        item = item if isinstance(item, dict) else {}
        if item.get("error") or not item.get("id"):
            error = item.get("error") if isinstance(item.get("error"), dict) else {}
            errors.append({"sku": ours["sku"], "variant_id": ours.get("variant_id"),
                           "code": str(error.get("code") or "no answer"),
                           "message": str(error.get("message") or "")})
            continue
        made.append({"id": str(item["id"]), "sku": item.get("sku") or "",
                     "variant_id": ours.get("variant_id")})
    result = {"product_id": str(pid), "variants": made}
    if errors:
        raise PartlyDone("The store refused variations: " + "; ".join(
            f"{e['sku']}: {e['code']} {e['message']}".strip() for e in errors)[:900],
            result={**result, "refused": errors})
    return result
