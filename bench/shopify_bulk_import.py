#!/usr/bin/env python
"""Benchmark: the initial import of 10,000 orders by one Shopify bulk operation.

1. starts a throw-away PostgreSQL (durable: fsync and synchronous_commit on) and Redis,
   migrates, creates a workspace;
2. starts the Shopify sandbox as its own process (manage.py run_shopify_sandbox) with
   --orders paid, open, unfulfilled orders (plus 10 % fulfilled and 10 % unpaid ones the
   query leaves out);
3. connects the store and runs the import job in this process as the worker does
   (integrations.services.imports.import_job_run): it counts the orders, starts the bulk
   operation, is rung again until Shopify (the sandbox) has finished — the poll, every
   0.2 s here — then streams the JSONL file and applies the orders in batches;
4. prints the elapsed time (from the job's first run to done, the sandbox's own export
   included), the floor of the paginated import at --restore-rate points/s for the same
   orders ((Σ page costs − bucket) / rate, the cost the sandbox charges the paginated
   import: 2 + Σ (4 + min(lines, 10)) per page of 50, + 1 for the count), the ratio, the
   SQL queries per order (every query on this process's connection, the order import's
   after-commit subscribers included) and the GraphQL calls.

Goal (issue 16): ratio <= 0.25 and <= 10 queries per order.

Reproduce: .venv/bin/python bench/shopify_bulk_import.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shopify_services import PY, Services, free_port  # noqa: E402


def _get(url: str) -> dict:
    with urlopen(url, timeout=30) as resp:  # noqa: S310 - local sandbox
        return json.loads(resp.read())


def _post(url: str, body: dict) -> dict:
    req = Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=900) as resp:  # noqa: S310
        return json.loads(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--bucket", type=float, default=1000)
    ap.add_argument("--restore-rate", type=float, default=50)
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
        _post(url + "/_sandbox/orders/bulk", {"count": total_created, "unpaid_every": 10,
                                              "fulfilled_every": 10})
        print(f"sandbox: {total_created} orders created in {time.perf_counter() - t0:.1f} s")
        print(f"load before: {os.getloadavg()}")

        import django

        django.setup()
        from django.db import connection
        from django_scopes import scope

        from integrations.models import ImportJob, JobStatus
        from integrations.services.imports import import_job_run
        from integrations.shopify.connect import client_for, store_connect_shopify
        from podhub.workspaces.models import Workspace

        queries = [0]
        kinds: dict[str, int] = {}

        def count(execute, sql, params, many, context):
            queries[0] += 1
            if os.environ.get("BENCH_SQL_KINDS"):
                words = sql.split()
                table = next((w for w in words[1:] if w.startswith('"')), "")
                key = f"{words[0]} {table}" if words[0] not in ("SAVEPOINT", "RELEASE") \
                    else words[0]
                kinds[key] = kinds.get(key, 0) + 1
            return execute(sql, params, many, context)

        ws = Workspace.objects.create(name="Bench")
        with scope(workspace=ws):
            conn = store_connect_shopify(workspace=ws, shop_domain="podhub-sandbox.myshopify.com",
                                         access_token="shpat_bench", webhook_secret="s",
                                         api_base=url, start_import=False)
            job = ImportJob.objects.create(workspace=ws, connection=conn)
            client = client_for(conn)
            runs = 0
            t0 = time.perf_counter()
            profile = None
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                profile = cProfile.Profile()
                profile.enable()
            with connection.execute_wrapper(count):
                while True:
                    runs += 1
                    job = import_job_run(job_id=job.pk, client=client)
                    if job.status != JobStatus.RUNNING or job.heartbeat_at is not None:
                        break
                    time.sleep(0.2)  # the poll; the finish webhook rings at once instead
            elapsed = time.perf_counter() - t0
            if profile is not None:
                import pstats

                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        stats = _get(url + "/_sandbox/stats")
        op = _get(url + "/_sandbox/bulk/1") if job.bulk_operation_id else {
            "objectCount": 0, "fileSize": 0}
        # the paginated import's cost for the same orders, as the sandbox charges it
        with scope(workspace=ws):
            from django.db.models import Count

            from orders.models import Order

            per_order = dict(Order.objects.filter(store_id=conn.store_id)
                             .annotate(n=Count("line_items")).values_list("pk", "n"))
        importable = job.total or 0
        pages = math.ceil(importable / 50)
        cost = 1 + 2 * pages + sum(4 + min(n, 10) for n in per_order.values())
        floor = max(0.0, (cost - args.bucket) / args.restore_rate)
        per = queries[0] / max(job.imported, 1)
        print(f"method {job.method}: imported {job.imported} of {job.total} (skipped "
              f"{job.skipped}, failed {job.failed}) in {elapsed:.1f} s, {runs} runs of the job")
        print(f"bulk operation: {op['objectCount']} objects, {int(op['fileSize'] or 0) / 1e6:.1f}"
              f" MB file; GraphQL calls {stats['graphql_calls']}, downloads "
              f"{stats.get('bulk_downloads')}")
        print(f"paginated floor at {args.restore_rate:.0f} points/s: ({cost} - "
              f"{args.bucket:.0f}) / {args.restore_rate:.0f} = {floor:.1f} s; ratio "
              f"{elapsed / floor:.3f} (goal <= 0.25)")
        print(f"SQL queries {queries[0]}: {per:.1f} per order (goal <= 10)")
        for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:40]:
            print(f"  {n / max(job.imported, 1):6.2f}/order  {key}")
        print(f"load after: {os.getloadavg()}")
        ok = (job.imported == args.orders and elapsed / floor <= 0.25 and per <= 10)
        print("RESULT:", "PASS" if ok else "FAIL")
    finally:
        os.killpg(sandbox.pid, signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
