#!/usr/bin/env python
"""The fault drill on several hosts (issue 19, item 2): PodHub on two application hosts
and a database host, one application host cut off mid-run and brought back, and a
second beat started by mistake on the other host.

The hosts are Linux network namespaces the drill makes itself (root needed) and removes
on exit, also on Ctrl-C, SIGTERM or a failure:

    root namespace  10.77.0.1   bridge; the Shopify sandbox, the sandbox factory and
                                the TCP balancer in front of both web processes
    app1            10.77.0.11  gunicorn (web1), celery worker (worker1), celery beat
    app2            10.77.0.12  gunicorn (web2), celery worker (worker2) and, unless
                                --one-beat, a second celery beat (the mistake)
    db              10.77.0.10  PostgreSQL and Redis

Each host is joined to the bridge by a veth pair; the namespaces have no default route,
so nothing leaves the machine. The cut-off takes the host's link down
(`ip link set <veth> down`: its packets are dropped, its processes keep running and
their connections stall, as with a pulled cable or a partition) for --cut-seconds, then
brings it up again. There is no iptables/nft on this machine, so the link is the switch.

Every process is started from the real start commands (as bench/fault_drill.py, whose
order generator and checks are reused unchanged): every store order exists once; every
paid order reached the factory exactly once; every parcel's tracking reached the store
exactly once; the ledger invariants hold; nothing is left due or retrying. On top, the
sweeps' `SweepRun` rows show what the second beat did: its ticks are counted as skipped
and no sweep started more often than one beat ticks it (podhub/core/sweeps.py).

Reproduce (as root):
    .venv/bin/python bench/drill_hosts.py --seed 1
        (150 orders over 1 minute, app1 cut off for 30 s a third of the way in, two beats)
    .venv/bin/python bench/drill_hosts.py --no-faults --one-beat --orders 600
        (the throughput figure; compare bench/fault_drill.py --no-faults --short
         --orders 600 on one host)
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fault_drill as fd  # noqa: E402
from bench.pgtools import as_pg, free_port  # noqa: E402
from bench.shopify_services import Services  # noqa: E402

say, http = fd.say, fd.http
NET = "10.77.0"
GATEWAY = f"{NET}.1"
REDIS_PASSWORD = "drill-redis-password"
HOSTS = {"db": f"{NET}.10", "app1": f"{NET}.11", "app2": f"{NET}.12"}


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class Network:
    """A bridge in the root namespace and one namespace per host, each on a veth pair.
    Names carry this run's pid, so two drills (or a stale one) never share them."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.bridge = f"phb{tag}"
        self.ns = {host: f"ph{tag}-{host}" for host in HOSTS}
        self.veth = {host: f"ph{tag}{host}" for host in HOSTS}  # root side, <= 15 chars
        self.made = False

    def up(self) -> None:
        taken = ip("-br", "addr").stdout
        if f" {NET}." in taken:
            sys.exit(f"{NET}.0/24 is already in use here (a drill still running?): "
                     f"{taken}")
        self.made = True
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{GATEWAY}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for host, address in HOSTS.items():
            ns, veth = self.ns[host], self.veth[host]
            ip("netns", "add", ns)
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", veth, "master", self.bridge, "up")
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        for host in HOSTS:  # the bridge forwards once its ports are up
            for _ in range(100):
                if " UP " in ip("-n", self.ns[host], "-br", "link", "show", "eth0").stdout:
                    break
                time.sleep(0.1)

    def run_in(self, host: str) -> list[str]:
        """The prefix that starts a command on that host."""
        return ["ip", "netns", "exec", self.ns[host]]

    def link(self, host: str, up: bool) -> None:
        ip("link", "set", self.veth[host], "up" if up else "down")

    def down(self) -> None:
        """Kill whatever still runs in our namespaces, then remove them and the bridge."""
        if not self.made:
            return
        for ns in self.ns.values():
            pids = ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            ip("netns", "del", ns, check=False)  # takes its veth pair with it
        for veth in self.veth.values():
            ip("link", "del", veth, check=False)
        ip("link", "del", self.bridge, check=False)
        self.made = False


