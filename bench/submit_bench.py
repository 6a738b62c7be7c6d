#!/usr/bin/env python
"""Submit sweep benchmark (issue 7): 10,000 due orders to the sandbox factory.

1. throw-away PostgreSQL + Redis (bench/shopify_services.py), the sandbox factory as
   its own HTTP server process (`python -m sandboxes.factory`), and
   --workers real `celery -A podhub worker` processes (prefork, concurrency 1 each);
2. N paid orders (awaiting_submission, auto-submit, submit_at in the past, one line
   each, routed to the sandbox factory) generated with bulk inserts;
3. baseline, same run: a bare loop that reads the same orders in one query, POSTs the
   same JSON the factory client sends (one kept-alive httpx client) and runs one
   UPDATE per order (autocommit) on a scratch table - once in one process (the
   issue's "bare loop") and once in --workers processes;
4. PodHub: the beat's `submit_sweep_task` is rung once per worker through Redis (as
   beat would: SKIP LOCKED shares the work), then every 60 s while work remains; the
   workers route, create submissions, `order_submit`, and send - the sweep's own
   `send_due` and the per-submission `submission_send_task` doorbells. The clock
   stops when every submission is accepted and every order is in production;
5. fault variant (fresh orders): one worker is SIGKILLed when 30 % are accepted; the
   other worker and the sweep (rung every 10 s, a compressed beat) finish. Sends the
   dead worker had claimed stay leased for 5 minutes; the bench then runs the
   sweep's `send_due` in-process with `now` = real time + the lease (said in the
   output) instead of waiting five real minutes. Checks: no order twice at the
   factory (factory orders per external_id and per PodHub order), none left behind.

Reproduce: .venv/bin/python bench/submit_bench.py              (about 9 minutes)
           .venv/bin/python bench/submit_bench.py --no-normal --kill-phase route
           .venv/bin/python bench/submit_bench.py --orders 2000 --no-fault   (quick)
           .venv/bin/python bench/submit_bench.py --in-process --orders 2000
               (route and send in this process: wall and CPU per order, with and
               without the order-event subscribers)
Exit status 1 when a target is missed or a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgtools import free_port  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens
PY = str(ROOT / ".venv" / "bin" / "python")
API_KEY = "sandbox-factory-key"
ADDRESS = {"name": "Ana Buyer", "address1": "1 Main St", "address2": "", "city": "Springfield",
           "province": "IL", "zip": "62701", "country_code": "US", "phone": ""}


# --- processes ---------------------------------------------------------------------------


def factory_start(env, *extra: str) -> tuple[subprocess.Popen, str]:
    """The sandbox factory as its own process; returns it and its URL."""
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "sandboxes.factory", "--port", str(port),
                             "--api-key", API_KEY, *extra], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "listening on URL" once it accepts connections
    if not line.startswith("listening on "):
        sys.exit(f"sandbox factory did not start: {line!r}")
    return proc, line.split()[-1]


def worker_start(env, name: str) -> subprocess.Popen:
    return subprocess.Popen([str(ROOT / ".venv/bin/celery"), "-A", "podhub", "worker",
                             "-Q", "celery,sweeps", "--concurrency", "1",
                             "--loglevel", "WARNING", "-n",
                             f"{name}@%h", "--without-gossip", "--without-mingle"],
                            cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_workers(names: list[str], timeout: float = 120) -> None:
    """Until every named worker answers a ping through the broker."""
    from podhub.celery import app

    deadline = time.monotonic() + timeout
    want = set(names)
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        seen = {name.split("@")[0] for reply in replies for name in reply}
        if want <= seen:
            return
    sys.exit(f"workers {sorted(want)} did not answer a ping")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)


def factory_get(url: str, path: str) -> dict:
    import httpx

    return httpx.get(f"{url}{path}", timeout=30).json()


def factory_post(url: str, path: str, body: dict) -> dict:
    import httpx

    return httpx.post(f"{url}{path}", json=body, timeout=30).json()


# --- data ----------------------------------------------------------------------------------


def make_catalog(*, workspace, providers: list[tuple[str, str, str]], sku: str,
                 max_extra: str | None = None):
    """providers: [(code, api_base, cost)] by priority; returns the variant."""
    from decimal import Decimal

    from fulfillment.models import Adapter, FulfillmentSettings, ProviderConnection
    from quotes.models import Product, Provider, Variant, VariantProvider

    product = Product.objects.create(name=f"Mug {sku}")
    variant = Variant.objects.create(product=product, sku=sku, price_amount=Decimal("10"))
    for priority, (code, api_base, cost) in enumerate(providers, 1):
        provider, created = Provider.objects.get_or_create(
            code=code, defaults={"name": code.replace("-", " ").title(), "kind": "api"})
        if created:
            ProviderConnection.objects.create(provider=provider, adapter=Adapter.SANDBOX,
                                              api_base=api_base, api_key=API_KEY,
                                              webhook_secret="bench-secret")
        VariantProvider.objects.create(variant=variant, provider=provider,
                                       provider_sku=f"{code}-{sku}",
                                       base_cost_amount=Decimal(cost), priority=priority)
    if max_extra is not None:
        FulfillmentSettings.objects.update_or_create(
            workspace=workspace, defaults={"max_extra_cost_amount": Decimal(max_extra)})
    return variant


def make_orders(*, workspace, variant, n: int, tag: str, submit_at) -> tuple[int, list[int]]:
    """n due orders (one line each) in a new store; returns the store id and order ids."""
    from decimal import Decimal

    from django.utils import timezone

    from orders.models import LineItem, Order, Store

    store = Store.objects.create(workspace=workspace, name=f"Bench {tag}", platform="shopify",
                                 currency="USD")
    now = timezone.now()
    ids: list[int] = []
    for start in range(0, n, 2000):
        chunk = [Order(workspace=workspace, store=store, external_id=f"{tag}-{i}",
                       number=f"#{tag}{i}", buyer_name="Ana Buyer",
                       buyer_email="ana@buyer.test", shipping_address=dict(ADDRESS),
                       currency="USD", subtotal_amount=Decimal("25"),
                       total_amount=Decimal("25"), state="awaiting_submission",
                       placed_at=now - timedelta(hours=8), priced_at=now - timedelta(hours=8),
                       paid_at=now - timedelta(hours=7), submit_at=submit_at)
                 for i in range(start, min(n, start + 2000))]
        Order.objects.bulk_create(chunk)
        LineItem.objects.bulk_create([
            LineItem(workspace=workspace, order=o, sku=variant.sku, title="Custom mug",
                     quantity=1, unit_price_amount=Decimal("25"), catalog_variant_id=variant.pk)
            for o in chunk])
        ids.extend(o.pk for o in chunk)
    return store.pk, ids


# --- the baseline: a bare loop -------------------------------------------------------------


def _bare_worker(dsn: str, url: str, rows: list, out, tag: str) -> None:
    """POST each order as the factory client would; one UPDATE (autocommit) per order."""
    import httpx
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn, httpx.Client(base_url=url,
                                                                      timeout=10) as http:
        for order_id, _number, address, sku, quantity, title, line_id in rows:
            ref = f"BARE{tag}-{order_id}"
            body = {"external_id": ref, "recipient": address, "shipping": "standard",
                    "items": [{"external_line_id": line_id, "sku": sku, "quantity": quantity,
                               "files": [], "name": title}]}
            r = http.post("/v1/orders", json=body, headers={
                "Authorization": f"Bearer {API_KEY}", "Idempotency-Key": ref})
            r.raise_for_status()
            conn.execute("UPDATE bench_bare SET state = 'in_production', external_id = %s, "
                         "submitted_at = now() WHERE id = %s", (r.json()["id"], order_id))
    out.put(len(rows))


def bare_loop(dsn: str, url: str, order_ids: list[int], sku: str, procs: int) -> float:
    """Orders per second of the bare loop in `procs` processes (one SELECT for all rows)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare")
        conn.execute("CREATE TABLE bench_bare AS SELECT id, state, ''::text AS external_id, "
                     "submitted_at FROM orders_order WHERE id = ANY(%s)", (order_ids,))
        conn.execute("ALTER TABLE bench_bare ADD PRIMARY KEY (id)")
    cpu0 = cpu_by_role()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT o.id, o.number, o.shipping_address, vp.provider_sku, l.quantity, l.title, "
            "l.id FROM orders_order o JOIN orders_lineitem l ON l.order_id = o.id "
            "JOIN quotes_variantprovider vp ON vp.variant_id = l.catalog_variant_id "
            "AND vp.priority = 1 WHERE o.id = ANY(%s) ORDER BY o.id", (order_ids,)).fetchall()
    rows = [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    children = [ctx.Process(target=_bare_worker, args=(dsn, url, rows[i::procs], out, str(procs)))
                for i in range(procs)]
    for c in children:
        c.start()
    done = sum(out.get() for _ in children)
    for c in children:
        c.join()
    elapsed = time.perf_counter() - t0
    # the loop's own processes are gone: their CPU is what the bench reaped
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = cpu_by_role()
    cpu1["bench"] += (usage.ru_utime + usage.ru_stime) - (reaped.ru_utime + reaped.ru_stime)
    cpu0.pop("postgres", None)  # the loop's backends exited with it: not counted
    cpu1.pop("postgres", None)
    print(f"  bare loop, {procs} process(es): {cpu_text(cpu0, cpu1, len(order_ids))} "
          "(its postgres backends exited with it: not counted)")
    assert done == len(order_ids), (done, len(order_ids))
    return len(order_ids) / elapsed


# --- PodHub ------------------------------------------------------------------------------


def progress(store_id: int) -> dict:
    from django.db.models import Count
    from django_scopes import scopes_disabled

    from fulfillment.models import Submission
    from orders.models import Order

    with scopes_disabled():
        states = dict(Order.objects.filter(store_id=store_id).values_list("state")
                      .annotate(n=Count("pk")))
        subs = dict(Submission.objects.filter(order__store_id=store_id).values_list("status")
                    .annotate(n=Count("pk")))
    return {"orders": states, "submissions": subs}


def routed_count(store_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders_order WHERE store_id = %s AND state = "
                    "'in_production'", [store_id])
        return cur.fetchone()[0]


def done_count(store_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM fulfillment_submission s JOIN orders_order o "
                    "ON o.id = s.order_id WHERE o.store_id = %s AND s.status = 'accepted'",
                    [store_id])
        return cur.fetchone()[0]


def only_leased(store_id: int) -> int | None:
    """How many sends are leased when nothing else is left to do (None: other work)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE o.state = 'awaiting_submission'), "
                    "count(s.id) FILTER (WHERE s.status = 'pending'), "
                    "count(s.id) FILTER (WHERE s.status = 'sending') FROM orders_order o "
                    "LEFT JOIN fulfillment_submission s ON s.order_id = o.id "
                    "WHERE o.store_id = %s", [store_id])
        awaiting, pending, sending = cur.fetchone()
    return sending if not awaiting and not pending and sending else None


def check(store_id: int, order_ids: list[int], url: str) -> tuple[bool, str]:
    """Exactly one factory order per PodHub order, none left behind."""
    from collections import Counter

    from django_scopes import scopes_disabled

    from fulfillment.models import Submission
    from orders.models import Order

    rows = factory_get(url, "/_sandbox/orders")["orders"]
    per_ext = Counter(ext for _, ext, _ in rows if ext.startswith("PH"))
    wanted = set(order_ids)
    per_order = Counter(int(ext[2:].split("-")[0]) for ext in per_ext)
    per_order = Counter({k: v for k, v in per_order.items() if k in wanted})
    twice_ext = sum(1 for v in per_ext.values() if v > 1)
    twice_order = sum(1 for v in per_order.values() if v > 1)
    with scopes_disabled():
        states = Counter(Order.objects.filter(pk__in=order_ids).values_list("state", flat=True))
        subs = Counter(Submission.objects.filter(order_id__in=order_ids)
                       .values_list("status", flat=True))
        accepted_refs = set(Submission.objects.filter(order_id__in=order_ids,
                                                      status="accepted")
                            .values_list("reference", flat=True))
    missing_at_factory = sum(1 for o in order_ids if per_order.get(o, 0) == 0)
    not_known = len(accepted_refs - set(per_ext))
    stats = factory_get(url, "/_sandbox/stats")
    left = len(order_ids) - states.get("in_production", 0)
    ok = (twice_ext == 0 and twice_order == 0 and left == 0 and missing_at_factory == 0
          and not_known == 0 and subs.get("accepted", 0) == len(order_ids) and len(subs) == 1)
    text = (f"factory orders per external_id > 1: {twice_ext}; PodHub orders with > 1 factory "
            f"order: {twice_order}; orders missing at the factory: {missing_at_factory}; "
            f"orders not in production: {left} (states {dict(states)}); submissions "
            f"{dict(subs)}; accepted references unknown to the factory: {not_known}; "
            f"factory totals so far: {stats['creates']} creates, {stats['duplicates']} "
            f"idempotent replays, {stats['calls'] - stats['creates'] - stats['duplicates']} "
            "other calls (look-ups of a reference before a retried send)")
    return ok, text


def podhub_run(*, env, store_id: int, order_ids: list[int], workers: int, url: str,
               kill_at: float | None, tag: str, kill_phase: str = "send"
               ) -> tuple[float, list[subprocess.Popen]]:
    from django.db import connection
    from django.utils import timezone

    from fulfillment import submission
    from fulfillment.tasks import submit_sweep_task

    connection.close()
    names = [f"{tag}{i}" for i in range(workers)]
    procs = [worker_start(env, name) for name in names]
    wait_workers(names)
    n = len(order_ids)
    cpu0 = cpu_by_role()
    t0 = time.perf_counter()
    for _ in range(workers):  # beat's tick, once per worker
        submit_sweep_task.delay()
    last_ring = time.monotonic()
    ring_every = 10.0 if kill_at is not None else 60.0
    killed = False
    lease_note = ""
    last_print = 0.0
    last_done = -1
    stalled_since = time.monotonic()
    while True:
        done = done_count(store_id)
        now = time.perf_counter() - t0
        if done >= n:
            break
        if kill_at is not None and not killed:
            seen = routed_count(store_id) if kill_phase == "route" else done
            if seen >= kill_at * n:
                os.killpg(procs[0].pid, signal.SIGKILL)
                killed = True
                print(f"  {now:6.1f} s: worker {names[0]} killed (SIGKILL) at {seen} "
                      f"{'routed' if kill_phase == 'route' else 'accepted'} ({done} accepted)")
        if time.monotonic() - last_ring >= ring_every:
            submit_sweep_task.delay()
            last_ring = time.monotonic()
        if done != last_done or not killed or only_leased(store_id) is None:
            last_done, stalled_since = done, time.monotonic()
        elif time.monotonic() - stalled_since > 5 and not lease_note:
            # only sends the dead worker had claimed are left (nothing else to do for
            # 5 s): they are leased for 5 minutes. Run the sweep's send_due as it will
            # run once the lease is over.
            later = timezone.now() + submission.LEASE + timedelta(seconds=1)
            taken = submission.send_due(now=later)
            lease_note = (f"send_due(now=real time + {submission.LEASE}) in-process took "
                          f"over {taken} leased submission(s) of the dead worker "
                          "(compressed: not waited for)")
            print(f"  {time.perf_counter() - t0:6.1f} s: {lease_note}")
            connection.close()
        if now - last_print >= 5:
            print(f"  {now:6.1f} s: {done} of {n} accepted")
            last_print = now
        if now > 1800:
            print("  gave up after 30 minutes")
            break
        time.sleep(0.2)  # polling the database for the stop-watch, not synchronising work
    elapsed = time.perf_counter() - t0
    if kill_at is None:  # a killed worker's CPU is gone with it
        print(f"  {cpu_text(cpu0, cpu_by_role(), n)} (until the clock stopped)")
    while queue_length(env) and time.perf_counter() - t0 < 1800:
        time.sleep(0.5)  # the stop-watch for the doorbells left (billing's capture checks)
    print(f"  every doorbell taken off the queues after {time.perf_counter() - t0:.1f} s "
          "(billing's capture checks, doorbells for sends already made)")
    return elapsed, procs


def cpu_by_role() -> dict[str, float]:
    """CPU seconds (user + system) so far of the live processes, per role: the celery
    workers, PostgreSQL, the sandbox factory, Redis and this bench (/proc, Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    roles: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == os.getpid():
            role = "bench"
        elif comm.startswith("postgres") or cmd.startswith("postgres"):
            role = "postgres"
        elif "redis-server" in cmd:
            role = "redis"
        elif "celery" in cmd and " worker" in cmd:
            role = "workers"
        elif "sandbox_factory" in cmd:
            role = "factory"
        else:
            continue
        roles[role] = roles.get(role, 0.0) + cpu
    return roles


def cpu_text(before: dict[str, float], after: dict[str, float], n: int) -> str:
    parts = [f"{role} {1000 * (after[role] - before.get(role, 0.0)) / n:.2f}"
             for role in ("workers", "postgres", "factory", "redis", "bench") if role in after]
    total = sum(after.values()) - sum(before.get(r, 0.0) for r in after)
    return f"CPU ms per order: {', '.join(parts)}; total {1000 * total / n:.2f}"


def queue_length(env) -> int:
    import redis

    r = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    return int(r.llen("celery")) + int(r.llen("sweeps"))


def in_process(*, ws, variant, n: int) -> None:
    """--in-process: the sweep's two steps called in this process (no Celery), wall and
    CPU per order, with the app's order-event subscribers and without them."""
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from fulfillment import submission
    from orders import events

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    for label, keep in (("with subscribers", True), ("no subscribers", False)):
        with scopes_disabled():
            make_orders(workspace=ws, variant=variant, n=n, tag=f"I{int(keep)}",
                        submit_at=timezone.now() - timedelta(minutes=5))
        saved = events._subscribers[:]
        if not keep:
            events._subscribers[:] = []
        try:
            t, c = time.perf_counter(), cpu()
            routed = submission.submit_sweep(send=False)
            t1, c1 = time.perf_counter() - t, cpu() - c
            t, c = time.perf_counter(), cpu()
            sent = submission.send_due()
            t2, c2 = time.perf_counter() - t, cpu() - c
        finally:
            events._subscribers[:] = saved
        print(f"in one process, {label}: route {routed / t1:.0f}/s ({1000 * t1 / routed:.2f} "
              f"ms, CPU {1000 * c1 / routed:.2f} ms per order); send {sent / t2:.0f}/s "
              f"({1000 * t2 / sent:.2f} ms, CPU {1000 * c2 / sent:.2f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-fault", action="store_true", help="skip the kill-a-worker run")
    ap.add_argument("--fault-orders", type=int, default=None,
                    help="orders in the fault run (default: --orders)")
    ap.add_argument("--kill-phase", choices=["send", "route"], default="send",
                    help="kill at 30 %% accepted (send) or 30 %% routed, mid-sweep (route)")
    ap.add_argument("--no-normal", action="store_true", help="only the fault run")
    ap.add_argument("--in-process", action="store_true",
                    help="only the sweep's route and send steps in this process, CPU per order")
    args = ap.parse_args()
    from bench.shopify_services import Services

    services = Services()
    env = {**os.environ, **services.start(), "DJANGO_SETTINGS_MODULE": "podhub.settings.base"}
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from podhub.workspaces.models import Workspace

    factory, url = factory_start(env)
    procs: list[subprocess.Popen] = [factory]
    failures: list[str] = []
    print(f"machine: {os.cpu_count()} CPUs; {subprocess.getoutput('uptime').strip()}")
    print(f"sandbox factory (own process) at {url}; {args.workers} celery workers "
          "(prefork, concurrency 1 each), Redis broker, PostgreSQL (fsync on)")
    try:
        with scopes_disabled():
            ws = Workspace.objects.create(name="Submit bench")
            variant = make_catalog(workspace=ws, sku="BENCH-MUG",
                                   providers=[("sandbox-factory", url, "4.00")])
        if args.in_process:
            in_process(ws=ws, variant=variant, n=args.orders)
            args.no_normal = args.no_fault = True
        if not args.no_normal:
            with scopes_disabled():
                due = timezone.now() - timedelta(minutes=5)
                t = time.perf_counter()
                store_id, order_ids = make_orders(workspace=ws, variant=variant, n=args.orders,
                                                  tag="N", submit_at=due)
            print(f"{len(order_ids)} due orders generated in {time.perf_counter() - t:.1f} s")
            dsn = env["DATABASE_URL"]
            connection.close()
            bare1 = bare_loop(dsn, url, order_ids, variant.sku, 1)
            bare_n = bare_loop(dsn, url, order_ids, variant.sku, args.workers)
            print(f"bare loop (POST + one UPDATE per order): {bare1:.0f} orders/s in 1 process, "
                  f"{bare_n:.0f} orders/s in {args.workers} processes")
            elapsed, workers = podhub_run(env=env, store_id=store_id, order_ids=order_ids,
                                          workers=args.workers, url=url, kill_at=None, tag="run")
            procs += workers
            rate = len(order_ids) / elapsed
            ok, text = check(store_id, order_ids, url)
            print(f"PodHub: {len(order_ids)} orders submitted and accepted in {elapsed:.1f} s = "
                  f"{rate:.0f} orders/s")
            print(f"  {rate / bare1:.2f}x the 1-process bare loop, {rate / bare_n:.2f}x the "
                  f"{args.workers}-process bare loop")
            print(f"  checks: {'PASS' if ok else 'FAIL'}: {text}")
            print(f"  load: {subprocess.getoutput('uptime').strip()}")
            if rate < 100:
                failures.append(f"rate {rate:.0f} < 100 orders/s")
            if rate < 0.5 * bare1:
                failures.append(f"rate {rate / bare1:.2f}x < 0.5x the bare loop")
            if not ok:
                failures.append("normal run checks")
            stop(workers)
        if not args.no_fault:
            n = args.fault_orders or args.orders
            with scopes_disabled():
                store_id, order_ids = make_orders(workspace=ws, variant=variant, n=n, tag="F",
                                                  submit_at=timezone.now() - timedelta(minutes=5))
            connection.close()
            print(f"fault run: {n} due orders; one worker is SIGKILLed at 30 % "
                  f"{'routed (mid-sweep)' if args.kill_phase == 'route' else 'accepted'}")
            elapsed, workers = podhub_run(env=env, store_id=store_id, order_ids=order_ids,
                                          workers=args.workers, url=url, kill_at=0.3,
                                          tag="fault", kill_phase=args.kill_phase)
            procs += workers
            ok, text = check(store_id, order_ids, url)
            print(f"fault run: all {n} accepted after {elapsed:.1f} s "
                  f"({n / elapsed:.0f} orders/s with the kill and the lease take-over)")
            print(f"  checks: {'PASS' if ok else 'FAIL'}: {text}")
            print(f"  load: {subprocess.getoutput('uptime').strip()}")
            if not ok:
                failures.append("fault run checks")
            stop(workers)
        print("factory:", json.dumps(factory_get(url, "/_sandbox/stats")))
    finally:
        stop(procs)
    print("RESULT:", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
