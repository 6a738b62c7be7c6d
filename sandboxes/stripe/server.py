"""A Stripe-like sandbox: the subset of Stripe's HTTP API that PodHub uses.

Django-free on purpose (a WSGI app on the standard library), so it runs next
to `make run`, inside tests on a free port, and in benchmarks. PodHub talks to
it with the real `stripe` library, pointed at it by `STRIPE_API_BASE`.

Implemented, following Stripe's public API reference:

- `POST /v1/customers`, `POST/GET /v1/checkout/sessions[/{id}]` (mode `payment`
  and `setup`), `POST /v1/checkout/sessions/{id}/expire`;
- `POST/GET /v1/payment_intents[/{id}]` (off-session `confirm=true` charges of a
  saved card; a declining card answers 402 `card_error` as Stripe does);
- `GET /v1/setup_intents/{id}`, `/v1/payment_methods/{id}`, `/v1/charges/{id}`,
  `/v1/disputes/{id}`, `/v1/events/{id}`; `POST /v1/refunds`;
- `Idempotency-Key` on POSTs (same key → same stored answer);
- the hosted checkout page `GET/POST /checkout/{id}` that "pays" (card
  4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 declines, "bank debit"
  completes unpaid and settles later);
- events signed like Stripe (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret,
  "t.payload")`) POSTed to the webhook URL by a delivery thread that retries
  with back-off; `checkout.session.completed`, `…async_payment_succeeded`,
  `…async_payment_failed`, `…expired`, `payment_intent.succeeded`,
  `payment_intent.payment_failed`, `charge.refunded`, `charge.dispute.created`,
  `charge.dispute.closed`.

Test controls (not Stripe): `POST /sandbox/checkout/{id}/settle` (outcome=
succeeded|failed), `POST /sandbox/disputes` (charge, amount), `POST
/sandbox/disputes/{id}/close` (status=won|lost), `POST /sandbox/events/{id}/resend`,
`GET /sandbox/events`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import parse_qsl

from babel.numbers import format_currency, get_currency_precision

from sandboxes import wsgi

DECLINE_CARDS = {"4000000000000002": "Your card was declined.",
                 "4000000000009995": "Your card has insufficient funds."}


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for a payload."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def decode_form(body: str) -> dict:
    """Stripe's form encoding (`a[b][0][c]=x`, `expand[]=y`) into nested dicts and lists."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if isinstance(node, list):
                idx = len(node) if part == "" else int(part)
                while len(node) <= idx:
                    node.append(None)
                if last:
                    node[idx] = value
                else:
                    if node[idx] is None:
                        node[idx] = [] if (nxt == "" or nxt.isdigit()) else {}
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    if part not in node:
                        node[part] = [] if (nxt == "" or nxt.isdigit()) else {}
                    node = node[part]
    return root


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class SandboxError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str = "", extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type, "message": message, **({"code": code} if code
                                                                      else {}), **(extra or {})}}


