#!/usr/bin/env python
"""Benchmark: Shopify webhook intake (POST /webhooks/shopify/) vs a ~20-line reference.

One run, same machine, same gunicorn, same PostgreSQL and Redis:

1. starts a throw-away PostgreSQL (durable: fsync and synchronous_commit on) and
   Redis, migrates, creates a workspace with a connected Shopify store;
2. starts gunicorn (sync workers) serving PodHub plus bench/shopify_wsgi.py's
   reference endpoint (HMAC check, one INSERT, one task publish) and a bare
   "return 200" view;
3. measures peak throughput of each endpoint with a closed loop of --clients
   keep-alive-less HTTP clients (processes) for --seconds, alternating
   reference / PodHub for --rounds rounds (A B, then B A, ...), taking each one's best
   round (the median of the per-round ratios is printed too);
4. measures latency (p50/p99) of PodHub's endpoint with an open loop at half
   of its peak;
5. every PodHub request is a realistic orders/create body (~3 KB) with its own
   X-Shopify-Event-Id, and 10 % are re-sent duplicates and 1 % carry a bad
   signature: afterwards every good event is in the inbox exactly once and
   every bad one got 401.

With --rules N (issue 15: "the intake ratio still holds with rules active"): N enabled
"order imported" rules in the workspace (bench/rules_bench.py's kinds, none matching
these orders; every tenth a "skip import" rule, which runs inside the import itself) and
a real Celery worker (`-c 1`) running all along, so the inbox is drained, orders are
imported through the rules' import filter and the rules task runs for each new order on
the same two cores while both endpoints are measured. The worker gets a backlog (3 s of
PodHub's webhooks) before the first round, so no round runs on an idle worker.

Reproduce:  .venv/bin/python bench/shopify_webhooks.py       (about 3 minutes)
            .venv/bin/python bench/shopify_webhooks.py --rules 50
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgtools import proc_stats  # noqa: E402
from bench.shopify_services import Services, free_port  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens

SHOP = "bench-store.myshopify.com"
SECRET = "bench-webhook-secret"
REF_SECRET = "ref-secret"


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


_TEMPLATE: dict = {}


def _template() -> dict:
    """One realistic orders/create body (from the sandbox); requests vary id, name, e-mail."""
    if not _TEMPLATE:
        from sandboxes.shopify.shop import SandboxShop

        _TEMPLATE.update(SandboxShop(shop_domain=SHOP).create_order({"seed": 7},
                                                                     webhooks=False))
    return _TEMPLATE


def make_requests(n: int, *, seed: int, path: str, secret: str, dup_rate: float,
                  bad_rate: float) -> list[tuple[str, bytes, dict, str]]:
    """(path, body, headers, kind) with kind good | dup | bad."""
    rnd = random.Random(seed)
    out: list[tuple[str, bytes, dict, str]] = []
    goods: list[tuple[str, bytes, dict, str]] = []
    for i in range(n):
        roll = rnd.random()
        if goods and roll < dup_rate:
            p, body, headers, _ = rnd.choice(goods)
            out.append((p, body, dict(headers, **{"X-Shopify-Webhook-Id": f"w{seed}-{i}"}),
                        "dup"))
            continue
        order = dict(_template(), id=seed * 1_000_000 + i, name=f"#{seed}-{i}",
                     order_number=i, email=f"buyer{seed}x{i}@example.com")
        body = json.dumps(order, ensure_ascii=False).encode()
        event = f"ev-{seed}-{i}"
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                   "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": event,
                   "X-Shopify-Webhook-Id": f"w{seed}-{i}", "X-Shopify-API-Version": "2025-10",
                   "X-Shopify-Hmac-Sha256": _sign(body, secret)}
        if roll < dup_rate + bad_rate:
            headers["X-Shopify-Hmac-Sha256"] = _sign(body, "wrong-secret")
            out.append((path, body, headers, "bad"))
        else:
            item = (path, body, headers, "good")
            goods.append(item)
            out.append(item)
    return out


def _client(port, requests, deadline, rate, queue):
    """Send requests in order until the deadline; closed loop (rate 0) or paced (open loop)."""
    lat, codes = [], {}
    results = []
    start = time.perf_counter()
    for i, (path, body, headers, kind) in enumerate(requests):
        if rate:
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
        if time.perf_counter() >= deadline:
            break
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        lat.append(time.perf_counter() - t0)
        codes[resp.status] = codes.get(resp.status, 0) + 1
        results.append((headers["X-Shopify-Event-Id"], kind, resp.status))
    queue.put((lat, codes, results, time.perf_counter() - start))


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every process in a process group, reaped children
    included: the web workers' own cost, which the machine's other load barely moves."""
    total = sum(sum(int(f) for f in fields[11:15])
                for _pid, fields in proc_stats() if int(fields[2]) == pgid)
    return total / os.sysconf("SC_CLK_TCK")


