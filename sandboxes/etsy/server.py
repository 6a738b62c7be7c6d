"""The Etsy sandbox's HTTP face (WSGI, threads), Open API v3's paths:

  GET  /oauth/connect?response_type=code&client_id&redirect_uri&scope&state
       &code_challenge&code_challenge_method=S256      the seller's consent page
  POST /oauth/connect                                  "Allow access": a code, then back to
       redirect_uri?code=…&state=… (shop_id "new" makes a new shop, as a new seller)
  POST /v3/public/oauth/token                          authorization_code (PKCE checked) or
       refresh_token (rotated: the old one is spent)
  GET  /v3/application/users/me                        {user_id, shop_id}
  GET  /v3/application/shops/<shop_id>                 the shop
  GET  /v3/application/shops/<shop_id>/receipts        getShopReceipts
  GET  /v3/application/shops/<shop_id>/receipts/<id>   getShopReceipt
  POST /v3/application/shops/<shop_id>/receipts/<id>/tracking   createReceiptShipment
       (form: tracking_code, carrier_name, send_bcc, note_to_buyer)
Every /v3/ call needs x-api-key and counts against the limits (rate-limit headers, 429);
/v3/application/ calls need `Authorization: Bearer <user id>.<token>`.

  /_sandbox/…  control API for tests, demo and bench (no key): POST shops {"seed_receipts",
      "name"} -> {shop_id, user_id, shop_name, refresh_token} (a grant made as if the seller
      had allowed it) · POST shops/<id>/receipts {spec} · POST shops/<id>/receipts/<rid>/cancel
      · GET shops/<id>/receipts/<rid> · POST shops/<id>/broken_receipts {"raw": anything}
      (answered as given after the receipts of every getShopReceipts page)
      · POST webhooks {"url", "secret"} (the app's endpoint: order.paid on every new
      receipt, order.canceled on a cancel, signed as Etsy signs; a failed attempt is
      retried on Etsy's schedule) · GET webhooks (deliveries waiting, every attempt)
      · POST webhooks/deliver (the attempts due now; `run_etsy_sandbox` does it every s)
      · POST shops/<id>/revoke · POST expire (every access token)
      · POST limits {"per_second", "per_day"} · GET limits · GET log
"""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from sandboxes import state, wsgi
from sandboxes.etsy.shop import EtsyApiError, EtsySandbox

REASONS = {200: "OK", 201: "Created", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           429: "Too Many Requests"}


