"""What every benchmark needs to start its own throw-away PostgreSQL (as scripts/test.sh)."""

import os
import shutil
import socket
import sys
from pathlib import Path


def find_pg_bin() -> Path:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    sys.exit("PostgreSQL binaries not found (apt-get install postgresql)")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def as_pg(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def proc_stats():
    """(pid, fields) of every running process, from /proc/<pid>/stat; fields start after
    "pid (comm)": fields[1] is the parent, [2] the process group, [11:15] utime, stime and
    the reaped children's cutime, cstime (in clock ticks, os.sysconf("SC_CLK_TCK"))."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            yield stat.parent.name, stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