class StripeSandbox:
    def __init__(self, *, secret_key: str, webhook_secret: str, webhook_url: str | None = None,
                 public_url: str = "", max_attempts: int = 5, retry_base_seconds: float = 0.5):
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.public_url = public_url.rstrip("/")
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.objects: dict[str, dict] = {}
        self.cards: dict[str, str] = {}  # payment method id -> card number
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.in_progress: set[str] = set()  # idempotency keys of requests still executing
        self.events: list[dict] = []
        self.signed: dict[str, tuple[bytes, str]] = {}  # event id -> (payload, header) as sent
        self.deliveries: dict[str, list[int]] = {}  # event id -> statuses (0: no answer)
        self._lock = threading.RLock()
        self._delivered = threading.Condition(self._lock)
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._deliver_loop, daemon=True,
                                        name="stripe-sandbox-delivery")
        self._worker.start()

    # --- objects and events ---------------------------------------------------------

    def _store(self, obj: dict) -> dict:
        with self._lock:
            self.objects[obj["id"]] = obj
        return obj

    def get(self, obj_id: str, kind: str | None = None) -> dict:
        obj = self.objects.get(obj_id)
        if obj is None or (kind and obj.get("object") != kind):
            raise SandboxError(404, f"No such {kind or 'object'}: '{obj_id}'",
                               code="resource_missing")
        return obj

    def emit(self, type: str, obj: dict) -> dict:
        """Create an event (a snapshot of obj) and queue its delivery."""
        event = {
            "id": _new_id("evt"), "object": "event", "api_version": "2024-06-20",
            "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
            "type": type, "data": {"object": json.loads(json.dumps(obj))},
            "request": {"id": None, "idempotency_key": None},
        }
        with self._lock:
            self.objects[event["id"]] = event
            self.events.append(event)
            self.deliveries[event["id"]] = []
        self._queue.put(event["id"])
        return event

    def signed_delivery(self, event_id: str, *, timestamp: int | None = None) -> tuple[bytes,
                                                                                         str]:
        """The exact bytes and `Stripe-Signature` header of an event, as delivered."""
        payload = json.dumps(self.get(event_id, "event"), separators=(",", ":")).encode()
        return payload, sign(payload, self.webhook_secret, timestamp)

    def _deliver_once(self, event_id: str) -> int:
        payload, header = self.signed_delivery(event_id)
        req = urllib.request.Request(self.webhook_url, data=payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (local URL)
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._lock:
            self.deliveries[event_id].append(status)
            self._delivered.notify_all()
        return status

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            try:
                event_id = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if not self.webhook_url:
                continue  # recorded only: a test posts it itself
            for attempt in range(self.max_attempts):
                if 200 <= self._deliver_once(event_id) < 300 or self._stop.is_set():
                    break
                # Stripe backs off exponentially between attempts.
                self._stop.wait(self.retry_base_seconds * (2 ** attempt))

    def wait_delivered(self, event_id: str, timeout: float = 15) -> int | None:
        """Block until the event's first delivery attempt has an answer; return its status."""
        with self._lock:
            self._delivered.wait_for(lambda: self.deliveries.get(event_id), timeout=timeout)
            statuses = self.deliveries.get(event_id) or []
        return statuses[-1] if statuses else None

    def events_of(self, type: str) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e["type"] == type]

    def close(self) -> None:
        self._stop.set()
        self._worker.join(timeout=5)

    # --- the API --------------------------------------------------------------------

    def _customer(self, p: dict) -> dict:
        return self._store({"id": _new_id("cus"), "object": "customer", "email": p.get("email"),
                            "name": p.get("name"), "metadata": p.get("metadata") or {},
                            "created": int(time.time()), "livemode": False})

    def _session_create(self, p: dict) -> dict:
        mode = p.get("mode")
        if mode not in ("payment", "setup"):
            raise SandboxError(400, "mode must be payment or setup (subscription is not "
                               "implemented in the sandbox)", code="parameter_invalid_string")
        if not p.get("success_url"):
            raise SandboxError(400, "Missing required param: success_url.",
                               code="parameter_missing")
        total, currency = 0, (p.get("currency") or "").lower() or None
        for item in p.get("line_items") or []:
            pd = item.get("price_data") or {}
            total += int(pd.get("unit_amount", 0)) * int(item.get("quantity", 1))
            currency = (pd.get("currency") or currency or "usd").lower()
        if mode == "payment" and total <= 0:
            raise SandboxError(400, "line_items must add up to a positive amount.")
        sid = _new_id("cs_test")
        return self._store({
            "id": sid, "object": "checkout.session", "mode": mode, "status": "open",
            "payment_status": "unpaid" if mode == "payment" else "no_payment_required",
            "amount_total": total if mode == "payment" else None,
            "amount_subtotal": total if mode == "payment" else None,
            "currency": currency, "customer": p.get("customer"),
            "customer_email": p.get("customer_email"),
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.get("metadata") or {},
            "payment_intent_data": p.get("payment_intent_data") or {},
            "payment_intent": None, "setup_intent": None,
            "success_url": p["success_url"], "cancel_url": p.get("cancel_url"),
            "url": f"{self.public_url}/checkout/{sid}", "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600, "livemode": False,
        })

    def _charge(self, *, amount: int, currency: str, pi: dict) -> dict:
        return self._store({
            "id": _new_id("ch"), "object": "charge", "amount": amount, "currency": currency,
            "amount_refunded": 0, "refunded": False, "disputed": False, "paid": True,
            "status": "succeeded", "payment_intent": pi["id"], "customer": pi.get("customer"),
            "metadata": pi.get("metadata") or {}, "refunds": {"object": "list", "data": []},
            "created": int(time.time()), "livemode": False,
        })

    def _payment_intent(self, *, amount: int, currency: str, customer, payment_method,
                        metadata: dict, status: str = "succeeded") -> dict:
        pi = self._store({
            "id": _new_id("pi"), "object": "payment_intent", "amount": amount,
            "amount_received": amount if status == "succeeded" else 0, "currency": currency,
            "customer": customer, "payment_method": payment_method, "metadata": metadata,
            "status": status, "latest_charge": None, "last_payment_error": None,
            "created": int(time.time()), "livemode": False,
        })
        if status == "succeeded":
            pi["latest_charge"] = self._charge(amount=amount, currency=currency, pi=pi)["id"]
        return pi

    def _pi_create(self, p: dict) -> tuple[int, dict]:
        amount, currency = int(p.get("amount", 0)), (p.get("currency") or "usd").lower()
        if amount <= 0:
            raise SandboxError(400, "amount must be positive", code="parameter_invalid_integer")
        pm = p.get("payment_method")
        if str(p.get("confirm")).lower() != "true" or not pm:
            raise SandboxError(400, "The sandbox implements only confirm=true with a saved "
                               "payment_method (off-session charges).")
        card = self.cards.get(pm)
        if card is None:
            raise SandboxError(400, f"No such PaymentMethod: '{pm}'", code="resource_missing")
        method = self.get(pm, "payment_method")
        if p.get("customer") and method.get("customer") != p.get("customer"):
            raise SandboxError(400, "The payment method does not belong to this customer.")
        metadata = p.get("metadata") or {}
        if card in DECLINE_CARDS:
            pi = self._payment_intent(amount=amount, currency=currency,
                                      customer=p.get("customer"), payment_method=pm,
                                      metadata=metadata, status="requires_payment_method")
            pi["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                        "message": DECLINE_CARDS[card], "payment_method": method}
            self.emit("payment_intent.payment_failed", pi)
            raise SandboxError(402, DECLINE_CARDS[card], type="card_error", code="card_declined",
                               extra={"payment_intent": pi, "decline_code": "generic_decline"})
        pi = self._payment_intent(amount=amount, currency=currency, customer=p.get("customer"),
                                  payment_method=pm, metadata=metadata)
        self.emit("payment_intent.succeeded", pi)
        return 200, pi

    def _refund_create(self, p: dict) -> dict:
        charge_id = p.get("charge")
        if not charge_id and p.get("payment_intent"):
            charge_id = self.get(p["payment_intent"], "payment_intent")["latest_charge"]
        charge = self.get(charge_id or "", "charge")
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(p.get("amount", left))
        if amount <= 0 or amount > left:
            raise SandboxError(400, f"Refund amount ({amount}) is greater than unrefunded "
                               f"amount on charge ({left})", code="amount_too_large")
        refund = self._store({"id": _new_id("re"), "object": "refund", "amount": amount,
                              "charge": charge["id"], "currency": charge["currency"],
                              "payment_intent": charge["payment_intent"], "status": "succeeded",
                              "created": int(time.time())})
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].append(refund)
        self.emit("charge.refunded", charge)
        return refund

    def _pay_session(self, session: dict, form: dict) -> str | None:
        """The checkout page's submit: returns an error to show, or None when done."""
        if session["status"] != "open":
            return f"This checkout session is {session['status']}."
        number = "".join(ch for ch in form.get("card_number", "") if ch.isdigit())
        if session["mode"] == "payment":
            if form.get("method") == "bank_debit":
                pi = self._payment_intent(
                    amount=session["amount_total"], currency=session["currency"],
                    customer=session["customer"], payment_method=None,
                    metadata=(session["payment_intent_data"] or {}).get("metadata") or {},
                    status="processing")
                session.update(status="complete", payment_status="unpaid",
                               payment_intent=pi["id"])
                self.emit("checkout.session.completed", session)
                return None
            if number in DECLINE_CARDS:
                return DECLINE_CARDS[number]
            if len(number) < 12:
                return "Your card number is incomplete."
            pi = self._payment_intent(
                amount=session["amount_total"], currency=session["currency"],
                customer=session["customer"], payment_method=None,
                metadata=(session["payment_intent_data"] or {}).get("metadata") or {})
            session.update(status="complete", payment_status="paid", payment_intent=pi["id"])
            self.emit("payment_intent.succeeded", pi)
            self.emit("checkout.session.completed", session)
            return None
        # setup mode: save the card on the customer
        if len(number) < 12:
            return "Your card number is incomplete."
        pm = self._store({"id": _new_id("pm"), "object": "payment_method", "type": "card",
                          "customer": session["customer"],
                          "card": {"brand": "visa" if number.startswith("4") else "mastercard",
                                   "last4": number[-4:], "exp_month": 12, "exp_year": 2030}})
        self.cards[pm["id"]] = number
        seti = self._store({"id": _new_id("seti"), "object": "setup_intent",
                            "status": "succeeded", "payment_method": pm["id"],
                            "customer": session["customer"], "usage": "off_session"})
        session.update(status="complete", setup_intent=seti["id"])
        self.emit("checkout.session.completed", session)
        return None

    # --- HTTP --------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        try:
            if path.startswith("/v1/"):
                status, data = self._api(environ, method, path, body)
                return self._json(start_response, status, data)
            if path.startswith("/checkout/"):
                return self._checkout_page(start_response, method, path, body)
            if path.startswith("/sandbox/"):
                status, data = self._control(method, path, body)
                return self._json(start_response, status, data)
            if path == "/":
                return self._json(start_response, 200, {"sandbox": "stripe", "ok": True})
            raise SandboxError(404, f"Unrecognized request URL ({method}: {path}).")
        except SandboxError as exc:
            return self._json(start_response, exc.status, exc.body)

    @staticmethod
    def _json(start_response, status: int, data: dict):
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
                  404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}.get(status, "Error")
        out = json.dumps(data).encode()
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(out))),
                                              ("Request-Id", _new_id("req"))])
        return [out]

    def _api(self, environ, method: str, path: str, body: str) -> tuple[int, dict]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(auth, f"Bearer {self.secret_key}"):
            raise SandboxError(401, "Invalid API Key provided.", code="api_key_invalid")
        params = decode_form(body) if method == "POST" else {}
        key = environ.get("HTTP_IDEMPOTENCY_KEY") if method == "POST" else None
        if key:
            with self._lock:
                stored = self.idempotent.get(key)
                if stored is not None:
                    return stored
                if key in self.in_progress:
                    # Stripe: a request that conflicts with one still executing under the
                    # same key gets an idempotency_error and nothing is saved for it.
                    raise SandboxError(409, "There is currently another in-progress request "
                                       "using this Idempotency Key. Retry later.",
                                       type="idempotency_error")
                self.in_progress.add(key)
        try:
            with self._lock:
                answer = self._route(method, path.rstrip("/").split("/")[2:], params)
        except SandboxError as exc:
            answer = (exc.status, exc.body)
            if exc.status >= 500 or not key:
                if key:
                    with self._lock:
                        self.in_progress.discard(key)
                raise
        if key:
            with self._lock:
                self.idempotent[key] = answer
                self.in_progress.discard(key)
        return answer

    def _route(self, method: str, parts: list[str], p: dict) -> tuple[int, dict]:
        kinds = {"setup_intents": "setup_intent", "payment_methods": "payment_method",
                 "charges": "charge", "disputes": "dispute", "events": "event",
                 "customers": "customer", "refunds": "refund"}
        match method, parts:
            case "POST", ["customers"]:
                return 200, self._customer(p)
            case "POST", ["checkout", "sessions"]:
                return 200, self._session_create(p)
            case "GET", ["checkout", "sessions", sid]:
                return 200, self.get(sid, "checkout.session")
            case "POST", ["checkout", "sessions", sid, "expire"]:
                session = self.get(sid, "checkout.session")
                if session["status"] != "open":
                    raise SandboxError(400, f"Only open sessions can be expired "
                                       f"(this one is {session['status']}).")
                session["status"] = "expired"
                self.emit("checkout.session.expired", session)
                return 200, session
            case "POST", ["payment_intents"]:
                return self._pi_create(p)
            case "GET", ["payment_intents", pid]:
                return 200, self.get(pid, "payment_intent")
            case "POST", ["refunds"]:
                return 200, self._refund_create(p)
            case "GET", [collection, oid] if collection in kinds:
                return 200, self.get(oid, kinds[collection])
        raise SandboxError(404, f"Unrecognized request URL ({method}: /v1/{'/'.join(parts)}).")

    def _control(self, method: str, path: str, body: str) -> tuple[int, dict]:
        p = decode_form(body) if body and not body.startswith("{") else (
            json.loads(body) if body else {})
        parts = path.strip("/").split("/")[1:]
        with self._lock:
            match method, parts:
                case "GET", ["events"]:
                    return 200, {"data": self.events}
                case "POST", ["events", eid, "resend"]:
                    self.get(eid, "event")
                    self._queue.put(eid)
                    return 200, {"queued": eid}
                case "POST", ["checkout", sid, "settle"]:
                    session = self.get(sid, "checkout.session")
                    pi = self.get(session["payment_intent"], "payment_intent")
                    if p.get("outcome") == "failed":
                        pi["status"] = "requires_payment_method"
                        self.emit("checkout.session.async_payment_failed", session)
                    else:
                        pi["status"] = "succeeded"
                        pi["amount_received"] = pi["amount"]
                        pi["latest_charge"] = self._charge(amount=pi["amount"],
                                                           currency=pi["currency"], pi=pi)["id"]
                        session["payment_status"] = "paid"
                        self.emit("checkout.session.async_payment_succeeded", session)
                    return 200, session
                case "POST", ["disputes"]:
                    charge = self.get(p.get("charge", ""), "charge")
                    dispute = self._store({
                        "id": _new_id("dp"), "object": "dispute", "charge": charge["id"],
                        "payment_intent": charge["payment_intent"],
                        "amount": int(p.get("amount", charge["amount"])),
                        "currency": charge["currency"], "status": "needs_response",
                        "reason": p.get("reason", "fraudulent"), "created": int(time.time())})
                    charge["disputed"] = True
                    self.emit("charge.dispute.created", dispute)
                    return 200, dispute
                case "POST", ["disputes", did, "close"]:
                    dispute = self.get(did, "dispute")
                    dispute["status"] = p.get("status", "lost")
                    self.emit("charge.dispute.closed", dispute)
                    return 200, dispute
        raise SandboxError(404, f"Unknown sandbox control {method} {path}")

    def _checkout_page(self, start_response, method: str, path: str, body: str):
        sid = path.strip("/").split("/")[1] if path.count("/") >= 2 else ""
        with self._lock:
            session = self.objects.get(sid)
        if session is None or session.get("object") != "checkout.session":
            return self._html(start_response, 404, "<h1>Checkout session not found</h1>")
        error = None
        if method == "POST":
            form = dict(parse_qsl(body))
            if form.get("action") == "cancel":
                return self._redirect(start_response, session.get("cancel_url") or "/")
            with self._lock:
                error = self._pay_session(session, form)
                completed = [e for e in self.events
                             if e["type"] == "checkout.session.completed"
                             and e["data"]["object"]["id"] == sid]
            if error is None:
                # Like Stripe, the webhook is what fulfils; the sandbox lets the first
                # delivery attempt answer before it redirects, so the page the buyer
                # lands on usually already shows the result.
                if completed and self.webhook_url:
                    self.wait_delivered(completed[-1]["id"], timeout=15)
                url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", sid)
                return self._redirect(start_response, url)
        return self._html(start_response, 200 if error is None else 402,
                          self._page(session, error))

    @staticmethod
    def _page(session: dict, error: str | None) -> str:
        esc = html.escape
        paying = session["mode"] == "payment"
        if paying:
            # as Stripe's page shows it: minor units by the currency (JPY has none)
            currency = session["currency"].upper()
            amount = format_currency(
                Decimal(int(session["amount_total"])).scaleb(-get_currency_precision(currency)),
                currency, locale="en_US")
            title = f"Pay {amount}"
        else:
            title = "Save a card for later payments"
        state = "" if session["status"] == "open" else (
            f"<p class=err>This session is {esc(session['status'])}.</p>")
        methods = ("<p><label><input type=radio name=method value=card checked> Card</label> "
                   "<label><input type=radio name=method value=bank_debit> Bank debit "
                   "(settles later)</label></p>") if paying else ""
        err = f"<p class=err role=alert>{esc(error)}</p>" if error else ""
        return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>Stripe sandbox checkout</title><style>
