"""The sandbox store's HTTP face: a small WSGI app and a threaded server.

  POST /admin/api/<version>/graphql.json   Admin GraphQL subset, cost + throttle
  GET  /admin/oauth/authorize              consent (auto-approved) -> redirect_uri
  POST /admin/oauth/access_token           code or refresh token -> tokens
  /_sandbox/...                            control API for tests, demo and bench
  POST /_sandbox/shops {"webhook_url", "seed_orders": n}
                                           a new shop of its own (PodHub's "Try a sandbox
                                           store"): sandbox-<hex>.myshopify.com with its
                                           own token and webhook secret, n paid orders, its
                                           webhooks sent to webhook_url; answers
                                           {"shop_domain", "access_token", "webhook_secret"}.
                                           Every path above works under
                                           /shops/<shop domain>/ for that shop.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from integrations.shopify.hmac import signed_query
from sandboxes import state, wsgi
from sandboxes.shopify.shop import (
    SandboxShop,
    Settings,
    cursor_position,
    iso,
    parse_iso,
    public,
)


def _first(query: str, field: str, variables: dict, default: int) -> int:
    m = re.search(field + r"\(\s*first:\s*(\$?\w+)", query)
    if not m:
        return default
    raw = m.group(1)
    if raw.startswith("$"):
        return int(variables.get(raw[1:]) or default)
    return int(raw)


def _user_error(message: str, field: list | None = None) -> list:
    return [{"field": field, "message": message}]


class GraphQL:
    """Recognises the root field of each document PodHub sends and answers it."""

    def __init__(self, shop: SandboxShop):
        self.shop = shop
        # open order edits: calculated order gid -> {"order_id", "changes": [...]}
        self.edits: dict[str, dict] = {}

    def requested_cost(self, query: str, variables: dict) -> float:
        if query.lstrip().startswith("mutation"):
            return 10.0
        if "ordersCount" in query:
            return 1.0
        if re.search(r"\borders\(", query):
            n = _first(query, "orders", variables, 50)
            lines = _first(query, "lineItems", variables, 10)
            return 2 + n * (4 + lines)
        if "fulfillmentOrders" in query:
            f = _first(query, "fulfillments", variables, 10)
            fo = _first(query, "fulfillmentOrders", variables, 5)
            li = _first(query, "lineItems", variables, 50)
            return 1 + (2 + f * 2) + (2 + fo * (1 + 2 + li * 2))
        if re.search(r"\border\(", query):
            return 1 + 2 + _first(query, "lineItems", variables, 100)
        return 1.0

    def execute(self, query: str, variables: dict) -> tuple[dict, float]:
        """(data, actual cost)."""
        s = self.shop
        if "mutation" in query[:200] and "bulkOperationRunQuery(" in query:
            return {"bulkOperationRunQuery": s.bulk.run_query(variables)}, 10.0
        if "currentBulkOperation" in query:
            return {"currentBulkOperation": s.bulk.current_operation()}, 1.0
        if re.search(r"\bnode\(", query) and "BulkOperation" in query:
            return {"node": s.bulk.node(variables.get("id"))}, 1.0
        if "mutation" in query[:200]:
            for name in ("fulfillmentCreate", "orderCancel", "refundCreate", "productCreate",
                         "productSet", "orderEditBegin", "orderEditSetQuantity",
                         "orderEditAddVariant", "orderEditCommit"):
                if name + "(" in query:
                    return getattr(self, name)(variables), 10.0
            raise ValueError("unsupported mutation")
        if "ordersCount" in query:
            return {"ordersCount": {"count": s.count(variables.get("query")),
                                    "precision": "EXACT"}}, 1.0
        if re.search(r"\borders\(", query):
            first = min(int(variables.get("first") or 50), 250)
            lines = _first(query, "lineItems", variables, 10)
            orders, more, end = s.search(variables.get("query"), first=first,
                                         after=variables.get("after"))
            nodes = [s.gql_order(o, lines_first=lines) for o in orders]
            actual = 2 + sum(4 + len(n["lineItems"]["nodes"]) for n in nodes)
            return {"orders": {"pageInfo": {"hasNextPage": more, "endCursor": end},
                               "nodes": nodes}}, actual
        if "shop" in query and "shop {" in query:
            return {"shop": {"id": "gid://shopify/Shop/1", "name": "PodHub Sandbox",
                             "myshopifyDomain": s.shop_domain,
                             "currencyCode": s.settings.currency}}, 1.0
        if re.search(r"\border\(", query):
            oid = int(str(variables.get("id", "")).rsplit("/", 1)[-1] or 0)
            order = s.order(oid)
            if order is None:
                return {"order": None}, 1.0
            if "fulfillmentOrders" in query:
                return {"order": self.fulfillment_orders(order)}, 1 + 2 + 2 + 5
            if "...PodhubOrder" in query:  # the whole order, re-read after an edit or refund
                node = s.gql_order(order, lines_first=_first(query, "lineItems", variables, 10))
                return {"order": node}, 3 + len(node["lineItems"]["nodes"])
            after = cursor_position(variables.get("after"))
            node = s.gql_order(order, lines_first=100, lines_after=after)
            return {"order": {"lineItems": node["lineItems"]}}, 3 + len(
                node["lineItems"]["nodes"])
        raise ValueError("unsupported query")

    def fulfillment_orders(self, order: dict) -> dict:
        closed = bool(order["cancelled_at"])
        left = sum(ln["fulfillable_quantity"] for ln in order["line_items"])
        done = len(order.get("fulfillments") or [])
        status = "CLOSED" if closed or left == 0 else ("IN_PROGRESS" if done else "OPEN")
        return {
            "id": order["admin_graphql_api_id"],
            "fulfillments": [{"id": f["admin_graphql_api_id"], "status": "SUCCESS",
                              "trackingInfo": [{"company": f["tracking_company"],
                                                "number": f["tracking_number"],
                                                "url": f["tracking_url"]}]}
                             for f in self.shop.fulfillments(order["id"])],
            "fulfillmentOrders": {"nodes": [{
                "id": f"gid://shopify/FulfillmentOrder/{order['id']}", "status": status,
                "lineItems": {"nodes": [{
                    "id": f"gid://shopify/FulfillmentOrderLineItem/{ln['id']}",
                    "remainingQuantity": 0 if closed else ln["fulfillable_quantity"],
                    "totalQuantity": ln["quantity"],
                    "lineItem": {"id": ln["admin_graphql_api_id"], "sku": ln["sku"]},
                } for ln in order["line_items"]]},
            }]},
        }

    def fulfillmentCreate(self, v: dict) -> dict:  # noqa: N802 - GraphQL name
        s = self.shop
        f = v.get("fulfillment") or {}
        groups = f.get("lineItemsByFulfillmentOrder") or []
        if not groups:
            return {"fulfillmentCreate": {"fulfillment": None, "userErrors": _user_error(
                "lineItemsByFulfillmentOrder is required")}}
        order_ids = {int(g["fulfillmentOrderId"].rsplit("/", 1)[-1]) for g in groups}
        if len(order_ids) != 1:
            return {"fulfillmentCreate": {"fulfillment": None, "userErrors": _user_error(
                "fulfillment orders must belong to the same order")}}
        order = s.order(order_ids.pop())
        if order is None or order["cancelled_at"]:
            return {"fulfillmentCreate": {"fulfillment": None, "userErrors": _user_error(
                "Fulfillment order does not exist or is closed.")}}
        by_id = {ln["id"]: ln for ln in order["line_items"]}
        items = []
        for g in groups:
            wanted = g.get("fulfillmentOrderLineItems") or [
                {"id": f"x/{ln['id']}", "quantity": ln["fulfillable_quantity"]}
                for ln in order["line_items"] if ln["fulfillable_quantity"]]
            for it in wanted:
                lid = int(str(it["id"]).rsplit("/", 1)[-1])
                ln = by_id.get(lid)
                qty = int(it.get("quantity") or 0)
                if ln is None or qty <= 0 or qty > ln["fulfillable_quantity"]:
                    return {"fulfillmentCreate": {"fulfillment": None, "userErrors": _user_error(
                        f"Invalid quantity for line item {lid}.")}}
                items.append({"line_item_id": lid, "quantity": qty})
        tracking = f.get("trackingInfo") or {}
        created = s._fulfill(order["id"], items, tracking=tracking,
                             notify=bool(f.get("notifyCustomer", False)),
                             message=v.get("message"))
        return {"fulfillmentCreate": {"fulfillment": {
            "id": created["admin_graphql_api_id"], "status": "SUCCESS",
            "trackingInfo": [{"company": tracking.get("company"),
                              "number": tracking.get("number"), "url": tracking.get("url")}]},
            "userErrors": []}}

    def orderCancel(self, v: dict) -> dict:  # noqa: N802
        s = self.shop
        oid = int(str(v.get("orderId", "")).rsplit("/", 1)[-1] or 0)
        order = s.order(oid)
        if order is None:
            return {"orderCancel": {"job": None, "orderCancelUserErrors": _user_error(
                "Order does not exist."), "userErrors": []}}
        if order["cancelled_at"]:
            return {"orderCancel": {"job": None, "orderCancelUserErrors": _user_error(
                "Order has already been cancelled."), "userErrors": []}}
        s.cancel_order(oid, reason=str(v.get("reason", "other")).lower(),
                       refund=bool(v.get("refund")), restock=bool(v.get("restock", True)),
                       notify_customer=bool(v.get("notifyCustomer")),
                       staff_note=v.get("staffNote"))
        return {"orderCancel": {"job": {"id": f"gid://shopify/Job/{oid}", "done": True},
                                "orderCancelUserErrors": [], "userErrors": []}}

    def refundCreate(self, v: dict) -> dict:  # noqa: N802
        s = self.shop
        data = v.get("input") or {}
        oid = int(str(data.get("orderId", "")).rsplit("/", 1)[-1] or 0)
        order = s.order(oid)
        if order is None:
            return {"refundCreate": {"refund": None, "userErrors": _user_error(
                "Order does not exist.")}}
        lines = [{"line_item_id": r.get("lineItemId"), "quantity": int(r.get("quantity", 1)),
                  "restock_type": str(r.get("restockType") or "NO_RESTOCK").lower()}
                 for r in data.get("refundLineItems") or []]
        ship = data.get("shipping") or {}
        shipping = Decimal(str(ship.get("amount") or 0))
        if ship.get("fullRefund"):
            shipping = sum((Decimal(x["price_set"]["presentment_money"]["amount"])
                            for x in order["shipping_lines"]), Decimal(0))
        try:
            refund = s.refund_order(oid, lines, shipping=shipping, note=data.get("note"),
                                    notify=bool(data.get("notify")))
        except ValueError as exc:
            return {"refundCreate": {"refund": None, "userErrors": _user_error(str(exc))}}
        amount = sum((Decimal(t["amount"]) for t in refund["transactions"]), Decimal(0))
        return {"refundCreate": {"refund": {"id": refund["admin_graphql_api_id"],
                                            "totalRefundedSet": {"shopMoney": {
                                                "amount": f"{amount:.2f}",
                                                "currencyCode": order["presentment_currency"]}}},
                                 "userErrors": []}}

    def productCreate(self, v: dict) -> dict:  # noqa: N802
        p = v.get("product") or {}
        if "variants" in p:  # ProductCreateInput has none since 2024-04: productSet has them
            raise ValueError("Variable $product of type ProductCreateInput! was provided "
                             "invalid value for variants (Field is not defined on "
                             "ProductCreateInput)")
        if not p.get("title"):
            return {"productCreate": {"product": None, "userErrors": _user_error(
                "Title can't be blank", ["title"])}}
        product = self.shop.add_product(p)
        return {"productCreate": {"product": {
            "id": product["id"], "title": product["title"],
            "variants": {"nodes": [{"id": x["id"], "sku": x["sku"]}
                                   for x in product["variants"]]}}, "userErrors": []}}

    def productSet(self, v: dict) -> dict:  # noqa: N802
        """productSet(identifier, input, synchronous) as shopify.dev documents it (2025-10):
        creates the product, or updates the one `identifier.id` names; `variants` is the
        whole list (ProductVariantSetInput: `id` to update, `optionValues` required, `sku`,
        `price`); variants left out are deleted."""
        p = v.get("input") or {}
        ident = (v.get("identifier") or {}).get("id")
        options = {o.get("name"): {x.get("name") for x in o.get("values") or []}
                   for o in p.get("productOptions") or []}
        variants = []
        for i, x in enumerate(p.get("variants") or []):
            values = x.get("optionValues") or []
            if not values or any(o.get("name") not in options.get(o.get("optionName"), ())
                                 for o in values):
                return {"productSet": {"product": None, "userErrors": [{
                    "field": ["input", "variants", str(i), "optionValues"],
                    "message": "Option values must match the product's options",
                    "code": "INVALID_VARIANT"}]}}
            variants.append({**{k: x[k] for k in ("id", "sku", "price") if k in x},
                             "title": " / ".join(o["name"] for o in values)})
        if ident:
            found = next((prod for prod in self.shop.products() if prod["id"] == ident), None)
            if found is None:
                return {"productSet": {"product": None, "userErrors": [{
                    "field": ["identifier", "id"], "message": "Product does not exist",
                    "code": "PRODUCT_DOES_NOT_EXIST"}]}}
            theirs = {x["id"] for x in found["variants"]}
            if any(x.get("id") and x["id"] not in theirs for x in variants):
                return {"productSet": {"product": None, "userErrors": [{
                    "field": ["input", "variants"], "message": "Product variant does not exist",
                    "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"}]}}
            product = self.shop.set_product(ident, {**{k: p[k] for k in ("title", "vendor")
                                                       if k in p}, "variants": variants})
        else:
            if not p.get("title"):
                return {"productSet": {"product": None, "userErrors": _user_error(
                    "Title can't be blank", ["input", "title"])}}
            product = self.shop.add_product({**p, "variants": variants})
        return {"productSet": {"product": {
            "id": product["id"], "title": product["title"],
            "variants": {"nodes": [{"id": x["id"], "sku": x["sku"]}
                                   for x in product["variants"]]}}, "userErrors": []}}

    # Order editing (docs: orderEditBegin -> orderEditSetQuantity / orderEditAddVariant ->
    # orderEditCommit); the edit is applied, and its webhooks sent, at the commit.

    def orderEditBegin(self, v: dict) -> dict:  # noqa: N802
        oid = int(str(v.get("id", "")).rsplit("/", 1)[-1] or 0)
        order = self.shop.order(oid)
        if order is None or order["cancelled_at"]:
            return {"orderEditBegin": {"calculatedOrder": None, "userErrors": _user_error(
                "The order can't be edited.")}}
        calc = f"gid://shopify/CalculatedOrder/{self.shop._next('calculated_order', 1000)}"
        self.edits[calc] = {"order_id": oid, "changes": []}
        return {"orderEditBegin": {"calculatedOrder": {"id": calc, "lineItems": {"nodes": [
            {"id": f"gid://shopify/CalculatedLineItem/{ln['id']}",
             "quantity": ln["current_quantity"], "sku": ln["sku"], "title": ln["title"],
             "variant": ({"id": f"gid://shopify/ProductVariant/{ln['variant_id']}"}
                         if ln.get("variant_id") else None)}
            for ln in order["line_items"] if ln["current_quantity"] > 0]}},
            "userErrors": []}}

    def _edit(self, name: str, v: dict) -> dict | None:
        edit = self.edits.get(str(v.get("id")))
        if edit is None:
            return {name: {"calculatedOrder": None, "calculatedLineItem": None,
                           "userErrors": _user_error("The calculated order does not exist.")}}
        return None

    def orderEditSetQuantity(self, v: dict) -> dict:  # noqa: N802
        refused = self._edit("orderEditSetQuantity", v)
        if refused:
            return refused
        line = str(v.get("lineItemId", ""))
        self.edits[v["id"]]["changes"].append({"line_item_id": line.rsplit("/", 1)[-1],
                                               "quantity": int(v.get("quantity", 0))})
        return {"orderEditSetQuantity": {
            "calculatedOrder": {"id": v["id"]},
            "calculatedLineItem": {"id": line, "quantity": int(v.get("quantity", 0))},
            "userErrors": []}}

    def orderEditAddVariant(self, v: dict) -> dict:  # noqa: N802
        refused = self._edit("orderEditAddVariant", v)
        if refused:
            return refused
        if self.shop._variant(v.get("variantId")) is None:
            return {"orderEditAddVariant": {"calculatedOrder": None, "calculatedLineItem": None,
                                            "userErrors": _user_error(
                                                "Variant does not exist.", ["variantId"])}}
        self.edits[v["id"]]["changes"].append({"variant_id": v.get("variantId"),
                                               "quantity": int(v.get("quantity", 1))})
        added = f"gid://shopify/CalculatedLineItem/new-{len(self.edits[v['id']]['changes'])}"
        return {"orderEditAddVariant": {"calculatedOrder": {"id": v["id"]},
                                        "calculatedLineItem": {"id": added},
                                        "userErrors": []}}

    def orderEditCommit(self, v: dict) -> dict:  # noqa: N802
        edit = self.edits.pop(str(v.get("id")), None)
        if edit is None:
            return {"orderEditCommit": {"order": None, "userErrors": _user_error(
                "The calculated order does not exist.")}}
        try:
            self.shop.edit_order(edit["order_id"], edit["changes"],
                                 notify_customer=bool(v.get("notifyCustomer")),
                                 staff_note=v.get("staffNote") or "")
        except ValueError as exc:
            return {"orderEditCommit": {"order": None, "userErrors": _user_error(str(exc))}}
        order = self.shop.order(edit["order_id"])
        return {"orderEditCommit": {"order": {"id": order["admin_graphql_api_id"]},
                                    "userErrors": []}}


def _json(start_response, status: int, body, headers=None) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 302: "Found", 400: "Bad Request",
              401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
              429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Status")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(data))),
                                         *(headers or [])])
    return [data]


def make_app(shop: SandboxShop):
    gql = GraphQL(shop)

    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        if path.startswith("/admin/api/") and path.endswith("/graphql.json"):
            return graphql(environ, start_response, raw)
        if path == "/admin/oauth/authorize":
            q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            params = {"code": shop.issue_code(), "shop": shop.shop_domain,
                      "state": q.get("state", ""), "timestamp": str(int(time.time()))}
            target = q.get("redirect_uri", "") + "?" + signed_query(params, shop.app_secret)
            start_response("302 Found", [("Location", target), ("Content-Length", "0")])
            return [b""]
        if path == "/admin/oauth/access_token" and method == "POST":
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            status, body = shop.token_response(data)
            return _json(start_response, status, body)
        m = re.fullmatch(r"/_bulk/(\d+)\.jsonl", path)
        if m and method == "GET":  # the file of a bulk operation (a signed URL at Shopify)
            return shop.bulk.serve(int(m.group(1)), environ, start_response)
        if path.startswith("/_sandbox/"):
            return control(method, path[len("/_sandbox/"):].strip("/"), raw, environ,
                           start_response)
        return _json(start_response, 404, {"errors": "Not Found"})

    def graphql(environ, start_response, raw):
        shop.stats["graphql_calls"] += 1
        now = shop.clock()
        if shop.fail_next > 0 or shop.down_until > now:
            if shop.fail_next > 0:
                shop.fail_next -= 1
            shop.stats["http_5xx"] += 1
            return _json(start_response, 503, {"errors": "Service Unavailable"})
        token = environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN", "")
        if not shop.token_ok(token):
            return _json(start_response, 401, {"errors": "[API] Invalid API key or access "
                                                         "token (unrecognized login or wrong "
                                                         "password)"})
        try:
            payload = json.loads(raw)
            query, variables = payload["query"], payload.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return _json(start_response, 400, {"errors": "Bad Request: invalid JSON"})
        requested = gql.requested_cost(query, variables)
        shop.stats["cost_requested"] += requested
        if requested > shop.settings.max_query_cost:
            return _json(start_response, 200, {"errors": [{
                "message": f"Query cost is {requested:.0f}, which exceeds the single query "
                           f"max cost limit ({shop.settings.max_query_cost:.0f}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                               "maxCost": shop.settings.max_query_cost}}]})
        status = shop.charge(requested)
        if status is None:
            shop.stats["throttled"] += 1
            with shop.lock:
                ts = shop.throttle_status()
            body = {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested,
                                        "actualQueryCost": None, "throttleStatus": ts}}}
            if shop.settings.throttled_status == 429:
                shop.stats["http_429"] += 1
                return _json(start_response, 429, body, [("Retry-After", "1.0")])
            return _json(start_response, 200, body)
        try:
            data, actual = gql.execute(query, variables)
        except (ValueError, KeyError, TypeError) as exc:
            shop.refund_cost(requested)
            return _json(start_response, 200, {"errors": [{"message": str(exc)}]})
        status = shop.refund_cost(max(0.0, requested - actual))
        shop.stats["cost_actual"] += actual
        return _json(start_response, 200, {"data": data, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": actual,
            "throttleStatus": status}}})

    def control(method, path, raw, environ, start_response):
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _json(start_response, 400, {"error": "invalid JSON"})
        parts = path.split("/")
        if path == "orders" and method == "POST":
            order = shop.create_order(body.get("order") or body, delivery=body.get("delivery"))
            return _json(start_response, 201, order)
        if path == "orders/bulk" and method == "POST":
            n = shop.bulk_create(int(body.get("count", 10)),
                                 unpaid_every=int(body.get("unpaid_every", 0)),
                                 fulfilled_every=int(body.get("fulfilled_every", 0)),
                                 webhooks=bool(body.get("webhooks", False)))
            return _json(start_response, 201, {"created": n})
        if len(parts) >= 2 and parts[0] == "orders":
            oid = int(parts[1])
            if shop.order(oid) is None:
                return _json(start_response, 404, {"error": "no such order"})
            action = parts[2] if len(parts) > 2 else ""
            delivery = body.get("delivery")
            if action == "" and method == "GET":
                order = shop.order(oid)
                notes = order.get("_sandbox") or {}
                return _json(start_response, 200, {
                    **public(order), "sandbox": {"cancel": notes.get("cancel"),
                                                 "received": notes.get("received")}})
            if action == "pay":
                return _json(start_response, 200, shop.mark_paid(oid, delivery=delivery))
            if action == "cancel":
                return _json(start_response, 200, shop.cancel_order(
                    oid, delivery=delivery, reason=body.get("reason", "customer"),
                    refund=bool(body.get("refund")), restock=bool(body.get("restock", True)),
                    notify_customer=bool(body.get("notify_customer")),
                    staff_note=body.get("staff_note")))
            try:
                if action == "edit":  # the merchant edits the order in the admin
                    return _json(start_response, 200, shop.edit_order(
                        oid, body.get("changes") or [],
                        notify_customer=bool(body.get("notify_customer")),
                        staff_note=body.get("staff_note") or ""))
                if action == "refund":  # a refund (with restock) in the admin
                    return _json(start_response, 200, shop.refund_order(
                        oid, body.get("lines") or [],
                        shipping=Decimal(str(body.get("shipping") or 0)),
                        note=body.get("note"), notify=bool(body.get("notify"))))
                if action == "fulfill":  # fulfilled outside PodHub (the merchant, another app)
                    return _json(start_response, 200, shop._fulfill(
                        oid, [{"line_item_id": int(it["line_item_id"]),
                               "quantity": int(it["quantity"])}
                              for it in body.get("line_items") or []],
                        tracking=body.get("tracking") or {},
                        notify=bool(body.get("notify_customer"))))
            except (ValueError, KeyError, TypeError) as exc:
                return _json(start_response, 400, {"error": str(exc)})
            if action == "update":
                return _json(start_response, 200, shop.update_order(
                    oid, body.get("changes") or {}, delivery=delivery))
        if path == "orders" and method == "GET":
            q = parse_qs(environ.get("QUERY_STRING", ""))
            orders, _, _ = shop.search(q.get("query", [None])[0], first=250)
            return _json(start_response, 200, {"orders": orders})
        if path == "test_notification" and method == "POST":
            return _json(start_response, 200, {"event_id": shop.test_notification(
                body.get("topic") or "orders/create")})
        if path == "products" and method == "POST":
            return _json(start_response, 201, shop.add_product(body))
        m = re.fullmatch(r"products/variants/(\d+)", path)
        if m and method == "POST":  # the merchant edits a variant (its SKU) in the admin
            try:
                return _json(start_response, 200, shop.update_variant(m.group(1), body))
            except ValueError as exc:
                return _json(start_response, 404, {"error": str(exc)})
        if path == "bulk" and method == "POST":  # {"auto": false}: tests finish operations
            shop.bulk.auto = bool(body.get("auto", True))
            return _json(start_response, 200, {"auto": shop.bulk.auto})
        m = re.fullmatch(r"bulk/(\d+)(?:/(finish|expire))?", path)
        if m and int(m.group(1)) in shop.bulk.ops:
            n, action = int(m.group(1)), m.group(2)
            if action == "finish" and method == "POST":
                return _json(start_response, 200, shop.bulk.finish(
                    n, status=str(body.get("status") or "COMPLETED"),
                    error_code=body.get("error_code"), inject=body.get("inject")))
            if action == "expire" and method == "POST":
                return _json(start_response, 200, shop.bulk.expire(n))
            return _json(start_response, 200, shop.bulk.public(shop.bulk.ops[n]))
        if path == "webhooks" and method == "POST":
            if "topics" in body:
                shop.topics = None if body["topics"] is None else set(body["topics"])
            shop.subscribe(url=body["url"], secret=body["secret"])
            return _json(start_response, 200, {"ok": True})
        if path == "webhooks" and method == "GET":
            return _json(start_response, 200, {"log": shop.webhook_log(),
                                               "pending": shop.pending_deliveries()})
        if path == "webhooks/hold" and method == "POST":
            shop.hold_webhooks = bool(body.get("hold", True))
            return _json(start_response, 200, {"hold": shop.hold_webhooks})
        if path == "webhooks/release" and method == "POST":
            n = shop.release_held(reverse=bool(body.get("reverse")))
            return _json(start_response, 200, {"released": n})
        if path in ("app/uninstall", "privacy") and method == "POST":
            topic = "app/uninstalled" if path == "app/uninstall" else body["topic"]
            payload = body.get("payload") or {"id": 1, "domain": shop.shop_domain}
            payload.setdefault("shop_domain", shop.shop_domain)
            return _json(start_response, 200, {"event_id": shop.emit(topic, payload)})
        if path == "down" and method == "POST":
            shop.down_until = shop.clock() + float(body.get("seconds", 0))
            shop.fail_next = int(body.get("fail_next", 0))
            return _json(start_response, 200, {"down_until": shop.down_until})
        if path == "settings" and method == "POST":
            for key in ("bucket_max", "restore_rate", "max_query_cost", "throttled_status",
                        "currency"):
                if key in body:
                    setattr(shop.settings, key, type(getattr(shop.settings, key))(body[key]))
            with shop.lock:
                shop.bucket = shop.settings.bucket_max
                shop.bucket_at = shop.clock()
            return _json(start_response, 200, {"ok": True})
        if path == "stats" and method == "GET":
            with shop.lock:
                return _json(start_response, 200, {**shop.stats, "orders": shop.count(None),
                                                   "bucket": shop.throttle_status()})
        if path == "products" and method == "GET":
            return _json(start_response, 200, {"products": shop.products()})
        return _json(start_response, 404, {"error": f"unknown sandbox endpoint {path}"})

    return app


class SandboxServer:
    """The sandbox on 127.0.0.1:<port> in background threads (port 0: a free one).

    state_dir: the shops made by POST /_sandbox/shops keep their orders in
    `shops/<domain>.sqlite3` there, and their token and webhook subscription in
    `shops.json`, so a restarted sandbox brings them back (sandboxes/state.py)."""

    def __init__(self, shop: SandboxShop, *, host: str = "127.0.0.1", port: int = 0,
                 state_dir: Path | None = None):
        self.shop = shop
        self.state_dir = state_dir
        self.shops: dict[str, SandboxShop] = {}  # made by POST /_sandbox/shops
        self._made: dict[str, dict] = {}  # domain -> what to make it again with
        self._apps: dict[str, object] = {}
        self._root = make_app(shop)
        self.httpd = wsgi.serve(self.app, host=host, port=port)
        self.url = f"http://{host}:{self.httpd.server_port}"
        shop.bulk.base_url = self.url
        self._thread: threading.Thread | None = None
        if state_dir:
            for domain, made in (state.read_json(self._registry()) or {}).items():
                self._add(domain, made)

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_sandbox/shops" and environ["REQUEST_METHOD"] == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            except ValueError:
                return _json(start_response, 400, {"error": "invalid JSON"})
            return _json(start_response, 201, self.new_shop(body))
        m = re.fullmatch(r"/shops/([a-z0-9.-]+)(/.*)", path)
        if m:
            app = self._apps.get(m.group(1))
            if app is None:
                return _json(start_response, 404, {"errors": "Not Found"})
            return app({**environ, "PATH_INFO": m.group(2)}, start_response)
        return self._root(environ, start_response)

    def new_shop(self, spec: dict) -> dict:
        """A shop of its own (one per PodHub workspace that tries a sandbox store)."""
        domain = f"sandbox-{secrets.token_hex(5)}.myshopify.com"
        made = {"access_token": f"shpat_{secrets.token_hex(16)}",
                "webhook_secret": secrets.token_hex(24),
                "webhook_url": str(spec.get("webhook_url") or ""),
                "currency": self.shop.settings.currency}
        shop = self._add(domain, made)
        seed = min(int(spec.get("seed_orders") or 0), 50)
        if seed:
            shop.bulk_create(seed)
        if self.state_dir:
            state.write_json(self._registry(), self._made)
        return {"shop_domain": domain, "access_token": made["access_token"],
                "webhook_secret": made["webhook_secret"]}

    def _registry(self) -> Path:
        return self.state_dir / "shops.json"

    def _add(self, domain: str, made: dict) -> SandboxShop:
        db = ":memory:"
        if self.state_dir:
            (self.state_dir / "shops").mkdir(parents=True, exist_ok=True)
            db = str(self.state_dir / "shops" / f"{domain}.sqlite3")
        shop = SandboxShop(shop_domain=domain, access_token=made["access_token"], db_path=db,
                           settings=Settings(currency=made.get("currency") or "USD"))
        if made.get("webhook_url"):
            shop.subscribe(url=made["webhook_url"], secret=made["webhook_secret"])
        shop.bulk.base_url = f"{self.url}/shops/{domain}"
        shop.start_sender()
        self.shops[domain] = shop
        self._made[domain] = made
        self._apps[domain] = make_app(shop)
        return shop

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox-http",
                                        daemon=True)
        self._thread.start()
        self.shop.start_sender()
        return self

    def stop(self) -> None:
        for shop in [self.shop, *self.shops.values()]:
            shop.stop()
        self.httpd.shutdown()
        self.httpd.server_close()


__all__ = ["SandboxServer", "make_app", "iso", "parse_iso", "urlencode"]
