#!/usr/bin/env python
"""Benchmark: the initial import of 10,000 orders from the sandbox store.

1. starts a throw-away PostgreSQL and Redis, migrates, creates a workspace;
2. starts the Shopify sandbox as its own process (manage.py run_shopify_sandbox)
   with --orders paid, open, unfulfilled orders (plus 10 % fulfilled and 10 %
   unpaid ones that must be skipped), bucket --bucket points, --restore-rate
   points/s;
3. connects the store (connect_store --api-base) and runs the import job in this
   process, exactly as the worker does (integrations.services.imports);
4. prints the elapsed time, the minimum the rate limit allows
   ((actual cost of all queries - bucket) / restore rate), the ratio, and the
   sandbox's count of THROTTLED answers and HTTP 429s.

Goal: ratio <= 1.15 and zero throttled / 429.

Reproduce: .venv/bin/python bench/shopify_import.py              (100 pts/s: about 12 min)
Quicker:   .venv/bin/python bench/shopify_import.py --restore-rate 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shopify_services import PY, Services, free_port  # noqa: E402


def _get(url: str) -> dict:
    with urlopen(url, timeout=30) as resp:  # noqa: S310 - local sandbox
        return json.loads(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--bucket", type=float, default=1000)
    ap.add_argument("--restore-rate", type=float, default=100)
    args = ap.parse_args()

    services = Services()
    services.start()
    port = free_port()
    total_created = int(args.orders / 0.8)  # 80 % importable
    sandbox = subprocess.Popen(
        [PY, "manage.py", "run_shopify_sandbox", "--port", str(port), "--access-token",
         "shpat_bench", "--bucket", str(args.bucket), "--restore-rate", str(args.restore_rate)],
        cwd=ROOT, env=os.environ, start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                _get(url + "/_sandbox/stats")
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.perf_counter()
        body = json.dumps({"count": total_created, "unpaid_every": 10,
                           "fulfilled_every": 10}).encode()
        from urllib.request import Request

        req = Request(url + "/_sandbox/orders/bulk", data=body, method="POST",  # noqa: S310
                      headers={"Content-Type": "application/json"})
        with urlopen(req, timeout=600):  # noqa: S310
            pass
        print(f"sandbox: {total_created} orders created in {time.perf_counter() - t0:.1f} s")

        import django

        django.setup()
        from django_scopes import scope

        from integrations.models import ImportJob
        from integrations.services.imports import import_job_run
        from integrations.shopify.connect import client_for, store_connect_shopify
        from podhub.workspaces.models import Workspace

        ws = Workspace.objects.create(name="Bench")
        with scope(workspace=ws):
            conn = store_connect_shopify(workspace=ws, shop_domain="podhub-sandbox.myshopify.com",
                                         access_token="shpat_bench", webhook_secret="s",
                                         api_base=url, start_import=False)
            job = ImportJob.objects.create(workspace=ws, connection=conn)
            # reset the sandbox's bucket and counters: the clock starts now
            client = client_for(conn)
            t0 = time.perf_counter()
            job = import_job_run(job_id=job.pk, client=client)
            elapsed = time.perf_counter() - t0
        stats = _get(url + "/_sandbox/stats")
        actual = stats["cost_actual"]
        minimum = max(0.0, (actual - args.bucket) / args.restore_rate)
        print(f"imported {job.imported} of {job.total} (skipped {job.skipped}, failed "
              f"{job.failed}) in {elapsed:.1f} s")
        print(f"GraphQL calls {stats['graphql_calls']}, actual cost {actual:.0f} points, "
              f"bucket {args.bucket:.0f}, restore {args.restore_rate:.0f}/s -> minimum "
              f"{minimum:.1f} s; ratio {elapsed / minimum:.3f} (goal <= 1.15)")
        print(f"THROTTLED answers {stats['throttled']}, HTTP 429 {stats['http_429']}, "
              f"client waited {client.stats.waited_seconds:.1f} s, retries "
              f"{client.stats.retries}")
        ok = (job.imported == args.orders and elapsed / minimum <= 1.15
              and stats["throttled"] == 0 and stats["http_429"] == 0)
        print("RESULT:", "PASS" if ok else "FAIL")
    finally:
        os.killpg(sandbox.pid, signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
