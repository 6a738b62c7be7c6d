"""CPU seconds per Celery task name, for the fault drill (bench/fault_drill.py).

Loaded by the drill's settings (bench/drill_settings.py) when PODHUB_TASK_CPU_DIR is
set: each worker process adds up `time.process_time()` around every task it runs and
writes its totals to <dir>/<pid>.json every 50 tasks and when it stops. The drill
prints the sum: which tasks the workers' cores went to. Not loaded by PodHub itself.
"""

import json
import os
import time
from pathlib import Path

from celery import signals

_started: dict[str, float] = {}
_totals: dict[str, list] = {}  # task name -> [runs, CPU seconds]
_unwritten = 0


def _before(task_id=None, **_):
    _started[task_id] = time.process_time()


def _after(task_id=None, task=None, **_):
    global _unwritten
    began = _started.pop(task_id, None)
    if began is None or task is None:
        return
    runs = _totals.setdefault(task.name, [0, 0.0])
    runs[0] += 1
    runs[1] += time.process_time() - began
    _unwritten += 1
    if _unwritten >= 50:
        write()


def write(**_):
    global _unwritten
    folder = Path(os.environ["PODHUB_TASK_CPU_DIR"])
    tmp = folder / f".{os.getpid()}.json"
    tmp.write_text(json.dumps(_totals))
    os.replace(tmp, folder / f"{os.getpid()}.json")
    _unwritten = 0


def summary(folder: Path, top: int = 12) -> str:
    """The workers' CPU by task name, largest first: runs, seconds, ms per run."""
    totals: dict[str, list] = {}
    for path in folder.glob("[0-9]*.json"):
        for name, (runs, cpu) in json.loads(path.read_text()).items():
            entry = totals.setdefault(name, [0, 0.0])
            entry[0] += runs
            entry[1] += cpu
    whole = sum(cpu for _, cpu in totals.values()) or 1
    rows = sorted(totals.items(), key=lambda kv: -kv[1][1])[:top]
    return "; ".join(f"{name.rsplit('.', 1)[-1]} {runs} runs {cpu:.0f} s "
                     f"({100 * cpu / whole:.0f} %, {1000 * cpu / max(runs, 1):.1f} ms each)"
                     for name, (runs, cpu) in rows)


if os.environ.get("PODHUB_TASK_CPU_DIR"):
    signals.task_prerun.connect(_before, weak=False)
    signals.task_postrun.connect(_after, weak=False)
    signals.worker_process_shutdown.connect(write, weak=False)
