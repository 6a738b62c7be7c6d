"""The sandbox store's HTTP face (WSGI, threads).

  /wp-json/wc/v3/orders[/<id>[/notes]]   orders: list (paginated), get, update, delete; notes
  /wp-json/wc/v3/orders/<id>/refunds[/<refund id>]   refunds: list, create, get, delete
  /wp-json/wc/v3/webhooks[/<id>]         webhooks CRUD (creation pings the delivery URL)
  /wp-json/wc/v3/products[/<id>]         products: list (?sku=), create, get, update, delete
  /wp-json/wc/v3/products/<id>/variations[/<vid>|/batch]   variations: list, update (the
                                         seller's SKU edit), batch create/update/delete
  /_sandbox/...                          control API for tests, demo and bench:
      POST orders (spec) · POST orders/<id>/update · POST orders/<id>/delete ·
      POST orders/<id>/refund {"lines": {line id: qty}, "restock", "amount", "reason"} ·
      POST orders/<id>/gateway {"payment_method"} · GET orders/<id> (with notes and
      refunds) · POST deliver · POST hold · POST release {"newest_first"} · POST next
      {"duplicate": n, "drop": bool} · POST down {"fail_next": n (answer 500 before
      acting), "lose_next": n (act, then answer 504: a lost answer), "lose_route": a
      regex of the REST route whose writes are lost (default: any), "seconds": n with
      "status": 503 (WordPress' maintenance page) or 429 (a host's rate limit): every
      REST call answers that, with Retry-After, for n seconds} · GET log
  POST /_sandbox/stores {"seed_orders": n}   a new store of its own at /stores/<slug>/
      (PodHub's "Try a sandbox store"): its own REST keys, n processing orders, webhooks
      sent as they happen; answers {"url", "consumer_key", "consumer_secret"}. Every path
      above works under its address (/stores/<slug>/wp-json/wc/v3/…, /stores/<slug>/_sandbox/…).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

from sandboxes import state, wsgi
from sandboxes.woocommerce.store import RestError, WooStore

API = "/wp-json/wc/v3/"


# What WordPress answers in maintenance mode (wp_maintenance(): 503, Retry-After: 600),
# and what a host's rate limiter in front of it answers (429, Retry-After, plain text):
# neither is the REST API's JSON.
_MAINTENANCE = (b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
                b"<p>Briefly unavailable for scheduled maintenance. Check back in a "
                b"minute.</p></body></html>")


def _down(start, status: int):
    if status == 429:
        start("429 Too Many Requests", [("Content-Type", "text/plain; charset=utf-8"),
                                        ("Retry-After", "5")])
        return [b"Too Many Requests"]
    start("503 Service Unavailable", [("Content-Type", "text/html; charset=UTF-8"),
                                      ("Retry-After", "600")])
    return [_MAINTENANCE]


def _json(start, status: int, body, headers: list | None = None):
    data = json.dumps(body, ensure_ascii=False).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
              404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
              500: "Internal Server Error", 504: "Gateway Timeout"}
    start(f"{status} {reason.get(status, 'Status')}",
          [("Content-Type", "application/json; charset=UTF-8"),
           ("Content-Length", str(len(data)))] + (headers or []))
    return [data]


class WooSandboxServer:
    """state_dir: keep every store on disk (sandboxes/state.py) — `store.json` for the
    main store, `stores/<slug>.json` for those made by POST /_sandbox/stores — and bring
    the made ones back at start (the command restores the main one)."""

    def __init__(self, store: WooStore, *, host: str = "127.0.0.1", port: int = 0,
                 state_dir: Path | None = None):
        self.store = store
        self.state_dir = state_dir
        self.httpd = wsgi.serve(state.saving(self.app, self._save) if state_dir else self.app,
                                host=host, port=port)
        self.url = f"http://{host}:{self.httpd.server_port}"
        if store.home_url in ("", "http://127.0.0.1"):
            store.home_url = self.url
        self.thread: threading.Thread | None = None
        self.stores: dict[str, WooStore] = {}  # the stores made by POST /_sandbox/stores
        if state_dir:
            for path in sorted((state_dir / "stores").glob("*.json")):
                self.stores[path.stem] = WooStore.from_snapshot(state.read_json(path))
            self.save(self.store)

    def save(self, store: WooStore) -> None:
        if self.state_dir is None:
            return
        slug = next((k for k, v in self.stores.items() if v is store), None)
        path = self.state_dir / ("store.json" if slug is None else f"stores/{slug}.json")
        state.write_json(path, store.snapshot())

    def _save(self, environ) -> None:
        m = re.match(r"/stores/([a-z0-9]+)/", environ.get("PATH_INFO", ""))
        store = self.stores.get(m.group(1)) if m else self.store
        if store is not None:
            self.save(store)

    def start(self) -> WooSandboxServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- WSGI ---------------------------------------------------------------------------

    def app(self, environ, start):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query: dict[str, str] = {}
        for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            query[k] = v  # PHP's $_GET: the last value of a repeated name wins
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        s, full_path = self.store, path
        m = re.fullmatch(r"/stores/([a-z0-9]+)(/.*)", path)
        if m:
            s, path = self.stores.get(m.group(1)), m.group(2)
            if s is None:
                return _json(start, 404, {"code": "rest_no_route", "message": "No such store."})
        try:
            if path == "/_sandbox/stores" and method == "POST" and s is self.store:
                return _json(start, 201, self.new_store(json.loads(raw) if raw else {}))
            if path.startswith("/_sandbox/"):
                return self._control(s, start, method, path[len("/_sandbox/"):], raw)
            if not path.startswith(API):
                return _json(start, 404, {"code": "rest_no_route",
                                          "message": "No route was found matching the URL "
                                                     "and request method."})
            s.requests += 1
            if s.clock() < s.down_until:
                return _down(start, s.down_status)
            if s.fail_next > 0:
                s.fail_next -= 1
                return _json(start, 500, {"code": "internal_server_error",
                                          "message": "There has been a critical error."})
            host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:" \
                                                f"{environ['SERVER_PORT']}"
            s.authenticate(method=method, url=f"http://{host}{full_path}", query=query,
                           basic=self._basic(environ))
            data = json.loads(raw) if raw else {}
            route = path[len(API):].strip("/")
            if s.lose_next > 0 and method != "GET" and re.search(s.lose_route, route):
                # Done in the store, the answer lost on the way (a proxy's timeout).
                s.lose_next -= 1
                self._rest(s, lambda *a: None, method, path[len(API):].strip("/"), query,
                           data)
                return _json(start, 504, {"code": "gateway_timeout",
                                          "message": "The upstream server timed out."})
            return self._rest(s, start, method, path[len(API):].strip("/"), query, data)
        except RestError as exc:
            return _json(start, exc.status, exc.body())
        except ValueError as exc:
            return _json(start, 400, {"code": "rest_invalid_json", "message": str(exc)})

    @staticmethod
    def _basic(environ) -> tuple[str, str] | None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return key, secret

    def new_store(self, spec: dict) -> dict:
        """A store of its own (one per PodHub workspace that tries a sandbox store)."""
        slug = secrets.token_hex(6)
        store = WooStore(home_url=f"{self.url}/stores/{slug}",
                         consumer_key=f"ck_{secrets.token_hex(20)}",
                         consumer_secret=f"cs_{secrets.token_hex(20)}",
                         first_id=int(time.time()))
        store.auto_deliver = True
        for n in range(min(int(spec.get("seed_orders") or 0), 50)):
            store.create_order({"status": "processing", "line_items": [
                {"name": "Mug 11oz", "sku": "MUG-11-WHITE", "price": "14.00", "quantity": 1,
                 "meta": {"Name": ["Ana", "Bo", "Chen"][n % 3]}}]}, webhooks=False)
        self.stores[slug] = store
        self.save(store)
        return {"url": store.home_url, "consumer_key": store.consumer_key,
                "consumer_secret": store.consumer_secret}

    def _rest(self, s: WooStore, start, method: str, route: str, query: dict, data: dict):
        if route == "orders" and method == "GET":
            orders, total, pages = s.list_orders(query)
            base = f"{s.home_url}{API}orders"
            page = int(query.get("page") or 1)
            links = []
            if page < pages:
                links.append(f'<{base}?page={page + 1}>; rel="next"')
            if page > 1:
                links.append(f'<{base}?page={page - 1}>; rel="prev"')
            headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
            if links:
                headers.append(("Link", ", ".join(links)))
            return _json(start, 200, orders, headers)
        m = re.fullmatch(r"orders/(\d+)", route)
        if m:
            oid = int(m.group(1))
            if method == "GET":
                return _json(start, 200, s.get_order(oid))
            if method in ("PUT", "POST", "PATCH"):
                return _json(start, 200, s.update_order(oid, data))
            if method == "DELETE":
                return _json(start, 200, s.delete_order(oid, force=query.get("force") in (
                    "true", "1")))
        m = re.fullmatch(r"orders/(\d+)/refunds", route)
        if m:
            oid = int(m.group(1))
            if method == "GET":
                refunds = s.list_refunds(oid)
                per_page = max(1, min(int(query.get("per_page") or 10), 100))
                page = max(1, int(query.get("page") or 1))
                pages = (len(refunds) + per_page - 1) // per_page
                return _json(start, 200, refunds[(page - 1) * per_page: page * per_page],
                             [("X-WP-Total", str(len(refunds))),
                              ("X-WP-TotalPages", str(pages))])
            if method == "POST":
                return _json(start, 201, s.create_refund(oid, data))
        m = re.fullmatch(r"orders/(\d+)/refunds/(\d+)", route)
        if m:
            if method == "GET":
                return _json(start, 200, s.get_refund(int(m.group(1)), int(m.group(2))))
            if method == "DELETE":
                return _json(start, 200, s.delete_refund(int(m.group(1)), int(m.group(2))))
        m = re.fullmatch(r"orders/(\d+)/notes", route)
        if m:
            if method == "GET":
                return _json(start, 200, s.list_notes(int(m.group(1))))
            if method == "POST":
                return _json(start, 201, s.add_note(int(m.group(1)), data))
        answer = self._products(s, start, method, route, query, data)
        if answer is not None:
            return answer
        if route == "webhooks":
            if method == "GET":
                return _json(start, 200, s.list_webhooks())
            if method == "POST":
                return _json(start, 201, s.create_webhook(data))
        m = re.fullmatch(r"webhooks/(\d+)", route)
        if m:
            hid = int(m.group(1))
            if method == "GET":
                return _json(start, 200, s._public(s.get_webhook(hid)))
            if method in ("PUT", "POST", "PATCH"):
                return _json(start, 200, s.update_webhook(hid, data))
            if method == "DELETE":
                return _json(start, 200, s.delete_webhook(hid))
        return _json(start, 404, {"code": "rest_no_route", "message": "No route was found "
                                                                      "matching the URL and "
                                                                      "request method."})

    def _products(self, s: WooStore, start, method: str, route: str, query: dict,
                  data: dict):
        """/products[/<id>[/variations[/<vid>|/batch]]] (products.py), or None."""
        if route == "products":
            if method == "GET":
                rows = s.list_products(query)
                return _json(start, 200, rows, [("X-WP-Total", str(len(rows))),
                                                ("X-WP-TotalPages", "1" if rows else "0")])
            if method == "POST":
                return _json(start, 201, s.create_product(data))
        m = re.fullmatch(r"products/(\d+)", route)
        if m:
            pid = int(m.group(1))
            if method == "GET":
                return _json(start, 200, s.get_product(pid))
            if method in ("PUT", "POST", "PATCH"):
                return _json(start, 200, s.update_product(pid, data))
            if method == "DELETE":
                return _json(start, 200, s.delete_product(
                    pid, force=query.get("force") in ("true", "1")))
        m = re.fullmatch(r"products/(\d+)/variations(?:/(\d+|batch))?", route)
        if m:
            pid, vid = int(m.group(1)), m.group(2)
            if vid is None and method == "GET":
                rows = s.list_variations(pid)
                return _json(start, 200, rows, [("X-WP-Total", str(len(rows))),
                                                ("X-WP-TotalPages", "1" if rows else "0")])
            if vid == "batch" and method in ("POST", "PUT", "PATCH"):
                return _json(start, 200, s.batch_variations(pid, data))
            if vid not in (None, "batch") and method in ("PUT", "POST", "PATCH"):
                return _json(start, 200, s.update_variation(pid, int(vid), data))
        return None

    def _control(self, s: WooStore, start, method: str, route: str, raw: bytes):
        data = json.loads(raw) if raw else {}
        if route == "orders" and method == "POST":
            return _json(start, 201, s.create_order(data))
        m = re.fullmatch(r"orders/(\d+)(?:/(update|delete|refund|gateway))?", route.strip("/"))
        if m:
            oid, action = int(m.group(1)), m.group(2)
            if action == "update":
                return _json(start, 200, s.update_order(oid, data))
            if action == "delete":
                return _json(start, 200, s.delete_order(oid))
            if action == "refund":
                return _json(start, 201, s.refund(
                    oid, lines=data.get("lines"), amount=data.get("amount"),
                    restock=data.get("restock", True), reason=data.get("reason") or ""))
            if action == "gateway":
                return _json(start, 200, s.update_order(
                    oid, {"payment_method": data.get("payment_method") or "bacs"},
                    webhooks=False))
            return _json(start, 200, {**s.get_order(oid), "notes": s.list_notes(oid),
                                      "refunds_detail": s.list_refunds(oid)})
        if route == "deliver":
            return _json(start, 200, {"sent": s.deliver_due()})
        if route == "hold":
            s.hold()
            return _json(start, 200, {"holding": True})
        if route == "release":
            return _json(start, 200, {"sent": s.release(
                newest_first=bool(data.get("newest_first")))})
        if route == "next":
            s.next_delivery(duplicate=data.get("duplicate", 0), drop=data.get("drop", False))
            return _json(start, 200, s.plan)
        if route == "down":
            # each fault on its own: an outage does not cancel writes still to be lost
            if "fail_next" in data or "lose_next" in data:
                s.fail_next = int(data.get("fail_next") or 0)
                s.lose_next = int(data.get("lose_next") or 0)
                s.lose_route = str(data.get("lose_route") or "")
            if "seconds" in data:
                s.down_until = s.clock() + float(data["seconds"] or 0)
                s.down_status = 429 if int(data.get("status") or 503) == 429 else 503
            return _json(start, 200, {"fail_next": s.fail_next, "lose_next": s.lose_next,
                                      "down_until": s.down_until,
                                      "status": s.down_status})
        if route == "log":
            return _json(start, 200, s.log[-500:])
        return _json(start, 404, {"error": "unknown control route"})
