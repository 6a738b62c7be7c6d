"""The sandbox store's products and variations, as WooCommerce's REST API v3 keeps them.

Written from the REST API documentation (woocommerce/woocommerce-rest-api-docs,
source/includes/wp-api-v3/_products.md and _product-variations.md: "Create a product",
"Batch update product variations", their JSON response examples) and WooCommerce's own
code: `WC_Product::set_sku` refuses a SKU another product or variation has with
`product_invalid_sku` "Invalid or duplicated SKU." (HTTP 400, data `resource_id` of the
holder and a `unique_sku` suggestion); `WC_REST_Controller::batch_items` answers 200 with
each failed item as `{"id": 0, "error": {code, message, data}}` in its place (an update:
the item's own id). Ids are posts: products, variations and orders share one counter.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation

from sandboxes.woocommerce.rest import RestError, fmt

INVALID_SKU = "product_invalid_sku"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text or "").lower()).strip("-") or "product"


def _price(value) -> str:
    """The price as given, a string ("" when none); not a number: refused."""
    if value in (None, ""):
        return ""
    try:
        Decimal(str(value))
    except InvalidOperation:
        raise RestError(400, "rest_invalid_param",
                        "Invalid parameter(s): regular_price") from None
    return str(value)


class ProductsMixin:
    """Mixed into WooStore: `self.products`, `self.lock`, `self._tick`, `self._ids`."""

    products: dict[int, dict]

    # --- SKU uniqueness (wc_product_has_unique_sku) ---------------------------------------

    def _sku_holder(self, sku: str, *, but: int | None = None) -> int | None:
        for product in self.products.values():
            if product["status"] in ("deleted", "trash"):  # wc_product_has_unique_sku
                continue
            if product["sku"] == sku and product["id"] != but:
                return product["id"]
            for v in product["_variations"]:
                if v["sku"] == sku and v["id"] != but:
                    return v["id"]
        return None

    def _check_sku(self, sku, *, own_id: int | None = None) -> str:
        sku = str(sku or "").strip()
        holder = self._sku_holder(sku, but=own_id) if sku else None
        if holder is not None:
            n = 2
            while self._sku_holder(f"{sku}-{n}") is not None:
                n += 1
            raise RestError(400, INVALID_SKU, "Invalid or duplicated SKU.",
                            data={"resource_id": holder, "unique_sku": f"{sku}-{n}"})
        return sku

    # --- products ------------------------------------------------------------------------

    def _product_json(self, product: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in product.items() if not k.startswith("_")}
        out["variations"] = [v["id"] for v in product["_variations"]]
        prices = [Decimal(v["regular_price"]) for v in product["_variations"]
                  if v["regular_price"]]
        if product["type"] == "variable":
            out["price"] = f"{min(prices)}" if prices else ""
        return out

    def _live_product(self, pid: int) -> dict:
        product = self.products.get(int(pid))
        if product is None or product["status"] == "deleted":
            raise RestError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return product

    @staticmethod
    def _attributes(raw) -> list[dict]:
        out = []
        for i, a in enumerate(raw or []):
            if not isinstance(a, dict) or not a.get("name"):
                continue
            out.append({"id": int(a.get("id") or 0), "name": str(a["name"]),
                        "slug": _slug(a["name"]), "position": int(a.get("position", i)),
                        "visible": bool(a.get("visible", False)),
                        "variation": bool(a.get("variation", False)),
                        "options": [str(o) for o in a.get("options") or []]})
        return out

    def create_product(self, data: dict) -> dict:
        """POST /products: name, type (simple, variable), sku, regular_price,
        description, attributes [{name, position, visible, variation, options}]."""
        kind = data.get("type") or "simple"
        if kind not in ("simple", "grouped", "external", "variable"):
            raise RestError(400, "rest_invalid_param", "Invalid parameter(s): type")
        with self.lock:
            sku = self._check_sku(data.get("sku"))
            now = fmt(self._tick())
            pid = next(self._ids)
            name = str(data.get("name") or "Product")
            product = {
                "id": pid, "name": name, "slug": _slug(name),
                "permalink": f"{self.home_url}/product/{_slug(name)}/",
                "date_created": now, "date_created_gmt": now, "date_modified": now,
                "date_modified_gmt": now, "type": kind, "status": data.get("status") or "publish",
                "featured": False, "catalog_visibility": "visible",
                "description": str(data.get("description") or ""),
                "short_description": str(data.get("short_description") or ""), "sku": sku,
                "price": _price(data.get("regular_price")),
                "regular_price": _price(data.get("regular_price")) if kind != "variable" else "",
                "sale_price": "", "on_sale": False, "purchasable": True, "virtual": False,
                "downloadable": False, "tax_status": "taxable", "tax_class": "",
                "manage_stock": False, "stock_quantity": None, "stock_status": "instock",
                "backorders": "no", "categories": [], "tags": [], "images": [],
                "attributes": self._attributes(data.get("attributes")),
                "default_attributes": [], "variations": [], "menu_order": 0,
                "meta_data": [{"id": next(self._meta_ids), "key": m.get("key"),
                               "value": m.get("value")} for m in data.get("meta_data") or []
                              if isinstance(m, dict)],
                "_variations": [],
            }
            self.products[pid] = product
            self.log.append({"product_created": pid, "sku": sku})
            return self._product_json(product)

    def get_product(self, pid: int) -> dict:
        with self.lock:
            return self._product_json(self._live_product(pid))

    def list_products(self, params: dict[str, str]) -> list[dict]:
        """GET /products: `sku` (comma-separated; products, not their variations, as
        WC_REST_Products_Controller's meta query on the product post type), `status`."""
        skus = [s for s in (params.get("sku") or "").split(",") if s]
        with self.lock:
            rows = [p for p in self.products.values() if p["status"] not in ("deleted", "trash")]
            if skus:
                rows = [p for p in rows if p["sku"] in skus]
            return [self._product_json(p) for p in sorted(rows, key=lambda p: -p["id"])]

    def update_product(self, pid: int, data: dict) -> dict:
        """PUT /products/<id>: name, description, sku, attributes (the whole list)."""
        with self.lock:
            product = self._live_product(pid)
            if "sku" in data:
                product["sku"] = self._check_sku(data["sku"], own_id=product["id"])
            for field in ("name", "description", "short_description", "status"):
                if field in data:
                    product[field] = str(data[field])
            if "attributes" in data:
                product["attributes"] = self._attributes(data["attributes"])
            product["date_modified"] = product["date_modified_gmt"] = fmt(self._tick())
            return self._product_json(product)

    def delete_product(self, pid: int, *, force: bool = False) -> dict:
        """DELETE /products/<id>: to the trash, or for good with force=true."""
        with self.lock:
            product = self._live_product(pid)
            answer = self._product_json(product)
            product["status"] = "deleted" if force else "trash"
            return answer

    # --- variations ----------------------------------------------------------------------

    def _variation(self, product: dict, vid: int) -> dict:
        for v in product["_variations"]:
            if v["id"] == int(vid):
                return v
        raise RestError(404, "woocommerce_rest_product_variation_invalid_id",
                        "Invalid ID.")

    def _variation_attributes(self, product: dict, raw) -> list[dict]:
        by_name = {a["name"].lower(): a for a in product["attributes"] if a["variation"]}
        out = []
        for a in raw or []:
            if not isinstance(a, dict):
                continue
            attr = by_name.get(str(a.get("name") or "").lower())
            if attr is None:  # a term the product does not list is not kept (WooCommerce)
                continue
            out.append({"id": attr["id"], "name": attr["name"], "option": str(a.get("option"))})
        return out

    def _create_variation(self, product: dict, data: dict) -> dict:
        sku = self._check_sku(data.get("sku"))
        now = fmt(self._tick())
        vid = next(self._ids)
        attributes = self._variation_attributes(product, data.get("attributes"))
        query = "&".join(f"attribute_{_slug(a['name'])}={_slug(a['option'])}"
                         for a in attributes)
        variation = {
            "id": vid, "date_created": now, "date_created_gmt": now, "date_modified": now,
            "date_modified_gmt": now, "description": str(data.get("description") or ""),
            "permalink": f"{product['permalink']}?{query}", "sku": sku,
            "price": _price(data.get("regular_price")),
            "regular_price": _price(data.get("regular_price")), "sale_price": "",
            "date_on_sale_from": None, "date_on_sale_from_gmt": None, "date_on_sale_to": None,
            "date_on_sale_to_gmt": None, "on_sale": False,
            "status": data.get("status") or "publish", "purchasable": True, "virtual": False,
            "downloadable": False, "downloads": [], "download_limit": -1,
            "download_expiry": -1, "tax_status": "taxable", "tax_class": "",
            "manage_stock": False, "stock_quantity": None, "stock_status": "instock",
            "backorders": "no", "backorders_allowed": False, "backordered": False,
            "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "", "shipping_class_id": 0, "image": None,
            "attributes": attributes, "menu_order": 0, "meta_data": [],
        }
        product["_variations"].append(variation)
        return variation

    def _update_variation(self, product: dict, data: dict) -> dict:
        variation = self._variation(product, data.get("id"))
        if "sku" in data:
            variation["sku"] = self._check_sku(data["sku"], own_id=variation["id"])
        if "regular_price" in data:
            variation["regular_price"] = variation["price"] = _price(data["regular_price"])
        if "attributes" in data:
            variation["attributes"] = self._variation_attributes(product, data["attributes"])
        variation["date_modified"] = variation["date_modified_gmt"] = fmt(self._tick())
        return variation

    def list_variations(self, pid: int) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self._live_product(pid)["_variations"])

    def update_variation(self, pid: int, vid: int, data: dict) -> dict:
        """PUT /products/<id>/variations/<vid>: what a seller changes in the admin (its
        SKU, its price)."""
        with self.lock:
            product = self._live_product(pid)
            return copy.deepcopy(self._update_variation(product, {**data, "id": vid}))

    def batch_variations(self, pid: int, data: dict) -> dict:
        """POST /products/<id>/variations/batch {create, update, delete}: at most 100
        items; each refused item answered in its place with its error."""
        with self.lock:
            product = self._live_product(pid)
            total = sum(len(data.get(k) or []) for k in ("create", "update", "delete"))
            if total > 100:
                raise RestError(413, "rest_request_entity_too_large",
                                "Unable to accept more than 100 items for this request.")
            answer: dict[str, list] = {}
            for item in data.get("create") or []:
                try:
                    answer.setdefault("create", []).append(
                        copy.deepcopy(self._create_variation(product, item)))
                except RestError as exc:
                    answer.setdefault("create", []).append({"id": 0, "error": exc.error()})
            for item in data.get("update") or []:
                try:
                    answer.setdefault("update", []).append(
                        copy.deepcopy(self._update_variation(product, item)))
                except RestError as exc:
                    answer.setdefault("update", []).append(
                        {"id": item.get("id"), "error": exc.error()})
            for vid in data.get("delete") or []:
                try:
                    variation = self._variation(product, vid)
                except RestError as exc:
                    answer.setdefault("delete", []).append({"id": vid, "error": exc.error()})
                    continue
                product["_variations"].remove(variation)
                answer.setdefault("delete", []).append(copy.deepcopy(variation))
            product["date_modified"] = product["date_modified_gmt"] = fmt(self._tick())
            return answer

    def find_variation(self, vid: int) -> tuple[dict, dict] | None:
        """(product, variation) of a variation id, for order lines of it."""
        for product in self.products.values():
            for v in product["_variations"]:
                if v["id"] == int(vid):
                    return product, v
        return None
