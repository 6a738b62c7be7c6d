#!/usr/bin/env python
"""Benchmark: Home (`/`) on bench/orders_list.py's data set (issue 18, "Speed").

Reuses orders_list.py's throw-away PostgreSQL, data generator (1,000 workspaces, the
seller's workspace holding half the orders, 1 to 4 lines each) and in-process WSGI
calls; measures Home for a member of the big workspace: its query count, p50/p95 over
--requests sequential loads, and its rate against pgbench running the very SQL Home
ran, alternating --rounds times (best of each kept). Targets: <= 8 queries, p95 <= 50 ms,
view >= 0.3x pgbench; exits 1 if one is missed. --explain prints each query's plan (the
counts must be index ranges, not scans of the workspace's orders).

Reproduce:  .venv/bin/python bench/home.py --orders 1000000          (about 15 minutes)
Quick look: .venv/bin/python bench/home.py                           (100,000 orders)
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.orders_list import (  # noqa: E402
    captured,
    explain,
    latencies,
    pct,
    prepare,
    seller_headers,
    view_rate,
)

TARGET_P95_MS = 50.0
TARGET_PGBENCH_RATIO = 0.3
TARGET_MAX_QUERIES = 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000,
                        help="the issue's figure is 1,000,000")
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pgdata", type=Path, default=None,
                        help="keep the cluster here; reused (no regeneration) if it exists")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    pg, data = prepare(pgdata=args.pgdata, orders=args.orders, workspaces=args.workspaces,
                       log=log)

    headers = seller_headers()
    status, sql, _ = captured("/", headers)
    assert status == 200, status
    if args.explain:
        explain(sql, log)
    script = Path(tempfile.mkdtemp(prefix="podhub-pgbench.")) / "home.sql"
    atexit.register(shutil.rmtree, script.parent, True)
    script.write_text("".join(q.rstrip().rstrip(";") + ";\n" for q in sql))
    load_before = os.getloadavg()
    [(wall, cpu)] = latencies([("/", headers)], args.requests)
    views, pgbs = [], []
    for _ in range(args.rounds):
        views.append(view_rate("/", headers, clients=args.concurrency, seconds=args.seconds,
                               pg=pg))
        pgbs.append(pg.pgbench(script, clients=args.concurrency, seconds=args.seconds))
    (rate, _), (pgb, _) = max(views), max(pgbs)
    load_after = os.getloadavg()
    result = {"queries": len(sql), "p50_ms": round(statistics.median(wall), 2),
              "p95_ms": round(pct(wall, 0.95), 2),
              "cpu_p50_ms": round(statistics.median(cpu), 2), "view_rps": round(rate, 1),
              "pgbench_tps": round(pgb, 1), "ratio_vs_pgbench": round(rate / pgb, 3)}
    checks = {
        f"<= {TARGET_MAX_QUERIES} queries": result["queries"] <= TARGET_MAX_QUERIES,
        f"p95 <= {TARGET_P95_MS:.0f} ms": result["p95_ms"] <= TARGET_P95_MS,
        f"view >= {TARGET_PGBENCH_RATIO}x pgbench": result["ratio_vs_pgbench"]
        >= TARGET_PGBENCH_RATIO,
    }
    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
               f"{platform.python_version()}, PostgreSQL "
               f"{pg.psql('SHOW server_version').strip().split()[0]}")
    command = (f".venv/bin/python bench/home.py --orders {args.orders} --workspaces "
               f"{args.workspaces} --requests {args.requests} --concurrency "
               f"{args.concurrency} --seconds {args.seconds} --rounds {args.rounds}")
    print(f"\nPodHub Home benchmark — {machine}")
    print(f"data: {data['orders']:,} orders, {data['workspaces']:,} workspaces; the seller's "
          f"workspace holds {data['big_workspace_orders']:,}; database {data['database_size']}")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(json.dumps(result))
    for label, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
    print(f"\nreproduce:\n  {command}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "data": data, "result": result,
                                         "checks": checks, "command": command}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