body{{font:15px system-ui,sans-serif;background:#f6f9fc;margin:0}}
main{{max-width:26rem;margin:3rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;
box-shadow:0 2px 8px #0002}} input[type=text]{{width:100%;padding:.5rem;font:inherit}}
button{{background:#635bff;color:#fff;border:0;border-radius:6px;padding:.6rem 1rem;
font:inherit;width:100%;margin-top:.5rem}} .err{{color:#b3261e}} small{{color:#697386}}
</style></head><body><main>
<p><small>Stripe sandbox · test mode · {esc(session['id'])}</small></p>
<h1>{esc(title)}</h1>{state}{err}
<form method=post>{methods}
<p><label>Card number<br><input type=text name=card_number value="4242 4242 4242 4242"
 autocomplete=off></label></p>
<p><small>4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined.</small></p>
<button type=submit name=action value=pay>{'Pay' if paying else 'Save card'}</button>
<button type=submit name=action value=cancel style="background:#fff;color:#635bff">Cancel
</button></form></main></body></html>"""

    @staticmethod
    def _html(start_response, status: int, text: str):
        out = text.encode()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", "text/html; charset=utf-8"),
                        ("Content-Length", str(len(out)))])
        return [out]

    @staticmethod
    def _redirect(start_response, url: str):
        start_response("303 See Other", [("Location", url), ("Content-Length", "0")])
        return [b""]


def serve(sandbox: StripeSandbox, host: str = "127.0.0.1", port: int = 0):
    """Start serving in a daemon thread; returns (server, base_url)."""
    server = wsgi.serve(sandbox, host=host, port=port)
    base = f"http://{host}:{server.server_port}"
    if not sandbox.public_url:
        sandbox.public_url = base
    threading.Thread(target=server.serve_forever, daemon=True,
                     name="stripe-sandbox-http").start()
    return server, base
