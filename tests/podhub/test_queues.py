"""Beat's sweeps have a queue of their own, and every worker we start consumes it."""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from podhub.celery import app

ROOT = Path(__file__).resolve().parents[2]
BEAT_TASKS = sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("task_name", BEAT_TASKS)
def test_every_beat_task_goes_to_the_sweeps_queue(task_name):
    app.loader.import_default_modules()
    assert task_name in app.tasks  # the schedule names a real task
    assert _queue(task_name) == "sweeps"


def test_doorbells_stay_on_the_default_queue():
    app.loader.import_default_modules()
    doorbells = [name for name in app.tasks
                 if not name.startswith("celery.") and name not in BEAT_TASKS]
    assert "fulfillment.tasks.submission_send_task" in doorbells
    assert "billing.tasks.order_charges_sync_task" in doorbells
    assert {_queue(name) for name in doorbells} == {"celery"}


def test_a_worker_started_without_q_consumes_both():
    # with no -Q a worker consumes every queue in task_queues
    assert set(app.amqp.queues) == {"celery", "sweeps"}


def _consumes(argv: list[str]) -> set[str]:
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues"):
            return set(argv[i + 1].split(","))
        if arg.startswith(("--queues=", "-Q")) and arg not in ("-Q",):
            return set(arg.split("=", 1)[-1].removeprefix("-Q").split(","))
    return set(app.amqp.queues)  # no -Q: all of task_queues


def test_run_sh_worker_consumes_both_queues():
    lines = [line for line in (ROOT / "scripts/run.sh").read_text().splitlines()
             if re.search(r"celery -A podhub worker", line)]
    assert len(lines) == 1
    argv = shlex.split(lines[0].split(">")[0])
    assert {"celery", "sweeps"} <= _consumes(argv)


def test_docker_compose_workers_consume_both_queues():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    workers = [svc["command"] for svc in compose["services"].values()
               if isinstance(svc.get("command"), list) and svc["command"][:4]
               == ["celery", "-A", "podhub", "worker"]]
    assert workers  # the compose file runs a worker
    for argv in workers:
        assert {"celery", "sweeps"} <= _consumes(argv)


def test_no_other_worker_command_forgets_the_sweeps_queue():
    for path in [ROOT / "Dockerfile", ROOT / "Makefile", *(ROOT / "scripts").glob("*")]:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if "podhub worker" in line and not line.lstrip().startswith("#"):
                assert "sweeps" in line, f"{path.name}: {line.strip()}"


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_task_to_task(monkeypatch):
    """Celery's Django fixup closed every connection around every task: each task
    started a PostgreSQL backend (the fault drill counted 18 an order). A connection is
    now closed between tasks only as Django closes one between requests."""
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from podhub.celery import _database_between_tasks

    app.loader.import_default_modules()
    task = app.tasks["podhub.core.tasks.heartbeat_task"]
    fixup = DjangoWorkerFixup(app)

    def between_tasks():
        fixup.on_task_postrun(sender=task)
        _database_between_tasks(sender=task)
        fixup.on_task_prerun(sender=task)
        _database_between_tasks(sender=task)

    connection.ensure_connection()
    first = connection.connection
    between_tasks()
    if connection.settings_dict["CONN_MAX_AGE"]:  # PostgreSQL: kept for a minute
        assert connection.connection is first
        monkeypatch.setattr(connection, "close_at", 0.0)  # older than CONN_MAX_AGE
        between_tasks()
        assert connection.connection is None
        connection.ensure_connection()
        connection.errors_occurred = True  # the database went away under a task
        monkeypatch.setattr(connection, "is_usable", lambda: False)
        between_tasks()
    assert connection.connection is None  # the next task connects afresh
    connection.ensure_connection()
