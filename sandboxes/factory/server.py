"""The sandbox factory's HTTP face: a small WSGI app and a threaded HTTP/1.1 server.

The server keeps connections alive (one thread per connection), so a client
that reuses its connections pays no TCP set-up per call, as with a real
provider; nothing in it sleeps per request (only `latency` and the "timeout"
fault do, on purpose).
"""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandboxes.factory.factory import SandboxFactory


def _json(start_response, status: int, data) -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(f"{status} {'OK' if status < 400 else 'Error'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_app(factory: SandboxFactory):
    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        raw = environ["wsgi.input"].read(size) if size else b""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return _json(start_response, 400, {"error": "body is not JSON"})
        if path.startswith("/_sandbox/") or path == "/_faults":
            return _control(factory, method, path, data, start_response)
        if factory.config.latency:
            time.sleep(factory.config.latency)
        if path.startswith("/v1/"):
            fault = factory.fault()
            if fault is not None:
                return _json(start_response, *fault)
        if factory.config.down:
            return _json(start_response, 503, {"error": "factory is down"})
        if environ.get("HTTP_AUTHORIZATION", "") != f"Bearer {factory.api_key}":
            return _json(start_response, 401, {"error": "bad api key"})
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["v1", "orders"] and parts[:2] != ["v1", "shipping-rates"]:
            return _json(start_response, 404, {"error": "not found"})
        if parts == ["v1", "shipping-rates"] and method == "GET":
            country = parse_qs(environ.get("QUERY_STRING", "")).get("country", [""])[0]
            return _json(start_response, 200, {"result": factory.rates(country)})
        if parts == ["v1", "orders"] and method == "POST":
            key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
            if key and data.get("external_id") and key != data["external_id"]:
                return _json(start_response, 400, {"error": "Idempotency-Key must equal "
                                                   "external_id"})
            status, body = factory.create(data)
            return _json(start_response, status, body)
        if len(parts) == 3 and method == "GET":
            status, body = factory.get(parts[2])
            return _json(start_response, status, body)
        if len(parts) == 4 and parts[3] == "cancel" and method == "POST":
            status, body = factory.cancel(parts[2])
            return _json(start_response, status, body)
        return _json(start_response, 405, {"error": "method not allowed"})

    return app


def _control(factory: SandboxFactory, method, path, data, start_response):
    if path == "/_sandbox/config" and method == "POST":
        for key, value in data.items():
            if hasattr(factory.config, key):
                setattr(factory.config, key, value)
        return _json(start_response, 200, vars(factory.config))
    if path == "/_sandbox/advance" and method == "POST":
        ids = [data["order"]] if data.get("order") else factory.due() if not data.get(
            "all") else list(factory.orders)
        for order_id in ids:
            factory.advance(order_id, to=data.get("to"))
        return _json(start_response, 200, {"advanced": len(ids)})
    if path == "/_sandbox/stats":
        return _json(start_response, 200, {**factory.stats, "orders": len(factory.orders)})
    if path == "/_sandbox/orders":  # every order taken: [[id, external_id, status]]
        with factory.lock:
            rows = [[o.id, o.external_id, o.status] for o in factory.orders.values()]
        return _json(start_response, 200, {"orders": rows})
    if path in ("/_faults", "/_sandbox/faults"):
        if method == "POST":
            try:
                state = factory.set_fault(data.get("mode", "none"),
                                          hang_seconds=data.get("hang_seconds"))
            except ValueError as exc:
                return _json(start_response, 400, {"error": str(exc)})
            return _json(start_response, 200, state)
        return _json(start_response, 200, factory.fault_state())
    return _json(start_response, 404, {"error": "not found"})


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive in front of the WSGI app (wsgiref's handler closes
    every connection after one request)."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after a minute
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    app = None  # set per server

    def log_message(self, *args):  # the demo logs its own lines
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        environ = {"REQUEST_METHOD": self.command, "PATH_INFO": url.path,
                   "QUERY_STRING": url.query, "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body)}
        for key, value in self.headers.items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        answer: dict = {}

        def start_response(status, headers):
            answer["status"], answer["headers"] = status, headers

        chunks = self.app(environ, start_response)
        code, _, reason = answer["status"].partition(" ")
        try:
            self.send_response(int(code), reason)
            for name, value in answer["headers"]:
                self.send_header(name, value)
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
        except OSError:  # the client gave up (its timeout): nothing to answer
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Threaded(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class SandboxFactoryServer:
    """`SandboxFactoryServer(factory, port=0).start()`; `.url`, `.stop()`."""

    def __init__(self, factory: SandboxFactory, *, host: str = "127.0.0.1", port: int = 0):
        self.factory = factory
        handler = type("Handler", (_Handler,), {"app": staticmethod(make_app(factory))})
        self.httpd = _Threaded((host, port), handler)
        self.url = f"http://{host}:{self.httpd.server_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxFactoryServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.factory.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