def run_load(port, per_client, seconds, rate_total=0.0, web_pgid=None):
    cpu_before = group_cpu_seconds(web_pgid) if web_pgid else 0.0
    q = mp.Queue()
    deadline = time.perf_counter() + seconds
    n = len(per_client)
    procs = [mp.Process(target=_client, args=(port, reqs, deadline,
                                              rate_total / n if rate_total else 0.0, q))
             for reqs in per_client]
    for p in procs:
        p.start()
    out = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    lat = [x for o in out for x in o[0]]
    codes: dict = {}
    for o in out:
        for k, v in o[1].items():
            codes[k] = codes.get(k, 0) + v
    results = [r for o in out for r in o[2]]
    elapsed = max(o[3] for o in out)
    web_cpu = group_cpu_seconds(web_pgid) - cpu_before if web_pgid else 0.0
    return {"n": len(lat), "rps": len(lat) / elapsed, "codes": codes, "results": results,
            "web_cpu_ms": web_cpu * 1000 / len(lat) if lat else 0.0,
            "p50": statistics.median(lat) * 1000 if lat else 0,
            "p99": sorted(lat)[int(len(lat) * 0.99) - 1] * 1000 if lat else 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-client", type=int, default=1500)
    ap.add_argument("--rules", type=int, default=0,
                    help="this many active rules, and a worker importing the orders")
    args = ap.parse_args()

    services = Services()
    env = services.start()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.shopify_settings"
    os.environ["BENCH_REF_SECRET"] = REF_SECRET
    import django

    django.setup()
    from django.db import connection
    from django_scopes import scope

    from integrations.shopify.connect import store_connect_shopify
    from podhub.workspaces.models import Workspace

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bench_reference_inbox (id bigserial PRIMARY KEY, "
                    "event_id varchar(128) UNIQUE, topic varchar(64), body text, "
                    "created_at timestamptz DEFAULT now())")
    ws = Workspace.objects.create(name="Bench")
    with scope(workspace=ws):
        conn = store_connect_shopify(workspace=ws, shop_domain=SHOP, access_token="t",
                                     webhook_secret=SECRET, start_import=False)
        if args.rules:
            make_rules(ws, conn.store_id, args.rules)
    connection.close()
    worker = None
    if args.rules:
        worker = subprocess.Popen(
            [str(ROOT / ".venv/bin/celery"), "-A", "podhub", "worker", "-Q", "celery",
             "-c", "1", "-n", "intake@%h", "--loglevel", "ERROR", "--without-mingle",
             "--without-gossip"], cwd=ROOT, start_new_session=True,
            env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "bench.shopify_settings"},
            stderr=subprocess.DEVNULL)

    port = free_port()
    gunicorn = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "bench.shopify_wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(args.workers), "--worker-class", "sync",
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "bench.shopify_settings"},
        start_new_session=True)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/bench/bare/")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        print(f"# machine: {os.cpu_count()} cores; gunicorn {args.workers} sync workers; "
              f"{args.clients} client processes; {args.seconds:.0f} s per round")
        # generate all bodies up front (not timed)
        print("generating requests ...", flush=True)
        seed = 1
        pod_sets, ref_sets = [], []
        for _r in range(args.rounds):
            pod_sets.append([make_requests(args.per_client, seed=(seed := seed + 1),
                                           path="/webhooks/shopify/", secret=SECRET,
                                           dup_rate=0.10, bad_rate=0.01)
                             for _ in range(args.clients)])
            ref_sets.append([make_requests(args.per_client, seed=(seed := seed + 1),
                                           path="/bench/reference/", secret=REF_SECRET,
                                           dup_rate=0.10, bad_rate=0.01)
                             for _ in range(args.clients)])
        # warm up both
        warm = make_requests(200, seed=999, path="/bench/reference/", secret=REF_SECRET,
                             dup_rate=0, bad_rate=0)
        run_load(port, [warm[i::4] for i in range(4)], 3)
        bare = run_load(port, [[("/bench/bare/", b"{}", {"X-Shopify-Event-Id": "x"}, "good")]
                               * args.per_client for _ in range(args.clients)], 3)
        print(f"bare 'return 200': {bare['rps']:.0f}/s")
        all_pod = []
        if args.rules:
            # With rules the worker must be busy before the first round, else the first
            # reference round runs on an idle machine and every PodHub round does not.
            backlog = run_load(port, [make_requests(args.per_client, seed=900 + i,
                                                    path="/webhooks/shopify/", secret=SECRET,
                                                    dup_rate=0.10, bad_rate=0.01)
                                      for i in range(args.clients)], 3)
            all_pod.append(backlog)
        best_ref = best_pod = 0.0
        ratios = []
        cpu = {"ref": [], "pod": []}
        for r in range(args.rounds):
            # alternate which endpoint goes first (A B, B A, ...): the worker's backlog and
            # the machine's other load then fall on both alike
            if r % 2:
                pod = run_load(port, pod_sets[r], args.seconds, web_pgid=gunicorn.pid)
                ref = run_load(port, ref_sets[r], args.seconds, web_pgid=gunicorn.pid)
            else:
                ref = run_load(port, ref_sets[r], args.seconds, web_pgid=gunicorn.pid)
                pod = run_load(port, pod_sets[r], args.seconds, web_pgid=gunicorn.pid)
            cpu["ref"].append(ref["web_cpu_ms"])
            cpu["pod"].append(pod["web_cpu_ms"])
            all_pod.append(pod)
            ratios.append(pod["rps"] / ref["rps"])
            best_ref, best_pod = max(best_ref, ref["rps"]), max(best_pod, pod["rps"])
            print(f"round {r + 1}: reference {ref['rps']:.0f}/s (p99 {ref['p99']:.1f} ms) | "
                  f"PodHub {pod['rps']:.0f}/s (p99 {pod['p99']:.1f} ms) | ratio "
                  f"{pod['rps'] / ref['rps']:.2f}", flush=True)
        half = best_pod / 2
        lat_sets = [make_requests(int(half * args.seconds / args.clients) + 10, seed=500 + i,
                                  path="/webhooks/shopify/", secret=SECRET, dup_rate=0.10,
                                  bad_rate=0.01) for i in range(args.clients)]
        paced = run_load(port, lat_sets, args.seconds, rate_total=half)
        all_pod.append(paced)
        print(f"PodHub at half peak ({half:.0f}/s offered, {paced['rps']:.0f}/s done): "
              f"p50 {paced['p50']:.1f} ms, p99 {paced['p99']:.1f} ms")

        # correctness: every good event stored once, every bad one refused
        good = {e for p in all_pod for e, kind, code in p["results"] if kind == "good"}
        bad_codes = [code for p in all_pod for e, kind, code in p["results"] if kind == "bad"]
        good_codes = [code for p in all_pod for e, kind, code in p["results"]
                      if kind in ("good", "dup")]
        with connection.cursor() as cur:
            cur.execute("SELECT event_id, count(*) FROM integrations_inboundwebhook "
                        "WHERE connection_id = %s GROUP BY event_id", [conn.pk])
            stored = dict(cur.fetchall())
        missing = good - set(stored)
        extra = set(stored) - good
        twice = [e for e, n in stored.items() if n != 1]
        ratio = best_pod / best_ref
        print(f"\nreference peak {best_ref:.0f}/s, PodHub peak {best_pod:.0f}/s, ratio "
              f"{ratio:.2f} (goal >= 1.0); median of the rounds' ratios "
              f"{statistics.median(ratios):.2f}")
        print(f"web workers' CPU per request (median of the rounds): reference "
              f"{statistics.median(cpu['ref']):.2f} ms, PodHub {statistics.median(cpu['pod']):.2f}"
              f" ms")
        print(f"p99 at half peak: {paced['p99']:.1f} ms (goal < 50 ms)")
        print(f"good events sent {len(good)}, stored {len(stored)}, missing {len(missing)}, "
              f"stored twice {len(twice)}, stored but never sent good {len(extra)}; "
              f"bad signatures {len(bad_codes)}, refused with 401: "
              f"{sum(1 for c in bad_codes if c == 401)}; non-200 for good/dup: "
              f"{sum(1 for c in good_codes if c != 200)}")
        ok = (ratio >= 1.0 and paced["p99"] < 50 and not missing and not twice and not extra
              and all(c == 401 for c in bad_codes) and all(c == 200 for c in good_codes))
        if args.rules:
            from django_scopes import scopes_disabled

            from automation.models import Rule, RuleFiring
            from orders.models import Order

            with scopes_disabled():
                print(f"with {Rule.objects.filter(workspace=ws, enabled=True).count()} "
                      f"active rules: {Order.objects.filter(workspace=ws).count()} orders "
                      f"imported by the worker meanwhile, "
                      f"{RuleFiring.objects.filter(workspace=ws).count()} rule firings")
        print("RESULT:", "PASS" if ok else "FAIL")
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)


def make_rules(ws, store_id: int, n: int) -> None:
    """n enabled "order imported" rules that match none of the bench's orders (US, not
    wholesale, no DIGITAL- SKU); every tenth skips DIGITAL- items at import."""
    from django.contrib.auth import get_user_model

    from automation import services as rule_services
    from bench.rules_bench import rules_50
    from podhub.workspaces.models import Membership, Role

    user = get_user_model().objects.create_user(email="rules@bench.test", password=None)
    owner = Membership.objects.create(workspace=ws, user=user, role=Role.OWNER)
    kinds = rules_50(store_id)
    for i in range(n):
        data = dict(kinds[i % len(kinds)], name=f"Rule {i}")
        if i % 10 == 1:  # its condition is "SKU starts with DIGITAL-"
            data["actions"] = [{"type": "skip_import", "value": "items"}]
        rule_services.rule_create(workspace=ws, membership=owner, data=data)


if __name__ == "__main__":
    main()
