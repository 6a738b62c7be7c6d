"""A real HTTP server on 127.0.0.1 for tests of what PodHub sends out: each path answers
as a test says, and every request it received is kept (method, path, headers, body), so
a test can prove what reached it — or that nothing did."""

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


class StubServer:
    """`routes`: path (without the query) -> Answer, or a callable(Received) -> Answer."""

    def __init__(self, routes: dict[str, Answer | Callable[[Received], Answer]] | None = None):
        self.routes = dict(routes or {})
        self.received: list[Received] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.command, self.path, dict(self.headers.items()),
                               self.rfile.read(length) if length else b"")
                stub.received.append(got)
                route = stub.routes.get(self.path.split("?")[0], Answer(404))
                answer = route(got) if callable(route) else route
                body = answer.body
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes):
                    if "Content-Length" not in answer.headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Connection", "close")  # streamed: ends when we close
                self.end_headers()
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up (a cap or a deadline): that is the point

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self) -> list[str]:
        return [r.path for r in self.received]
