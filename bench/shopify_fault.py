#!/usr/bin/env python
"""Fault test: the worker is killed mid-processing and Redis restarted during a burst.

1. throw-away PostgreSQL + Redis; gunicorn (PodHub) and a Celery worker as processes;
2. a burst of --orders orders/create deliveries (signed, 10 % duplicates) from 8 client
   threads, each retried on a non-2xx answer like Shopify does;
3. at 30 % of the burst the worker is killed with SIGKILL, at 50 % Redis is killed
   (its queue is lost) and started again, at 70 % a new worker starts;
4. then the beat sweep (integrations_sweep_task) runs every few seconds, as beat would,
   until no delivery waits;
5. checks: every good order exists exactly once, every delivery is processed.

Reproduce: .venv/bin/python bench/shopify_fault.py            (about 2 minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shopify_services import Services, free_port  # noqa: E402
from bench.shopify_webhooks import SHOP, _sign, _template  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens
SECRET = "fault-secret"


def worker_start(env) -> subprocess.Popen:
    return subprocess.Popen([str(ROOT / ".venv/bin/celery"), "-A", "podhub", "worker",
                             "--concurrency", "2", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1500)
    args = ap.parse_args()
    services = Services()
    env = {**os.environ, **services.start(), "DJANGO_SETTINGS_MODULE": "podhub.settings.base"}
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django_scopes import scope, scopes_disabled

    from integrations.models import InboundWebhook
    from integrations.shopify.connect import store_connect_shopify
    from integrations.tasks import integrations_sweep_task
    from orders.models import Order
    from podhub.workspaces.models import Workspace

    ws = Workspace.objects.create(name="Fault")
    with scope(workspace=ws):
        conn = store_connect_shopify(workspace=ws, shop_domain=SHOP, access_token="t",
                                     webhook_secret=SECRET, start_import=False)
    connection.close()
    port = free_port()
    web = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "podhub.wsgi", "--bind",
                            f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                            "--log-level", "warning"], cwd=ROOT, env=env,
                           start_new_session=True, stderr=subprocess.DEVNULL)
    worker = worker_start(env)
    procs = [web, worker]
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        rnd = random.Random(3)
        requests, goods = [], []
        for i in range(args.orders):
            order = dict(_template(), id=9_000_000 + i, name=f"#F{i}",
                         email=f"fault{i}@example.com")
            body = json.dumps(order).encode()
            headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                       "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": f"fault-{i}",
                       "X-Shopify-Hmac-Sha256": _sign(body, SECRET)}
            requests.append((body, headers))
            goods.append(str(order["id"]))
            if rnd.random() < 0.10:
                requests.append((body, headers))  # a duplicate delivery
        print(f"burst: {len(requests)} deliveries of {len(goods)} orders")
        lock = threading.Lock()
        sent = {"n": 0, "retries": 0}
        position = iter(range(len(requests)))

        def client():
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                body, headers = requests[i]
                for attempt in range(20):  # Shopify retries failed deliveries
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                        c.request("POST", "/webhooks/shopify/", body=body, headers=headers)
                        status = c.getresponse().status
                        c.close()
                    except OSError:
                        status = 0
                    if status == 200:
                        break
                    with lock:
                        sent["retries"] += 1
                    time.sleep(0.2 * (attempt + 1))
                with lock:
                    sent["n"] += 1

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        done = set()
        t0 = time.perf_counter()
        while any(t.is_alive() for t in threads):
            frac = sent["n"] / len(requests)
            if frac >= 0.3 and "kill" not in done:
                with scopes_disabled():  # kill it while it is processing deliveries
                    busy = InboundWebhook.objects.filter(connection=conn,
                                                         status="processed").count()
                if busy:
                    os.killpg(worker.pid, signal.SIGKILL)
                    done.add("kill")
                    print(f"{time.perf_counter() - t0:5.1f} s: worker killed (SIGKILL) after "
                          f"processing {busy} deliveries")
            if frac >= 0.5 and "kill" in done and "redis" not in done:
                services.redis_stop()
                print(f"{time.perf_counter() - t0:5.1f} s: Redis killed (queue lost)")
                time.sleep(1.0)
                services.redis_start()
                done.add("redis")
                print(f"{time.perf_counter() - t0:5.1f} s: Redis started again")
            if frac >= 0.7 and "redis" in done and "worker" not in done:
                worker = worker_start(env)
                procs.append(worker)
                done.add("worker")
                print(f"{time.perf_counter() - t0:5.1f} s: new worker started")
            time.sleep(0.05)
        if "kill" not in done:
            os.killpg(worker.pid, signal.SIGKILL)
            print("worker killed after the burst (it had not started processing before)")
        if "worker" not in done:
            worker = worker_start(env)
            procs.append(worker)
        print(f"{time.perf_counter() - t0:5.1f} s: burst sent ({sent['retries']} client "
              "retries)")
        deadline = time.monotonic() + 600
        with scopes_disabled():
            while time.monotonic() < deadline:
                waiting = InboundWebhook.objects.filter(connection=conn, status="pending").count()
                if waiting == 0:
                    break
                integrations_sweep_task()  # what beat runs every 30 s
                print(f"{time.perf_counter() - t0:5.1f} s: {waiting} deliveries waiting; "
                      "sweep rang")
                time.sleep(5)
            stored = InboundWebhook.objects.filter(connection=conn).count()
            statuses = dict(InboundWebhook.objects.filter(connection=conn)
                            .values_list("status").annotate(n=django.db.models.Count("pk")))
            orders = list(Order.objects.filter(store_id=conn.store_id)
                          .values_list("external_id", flat=True))
        missing = set(goods) - set(orders)
        dupes = len(orders) - len(set(orders))
        print(f"deliveries stored {stored} (events {len(goods)}), statuses {statuses}")
        print(f"orders {len(orders)} of {len(goods)}: missing {len(missing)}, "
              f"twice {dupes}")
        ok = not missing and not dupes and len(orders) == len(goods) and \
            statuses.get("processed", 0) == len(goods)
        print("RESULT:", "PASS" if ok else "FAIL")
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