def _json(start, status: int, body, headers: list | None = None):
    data = json.dumps(body, ensure_ascii=False).encode()
    start(f"{status} {REASONS.get(status, 'Status')}",
          [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
          + (headers or []))
    return [data]


CONSENT = """<!doctype html><html><head><meta charset="utf-8"><title>Etsy sandbox · Allow
access</title></head><body><h1>Allow access to your Etsy shop?</h1>
<p>An app (client id {client_id}) asks for: {scope}</p>
<form method="post" action="/oauth/connect">{hidden}
<label>Shop <input name="shop_id" value="new"></label>
<button type="submit" name="decision" value="allow">Allow access</button>
<button type="submit" name="decision" value="deny">Deny</button></form></body></html>"""


class EtsySandboxServer:
    def __init__(self, sandbox: EtsySandbox | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, state_file: Path | None = None):
        """state_file: keep the shops, receipts and grants there (sandboxes/state.py), and
        start from it when it exists."""
        self.sandbox = sandbox or EtsySandbox()
        self.state_file = state_file
        if state_file and (saved := state.read_json(state_file)):
            self.sandbox.restore(saved)
        self.httpd = wsgi.serve(state.saving(self.app, self.save) if state_file else self.app,
                                host=host, port=port)
        self.url = f"http://{host}:{self.httpd.server_port}"
        self.thread: threading.Thread | None = None

    def start(self) -> EtsySandboxServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def save(self, environ: dict | None = None) -> None:
        if self.state_file:
            state.write_json(self.state_file, self.sandbox.snapshot())

    def app(self, environ, start):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        sb = self.sandbox
        try:
            if path == "/oauth/connect":
                return self._consent(start, method, query, raw)
            if path.startswith("/_sandbox/"):
                return self._control(start, method, path[len("/_sandbox/"):].strip("/"), raw)
            if not path.startswith("/v3/"):
                return _json(start, 404, {"error": "Not found"})
            form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)) \
                if raw and "json" not in environ.get("CONTENT_TYPE", "") \
                else (json.loads(raw) if raw else {})
            if path == "/v3/public/oauth/token" and method == "POST":
                # the token endpoint authenticates by client_id (Etsy's examples send no key)
                return _json(start, 200, sb.token(form))
            sb.check_key(environ.get("HTTP_X_API_KEY", ""))
            headers = sb.count_call()
            sb.log.append({"method": method, "path": path, "query": query})
            if path.startswith("/v3/application/"):
                user_id = sb.authenticate(environ.get("HTTP_AUTHORIZATION", ""))
                return _json(start, *self._api(method, path[len("/v3/application/"):].strip("/"),
                                               query, form, user_id), headers)
            return _json(start, 404, {"error": "Not found"}, headers)
        except EtsyApiError as exc:
            return _json(start, exc.status, exc.body(), exc.headers)
        except ValueError as exc:
            return _json(start, 400, {"error": f"Bad request: {exc}"})

    def _api(self, method: str, route: str, query: dict, form: dict, user_id: int):
        sb = self.sandbox
        if route == "users/me" and method == "GET":
            shop = sb.user_shop(user_id)
            return 200, {"user_id": user_id, "shop_id": shop.shop_id}
        m = re.fullmatch(r"shops/(\d+)(?:/receipts(?:/(\d+)(/tracking)?)?)?", route)
        if not m:
            raise EtsyApiError(404, "Not found")
        shop = sb.shop(int(m.group(1)))
        if shop.user_id != user_id:
            raise EtsyApiError(403, "The user does not own this shop")
        receipts, rid, tracking = route.count("/receipts") > 0, m.group(2), m.group(3)
        if not receipts and method == "GET":
            return 200, {"shop_id": shop.shop_id, "shop_name": shop.shop_name,
                         "user_id": shop.user_id, "currency_code": shop.currency,
                         "url": f"https://www.etsy.com/shop/{shop.shop_name}"}
        if receipts and rid is None and method == "GET":
            return 200, sb.receipts(shop.shop_id, query)
        if rid is not None and not tracking and method == "GET":
            return 200, sb.receipt(shop.shop_id, int(rid))
        if tracking and method == "POST":
            return 200, sb.add_tracking(shop.shop_id, int(rid), form)
        raise EtsyApiError(405, "Method not allowed")

    def _consent(self, start, method: str, query: dict, raw: bytes):
        sb = self.sandbox
        if method == "GET":
            if query.get("response_type") != "code":
                raise EtsyApiError(400, "invalid_request", "response_type must be code")
            keep = ("client_id", "redirect_uri", "scope", "state", "code_challenge",
                    "code_challenge_method")
            hidden = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(query.get(k, ""))}">'
                for k in keep)
            page = CONSENT.format(client_id=html.escape(query.get("client_id", "")),
                                  scope=html.escape(query.get("scope", "")),
                                  hidden=hidden).encode()
            start("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                             ("Content-Length", str(len(page)))])
            return [page]
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        redirect = form.get("redirect_uri", "")
        if not redirect.startswith(("http://", "https://")):
            raise EtsyApiError(400, "invalid_request", "redirect_uri is required")
        if form.get("decision") != "allow":
            answer = {"error": "access_denied", "state": form.get("state", "")}
        else:
            shop_id = form.get("shop_id") or "new"
            shop = sb.new_shop() if shop_id == "new" else sb.shop(int(shop_id))
            code = sb.grant(shop_id=shop.shop_id, client_id=form.get("client_id", ""),
                            redirect_uri=redirect, challenge=form.get("code_challenge", ""),
                            method=form.get("code_challenge_method", ""),
                            scope=form.get("scope", ""))
            answer = {"code": code, "state": form.get("state", "")}
        sep = "&" if "?" in redirect else "?"
        start("302 Found", [("Location", f"{redirect}{sep}{urlencode(answer)}"),
                            ("Content-Length", "0")])
        return [b""]

    def _control(self, start, method: str, route: str, raw: bytes):
        sb = self.sandbox
        data = json.loads(raw) if raw else {}
        if route == "shops" and method == "POST":
            shop = sb.new_shop(name=str(data.get("name") or ""),
                               seed_receipts=int(data.get("seed_receipts") or 0))
            with sb.lock:
                tokens = sb._tokens(shop.user_id)
            return _json(start, 201, {"shop_id": shop.shop_id, "user_id": shop.user_id,
                                      "shop_name": shop.shop_name,
                                      "keystring": sb.keystring,
                                      "refresh_token": tokens["refresh_token"]})
        m = re.fullmatch(r"shops/(\d+)/receipts(?:/(\d+)(/cancel)?)?", route)
        if m:
            shop_id, rid, cancel = int(m.group(1)), m.group(2), m.group(3)
            if rid is None and method == "POST":
                return _json(start, 201, sb.new_receipt(shop_id, data))
            if cancel and method == "POST":
                return _json(start, 200, sb.cancel_receipt(shop_id, int(rid)))
            if rid is not None:
                return _json(start, 200, sb.receipt(shop_id, int(rid)))
        if route == "webhooks" and method == "POST":  # the app's endpoint (developer portal)
            sb.subscribe(url=str(data.get("url") or ""), secret=str(data.get("secret") or ""))
            return _json(start, 200, {"url": sb.webhook_url})
        if route == "webhooks" and method == "GET":  # what waits for a retry, every attempt
            return _json(start, 200, {"url": sb.webhook_url, "pending": sb.pending(),
                                      "sent": sb.sent[-500:]})
        if route == "webhooks/deliver" and method == "POST":  # the retries due now
            return _json(start, 200, {"made": sb.deliver_due()})
        m = re.fullmatch(r"shops/(\d+)/broken_receipts", route)
        if m and method == "POST":  # answered as given in getShopReceipts (tests)
            with sb.lock:
                sb.shop(int(m.group(1))).broken.append(data.get("raw"))
            return _json(start, 201, {"added": True})
        m = re.fullmatch(r"shops/(\d+)/revoke", route)
        if m and method == "POST":
            sb.revoke(int(m.group(1)))
            return _json(start, 200, {"revoked": True})
        if route == "expire" and method == "POST":
            sb.expire_access()
            return _json(start, 200, {"expired": True})
        if route == "limits":
            if method == "POST":
                sb.limits.per_second = int(data.get("per_second") or sb.limits.per_second)
                sb.limits.per_day = int(data.get("per_day") or sb.limits.per_day)
            lim = sb.limits
            return _json(start, 200, {"per_second": lim.per_second, "per_day": lim.per_day,
                                      "used_today": len(lim.day), "refused": lim.refused,
                                      "peak_per_second": lim.peak})
        if route == "log":
            return _json(start, 200, sb.log[-500:])
        return _json(start, 404, {"error": "unknown control route"})
