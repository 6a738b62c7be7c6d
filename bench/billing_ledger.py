#!/usr/bin/env python
"""Benchmark: the billing ledger under contention (issue 6, "Reliability").

What it does, in one run:

1. starts a throw-away PostgreSQL (like scripts/test.sh: initdb in a temp dir,
   a free port, run as the postgres user when root, fsync off) and migrates it;
2. runs --processes worker processes (default 8), each doing --ops (default
   1,000) random ledger operations on ONE workspace through the real services
   (billing.ledger: lock the account row, idempotency check, entry, hold,
   cached totals; one transaction each): 25 % top-ups, 35 % holds, 20 %
   captures, 20 % releases of the worker's own open holds;
3. checks the invariants afterwards: cached balance = sum of entries, held =
   sum of open holds, no entry with available < 0, no idempotency key twice,
   and every accepted operation is in the ledger;
4. runs `pgbench` with the bare guarded UPDATE of the same kind of account row
   + INSERT of a ledger row (same table, same indexes), at the same
   concurrency and the same number of transactions per client;
5. repeats 2-4 --rounds times (default 3), alternating, so that a burst of
   other load on the machine hits both sides; prints operations/s of both per
   round and the median ratio (goal: >= 0.5x).

Run:  .venv/bin/python bench/billing_ledger.py            (about a minute)
      .venv/bin/python bench/billing_ledger.py --processes 8 --ops 1000 --json
"""

from __future__ import annotations

import argparse
import atexit
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgtools import as_pg, find_pg_bin, free_port  # noqa: E402

TARGET_RATIO = 0.5


class Postgres:
    """The same server settings as scripts/test.sh's throw-away cluster."""

    SETTINGS = {"listen_addresses": "127.0.0.1", "max_connections": "100",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "shared_buffers": "256MB", "jit": "off"}

    def __init__(self):
        self.bin = find_pg_bin()
        self.base = Path(tempfile.mkdtemp(prefix="podhub-billing-bench."))
        self.data = self.base / "data"
        self.port = free_port()

    def start(self) -> None:
        os.chmod(self.base, 0o755)
        if os.geteuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode:
                subprocess.run(["useradd", "--system", "--home-dir", str(self.base),
                                "postgres"], check=True)
            shutil.chown(self.base, "postgres")
        subprocess.run(as_pg([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]), check=True,
                       capture_output=True)
        opts = " ".join(f"-c {k}={v}" for k, v in self.SETTINGS.items())
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                              str(self.base / "server.log"), "-w", "-t", "60", "start",
                              "-o", f"-p {self.port} -k {self.base} {opts}"]),
                       check=True, capture_output=True)
        atexit.register(self.stop)
        self.psql("CREATE DATABASE podhub")

    def stop(self) -> None:
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                              "immediate", "stop"]), capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAtc",
                               sql], check=True, capture_output=True, text=True).stdout

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/podhub"

    def server_cpu(self) -> float:
        """CPU seconds used by this cluster: the postmaster, its live children, and the
        children it has reaped (backends that exited count in its cutime/cstime)."""
        tick = os.sysconf("SC_CLK_TCK")
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(entry), int(fields[1])
            if pid == postmaster:
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif ppid == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def pgbench(self, script: Path, *, clients: int, transactions: int) -> tuple[float, float]:
        started = time.perf_counter()
        out = subprocess.run(
            [str(self.bin / "pgbench"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "postgres", "-n", "-M", "simple", "-c", str(clients), "-j", str(clients),
             "-t", str(transactions), "-f", str(script), "podhub"],
            check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
        if not m:
            raise RuntimeError(out.stdout + out.stderr)
        return float(m.group(1)), wall


def setup_django(db_url: str, var_dir: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "podhub.settings.base", "DATABASE_URL": db_url,
        "PODHUB_VAR_DIR": str(var_dir), "CELERY_BROKER_URL": "memory://",
        "CACHE_URL": "locmemcache://", "LOG_LEVEL": "WARNING", "DJANGO_DEBUG": "false",
    })
    import django

    django.setup()


# --- the workers --------------------------------------------------------------------------


def worker(args) -> dict:
    """One process, one connection: `ops` random operations on one workspace."""
    db_url, var_dir, workspace_id, index, ops, seed, start_at = args  # index: "round-worker"
    setup_django(db_url, Path(var_dir))
    from django.db import connection
    from django_scopes import scope

    from billing import ledger
    from billing.models import EntryKind
    from podhub.workspaces.models import Workspace

    ws = Workspace.objects.get(pk=workspace_id)
    connection.ensure_connection()
    rnd = random.Random(seed)
    holds: list[int] = []
    accepted: list[str] = []
    refused = 0
    while time.time() < start_at:  # all workers start together
        time.sleep(0.001)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with scope(workspace=ws):
        for i in range(ops):
            key = f"bench-{index}-{i}"
            r = rnd.random()
            if r >= 0.6 and not holds:
                r = 0.4
            try:
                if r < 0.25:
                    ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP,
                                  amount=Decimal(rnd.randint(100, 5000)) / 100, key=key)
                elif r < 0.6:
                    h = ledger.hold_place(workspace_id=ws.pk,
                                          amount=Decimal(rnd.randint(100, 4000)) / 100, key=key)
                    holds.append(h.pk)
                elif r < 0.8:
                    ledger.hold_capture(workspace_id=ws.pk, hold_id=holds.pop(
                        rnd.randrange(len(holds))), key=key)
                else:
                    ledger.hold_release(workspace_id=ws.pk, hold_id=holds.pop(
                        rnd.randrange(len(holds))), key=key)
                accepted.append(key)
            except ledger.InsufficientFunds:
                refused += 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    connection.close()
    return {"accepted": accepted, "refused": refused, "elapsed": elapsed, "end": time.time(),
            "cpu": cpu}


