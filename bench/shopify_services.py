"""Throw-away PostgreSQL and Redis for the Shopify benchmarks (like scripts/test.sh)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT))
from bench.pgtools import as_pg, find_pg_bin, free_port  # noqa: E402


class Services:
    """PostgreSQL (durable settings: fsync on, synchronous_commit on) and Redis."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="podhub-shopify-bench."))
        os.chmod(self.base, 0o755)
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.bin = find_pg_bin()

    def start(self) -> dict[str, str]:
        if os.geteuid() == 0:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
            shutil.chown(self.base, "postgres")
        data = self.base / "data"
        subprocess.run(as_pg([str(self.bin / "initdb"), "-D", str(data), "-U", "postgres",
                               "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True)
        opts = (f"-p {self.pg_port} -k {self.base} -c listen_addresses=127.0.0.1 "
                "-c max_connections=100 -c shared_buffers=256MB -c jit=off "
                # e.g. pg_stat_statements for bench/fault_drill.py --pg-stats
                + os.environ.get("BENCH_PG_OPTS", ""))
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(data), "-l",
                               str(self.base / "pg.log"), "-w", "-t", "60", "start", "-o", opts]),
                       check=True, capture_output=True)
        atexit.register(self.stop)
        subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                        "postgres", "-qAtc", "CREATE DATABASE podhub"], check=True,
                       capture_output=True)
        self.redis_start()
        from cryptography.fernet import Fernet

        env = {
            "DJANGO_SETTINGS_MODULE": "podhub.settings.base",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/podhub",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CACHE_URL": f"rediscache://127.0.0.1:{self.redis_port}/1",
            "PODHUB_VAR_DIR": str(self.base / "var"),
            "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        os.environ.update(env)
        done = subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                              capture_output=True, text=True, env=os.environ, check=False)
        if done.returncode:
            sys.exit("migrate failed:\n" + done.stderr[-3000:])
        return env

    def redis_start(self) -> None:
        subprocess.run(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile",
                        str(self.base / "redis.pid"), "--dir", str(self.base)], check=True,
                       capture_output=True)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)

    def redis_stop(self) -> None:
        """Kill Redis (no save: queued messages are lost, as in a crash)."""
        pid = self.base / "redis.pid"
        if pid.exists():
            subprocess.run(["kill", "-9", pid.read_text().strip()], capture_output=True)
            pid.unlink()
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def stop(self) -> None:
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-m",
                               "immediate", "stop"]), capture_output=True)
        pid = self.base / "redis.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
