"""Read by every `gunicorn podhub.wsgi` started from the repository root (gunicorn's
default config file): command-line flags still win.

Request timings for /metrics are kept per worker process; prometheus-client's
multiprocess mode adds them up at scrape time from files in one folder per
gunicorn master (two masters on one host never mix or wipe each other's).
"""

import os
import shutil
from pathlib import Path

_base = Path(os.environ.get("PODHUB_VAR_DIR", Path(__file__).resolve().parent / "var"))
_ours = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_base / "prometheus" / f"gunicorn-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run of this master
    folder.mkdir(parents=True, exist_ok=True)
    if _ours:  # folders of our earlier masters that are gone
        for other in folder.parent.glob("gunicorn-*"):
            pid = other.name.removeprefix("gunicorn-")
            if other != folder and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(other, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
