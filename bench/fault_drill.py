#!/usr/bin/env python
"""The whole journey under faults (issue 19): store -> priced -> paid -> submitted ->
made -> shipped -> tracking pushed, on real processes that a seeded schedule kills.

1. throw-away PostgreSQL + Redis (bench/shopify_services.py), migrated; a workspace with
   a balance, a catalog product, a Shopify store connected through `connect_store`
   (auto-pay, submit after 0 hours) — the operator's own CLI;
2. from the real start commands (scripts/run.sh): the Shopify sandbox
   (`manage.py run_shopify_sandbox`, signed webhooks, Shopify-like retries), the sandbox
   factory (`manage.py run_sandbox_factory --connect --route-catalog`, a step every
   --step seconds, signed callbacks), 2 web processes (`gunicorn podhub.wsgi`, 2 workers
   each) behind a small TCP balancer in this process (a connection goes to the next web
   that accepts it, as a load balancer with health checks would), 2 workers (`celery
   worker -Q celery,sweeps`) and beat (`celery beat`), each restarted 2 s after it dies
   (a supervisor: systemd Restart=always);
3. orders arrive in the store at a steady rate; 10 % of their webhooks are delivered
   twice; every 20th batch is held and released newest first with an orders/updated
   for each (out of order);
4. the first third of the arrival window runs clean, then the fault schedule — seeded,
   printed, replayable with --seed — SIGKILLs workers, web processes and beat, restarts
   Redis (its queue lost) and PostgreSQL (connections dropped), takes the store's API
   and the factory down (503/500) for a while, and answers pushes with 429;
5. after the last arrival and the last fault, everything is left to settle, PodHub's
   processes are stopped (the checks read a still picture), then the checks: every store
   order exists once in PodHub; every one reached the factory exactly once; every
   parcel's tracking reached the store exactly once; the ledger invariants hold (account
   = sum of its entries, held = open holds, no key twice) and every order's captures
   match its state; nothing is left due or retrying; latency percentiles (store ->
   factory accepted, store -> tracking in the store) and throughput in the clean and the
   faulty part.

Compressed (said in the output): providers' polling safety net (2 min instead of 6 h,
bench/drill_settings.py). Everything else runs at production intervals.

Reproduce: .venv/bin/python bench/fault_drill.py --seed 1
               (10 minutes of arrivals, then up to 15 of settling)
           .venv/bin/python bench/fault_drill.py --short --seed 1
               (1 minute of arrivals, then up to 8 of settling: a pricing doorbell lost
               in a fault waits for the 5-minute pricing sweep, whose timer a killed
               beat restarts; about 8 minutes in all on a busy 2-core machine)
Exit status 1 when a check fails. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgtools import as_pg, free_port  # noqa: E402
from bench.shopify_services import Services  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens
PY = str(ROOT / ".venv" / "bin" / "python")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
SHOP = "drill.myshopify.com"
TOKEN = "shpat_drill"
SECRET = "drill-webhook-secret"
FACTORY_KEY = "drill-factory-key"
FACTORY_SECRET = "drill-factory-secret"
SKU = "DRILL-MUG"
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"{time.monotonic() - T0:7.1f} s  {text}")


# --- processes ---------------------------------------------------------------------------


class Proc:
    """One supervised process: restarted `restart_after` seconds after it dies, unless
    the drill stopped it."""

    def __init__(self, name: str, argv: list[str], env: dict, logs: Path,
                 restart_after: float = 2.0):
        self.name, self.argv, self.env = name, argv, env
        self.log = logs / f"{name}.log"
        self.restart_after = restart_after
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.died_at: float | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env,
                                         start_new_session=True, stdout=log, stderr=log)
        self.starts += 1
        self.died_at = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def supervise(self) -> None:
        if self.stopped or self.proc is None or self.proc.poll() is None:
            return
        now = time.monotonic()
        if self.died_at is None:
            self.died_at = now
        elif now - self.died_at >= self.restart_after:
            say(f"supervisor: {self.name} restarted")
            self.start()

    def stop(self) -> None:
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Balancer:
    """A TCP balancer on 127.0.0.1: each connection goes to the next backend that
    accepts it (a dead web process is skipped, as a load balancer's health check would)."""

    def __init__(self, backends: list[int] | list[tuple[str, int]], host: str = "127.0.0.1"):
        # a backend is a port on 127.0.0.1 or a (host, port): bench/drill_hosts.py
        # listens on its bridge and reaches web processes on other hosts' addresses
        self.backends = backends
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.turn = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        for i in range(len(self.backends) * 2):
            backend = self.backends[(self.turn + i) % len(self.backends)]
            try:
                upstream = socket.create_connection(
                    backend if isinstance(backend, tuple) else ("127.0.0.1", backend), timeout=1)
                break
            except OSError:
                time.sleep(0.05 * i)
        self.turn += 1
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in sel.select(timeout=120):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            upstream.close()


def http(method: str, url: str, body: dict | None = None, timeout: float = 10.0):
    import httpx

    for attempt in range(20):
        try:
            r = httpx.request(method, url, json=body, timeout=timeout)
            return r.json()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{method} {url} kept failing")


# --- set-up ------------------------------------------------------------------------------


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def setup_data(env: dict, shop_url: str) -> dict:
    """Workspace, balance, catalog (one mug, US shipping) and the connected store."""
    out = json.loads(manage(env, "create_workspace", "--name", "Drill Prints", "--email",
                            "drill@example.test", "--password", "drill-password-2026",
                            "--json"))
    ws = out["workspace_id"]
    script = f"""
from decimal import Decimal
from django_scopes import scopes_disabled
from billing import ledger
from fulfillment.models import DesignTemplate
from quotes.models import Product, Variant, ShippingZone, ShippingMethod, ShippingRate
with scopes_disabled():
    p = Product.objects.create(name="Drill mug", currency="USD")
    DesignTemplate.objects.create(product=p, side="front", name="Buyer's name", spec={{
        "width_in": 2, "height_in": 1, "layers": [
            {{"type": "background", "color": "#ffffff"}},
            {{"type": "text", "key": "Name", "box": [0.1, 0.1, 1.8, 0.8], "size_pt": 36,
             "min_size_pt": 8, "color": "#1d232b", "align": "center", "valign": "middle",
             "required": True}}]}})
    Variant.objects.create(product=p, sku="{SKU}", price_amount=Decimal("8.00"))
    zone = ShippingZone.objects.create(name="United States", countries="US")
    m = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                      handling_amount=Decimal("1.00"))
    ShippingRate.objects.create(method=m, zone=zone, currency="USD",
                                first_item_amount=Decimal("5.00"),
                                additional_item_amount=Decimal("2.00"))
    ledger.credit(workspace_id={ws}, kind="adjustment", amount=Decimal("10000000.00"),
                  key="drill:credit", memo="Drill credit")
"""
    manage(env, "shell", "--no-imports", "-c", script)
    conn = json.loads(manage(env, "connect_store", "--workspace", str(ws), "--platform",
                             "shopify", "--name", "Drill store", "--shop-domain", SHOP,
                             "--access-token", TOKEN, "--webhook-secret", SECRET,
                             "--api-base", shop_url, "--no-import", "--json"))
    manage(env, "shell", "--no-imports", "-c", f"""
from django_scopes import scopes_disabled
from orders.models import Store
with scopes_disabled():
    Store.objects.filter(workspace_id={ws}).update(auto_pay=True, submit_mode="after_hours",
                                                   submit_after_hours=0)
""")
    return {"workspace_id": ws, **conn}


# --- orders ------------------------------------------------------------------------------


class Orders:
    """Creates store orders at a steady rate; remembers their ids and creation times."""

    def __init__(self, shop_url: str, rnd: random.Random):
        self.shop_url = shop_url
        self.rnd = rnd
        self.created: dict[str, float] = {}  # store order id -> wall time created
        self.duplicated = 0
        self.reordered = 0
        self.lock = threading.Lock()

    def _spec(self) -> dict:
        return {"financial_status": "paid", "shipping": "4.90",
                "shipping_address": {"country_code": "US", "country": "United States",
                                     "city": "Springfield", "province": "IL",
                                     "province_code": "IL", "zip": "62701"},
                "line_items": [{"title": "Drill mug", "sku": SKU, "variant_title": "11 oz",
                                "price": "20.00", "quantity": 1,
                                "properties": [{"name": "Name", "value": "Ana"}]}]}

    def create(self, n: int) -> None:
        reorder = n > 1
        if reorder:  # hold the batch's webhooks, then release them newest first
            http("POST", f"{self.shop_url}/_sandbox/webhooks/hold", {"hold": True})
        made = []
        for _ in range(n):
            dup = self.rnd.random() < 0.10
            order = http("POST", f"{self.shop_url}/_sandbox/orders",
                         {"order": self._spec(), "delivery": {"duplicate": 1} if dup else None})
            with self.lock:
                self.created[str(order["id"])] = time.time()
                self.duplicated += dup
            made.append(order["id"])
        if reorder:
            for oid in made:  # an orders/updated for each: it arrives before the create
                http("POST", f"{self.shop_url}/_sandbox/orders/{oid}/update",
                     {"changes": {"note": "gift wrap"}})
            # the sandbox keeps holding until told not to: stop holding, then release
            # (otherwise every later webhook waits for the next reordered batch)
            http("POST", f"{self.shop_url}/_sandbox/webhooks/hold", {"hold": False})
            http("POST", f"{self.shop_url}/_sandbox/webhooks/release", {"reverse": True})
            self.reordered += n

    def run(self, *, rate: float, seconds: float, stop: threading.Event) -> None:
        started = time.monotonic()
        batch = 0
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                return
            due = int(elapsed * rate) + 1 - len(self.created)
            if due > 0:
                batch += 1
                self.create(3 if batch % 20 == 0 else 1)
            else:
                time.sleep(0.02)


# --- faults ------------------------------------------------------------------------------


def schedule(seed: int, *, start: float, end: float, short: bool) -> list[tuple]:
    """(at seconds, fault, argument): seeded, printed, replayable."""
    rnd = random.Random(seed)
    span = end - start
    outage = (12, 20) if short else (60, 150)
    faults = [
        ("kill", "worker1"), ("kill", "worker2"), ("kill", "web1"), ("kill", "web2"),
        ("kill", "beat"), ("restart_redis", None), ("restart_postgres", None),
        ("store_down", rnd.uniform(*outage)), ("factory_down", rnd.uniform(*outage)),
        ("push_429", rnd.uniform(*outage)),
    ]
    if not short:
        faults += [("kill", "worker1"), ("kill", "worker2"), ("kill", "web1"),
                   ("kill", "beat"), ("restart_redis", None), ("restart_postgres", None)]
    events = [(round(start + rnd.uniform(0, span * 0.85), 1), f, arg) for f, arg in faults]
    return sorted(events, key=lambda e: e[0])


class Faults:
    def __init__(self, procs: dict[str, Proc], services: Services, shop_url: str,
                 factory_url: str):
        self.procs, self.services = procs, services
        self.shop_url, self.factory_url = shop_url, factory_url
        self.longest = 0.0
        self.timers: list[threading.Timer] = []

    def later(self, seconds: float, fn) -> None:
        t = threading.Timer(seconds, fn)
        t.daemon = True
        t.start()
        self.timers.append(t)

    def apply(self, fault: str, arg) -> None:
        if fault == "kill":
            self.procs[arg].kill()
            say(f"FAULT {arg} SIGKILLed")
        elif fault == "restart_redis":
            self.services.redis_stop()
            say("FAULT Redis killed (queue lost)")
            time.sleep(1.0)
            self.services.redis_start()
            say("      Redis started again")
        elif fault == "restart_postgres":
            data = self.services.base / "data"
            # -l: the new postmaster must not hold our pipes open (run() would wait forever)
            subprocess.run(as_pg([str(self.services.bin / "pg_ctl"), "-D", str(data), "-l",
                                  str(self.services.base / "pg.log"), "-m", "fast", "-w",
                                  "restart"]), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            say("FAULT PostgreSQL restarted (every connection dropped)")
        elif fault == "store_down":
            http("POST", f"{self.shop_url}/_sandbox/down", {"seconds": arg})
            self.longest = max(self.longest, arg)
            say(f"FAULT store API down (503) for {arg:.0f} s")
        elif fault == "factory_down":
            http("POST", f"{self.factory_url}/_faults", {"mode": "500"})
            self.longest = max(self.longest, arg)
            say(f"FAULT factory down (500) for {arg:.0f} s")
            self.later(arg, lambda: (http("POST", f"{self.factory_url}/_faults",
                                          {"mode": "none"}), say("      factory back")))
        elif fault == "push_429":
            http("POST", f"{self.shop_url}/_sandbox/settings",
                 {"bucket_max": 25, "restore_rate": 2, "throttled_status": 429})
            self.longest = max(self.longest, arg)
            say(f"FAULT store answers 429 (bucket 25, 2 points/s) for {arg:.0f} s")
            self.later(arg, lambda: (http("POST", f"{self.shop_url}/_sandbox/settings",
                                          {"bucket_max": 1000, "restore_rate": 50,
                                           "throttled_status": 200}),
                                     say("      store rate limit back to normal")))


# --- checks ------------------------------------------------------------------------------


def db_rows(dsn: str, sql: str, params=()) -> list[tuple]:
    import psycopg

    for attempt in range(30):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError:
            time.sleep(0.5 * (attempt + 1))
    raise RuntimeError("PostgreSQL unreachable")


def progress(dsn: str) -> dict:
    states = dict(db_rows(dsn, "SELECT state, count(*) FROM orders_order GROUP BY state"))
    pending = db_rows(dsn, """
        SELECT (SELECT count(*) FROM integrations_inboundwebhook WHERE status = 'pending'),
               (SELECT count(*) FROM integrations_outboxmessage WHERE status = 'pending'),
               (SELECT count(*) FROM fulfillment_submission
                 WHERE status IN ('pending', 'sending')),
               (SELECT count(*) FROM fulfillment_providerwebhook
                 WHERE result IN ('pending', 'failed'))""")[0]
    return {"states": states, "inbox": pending[0], "outbox": pending[1], "sends": pending[2],
            "provider_webhooks": pending[3]}


def settled(p: dict, created: int) -> bool:
    done = p["states"].get("shipped", 0) + p["states"].get("completed", 0)
    return (done == created and not p["inbox"] and not p["outbox"] and not p["sends"]
            and not p["provider_webhooks"])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def checks(dsn: str, orders: Orders, shop_url: str, factory_url: str, store_id: int,
           fault_from: float, t_start: float) -> tuple[bool, list[str]]:
    lines, ok = [], True

    def check(name: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok &= passed
        lines.append(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")

    created = set(orders.created)
    ours = db_rows(dsn, "SELECT external_id, id, state, placed_at FROM orders_order "
                        "WHERE store_id = %s", (store_id,))
    ext = Counter(r[0] for r in ours)
    check("every store order exists once", set(ext) == created and max(ext.values()) == 1,
          f"{len(created)} created in the store, {len(ext)} in PodHub, missing "
          f"{len(created - set(ext))}, extra {len(set(ext) - created)}, twice "
          f"{sum(1 for v in ext.values() if v > 1)}")
    for store_order in sorted(created - set(ext))[:5]:  # where a missing order got stuck
        log = http("GET", f"{shop_url}/_sandbox/webhooks", timeout=60)
        sent = [(w["topic"], w["status"], w["attempts"], w["last_code"]) for w in log["log"]
                if w["resource_id"] == store_order]
        got = db_rows(dsn, "SELECT topic, status, attempts, result, left(error, 200) FROM "
                           "integrations_inboundwebhook WHERE resource_id = %s", (store_order,))
        lines.append(f"      missing store order {store_order}: the store sent {sent} "
                     f"({log['pending']} deliveries queued in the store); PodHub's inbox has "
                     f"{got}")
    by_id = {r[1]: r for r in ours}
    factory = http("GET", f"{factory_url}/_sandbox/orders", timeout=60)["orders"]
    per_order = Counter(int(e[1][2:].split("-")[0]) for e in factory if e[1].startswith("PH"))
    paid = [r[1] for r in ours if r[2] in ("in_production", "shipped", "completed")]
    check("every paid order at the factory exactly once",
          all(per_order.get(o) == 1 for o in paid) and set(per_order) <= set(by_id)
          and len(paid) == len(created),
          f"{len(paid)} orders in production or later, {len(factory)} factory orders, "
          f"{sum(1 for o in paid if per_order.get(o, 0) == 0)} missing, "
          f"{sum(1 for v in per_order.values() if v > 1)} twice")
    parcels = db_rows(dsn, "SELECT s.order_id, s.tracking_number FROM fulfillment_shipment s "
                           "JOIN orders_order o ON o.id = s.order_id WHERE o.store_id = %s "
                           "AND s.status <> 'pending'", (store_id,))
    want: dict[str, Counter] = {}
    for order_id, number in parcels:
        want.setdefault(by_id[order_id][0], Counter())[number] += 1
    twice = missing = extra = 0
    for store_order in created:
        got = Counter(f["tracking_number"] for f in http(
            "GET", f"{shop_url}/_sandbox/orders/{store_order}")["fulfillments"])
        expected = want.get(store_order, Counter())
        twice += sum(1 for v in got.values() if v > 1)
        missing += sum(1 for k in expected if got.get(k, 0) == 0)
        extra += sum(1 for k in got if k not in expected)
    check("every parcel's tracking in the store exactly once", not (twice or missing or extra),
          f"{len(parcels)} parcels shipped; in the store: twice {twice}, missing {missing}, "
          f"unknown {extra}")
    books = db_rows(dsn, """
        SELECT a.workspace_id,
               a.balance_amount = coalesce((SELECT sum(balance_delta) FROM billing_ledgerentry e
                                            WHERE e.workspace_id = a.workspace_id), 0),
               a.held_amount = coalesce((SELECT sum(held_delta) FROM billing_ledgerentry e
                                         WHERE e.workspace_id = a.workspace_id), 0),
               a.held_amount = coalesce((SELECT sum(amount - captured_amount
                                                    - released_amount)
                                         FROM billing_hold h WHERE h.workspace_id =
                                         a.workspace_id AND h.is_open), 0)
        FROM billing_account a""")
    keys = db_rows(dsn, "SELECT count(*) - count(DISTINCT idempotency_key) "
                        "FROM billing_ledgerentry")[0][0]
    check("ledger invariants", all(all(r[1:]) for r in books) and keys == 0,
          f"{len(books)} accounts: balance = sum of entries, held = sum of entries = open "
          f"holds: {[tuple(r[1:]) for r in books]}; idempotency keys twice: {keys}")
    captures = dict(db_rows(dsn, "SELECT e.order_id, count(*) FROM billing_ledgerentry e "
                                 "JOIN orders_order o ON o.id = e.order_id WHERE o.store_id = "
                                 "%s AND e.kind = 'capture' GROUP BY e.order_id", (store_id,)))
    shipped = {r[1] for r in ours if r[2] in ("shipped", "completed")}
    wrong = [o for o in paid if captures.get(o, 0) != (2 if o in shipped else 1)]
    check("every order's captures match its state", not wrong,
          f"product captured once per order in production, product + shipping once per "
          f"shipped order; mismatched {len(wrong)} {wrong[:5]}")
    p = progress(dsn)
    check("nothing left due or retrying", settled(p, len(created)),
          f"order states {p['states']}; waiting: inbox {p['inbox']}, outbox {p['outbox']}, "
          f"sends {p['sends']}, provider webhooks {p['provider_webhooks']}")
    # what a straggler last went through, to start the diagnosis from
    for order_id, state, events in db_rows(dsn, """
            SELECT o.id, o.state, (SELECT string_agg(e.type, ' > ' ORDER BY e.id)
                                   FROM orders_orderevent e WHERE e.order_id = o.id)
            FROM orders_order o WHERE o.store_id = %s
            AND o.state NOT IN ('shipped', 'completed') ORDER BY o.id LIMIT 10""",
                                           (store_id,)):
        lines.append(f"      straggler order {order_id} ({state}): {events}")
    # latency: store creation -> accepted at the factory, and -> tracking pushed to the store
    accepted = dict(db_rows(dsn, "SELECT s.order_id, extract(epoch FROM s.sent_at) FROM "
                                 "fulfillment_submission s JOIN orders_order o ON o.id = "
                                 "s.order_id WHERE o.store_id = %s AND s.sent_at IS NOT NULL",
                            (store_id,)))
    pushed = dict(db_rows(dsn, "SELECT order_id, extract(epoch FROM max(done_at)) FROM "
                               "integrations_outboxmessage WHERE store_id = %s AND kind = "
                               "'fulfillment_create' AND status = 'done' GROUP BY order_id",
                          (store_id,)))
    for label, when in (("clean", lambda t: t < fault_from), ("faults", lambda t: t >= fault_from)):
        ids = [(r[1], orders.created[r[0]]) for r in ours if when(orders.created[r[0]])]
        to_factory = [float(accepted[o]) - t for o, t in ids if o in accepted]
        to_store = [float(pushed[o]) - t for o, t in ids if o in pushed]
        span = (max((orders.created[r[0]] for r in ours if when(orders.created[r[0]])),
                    default=0) - min((orders.created[r[0]] for r in ours
                                      if when(orders.created[r[0]])), default=0)) or 1
        done_in = [float(accepted[o]) for o, _ in ids if o in accepted]
        through = len(done_in) / ((max(done_in) - min(t for _, t in ids)) or 1) if done_in \
            else 0
        lines.append(
            f"  {label}: {len(ids)} orders arrived over {span:.0f} s "
            f"({len(ids) / span:.1f}/s); store -> factory p50 {pct(to_factory, .5):.1f} s, "
            f"p95 {pct(to_factory, .95):.1f} s, p99 {pct(to_factory, .99):.1f} s, max "
            f"{max(to_factory, default=float('nan')):.1f} s; store -> tracking in the store "
            f"p50 {pct(to_store, .5):.1f} s, p99 {pct(to_store, .99):.1f} s; throughput "
            f"(arrived -> accepted) {through:.1f} orders/s")
    return ok, lines


# --- main --------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--short", action="store_true", help="1 minute of arrivals, 150 orders")
    ap.add_argument("--minutes", type=float, default=None, help="arrival window")
    ap.add_argument("--orders", type=int, default=None, help="orders in the window")
    ap.add_argument("--step", type=float, default=None, help="factory seconds per stage")
    ap.add_argument("--settle-minutes", type=float, default=None)
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # stop what we started first
    minutes = args.minutes or (1.0 if args.short else 10.0)
    n_orders = args.orders or (150 if args.short else 5000)
    step = args.step or (2.0 if args.short else 5.0)
    settle = args.settle_minutes or (8.0 if args.short else 15.0)
    window = minutes * 60
    services = Services()
    say(f"machine: {os.cpu_count()} CPUs; {subprocess.getoutput('uptime').strip()}")
    env = {**os.environ, **services.start(), "DJANGO_SETTINGS_MODULE": "bench.drill_settings",
           "PODHUB_METRICS_TOKEN": "drill"}
    env["LOG_LEVEL"] = "WARNING"
    os.environ.update(env)
    dsn = env["DATABASE_URL"]
    logs = services.base / "logs"
    logs.mkdir()
    say(f"PostgreSQL and Redis up, migrated; logs in {logs}")
    shop_port, factory_port, web_ports = free_port(), free_port(), [free_port(), free_port()]
    lb = Balancer(web_ports)
    base = f"http://127.0.0.1:{lb.port}"
    shop_url, factory_url = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{factory_port}"
    store = setup_data(env, shop_url)
    procs: dict[str, Proc] = {
        "shop": Proc("shop", [PY, "manage.py", "run_shopify_sandbox", "--port", str(shop_port),
                              "--shop-domain", SHOP, "--db", str(services.base / "shop.sqlite3"),
                              "--access-token", TOKEN, "--webhook-secret", SECRET,
                              "--webhook-url", f"{base}/webhooks/shopify/"], env, logs),
        "factory": Proc("factory", [PY, "manage.py", "run_sandbox_factory", "--port",
                                    str(factory_port), "--api-key", FACTORY_KEY,
                                    "--webhook-secret", FACTORY_SECRET, "--callback-url",
                                    f"{base}/webhooks/providers/sandbox-factory/",
                                    "--step-seconds", str(step), "--connect", "--route-catalog"],
                        env, logs),
    }
    for i, port in enumerate(web_ports, 1):
        procs[f"web{i}"] = Proc(f"web{i}", [GUNICORN, "podhub.wsgi", "--config",
                                            "python:podhub.gunicorn_conf", "--bind",
                                            f"127.0.0.1:{port}", "--workers", "2", "--threads",
                                            "4", "--log-level", "warning"], env, logs)
    for i in (1, 2):
        procs[f"worker{i}"] = Proc(f"worker{i}", [CELERY, "-A", "podhub", "worker", "-Q",
                                                  "celery,sweeps", "--concurrency", "2",
                                                  "--loglevel", "WARNING", "-n",
                                                  f"drill{i}@%h"], env, logs)
    procs["beat"] = Proc("beat", [CELERY, "-A", "podhub", "beat", "--loglevel", "WARNING",
                                  "--schedule", str(services.base / "beat-schedule")], env, logs)
    stop_all = threading.Event()
    failures: list[str] = []
    try:
        for p in procs.values():
            p.start()
        for url in (f"{shop_url}/_sandbox/stats", f"{factory_url}/_sandbox/stats"):
            http("GET", url)
        for port in web_ports:
            http("GET", f"http://127.0.0.1:{port}/healthz")
        say(f"up: Shopify sandbox {shop_url}, factory {factory_url} (a stage every {step} s), "
            f"web :{web_ports[0]} :{web_ports[1]} behind :{lb.port}, 2 workers, beat")

        def supervise():
            while not stop_all.wait(0.5):
                for p in procs.values():
                    p.supervise()

        threading.Thread(target=supervise, daemon=True).start()
        fault_from_rel = window / 3
        events = [] if args.no_faults else schedule(args.seed, start=fault_from_rel,
                                                    end=window, short=args.short)
        say(f"{n_orders} orders over {window:.0f} s ({n_orders / window:.1f}/s); clean until "
            f"{fault_from_rel:.0f} s, then the fault schedule (seed {args.seed}):")
        for at, fault, arg in events:
            what = "" if arg is None else arg if isinstance(arg, str) else f"{arg:.0f} s"
            print(f"           +{at:6.1f} s  {fault} {what}")
        orders = Orders(shop_url, random.Random(args.seed + 1000))
        faults = Faults(procs, services, shop_url, factory_url)
        t_start = time.time()
        fault_from = t_start + fault_from_rel
        gen = threading.Thread(target=orders.run, kwargs={"rate": n_orders / window,
                                                          "seconds": window, "stop": stop_all},
                               daemon=True)
        gen.start()
        started = time.monotonic()
        for at, fault, arg in events:
            while time.monotonic() - started < at:
                time.sleep(0.1)
            faults.apply(fault, arg)
        last_print = 0.0
        while gen.is_alive():
            if time.monotonic() - last_print > 15:
                say(f"{len(orders.created)} orders created; {progress(dsn)}")
                last_print = time.monotonic()
            time.sleep(0.5)
        for t in faults.timers:
            t.join()
        arrivals_end = time.monotonic()
        say(f"arrivals done: {len(orders.created)} orders ({orders.duplicated} with a "
            f"duplicate delivery, {orders.reordered} delivered newest first); settling")
        while time.monotonic() - arrivals_end < settle * 60:
            p = progress(dsn)
            if settled(p, len(orders.created)):
                break
            if time.monotonic() - last_print > 15:
                say(f"settling: {p}")
                last_print = time.monotonic()
            time.sleep(1.0)
        say(f"settled after {time.monotonic() - arrivals_end:.0f} s" if settled(
            progress(dsn), len(orders.created)) else "NOT settled")
        # freeze PodHub before the checks: they read the database, then the store and the
        # factory, and an order moving on in between would count as a mismatch
        for name in ("beat", "worker1", "worker2", "web1", "web2"):
            procs[name].stop()
        ok, lines = checks(dsn, orders, shop_url, factory_url, store["store_id"], fault_from,
                           t_start)
        print("\n".join(lines))
        restarts = {name: p.starts - 1 for name, p in procs.items() if p.starts > 1}
        sweeps = db_rows(dsn, "SELECT name, runs, skipped FROM core_sweeprun ORDER BY name")
        print(f"  restarts by the supervisor: {restarts}; longest store/factory fault "
              f"{faults.longest:.0f} s; sweeps (runs, skipped): "
              f"{ {n: (r, s) for n, r, s in sweeps} }")
        print(f"  factory: {http('GET', f'{factory_url}/_sandbox/stats')}")
        print(f"  store: {http('GET', f'{shop_url}/_sandbox/stats')}")
        print(f"  load: {subprocess.getoutput('uptime').strip()}")
        if not ok:
            failures.append("checks")
    finally:
        stop_all.set()
        for p in procs.values():
            p.stop()
        if failures or sys.exc_info()[0] is not None:  # the processes' logs outlive the run
            kept = Path(f"/tmp/podhub-drill-logs.seed{args.seed}.{int(time.time())}")
            shutil.copytree(logs, kept, dirs_exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copy(services.base / "pg.log", kept / "postgresql.log")
            print(f"  logs kept in {kept}")
        services.stop()
    print(f"seed {args.seed}; RESULT:", "PASS" if not failures else "FAIL")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
