"""Outbound webhooks benchmark (issue 15, docs/benchmarks.md "Outbound webhooks").

1. Throwaway PostgreSQL + Redis (bench/shopify_services.py), migrated; a local receiver
   in its own process on 127.0.0.1 that answers 200 and records each `webhook-id` with
   its arrival time.
2. Throughput: --deliveries signed deliveries to one endpoint, sent by PodHub's sender
   (`webhooks.services.send_deliveries`, in chunks of 100 as the send task takes them:
   claim with skip_locked, sign with standardwebhooks, post through the outbound
   policy, log every attempt) against a bare loop posting the same bodies, signed
   the same way (standardwebhooks), over one keep-alive httpx client — in the same run,
   one process each, interleaved. Target: PodHub >= 0.5x the bare loop.
3. Latency: real `celery -A podhub worker` processes; order events written at --rate
   events/s for --seconds (written in batches every 50 ms through
   orders.services.record_events, as the product writes them: each commit rings every
   subscription — the workspace's coalesced webhook fan-out, and the rules task only
   where a rule of the trigger is enabled);
   event -> delivered = arrival at the receiver minus the event's created_at. Target:
   p99 <= 2 s at 100 events/s; every event delivered once (by webhook-id).

4. --drill (instead of 2 and 3): two workers and beat run with
   bench/webhooks_drill_settings.py (the retry schedule 60x shorter); events are written
   at --rate for --seconds while the receiver is killed for --down seconds (connections
   refused) and, half-way through the outage, one worker is SIGKILLed (restarted 15 s
   later). Afterwards: every event delivered, how many arrived more than once (by
   `webhook-id`), none failed, and event -> delivered percentiles.

    .venv/bin/python bench/webhooks_bench.py                # about 3 minutes
    .venv/bin/python bench/webhooks_bench.py --deliveries 500 --seconds 10
    .venv/bin/python bench/webhooks_bench.py --drill --down 600 --rate 10 --seconds 640
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pgtools import free_port  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens
PY = str(ROOT / ".venv" / "bin" / "python")
ADDRESS = {"name": "Ana Buyer", "address1": "1 Main St", "city": "Springfield",
           "province": "IL", "zip": "62701", "country_code": "US"}


# --- the receiver (its own process) --------------------------------------------------------


def receiver_main(port: int, ready, log: str | None = None) -> None:
    """`log`: a file each arrival is also appended to (a drill kills and restarts the
    receiver; the file keeps what arrived before)."""
    arrivals: list[tuple[str, float]] = []
    log_file = open(log, "a", buffering=1) if log else None  # noqa: SIM115

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # the status line and the body go out in separate writes: without this,
            # Nagle waits for the client's delayed ACK, 40 ms a request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrival = (self.headers.get("webhook-id", ""), time.time())
            arrivals.append(arrival)
            if log_file:
                log_file.write(json.dumps(arrival) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self):  # the figures so far; DELETE-free reset: ?reset
            body = json.dumps(arrivals).encode()
            if "reset" in self.path:
                arrivals.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def arrivals(url: str, *, reset: bool = False) -> list[tuple[str, float]]:
    import httpx

    return httpx.get(url + ("?reset" if reset else ""), timeout=60).json()


# --- data ----------------------------------------------------------------------------------


def setup_data(hook_url: str):
    from django.contrib.auth import get_user_model
    from django_scopes import scopes_disabled

    from orders.models import Platform, Store
    from podhub.workspaces.models import Membership, Role, Workspace
    from webhooks import services

    with scopes_disabled():
        ws = Workspace.objects.create(name="Bench")
        user = get_user_model().objects.create_user(email="b@bench.test", password=None)
        owner = Membership.objects.create(workspace=ws, user=user, role=Role.OWNER)
        store = Store.objects.create(workspace=ws, name="Bench", platform=Platform.MANUAL)
        endpoint, secret = services.endpoint_create(
            workspace=ws, by=owner, url=hook_url, event_types=["order.held.rule"])
    return ws, store, endpoint, secret


def make_deliveries(ws, endpoint, n: int) -> list[int]:
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from webhooks import services

    data = {"order": {"id": 1, "number": "#1001", "status": "on_hold", "line_items": [
        {"sku": "MUG-11", "title": "Mug", "quantity": 2}]}, "message": "bench"}
    body = services.event_body(type="order.held.rule", timestamp=timezone.now(), data=data)
    with scopes_disabled():
        return [d.pk for d in services._write(ws, [endpoint] * n, type="order.held.rule",
                                              body=body)]


# --- throughput ----------------------------------------------------------------------------


def podhub_send(ids: list[int]) -> float:
    from django_scopes import scopes_disabled

    from webhooks import services

    started = time.perf_counter()
    with scopes_disabled():
        for i in range(0, len(ids), 100):  # one send task's chunk
            counts = services.send_deliveries(delivery_ids=ids[i:i + 100])
            assert counts["delivered"] == len(ids[i:i + 100]), counts
    return time.perf_counter() - started


def bare_send(ids: list[int], url: str, secret: str) -> float:
    """The same bodies, signed the same way, posted in a plain loop."""
    import httpx
    from django.utils import timezone
    from django_scopes import scopes_disabled
    from standardwebhooks.webhooks import Webhook

    from webhooks.models import WebhookDelivery

    with scopes_disabled():
        rows = list(WebhookDelivery.objects.filter(pk__in=ids).values_list("msg_id", "body"))
    signer = Webhook(secret)
    started = time.perf_counter()
    with httpx.Client(timeout=15) as http:
        for msg_id, body in rows:
            now = timezone.now()
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": signer.sign(msg_id, now, body),
                       "Content-Type": "application/json"}
            assert http.post(url, content=body.encode(), headers=headers).status_code == 200
    return time.perf_counter() - started


# --- latency -------------------------------------------------------------------------------


def worker_start(env, name: str) -> subprocess.Popen:
    return subprocess.Popen([str(ROOT / ".venv/bin/celery"), "-A", "podhub", "worker",
                             "-Q", "celery,sweeps", "-c", "2", "-n", f"{name}@%h",
                             "--loglevel", "WARNING", "--without-mingle",
                             "--without-gossip"], cwd=ROOT, env=env, start_new_session=True)


def bench_orders(ws, store, prefix: str) -> list:
    """20 orders to hang the events on; their own follow-ups (pricing, renders) are dropped
    from the queue by the caller before the workers start."""
    from django_scopes import scopes_disabled

    from orders.events import Actor
    from orders.services import order_create_manual

    with scopes_disabled():
        return [order_create_manual(workspace=ws, store=store, actor=Actor.system(), data={
            "number": f"{prefix}-{i}", "currency": "USD", "shipping_address": ADDRESS,
            "line_items": [{"sku": "MUG-11", "title": "Mug", "quantity": 1,
                            "unit_price": "12.50"}]}) for i in range(20)]


def write_events(orders: list, *, start: float, rate: int, total: int, actor: str) -> None:
    """`total` order.held.rule events at `rate` a second from `start` (monotonic), written in
    small batches every 50 ms, each committed (a load generator)."""
    from django.db import transaction
    from django_scopes import scopes_disabled

    from orders.events import Actor, OrderEvents
    from orders.services import NewEvent, record_events

    per_tick = max(1, rate // 20)
    with scopes_disabled():
        for i in range(0, total, per_tick):
            due = start + i / rate
            while time.monotonic() < due:
                time.sleep(max(0.0, min(0.002, due - time.monotonic())))
            with transaction.atomic():
                record_events([NewEvent(order=orders[j % len(orders)], type=OrderEvents.HELD_RULE,
                                        actor=Actor.rule(actor))
                               for j in range(i, min(i + per_tick, total))])


def unring(ws) -> None:
    """The purge dropped the setup's coalesced tasks (the fan-out's among them): their
    doorbells would stay "waiting" until they expire (podhub/core/doorbell.py)."""
    from django.core.cache import cache

    from orders import events
    from podhub.core.doorbell import PREFIX

    for sub in events.subscriptions():
        if sub.coalesce:
            cache.delete(f"{PREFIX}{sub.coalesce}:{ws.pk}")


def latency(*, ws, store, rate: int, seconds: int, hook_url: str, env, workers: int) -> dict:
    from django_scopes import scopes_disabled

    from bench.submit_bench import stop, wait_workers
    from orders.models import OrderEvent

    total = rate * seconds
    orders = bench_orders(ws, store, "B")
    from podhub.celery import app

    app.control.purge()
    unring(ws)
    names = [f"hooks{i}" for i in range(workers)]
    procs = [worker_start(env, n) for n in names]
    try:
        wait_workers(names)
        arrivals(hook_url, reset=True)
        with scopes_disabled():
            start = time.monotonic()
            write_events(orders, start=start, rate=rate, total=total, actor="bench")
            wrote = time.monotonic() - start
            deadline = time.monotonic() + 120
            while True:
                got = arrivals(hook_url)
                if len(got) >= total or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            from webhooks.models import WebhookDelivery

            created = dict(OrderEvent.objects.filter(workspace=ws, type="order.held.rule")
                           .values_list("pk", "created_at"))
            by_msg = dict(WebhookDelivery.objects.filter(workspace=ws, order_event_id__in=created)
                          .values_list("msg_id", "order_event_id"))
    finally:
        stop(procs)
    ids = [m for m, _ in got]
    waits = sorted(t - created[by_msg[m]].timestamp() for m, t in got if m in by_msg)
    pct = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))] if waits else None  # noqa: E731
    # the slowest delivery of each second's events: growing means a backlog (saturated)
    per: dict[int, list[float]] = {}
    if created:
        t0 = min(c.timestamp() for c in created.values())
        for m, t in got:
            if m in by_msg:
                c = created[by_msg[m]].timestamp()
                per.setdefault(int(c - t0), []).append(t - c)
    print("  max event -> delivered by second of the run: "
          + " ".join(f"{max(v):.2f}" for _, v in sorted(per.items())))
    return {"events": total, "rate_achieved": round(total / wrote, 1),
            "delivered": len(set(ids) & set(by_msg)), "duplicates": len(ids) - len(set(ids)),
            "p50_s": round(pct(0.50), 3), "p99_s": round(pct(0.99), 3),
            "max_s": round(waits[-1], 3) if waits else None}


# --- the drill: receiver down, a worker killed --------------------------------------------


def receiver_start(port: int, log: str) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=receiver_main, args=(port, ready, log), daemon=True)
    proc.start()
    ready.wait(10)
    return proc


def drill(*, ws, store, env, port: int, rate: int, seconds: int, down: int,
          wait: int) -> dict:
    import signal
    import tempfile
    import threading

    from django_scopes import scopes_disabled

    from bench.submit_bench import stop, wait_workers
    from orders.models import OrderEvent
    from podhub.celery import app
    from webhooks.models import DeliveryStatus, WebhookDelivery

    log = Path(tempfile.mkdtemp(prefix="hooks-drill-")) / "arrivals.jsonl"
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.webhooks_drill_settings"}
    orders = bench_orders(ws, store, "D")
    app.control.purge()
    unring(ws)
    receiver = receiver_start(port, str(log))
    workers = {n: worker_start(env, n) for n in ("drill0", "drill1")}
    beat = subprocess.Popen([str(ROOT / ".venv/bin/celery"), "-A", "podhub", "beat",
                             "--loglevel", "WARNING", "--schedule", str(log.parent / "beat")],
                            cwd=ROOT, env=env, start_new_session=True)
    schedule: list[str] = []
    t0 = time.monotonic()

    def at(offset: float) -> None:
        time.sleep(max(0.0, t0 + offset - time.monotonic()))

    def faults() -> None:
        nonlocal receiver
        at(10)
        receiver.kill()
        receiver.join()
        schedule.append(f"{time.monotonic() - t0:6.1f} s receiver down")
        at(10 + down / 2)
        os.killpg(workers["drill0"].pid, signal.SIGKILL)
        schedule.append(f"{time.monotonic() - t0:6.1f} s worker drill0 SIGKILLed")
        at(10 + down / 2 + 15)
        workers["drill0"] = worker_start(env, "drill0")
        schedule.append(f"{time.monotonic() - t0:6.1f} s worker drill0 restarted")
        at(10 + down)
        receiver = receiver_start(port, str(log))
        schedule.append(f"{time.monotonic() - t0:6.1f} s receiver back")

    try:
        wait_workers(list(workers))
        t0 = time.monotonic()
        fault_thread = threading.Thread(target=faults, daemon=True)
        fault_thread.start()
        total = rate * seconds
        write_events(orders, start=t0, rate=rate, total=total, actor="drill")
        fault_thread.join()
        print("  " + "\n  ".join(schedule))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            got = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
            if len({m for m, _ in got}) >= total:
                break
            time.sleep(2)
        finished = time.monotonic() - t0
        with scopes_disabled():
            created = dict(OrderEvent.objects.filter(workspace=ws, type="order.held.rule")
                           .values_list("pk", "created_at"))
            rows = WebhookDelivery.objects.filter(workspace=ws, order_event_id__in=created)
            by_msg = dict(rows.values_list("msg_id", "order_event_id"))
            failed = rows.filter(status=DeliveryStatus.FAILED).count()
            attempts = sorted(rows.values_list("attempts", flat=True))
    finally:
        stop([*workers.values(), beat])
        receiver.kill()
    ids = [m for m, _ in got]
    first: dict[str, float] = {}
    for m, t in got:
        first.setdefault(m, t)
    waits = sorted(first[m] - created[by_msg[m]].timestamp() for m in first if m in by_msg)
    pct = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))] if waits else None  # noqa: E731
    return {"events": total, "deliveries": len(by_msg),
            "delivered": len(set(ids) & set(by_msg)), "arrived_twice": len(ids) - len(set(ids)),
            "failed": failed, "max_attempts": attempts[-1] if attempts else 0,
            "p50_s": round(pct(0.50), 1) if waits else None,
            "p99_s": round(pct(0.99), 1) if waits else None,
            "max_s": round(waits[-1], 1) if waits else None, "run_s": round(finished)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--drill", action="store_true",
                        help="receiver down for --down s and a worker killed meanwhile")
    parser.add_argument("--down", type=int, default=600)
    parser.add_argument("--wait", type=int, default=1800,
                        help="drill: how long to wait for the last deliveries")
    args = parser.parse_args()

    from bench.shopify_services import Services

    env = Services().start()
    env = {**os.environ, **env}
    import django

    django.setup()
    port = free_port()
    if args.drill:
        ws, store, _endpoint, _secret = setup_data(f"http://127.0.0.1:{port}/hook")
        print(f"drill: {args.rate} events/s for {args.seconds} s; receiver down {args.down} s "
              f"from 10 s; a worker SIGKILLed half-way through the outage")
        result = drill(ws=ws, store=store, env=env, port=port, rate=args.rate,
                       seconds=args.seconds, down=args.down, wait=args.wait)
        print("  " + json.dumps(result))
        ok = result["delivered"] == result["events"] and result["failed"] == 0
        print(f"RESULT delivered {result['delivered']}/{result['events']}, failed "
              f"{result['failed']}, arrived twice {result['arrived_twice']}: "
              f"{'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=receiver_main, args=(port, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    hook_url = f"http://127.0.0.1:{port}/hook"
    ws, store, endpoint, secret = setup_data(hook_url)

    print(f"throughput: {args.deliveries} deliveries x {args.rounds} rounds, interleaved")
    ratios = []
    for r in range(args.rounds):
        bare = bare_send(make_deliveries(ws, endpoint, args.deliveries), hook_url, secret)
        ours = podhub_send(make_deliveries(ws, endpoint, args.deliveries))
        ratios.append(bare / ours)
        print(f"  round {r + 1}: bare loop {args.deliveries / bare:.0f}/s, "
              f"PodHub sender {args.deliveries / ours:.0f}/s, ratio {bare / ours:.2f}x")
    ratio = sorted(ratios)[len(ratios) // 2]

    print(f"latency: {args.rate} events/s for {args.seconds} s, {args.workers} workers")
    lat = latency(ws=ws, store=store, rate=args.rate, seconds=args.seconds, hook_url=hook_url,
                  env=env, workers=args.workers)
    print("  " + json.dumps(lat))
    receiver.terminate()
    ok = ratio >= 0.5 and lat["p99_s"] is not None and lat["p99_s"] <= 2.0 \
        and lat["delivered"] == lat["events"] and lat["duplicates"] == 0
    print(f"RESULT ratio {ratio:.2f}x (target >= 0.5), p99 {lat['p99_s']} s (target <= 2), "
          f"delivered {lat['delivered']}/{lat['events']}, duplicates {lat['duplicates']}: "
          f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