class DbHost(Services):
    """bench/shopify_services.Services, but PostgreSQL and Redis run in the db namespace
    and listen on its address (trusted from the drill's subnet only)."""

    def __init__(self, net: Network):
        super().__init__()
        self.net = net
        self.host = HOSTS["db"]

    def start(self) -> dict[str, str]:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        data = self.base / "data"
        subprocess.run(as_pg([str(self.bin / "initdb"), "-D", str(data), "-U", "postgres",
                               "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True)
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {NET}.0/24 trust\n")
        self.opts = (f"-p {self.pg_port} -k {self.base} -c listen_addresses={self.host} "
                     "-c max_connections=100 -c shared_buffers=256MB -c jit=off")
        self.pg_ctl("start")
        subprocess.run([str(self.bin / "psql"), "-h", self.host, "-p", str(self.pg_port), "-U",
                        "postgres", "-qAtc", "CREATE DATABASE podhub"], check=True,
                       capture_output=True)
        self.redis_start()
        from cryptography.fernet import Fernet

        env = {
            "DJANGO_SETTINGS_MODULE": "podhub.settings.base",
            "DATABASE_URL": f"postgres://postgres@{self.host}:{self.pg_port}/podhub",
            "CELERY_BROKER_URL": f"redis://:{REDIS_PASSWORD}@{self.host}:{self.redis_port}/0",
            "CACHE_URL": f"rediscache://:{REDIS_PASSWORD}@{self.host}:{self.redis_port}/1",
            "PODHUB_VAR_DIR": str(self.base / "var"),
            "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": ",".join(["127.0.0.1", "localhost", GATEWAY, *HOSTS.values()]),
        }
        os.environ.update(env)
        done = subprocess.run([fd.PY, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                              capture_output=True, text=True, env=os.environ, check=False)
        if done.returncode:
            sys.exit("migrate failed:\n" + done.stderr[-3000:])
        return env

    def pg_ctl(self, action: str) -> None:
        # -l: the postmaster must not hold our pipes open
        subprocess.run(self.net.run_in("db") + as_pg(
            [str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-l",
             str(self.base / "pg.log"), "-w", "-t", "60", action, "-o", self.opts]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def redis_start(self) -> None:
        subprocess.run(self.net.run_in("db") + [
            # a password, as Redis on its own host needs one (protected mode refuses
            # password-less clients from other addresses)
            "redis-server", "--port", str(self.redis_port), "--bind", self.host,
            "--requirepass", REDIS_PASSWORD, "--save", "",
            "--appendonly", "no", "--daemonize", "yes", "--pidfile",
            str(self.base / "redis.pid"), "--dir", str(self.base)], check=True,
            capture_output=True)
        for _ in range(100):
            try:
                socket.create_connection((self.host, self.redis_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)


def sweep_rows(dsn: str) -> dict[str, tuple[int, int]]:
    return {n: (r, s) for n, r, s in fd.db_rows(
        dsn, "SELECT name, runs, skipped FROM core_sweeprun ORDER BY name")}


def beat_check(dsn: str, before: dict, seconds: float, two_beats: bool) -> tuple[bool, str]:
    """What the beats did over `seconds`: runs and skipped ticks per sweep, against what
    one beat would send. With two beats the second one's ticks must show as skipped, and
    no sweep may have started more often than once per half interval (the lease's rule
    for beat ticks; plus the runs code rings, which never wait: a margin of 3). That
    nothing was done twice is what the delivery checks above show."""
    from podhub.core.sweeps import sweeps

    after = sweep_rows(dsn)
    known = sweeps()
    rows, too_many, skipped = [], [], 0
    for name, (runs, skips) in sorted(after.items()):
        r0, s0 = before.get(name, (0, 0))
        runs, skips = runs - r0, skips - s0
        skipped += skips
        sweep = known.get(name)
        if sweep and sweep.interval:
            one_beat = seconds / sweep.interval.total_seconds()
            rows.append(f"{name} {runs}/{one_beat:.0f}/{skips}")
            if runs > 2 * one_beat + 1 + 3:
                too_many.append(name)
    ok = not too_many and (skipped > 0 or not two_beats)
    return ok, (f"over {seconds:.0f} s ({'two beats' if two_beats else 'one beat'}): "
                f"{skipped} ticks skipped by the sweeps' leases; sweeps started more often "
                f"than once per half interval: {too_many or 'none'}; per sweep (runs / one "
                f"beat's ticks / skipped): {'; '.join(rows)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1, help="the order generator's seed")
    ap.add_argument("--minutes", type=float, default=1.0, help="arrival window")
    ap.add_argument("--orders", type=int, default=150, help="orders in the window")
    ap.add_argument("--step", type=float, default=2.0, help="factory seconds per stage")
    ap.add_argument("--settle-minutes", type=float, default=8.0)
    ap.add_argument("--cut", default="app1", choices=["app1", "app2"],
                    help="the application host cut off")
    ap.add_argument("--cut-at", type=float, default=None,
                    help="seconds into the arrivals (default: a third of the window)")
    ap.add_argument("--cut-seconds", type=float, default=30.0)
    ap.add_argument("--no-faults", action="store_true", help="no cut-off")
    ap.add_argument("--one-beat", action="store_true", help="no second beat on app2")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/drill_hosts.py makes network namespaces: run it as root")
    if not shutil.which("ip"):
        sys.exit("needs iproute2 (ip netns, veth, bridge)")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # the finally below cleans up
    # Ctrl-C too, also when started in the background by a shell that ignores SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, lambda *a: sys.exit(129))
    window = args.minutes * 60
    net = Network()
    services: DbHost | None = None
    procs: dict[str, fd.Proc] = {}
    stop_all = threading.Event()
    failures: list[str] = []
    logs: Path | None = None
    try:
        net.up()
        say(f"machine: {os.cpu_count()} CPUs; {subprocess.getoutput('uptime').strip()}")
        say(f"hosts: bridge {net.bridge} {GATEWAY} (sandboxes, balancer); "
            + ", ".join(f"{h} {a} (netns {net.ns[h]})" for h, a in HOSTS.items()))
        services = DbHost(net)
        env = {**os.environ, **services.start(), "DJANGO_SETTINGS_MODULE": "bench.drill_settings",
               "PODHUB_METRICS_TOKEN": "drill", "LOG_LEVEL": "WARNING"}
        os.environ.update(env)
        import django

        django.setup()
        dsn = env["DATABASE_URL"]
        logs = services.base / "logs"
        logs.mkdir()
        say(f"db host: PostgreSQL {HOSTS['db']}:{services.pg_port}, Redis "
            f"{HOSTS['db']}:{services.redis_port}, migrated; logs in {logs}")
        shop_port, factory_port, web_port = free_port(), free_port(), free_port()
        lb = fd.Balancer([(HOSTS["app1"], web_port), (HOSTS["app2"], web_port)], host=GATEWAY)
        base = f"http://{GATEWAY}:{lb.port}"
        shop_url = f"http://{GATEWAY}:{shop_port}"
        factory_url = f"http://{GATEWAY}:{factory_port}"
        store = fd.setup_data(env, shop_url)
        procs["shop"] = fd.Proc("shop", [
            fd.PY, "manage.py", "run_shopify_sandbox", "--host", GATEWAY, "--port",
            str(shop_port), "--shop-domain", fd.SHOP, "--db", str(services.base / "shop.sqlite3"),
            "--access-token", fd.TOKEN, "--webhook-secret", fd.SECRET, "--webhook-url",
            f"{base}/webhooks/shopify/"], env, logs)
        procs["factory"] = fd.Proc("factory", [
            fd.PY, "manage.py", "run_sandbox_factory", "--host", GATEWAY, "--port",
            str(factory_port), "--api-key", fd.FACTORY_KEY, "--webhook-secret",
            fd.FACTORY_SECRET, "--callback-url", f"{base}/webhooks/providers/sandbox-factory/",
            "--step-seconds", str(args.step), "--connect", "--route-catalog"], env, logs)
        beats = ["app1"] if args.one_beat else ["app1", "app2"]
        for i, host in enumerate(("app1", "app2"), 1):
            on = net.run_in(host)
            procs[f"web{i}"] = fd.Proc(f"web{i}", on + [
                fd.GUNICORN, "podhub.wsgi", "--config", "python:podhub.gunicorn_conf", "--bind",
                f"{HOSTS[host]}:{web_port}", "--workers", "2", "--threads", "4", "--log-level",
                "warning"], env, logs)
            procs[f"worker{i}"] = fd.Proc(f"worker{i}", on + [
                fd.CELERY, "-A", "podhub", "worker", "-Q", "celery,sweeps", "--concurrency", "2",
                "--loglevel", "WARNING", "-n", f"drill{i}@{host}"], env, logs)
            if host in beats:
                procs[f"beat{i}"] = fd.Proc(f"beat{i}", on + [
                    fd.CELERY, "-A", "podhub", "beat", "--loglevel", "WARNING", "--schedule",
                    str(services.base / f"beat-schedule-{host}")], env, logs)
        for p in procs.values():
            p.start()
        for url in (f"{shop_url}/_sandbox/stats", f"{factory_url}/_sandbox/stats",
                    f"http://{HOSTS['app1']}:{web_port}/healthz",
                    f"http://{HOSTS['app2']}:{web_port}/healthz"):
            http("GET", url)
        say(f"up: Shopify sandbox {shop_url}, factory {factory_url} (a stage every "
            f"{args.step} s), balancer {base} -> web1 {HOSTS['app1']}:{web_port} and web2 "
            f"{HOSTS['app2']}:{web_port}; worker1 on app1, worker2 on app2; beat on "
            f"{' and '.join(beats)}{' (the second one by mistake)' if len(beats) > 1 else ''}")

        def supervise():
            while not stop_all.wait(0.5):
                for p in procs.values():
                    p.supervise()

        threading.Thread(target=supervise, daemon=True).start()
        cut_at = window / 3 if args.cut_at is None else args.cut_at
        say(f"{args.orders} orders over {window:.0f} s ({args.orders / window:.1f}/s); "
            + ("no faults" if args.no_faults else
               f"{args.cut} cut off at +{cut_at:.0f} s for {args.cut_seconds:.0f} s"))
        orders = fd.Orders(shop_url, random.Random(args.seed + 1000))
        sweeps_before = sweep_rows(dsn)
        t_start = time.time()
        # the checks split the orders at the cut (as fault_drill at its first fault;
        # without faults too, so the two drills' figures compare part by part)
        fault_from = t_start + cut_at
        gen = threading.Thread(target=orders.run, kwargs={"rate": args.orders / window,
                                                          "seconds": window, "stop": stop_all},
                               daemon=True)
        gen.start()
        started = time.monotonic()
        cut_done = args.no_faults
        last_print = 0.0
        while gen.is_alive() or not cut_done:
            now = time.monotonic() - started
            if not cut_done and now >= cut_at:
                net.link(args.cut, up=False)
                say(f"FAULT {args.cut} cut off (link {net.veth[args.cut]} down): its web, "
                    f"worker{' and beat' if args.cut in beats else ''} keep running, "
                    f"unreachable")
                time.sleep(args.cut_seconds)
                net.link(args.cut, up=True)
                say(f"      {args.cut} back (link up)")
                cut_done = True
            if time.monotonic() - last_print > 15:
                say(f"{len(orders.created)} orders created; {fd.progress(dsn)}")
                last_print = time.monotonic()
            time.sleep(0.5)
        arrivals_end = time.monotonic()
        say(f"arrivals done: {len(orders.created)} orders ({orders.duplicated} with a "
            f"duplicate delivery, {orders.reordered} delivered newest first); settling")
        settled_after = None
        while time.monotonic() - arrivals_end < args.settle_minutes * 60:
            p = fd.progress(dsn)
            if fd.settled(p, len(orders.created)):
                settled_after = time.monotonic() - arrivals_end
                break
            if time.monotonic() - last_print > 15:
                say(f"settling: {p}")
                last_print = time.monotonic()
            time.sleep(1.0)
        # (a late store echo may land in the inbox after this; the checks read it again)
        say(f"settled after {settled_after:.0f} s" if settled_after is not None
            else f"NOT settled within {args.settle_minutes:g} min")
        elapsed = time.time() - t_start
        for name in [n for n in procs if n.startswith(("beat", "worker", "web"))]:
            procs[name].stop()
        ok, lines = fd.checks(dsn, orders, shop_url, factory_url, store["store_id"],
                              fault_from, t_start)
        beat_ok, beat_detail = beat_check(dsn, sweeps_before, elapsed, len(beats) > 1)
        lines.append(f"  [{'ok' if beat_ok else 'FAIL'}] beats did no work twice: "
                     f"{beat_detail}")
        print("\n".join(lines))
        restarts = {name: p.starts - 1 for name, p in procs.items() if p.starts > 1}
        print(f"  restarts by the supervisor: {restarts}")
        print(f"  factory: {http('GET', f'{factory_url}/_sandbox/stats')}")
        print(f"  store: {http('GET', f'{shop_url}/_sandbox/stats')}")
        print(f"  load: {subprocess.getoutput('uptime').strip()}")
        if not (ok and beat_ok):
            failures.append("checks")
    finally:
        stop_all.set()
        for p in procs.values():
            with contextlib.suppress(Exception):
                p.stop()
        if logs and (failures or sys.exc_info()[0] is not None):
            kept = Path(f"/tmp/podhub-drill-hosts-logs.seed{args.seed}.{int(time.time())}")
            shutil.copytree(logs, kept, dirs_exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copy(services.base / "pg.log", kept / "postgresql.log")
            print(f"  logs kept in {kept}")
        if services:
            services.stop()
        net.down()
        say(f"namespaces {', '.join(net.ns.values())} and bridge {net.bridge} removed")
    print(f"seed {args.seed}; RESULT:", "PASS" if not failures else "FAIL")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
