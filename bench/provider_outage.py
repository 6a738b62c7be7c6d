#!/usr/bin/env python
"""Provider outage (issue 7): the factory answers 500s, then times out, for ten minutes.

1. throw-away PostgreSQL + Redis; two sandbox factories as their own HTTP server
   processes: A (first choice of every item) and B (a second provider);
2. --orders due orders, half of a mug that only A makes ("sole"), half of a mug B
   also makes at 0.50 more per item, within the workspace's maximum extra cost of
   1.00 ("backed");
3. A's fault switch (POST /_faults) is set to "500" for simulated minutes 0-5 and to
   "timeout" (it hangs 3 s; the send timeout is 1 s) for minutes 5-10, then "none";
4. the beat's work - submit_sweep(send=False) then send_due(), what submit_sweep_task
   runs - is called in this process every 10 simulated seconds for 20 minutes.
   TIME IS COMPRESSED: the services take `now`, and the simulated clock moves 10 s per
   step; the HTTP calls, the timeouts (1 s each) and the database are real;
5. printed: HTTP calls A got (and how many failed), send attempts PodHub recorded,
   orders through A after its recovery, orders fallen back to B (after
   FULFILLMENT_FALLBACK_AFTER_MINUTES, 5 here so the fallback happens inside the
   ten-minute outage), duplicates (a PodHub order with more than one factory order
   across A and B: must be 0), lost (an order not in production or without exactly
   one accepted submission: must be 0), orders held (must be 0).

Reproduce: .venv/bin/python bench/provider_outage.py            (about 1 minute)
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.submit_bench import (  # noqa: E402
    factory_get,
    factory_post,
    factory_start,
    make_catalog,
    make_orders,
    stop,
)

print = functools.partial(print, flush=True)  # progress shows as it happens
FALLBACK_MINUTES = 5
STEP = timedelta(seconds=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--outage-minutes", type=float, default=10)
    ap.add_argument("--run-minutes", type=float, default=20)
    args = ap.parse_args()
    from bench.shopify_services import Services

    services = Services()
    env = {**os.environ, **services.start(), "DJANGO_SETTINGS_MODULE": "podhub.settings.base"}
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Sum
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from fulfillment import submission
    from fulfillment.models import Submission
    from orders.models import Order
    from podhub.workspaces.models import Workspace

    settings.FULFILLMENT_FALLBACK_AFTER_MINUTES = FALLBACK_MINUTES
    settings.FULFILLMENT_SEND_TIMEOUT_SECONDS = 1
    a, url_a = factory_start(env, "--hang-seconds", "3")
    b, url_b = factory_start(env)
    procs = [a, b]
    print(f"machine: {os.cpu_count()} CPUs; {subprocess.getoutput('uptime').strip()}")
    print(f"factory A {url_a}, factory B {url_b} (own processes); "
          f"FULFILLMENT_FALLBACK_AFTER_MINUTES={FALLBACK_MINUTES}, send timeout 1 s; "
          "time compressed: services called with a simulated `now`, 10 s per step")
    failures: list[str] = []
    try:
        start = timezone.now()
        with scopes_disabled():
            ws = Workspace.objects.create(name="Outage bench")
            sole = make_catalog(workspace=ws, sku="SOLE-MUG",
                                providers=[("factory-a", url_a, "4.00")])
            backed = make_catalog(workspace=ws, sku="BACKED-MUG", max_extra="1.00",
                                  providers=[("factory-a", url_a, "4.00"),
                                             ("factory-b", url_b, "4.50")])
            half = args.orders // 2
            store_sole, sole_ids = make_orders(workspace=ws, variant=sole, n=half, tag="S",
                                               submit_at=start - timedelta(minutes=1))
            store_backed, backed_ids = make_orders(workspace=ws, variant=backed,
                                                   n=args.orders - half, tag="B",
                                                   submit_at=start - timedelta(minutes=1))
        ids = sole_ids + backed_ids
        outage_end = start + timedelta(minutes=args.outage_minutes)
        half_way = start + timedelta(minutes=args.outage_minutes / 2)
        mode = ""
        now = start
        t0 = time.perf_counter()
        steps = 0
        while now <= start + timedelta(minutes=args.run_minutes):
            want = "500" if now < half_way else "timeout" if now < outage_end else "none"
            if want != mode:
                factory_post(url_a, "/_faults", {"mode": want})
                mode = want
                print(f"  simulated {(now - start).total_seconds() / 60:5.2f} min "
                      f"(real {time.perf_counter() - t0:5.1f} s): factory A fault mode {want!r}")
            swept = submission.submit_sweep(now=now, send=False)
            sent = submission.send_due(now=now)
            steps += 1
            if swept or sent:
                with scopes_disabled():
                    accepted = Submission.objects.filter(order_id__in=ids,
                                                         status="accepted").count()
                print(f"  simulated {(now - start).total_seconds() / 60:5.2f} min: swept {swept}"
                      f", sends tried {sent}, accepted so far {accepted}")
            now += STEP
        real = time.perf_counter() - t0
        stats_a = factory_get(url_a, "/_sandbox/stats")
        stats_b = factory_get(url_b, "/_sandbox/stats")
        per_order: Counter = Counter()
        for url in (url_a, url_b):
            for _, ext, _ in factory_get(url, "/_sandbox/orders")["orders"]:
                per_order[int(ext[2:].split("-")[0])] += 1
        with scopes_disabled():
            states = Counter(Order.objects.filter(pk__in=ids).values_list("state", flat=True))
            acc = Counter(Submission.objects.filter(order_id__in=ids, status="accepted")
                          .values_list("order_id", flat=True))
            by_provider = Counter(Submission.objects.filter(order_id__in=ids,
                                                            status="accepted")
                                  .values_list("provider__code", flat=True))
            attempts = Submission.objects.filter(order_id__in=ids).aggregate(
                n=Sum("attempts"))["n"]
            sole_through = Submission.objects.filter(
                order_id__in=sole_ids, status="accepted", provider__code="factory-a",
                sent_at__gte=outage_end).count()
            backed_fallen = Submission.objects.filter(
                order_id__in=backed_ids, status="accepted", provider__code="factory-b").count()
            fallen_at = list(Submission.objects.filter(order_id__in=backed_ids,
                                                       provider__code="factory-b")
                             .values_list("sent_at", flat=True))
        dupes = sum(1 for o in ids if per_order.get(o, 0) > 1)
        lost = sum(1 for o in ids if per_order.get(o, 0) == 0 or acc.get(o, 0) != 1)
        held = states.get("on_hold", 0)
        first_fall = min(fallen_at) if fallen_at else None
        print(f"done: {steps} sweeps over {args.run_minutes:.0f} simulated minutes in "
              f"{real:.1f} s real")
        print(f"attempts: factory A got {stats_a['calls']} HTTP calls, {stats_a['faults']} "
              f"of them during the outage (500 or hung past the timeout); PodHub recorded "
              f"{attempts} send attempts over {len(ids)} orders (a batch stops calling a "
              "provider after its first failure: the rest wait their backoff uncalled)")
        print(f"orders through A after its recovery: {sole_through} of {len(sole_ids)} "
              "sole-provider orders")
        print(f"orders fallen back to B: {backed_fallen} of {len(backed_ids)} backed orders"
              + (f", the first {(first_fall - start).total_seconds() / 60:.1f} simulated min "
                 "after the first failure" if first_fall else ""))
        print(f"accepted by provider: {dict(by_provider)}; order states {dict(states)}")
        print(f"duplicates: {dupes}; lost: {lost}; held: {held}; factory A creates "
              f"{stats_a['creates']} (replays {stats_a['duplicates']}), B creates "
              f"{stats_b['creates']} (replays {stats_b['duplicates']})")
        print(f"load: {subprocess.getoutput('uptime').strip()}")
        if dupes or lost or held:
            failures.append("duplicates, lost or held orders")
        if sole_through != len(sole_ids):
            failures.append("not every sole-provider order went through A after recovery")
        if backed_fallen != len(backed_ids):
            failures.append("not every backed order fell back to B")
        if first_fall is not None and first_fall - start < timedelta(minutes=FALLBACK_MINUTES):
            failures.append("fell back before FULFILLMENT_FALLBACK_AFTER_MINUTES")
    finally:
        stop(procs)
    print("RESULT:", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
