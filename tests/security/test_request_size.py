"""Issue 13, finding 13: a 100 MB body was read (to disk) before being refused.

Each path family has a body limit (settings REQUEST_BODY_LIMITS); a declared length over
it is answered with 413 before a byte of the body is read — JSON under /api/ and
/webhooks/, an HTML page elsewhere — and a body without a length is cut at the limit
while it is read (podhub/core/request_limits.py). Checked with the test client (whose
input explodes when read), over real sockets against live_server, and against gunicorn
started with PodHub's own gunicorn settings (podhub/gunicorn_conf.py).
"""

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

MB = 1024 * 1024
HUNDRED_MB = 100 * MB
ROOT = Path(__file__).resolve().parents[2]


class Untouchable(io.RawIOBase):
    """A request input that fails the test when anything reads it."""

    def readable(self):
        return True

    def read(self, size=-1):
        raise AssertionError("the body was read")

    readinto = readline = read


def declared(client, path: str, length: int, **extra):
    return client.generic("POST", path, b"", content_type="application/json",
                          CONTENT_LENGTH=str(length), **{"wsgi.input": Untouchable(), **extra})


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/balance/top-ups/",
                                  "/webhooks/stripe/", "/webhooks/shopify/",
                                  "/webhooks/providers/sandbox-factory/"])
def test_a_declared_100_mb_body_gets_413_json_without_being_read(client, path):
    resp = declared(client, path, HUNDRED_MB)
    assert resp.status_code == 413
    assert resp["Content-Type"] == "application/json"
    assert resp.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("path", ["/orders/import/", "/orders/7/fulfillment/claims/",
                                  "/accounts/login/", "/balance/top-up/", "/admin/login/"])
def test_a_declared_100_mb_body_gets_an_html_413_page_without_being_read(client, path):
    resp = declared(client, path, HUNDRED_MB)
    assert resp.status_code == 413
    assert resp["Content-Type"].startswith("text/html")
    assert "This request is too large" in resp.content.decode()


@pytest.mark.parametrize(("path", "allowed"), [
    ("/api/v1/orders/", 2 * MB), ("/orders/7/fulfillment/claims/", 60 * MB + 64 * 1024),
    ("/orders/import/", 5 * MB + 64 * 1024), ("/webhooks/shopify/", 5 * MB),
])
def test_each_path_family_has_its_own_limit(client, path, allowed):
    assert declared(client, path, allowed + 1).status_code == 413
    from podhub.core.request_limits import body_limit

    assert body_limit(path) == allowed


def test_a_malformed_length_is_a_400(client):
    resp = client.generic("POST", "/api/v1/orders/", b"{}", content_type="application/json",
                          CONTENT_LENGTH="12abc")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"


def chunked_like_gunicorn(body: bytes, content_type: str = "application/json") -> dict:
    """What gunicorn hands the app for a chunked body: no length, a decoded input that
    ends at the end of the body."""
    return {"CONTENT_LENGTH": "", "CONTENT_TYPE": content_type,
            "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True}


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "content_type", "body", "limit"), [
    ("/webhooks/stripe/", "application/json", b'{"pad": "' + b"x" * (6 * MB) + b'"}', 5 * MB),
    ("/accounts/login/", "application/x-www-form-urlencoded",
     b"login=a%40b.test&password=" + b"x" * (3 * MB), 2 * MB),
])
def test_a_chunked_body_over_the_limit_is_cut_while_read(client, path, content_type, body,
                                                         limit):
    # Bodies read whole (a webhook's signed bytes, a form) are cut at their family's
    # limit. (Django's multipart parser and DRF read nothing without a length.)
    stream = chunked_like_gunicorn(body, content_type)
    resp = client.generic("POST", path, b"", HTTP_STRIPE_SIGNATURE="t=1,v1=00", **stream)
    assert resp.status_code == 413, resp.content
    assert stream["wsgi.input"].tell() <= limit + 1  # stopped at the limit


@pytest.mark.django_db
def test_a_chunked_body_within_the_limit_reaches_the_view(client, settings):
    from sandboxes.stripe.server import sign

    payload = json.dumps({"id": "evt_chunked_1", "type": "customer.created",
                          "data": {"object": {}}}).encode()
    resp = client.generic("POST", "/webhooks/stripe/", b"", content_type="application/json",
                          HTTP_STRIPE_SIGNATURE=sign(payload, settings.STRIPE_WEBHOOK_SECRET),
                          **chunked_like_gunicorn(payload))
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"received": True, "duplicate": False}


