#!/usr/bin/env python3
"""The `make run` smoke test (CI: .ci/run, after `make test`).

Starts scripts/run.sh — the embedded default: SQLite, Celery worker and beat over the
file-system broker, gunicorn, the sandboxes — from an empty var directory on free
ports, waits for /healthz to report every dependency up, then takes one order of the
Sandbox Shopify store through the seller's API as a user would: log in as the demo
seller, pay it, "Submit now", and wait until the sandbox factory (on a compressed
clock) has shipped it and the tracking number is on the order in the sandbox store.
Stops everything; on failure prints the tail of every log and exits non-zero.

Only the standard library: it runs before (and starts) the project's venv.
Usage: python3 scripts/smoke_run.py [--keep] [--timeout SECONDS]
"""

import argparse
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_EMAIL, DEMO_PASSWORD = "demo@podhub.local", "podhub-demo-2026"  # load_demo
# Settings the embedded default must not inherit from the caller's environment.
NOT_INHERITED = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "REDIS_URL",
                 "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "PODHUB_ENCRYPTION_KEYS",
                 "STRIPE_SECRET_KEY", "STRIPE_API_BASE", "PODHUB_PUBLIC_URL", "EMAIL_URL")
# What must never appear in a log of a healthy run (SQLite contention, crashes).
BAD_LOG_LINES = re.compile(r"database is locked|Traceback \(most recent call last\)")


class SmokeFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, every: float = 0.5):
    """Poll `check` until it returns something truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            value, last = None, exc
        if value:
            return value
        time.sleep(every)  # polling interval of a wait with a deadline
    raise SmokeFailed(f"timed out after {timeout:.0f} s waiting for {what}"
                      + (f" (last error: {last})" if last else ""))


class Seller:
    """The demo seller in a browser-like session: cookies, CSRF, JSON API calls."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, method: str, path: str, body=None, *, form: bool = False):
        headers = {"X-CSRFToken": self._csrf(), "Referer": self.base + "/"}
        data = None
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=headers)
        try:
            with self.http.open(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def api(self, method: str, path: str, body=None):
        status, raw = self.request(method, "/api/v1" + path, body)
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")[:500]

    def log_in(self) -> None:
        status, page = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise SmokeFailed(f"login page: HTTP {status}")
        status, _ = self.request("POST", "/accounts/login/", {
            "login": DEMO_EMAIL, "password": DEMO_PASSWORD,
            "csrfmiddlewaretoken": token.group(1).decode()}, form=True)
        who, me = self.api("GET", "/orders/?limit=1")
        if who != 200:
            raise SmokeFailed(f"logged in as {DEMO_EMAIL} but the API says {who}: {me}")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (our own 127.0.0.1)
        return resp.status, json.loads(resp.read())


def healthy(base: str):
    try:
        status, body = get_json(base + "/healthz")
    except urllib.error.HTTPError as exc:  # 503 while a dependency is down
        status, body = exc.code, json.loads(exc.read() or b"{}")
    return body if status == 200 and body.get("status") == "ok" else None


def journey(base: str, sandbox: str, timeout: float) -> str:
    seller = Seller(base)
    seller.log_in()

    def payable():
        _, page = seller.api("GET", "/orders/?state=to_order&limit=100")
        return [o for o in page["results"] if o["store_paid"]
                and o["store"].get("name") == "Sandbox Shopify store"]

    candidates = wait_for("a paid Sandbox Shopify order in To order (webhooks → worker → "
                          "priced)", payable, timeout)
    order = None
    for candidate in candidates:
        status, paid = seller.api("POST", "/payments/", {"order_ids": [candidate["id"]],
                                                         "key": f"smoke-{candidate['id']}"})
        if status in (200, 201):
            order = candidate
            break
        print(f"  order {candidate['number']} not paid: {status} {paid}")
    if order is None:
        raise SmokeFailed("no order could be paid")
    oid = order["id"]
    print(f"  paid order {order['number']} (id {oid}, Shopify {order['external_id']})")

    def awaiting():
        _, now = seller.api("GET", f"/orders/{oid}/")
        return now["status"] == "awaiting_submission"

    wait_for("the order awaiting submission", awaiting, 30)
    status, submitted = seller.api("POST", "/orders/submit/", {"order_ids": [oid]})
    if status != 200 or submitted.get("submitted") != [oid]:
        raise SmokeFailed(f"Submit now: {status} {submitted}")
    print("  submitted; waiting for the sandbox factory to ship it")

    def shipped():
        _, now = seller.api("GET", f"/orders/{oid}/")
        if now["status"] in ("on_hold", "cancelled"):
            raise SmokeFailed(f"order went {now['status']}: {now.get('hold_message')}")
        return now if now["status"] in ("shipped", "completed") else None

    wait_for("the order shipped", shipped, timeout)
    _, parcels = seller.api("GET", f"/orders/{oid}/shipments/")
    numbers = {p["tracking_number"] for p in parcels["shipments"] if p["tracking_number"]}
    if not numbers:
        raise SmokeFailed(f"shipped without a tracking number: {parcels}")

    def tracking_in_store():
        _, remote = get_json(f"{sandbox}/_sandbox/orders/{order['external_id']}")
        pushed = {f.get("tracking_number") for f in remote.get("fulfillments", [])}
        return numbers <= pushed

    wait_for(f"tracking {sorted(numbers)} on the Sandbox Shopify store's order",
             tracking_in_store, timeout)
    return f"order {order['number']} shipped, tracking {sorted(numbers)} in the store"


def log_tail(var: Path, lines: int = 40) -> str:
    out = []
    for path in sorted((var / "log").glob("*.log")):
        text = path.read_text(errors="replace").splitlines()
        out.append(f"--- {path.name} (last {min(lines, len(text))} of {len(text)} lines)")
        out += text[-lines:]
    return "\n".join(out)


def bad_log_lines(var: Path) -> list[str]:
    return [f"{path.name}: {line}" for path in sorted((var / "log").glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if BAD_LOG_LINES.search(line)]


def stop(proc: subprocess.Popen) -> None:
    """run.sh stops its processes on SIGTERM (15 s grace); then its whole group goes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # its own session: only what it started
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds allowed for each wait (start-up, import, shipping)")
    parser.add_argument("--keep", action="store_true", help="keep the var directory")
    args = parser.parse_args()
    started = time.monotonic()
    var = Path(tempfile.mkdtemp(prefix="podhub-smoke-"))
    ports = {name: free_port() for name in ("PORT", "SANDBOX_PORT", "WOO_SANDBOX_PORT",
                                            "ETSY_SANDBOX_PORT", "FACTORY_PORT",
                                            "STRIPE_SANDBOX_PORT")}
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(PODHUB_VAR_DIR=str(var), FACTORY_STEP_SECONDS="2")
    base = f"http://127.0.0.1:{ports['PORT']}"
    sandbox = f"http://127.0.0.1:{ports['SANDBOX_PORT']}"
    print(f"smoke: make run's stack on {base} (var: {var})", flush=True)
    console = open(var / "run.sh.out", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(ROOT / "scripts/run.sh")], cwd=ROOT, env=env,
                            stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
    failure = ""
    try:
        def up():
            if proc.poll() is not None:
                raise SmokeFailed(f"scripts/run.sh exited with {proc.returncode}")
            return healthy(base)

        # the first start installs the venv if needed and migrates a new SQLite file
        health = wait_for("/healthz to report database, broker and worker up", up,
                          max(args.timeout, 600 if not (ROOT / ".venv").exists() else 180))
        print(f"  healthy after {time.monotonic() - started:.0f} s: "
              f"{', '.join(sorted(health['checks']))}", flush=True)
        print("  " + journey(base, sandbox, args.timeout), flush=True)
        bad = bad_log_lines(var)
        if bad:
            raise SmokeFailed("errors in the logs:\n" + "\n".join(bad[:20]))
    except SmokeFailed as exc:
        failure = str(exc)
    finally:
        stop(proc)
        console.close()
    if failure:
        print(f"smoke: FAILED: {failure}\n", file=sys.stderr)
        print((var / "run.sh.out").read_text(errors="replace")[-3000:], file=sys.stderr)
        print(log_tail(var), file=sys.stderr)
    else:
        print(f"smoke: passed in {time.monotonic() - started:.0f} s")
    if not args.keep:
        shutil.rmtree(var, ignore_errors=True)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
