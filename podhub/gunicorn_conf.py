"""gunicorn settings of PodHub's web process: `gunicorn podhub.wsgi --config
python:podhub.gunicorn_conf` (Dockerfile, docker-compose.yml, scripts/run.sh).

The limits on what gunicorn itself reads before the app sees a request (docs/security.md
"Request limits"): the request line (a URL of at most 4094 bytes; a bulk "Pay selected"
redirect names up to 200 orders), 100 header fields, 8190 bytes per field. gunicorn has no
limit on the body: PodHub's RequestSizeLimitMiddleware refuses oversize bodies, and a
reverse proxy in front should cap them too (nginx `client_max_body_size 61m`).

Request timings for /metrics are kept per worker process; prometheus-client's
multiprocess mode adds them up at scrape time from files in one folder per gunicorn
master (two masters on one host never mix or wipe each other's; docs/operations.md).
"""

import os
import shutil
from pathlib import Path

_base = Path(os.environ.get("PODHUB_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
_ours = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_base / "prometheus" / f"gunicorn-{os.getpid()}")

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


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