def test_a_chunked_body_the_server_cannot_delimit_is_refused_with_411(client):
    resp = client.generic("POST", "/api/v1/orders/", b"", content_type="application/json",
                          CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked",
                          **{"wsgi.input": Untouchable()})
    assert resp.status_code == 411 and resp.json()["error"]["code"] == "length_required"


# --- over real sockets ---------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _status_and_body(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {k.lower(): v for k, v in (line.split(b": ", 1) for line in
                                         head.split(b"\r\n")[1:] if b": " in line)}
    length = int(headers[b"content-length"])
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(head.split(b" ", 2)[1]), body


def _send_body_in_background(sock: socket.socket, *, chunked: bool, total: int) -> dict:
    """Send up to `total` bytes of body, 1 MB at a time, until the server stops taking
    them; returns a dict with how much was sent."""
    sent = {"bytes": 0}
    piece = b"x" * MB

    def run():
        try:
            while sent["bytes"] < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent["bytes"] += len(piece)
        except OSError:
            pass  # the server answered and closed: exactly what we want

    threading.Thread(target=run, daemon=True).start()
    return sent


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "json_body"), [("/api/v1/orders/", True),
                                                 ("/orders/import/", False)])
def test_live_server_refuses_a_100_mb_upload_before_receiving_it(live_server, path,
                                                                 json_body):
    sock = _connect(live_server.url)
    with sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
                     f"Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {HUNDRED_MB}\r\n\r\n".encode())
        sent = _send_body_in_background(sock, chunked=False, total=HUNDRED_MB)
        status, body = _status_and_body(sock)
    assert status == 413, body
    assert (b'"too_large"' in body) if json_body else (b"This request is too large" in body), body
    assert sent["bytes"] < HUNDRED_MB


@pytest.mark.django_db
def test_live_server_refuses_a_chunked_upload_it_cannot_delimit(live_server):
    sock = _connect(live_server.url)
    with sock:
        sock.sendall(b"POST /api/v1/orders/ HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = _send_body_in_background(sock, chunked=True, total=HUNDRED_MB)
        status, body = _status_and_body(sock)
    assert status == 411 and b'"length_required"' in body
    assert sent["bytes"] < HUNDRED_MB


# --- gunicorn with PodHub's settings ----------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn_url():
    """gunicorn serving podhub.wsgi with podhub/gunicorn_conf.py, as Docker and run.sh do.
    Only refusals are asked of it: they are answered before any database query."""
    # Our own listening socket, handed to gunicorn (fd://): connections wait in its
    # backlog from the start, so there is no port to poll while gunicorn comes up.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "podhub.wsgi", "--config",
         "python:podhub.gunicorn_conf", "--bind", f"fd://{listener.fileno()}", "--workers",
         "1", "--threads", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, pass_fds=(listener.fileno(),))
    deadline = time.monotonic() + 180
    # Wait for the worker's first answer (a refused request line, no database) so a
    # loaded machine's slow start is not charged to the tests' 30-second reads.
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                _status_and_body(sock)
            break
        except (OSError, KeyError, ValueError, IndexError):
            if proc.poll() is not None or time.monotonic() > deadline:
                listener.close()
                proc.kill()
                pytest.fail("gunicorn never answered: " + proc.stderr.read().decode()[-2000:])
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)
    listener.close()


def test_gunicorn_cuts_a_chunked_100_mb_body_at_the_limit(gunicorn_url):
    sock = _connect(gunicorn_url)
    with sock:
        sock.sendall(b"POST /webhooks/stripe/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = _send_body_in_background(sock, chunked=True, total=HUNDRED_MB)
        status, body = _status_and_body(sock)
    assert status == 413 and b'"too_large"' in body
    assert sent["bytes"] < HUNDRED_MB


def test_gunicorn_refuses_a_declared_100_mb_body_at_once(gunicorn_url):
    sock = _connect(gunicorn_url)
    with sock:
        sock.sendall(f"POST /webhooks/stripe/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Length: {HUNDRED_MB}\r\n\r\n".encode())
        status, body = _status_and_body(sock)
    assert status == 413 and b'"too_large"' in body


def test_gunicorn_limits_the_request_line_and_headers(gunicorn_url):
    for request in (b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                    + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"):
        sock = _connect(gunicorn_url)
        with sock:
            sock.sendall(request)
            status, _ = _status_and_body(sock)
        assert status in (400, 414, 431), status