PGBENCH_SCRIPT = """\\set amt random(1, 5000)
BEGIN;
UPDATE billing_account SET balance_amount = balance_amount + :amt / 100.0, updated_at = now()
  WHERE id = {account_id} AND balance_amount + :amt / 100.0 - held_amount >= 0;
INSERT INTO billing_ledgerentry (workspace_id, created_at, updated_at, kind, currency, amount,
  balance_delta, held_delta, balance_after, held_after, idempotency_key, memo, reason)
  VALUES ({workspace_id}, now(), now(), 'top_up', 'USD', :amt / 100.0, :amt / 100.0, 0, 0, 0,
  'pgbench-' || nextval('bench_key_seq'), '', '');
END;
"""


def run_ledger(pg: Postgres, var_dir: Path, *, processes: int, ops: int,
               round_no: int) -> dict:
    """One round of the ledger services on a fresh workspace; invariants checked after."""
    from django.db import connections
    from django.db.models import Count, F, Sum
    from django_scopes import scopes_disabled

    from billing import ledger
    from billing.models import Account, EntryKind, Hold, LedgerEntry
    from podhub.workspaces.models import Workspace

    with scopes_disabled():
        ws = Workspace.objects.create(name=f"Bench {round_no}")
        seed = f"bench-seed-{round_no}"
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=Decimal("500"),
                      key=seed)
    connections.close_all()
    start_at = time.time() + 2.0
    jobs = [(pg.url, str(var_dir), ws.pk, f"{round_no}-{i}", ops, 42 + i + 100 * round_no,
             start_at) for i in range(processes)]
    ctx = mp.get_context("spawn")  # a fresh interpreter and connection per worker
    with ctx.Pool(processes) as pool:
        server0 = pg.server_cpu()
        results = pool.map(worker, jobs)
        server_cpu = pg.server_cpu() - server0
    wall = max(r["end"] for r in results) - start_at
    with scopes_disabled():
        acct = Account.objects.get(workspace=ws)
        entries = LedgerEntry.objects.filter(workspace=ws)
        sums = entries.aggregate(b=Sum("balance_delta"), h=Sum("held_delta"))
        open_total = sum((h.remaining_amount for h in Hold.objects.filter(workspace=ws)),
                         Decimal(0))
        accepted = {k for r in results for k in r["accepted"]} | {seed}
        keys = set(entries.values_list("idempotency_key", flat=True))
        checks = {
            "balance_equals_sum_of_entries": acct.balance_amount == sums["b"],
            "held_equals_open_holds": acct.held_amount == sums["h"] == open_total,
            "available_never_negative": not entries.filter(
                balance_after__lt=F("held_after")).exists(),
            "no_key_twice": not entries.values("idempotency_key").annotate(
                n=Count("id")).filter(n__gt=1).exists(),
            "accepted_ops_are_the_ledger": keys == accepted,
        }
    connections.close_all()
    cpu = sum(r["cpu"] for r in results) + server_cpu
    return {"ops_per_s": processes * ops / wall, "seconds": wall, "checks": checks,
            "refused": sum(r["refused"] for r in results),
            "cpu_ms_per_op": 1000 * cpu / (processes * ops)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--ops", type=int, default=1000, help="operations per process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate ledger and pgbench this many times (median reported)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    pg = Postgres()
    pg.start()
    var_dir = Path(tempfile.mkdtemp(prefix="podhub-billing-var."))
    atexit.register(shutil.rmtree, var_dir, True)
    setup_django(pg.url, var_dir)
    from django.core.management import call_command
    from django.db import connections
    from django_scopes import scopes_disabled

    from billing import ledger
    from podhub.workspaces.models import Workspace

    call_command("migrate", verbosity=0)
    with scopes_disabled():
        other = Workspace.objects.create(name="pgbench")
        pg_acct = ledger.ensure_account(other.pk, "USD")
    connections.close_all()
    pg.psql("CREATE SEQUENCE bench_key_seq", db="podhub")
    pg.psql(f"UPDATE billing_account SET balance_amount = 500 WHERE id = {pg_acct.pk}",
            db="podhub")
    script = var_dir / "ledger.sql"
    script.write_text(PGBENCH_SCRIPT.format(account_id=pg_acct.pk, workspace_id=other.pk))

    # Rounds alternate the two sides, so a burst of load on the machine hits both.
    rounds = []
    for n in range(args.rounds):
        led = run_ledger(pg, var_dir, processes=args.processes, ops=args.ops, round_no=n)
        server0, client0 = pg.server_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
        tps, _ = pg.pgbench(script, clients=args.processes, transactions=args.ops)
        client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        pgb_cpu = (pg.server_cpu() - server0 + client1.ru_utime - client0.ru_utime
                   + client1.ru_stime - client0.ru_stime)
        pgb_ms = 1000 * pgb_cpu / (args.processes * args.ops)
        rounds.append({"ledger_ops_per_s": round(led["ops_per_s"], 1),
                       "pgbench_tps": round(tps, 1), "ratio": round(led["ops_per_s"] / tps, 3),
                       "ledger_cpu_ms_per_op": round(led["cpu_ms_per_op"], 3),
                       "pgbench_cpu_ms_per_op": round(pgb_ms, 3),
                       "cpu_ratio": round(pgb_ms / led["cpu_ms_per_op"], 3),
                       "ledger_seconds": round(led["seconds"], 2), "checks": led["checks"],
                       "refused_insufficient_funds": led["refused"]})
    checks = {k: all(r["checks"][k] for r in rounds) for k in rounds[0]["checks"]}
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    report = {
        "processes": args.processes, "ops_per_process": args.ops, "rounds": rounds,
        "median": {k: median[k] for k in ("ledger_ops_per_s", "pgbench_tps", "ratio")},
        "median_cpu_ratio": sorted(r["cpu_ratio"] for r in rounds)[len(rounds) // 2],
        "target_ratio": TARGET_RATIO, "invariants": checks,
        "ledger_in_database": ledger_mode(pg),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, {pg.bin}, load average "
                   f"{os.getloadavg()[0]:.1f}",
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"billing ledger: {args.processes} processes x {args.ops} random operations on "
              f"one workspace, {args.rounds} rounds")
        for n, r in enumerate(rounds, 1):
            print(f"  round {n}: ledger {r['ledger_ops_per_s']:7.1f} ops/s, pgbench "
                  f"{r['pgbench_tps']:7.1f} tps, ratio {r['ratio']:.2f}x; CPU per operation "
                  f"{r['ledger_cpu_ms_per_op']:.3f} vs {r['pgbench_cpu_ms_per_op']:.3f} ms "
                  f"({r['cpu_ratio']:.2f}x)")
        m = report["median"]
        print(f"  median  : ledger {m['ledger_ops_per_s']:7.1f} ops/s, pgbench "
              f"{m['pgbench_tps']:7.1f} tps, ratio {m['ratio']:.2f}x  (goal >= {TARGET_RATIO}x)")
        print(f"  median CPU ratio (load-independent: pgbench CPU / ledger CPU per operation, "
              f"clients + server): {report['median_cpu_ratio']:.2f}x")
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}")
        print(f"  machine: {report['machine']}")
    return 0 if all(checks.values()) else 1


def ledger_mode(pg) -> str:
    from billing.ledger import in_database

    return "postgresql function" if in_database() else "python"


if __name__ == "__main__":
    sys.exit(main())
