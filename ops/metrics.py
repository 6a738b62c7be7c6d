"""Prometheus metrics: request timings, and PodHub's own gauges read from the database.

The database is the ledger, so the gauges are SQL reads at scrape time, each one
bounded by a partial index on the open rows (docs/operations.md "Metrics"), and
cached for PODHUB_METRICS_CACHE_SECONDS in each web process. Nothing here is per
workspace: an operator's metrics carry no tenant's data.

Request timings are observed by each gunicorn worker; with PROMETHEUS_MULTIPROC_DIR
set (podhub/gunicorn_conf.py sets it) prometheus-client's multiprocess mode adds up every
worker's files at scrape time, else the process's own registry answers.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone
from django_scopes import scopes_disabled
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

REQUEST_SECONDS = Histogram(
    "podhub_http_request_duration_seconds",
    "Time to answer a request, by route name, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def _work_queues() -> list[tuple[str, object, str, list[str]]]:
    """(queue label, model, age field, open states): each (model, state) pair is read
    alone, so the planner uses the partial index on that state."""
    from automation.models import ApplyJob
    from billing.models import StripeEvent
    from fulfillment.models import ProviderWebhook, Render, Submission
    from integrations.models import ImportJob, InboundWebhook, OutboxMessage
    from orders.models import CsvImport
    from webhooks.models import WebhookDelivery

    return [
        ("inbox", InboundWebhook, "created_at", ["pending", "failed"]),
        ("outbox", OutboxMessage, "created_at", ["pending", "failed"]),
        ("submissions", Submission, "created_at", ["pending", "sending"]),
        ("renders", Render, "created_at", ["pending", "running"]),
        ("csv_imports", CsvImport, "created_at", ["pending", "running"]),
        ("store_imports", ImportJob, "created_at", ["pending", "running"]),
        ("provider_webhooks", ProviderWebhook, "received_at", ["pending", "failed"]),
        ("stripe_events", StripeEvent, "received_at", ["received", "failed"]),
        # the seller's own endpoints: waiting = not delivered yet, retries included
        ("seller_webhooks", WebhookDelivery, "created_at", ["pending"]),
        ("rule_apply_jobs", ApplyJob, "created_at", ["pending", "running"]),
    ]


def _state_field(model) -> str:
    return "result" if model.__name__ == "ProviderWebhook" else "status"


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then else 0.0


def overdue_after() -> timedelta:
    """An order is overdue for submission two submit-sweep intervals after its time."""
    from podhub.core.sweeps import sweeps

    sweep = sweeps().get("fulfillment-submit-sweep")
    return 2 * (sweep.interval if sweep and sweep.interval else timedelta(seconds=60))


def database_families(now: datetime | None = None) -> list:
    """Every PodHub gauge, read now."""
    from billing.models import LedgerEntry
    from fulfillment.submission import _due_q
    from orders.models import Order
    from podhub.core.models import Heartbeat, SweepRun
    from podhub.core.sweeps import sweeps
    from webhooks.models import WebhookEndpoint

    now = now or timezone.now()
    started = time.perf_counter()
    items = GaugeMetricFamily("podhub_work_items",
                              "Rows of work not done yet, by queue and state.",
                              labels=["queue", "state"])
    oldest = GaugeMetricFamily("podhub_work_oldest_age_seconds",
                               "Age of the oldest row in that queue and state (0: none).",
                               labels=["queue", "state"])
    with scopes_disabled():  # aggregates across workspaces, never one tenant's rows
        for queue, model, age_field, states in _work_queues():
            for state in states:
                row = model.objects.filter(**{_state_field(model): state}).aggregate(
                    n=Count("pk"), oldest=Min(age_field))
                items.add_metric([queue, state], row["n"])
                oldest.add_metric([queue, state], _age(now, row["oldest"]))
        due = Order.objects.filter(_due_q(now)).aggregate(n=Count("pk"),
                                                          oldest=Min("submit_at"))
        overdue = Order.objects.filter(_due_q(now - overdue_after())).count()
        last_entry = LedgerEntry.objects.aggregate(n=Max("pk"))["n"] or 0
        heartbeat = Heartbeat.objects.filter(name="worker").values_list("beat_at",
                                                                        flat=True).first()
        runs = {r.name: r for r in SweepRun.objects.all()}
        endpoints = {r["is_enabled"]: r["n"] for r in WebhookEndpoint.objects.order_by()
                     .values("is_enabled").annotate(n=Count("pk"))}
    families = [items, oldest]
    by_state = GaugeMetricFamily(
        "podhub_seller_webhook_endpoints",
        "Sellers' webhook endpoints by state (disabled: after a long failure streak, or by "
        "the seller).", labels=["state"])
    by_state.add_metric(["enabled"], endpoints.get(True, 0))
    by_state.add_metric(["disabled"], endpoints.get(False, 0))
    families.append(by_state)
    for name, help_text, value in (
        ("podhub_orders_due_for_submission",
         "Paid orders whose submit countdown has ended (the submit sweep takes them).",
         due["n"]),
        ("podhub_orders_overdue_for_submission",
         f"Orders due for longer than {int(overdue_after().total_seconds())} s "
         "(two submit-sweep intervals).", overdue),
        ("podhub_orders_due_oldest_age_seconds",
         "How long the oldest due order has been due (0: none).", _age(now, due["oldest"])),
    ):
        families.append(GaugeMetricFamily(name, help_text, value=value))
    families.append(CounterMetricFamily(
        "podhub_ledger_entries", "Ledger entries written (the highest entry id: ids only "
        "grow; a rolled-back write uses one up too).", value=last_entry))
    if heartbeat is not None:
        families.append(GaugeMetricFamily(
            "podhub_worker_heartbeat_age_seconds",
            "Seconds since a worker ran beat's heartbeat task (beat, broker, worker and "
            "database all work).", value=_age(now, heartbeat)))
    families += _sweep_families(now, sweeps(), runs)
    families.append(GaugeMetricFamily(
        "podhub_metrics_collect_seconds", "Time the database reads of this scrape took.",
        value=time.perf_counter() - started))
    return families


def _sweep_families(now: datetime, known: dict, runs: dict) -> list:
    labels = ["sweep"]
    interval = GaugeMetricFamily("podhub_sweep_interval_seconds",
                                 "Beat's interval for the sweep.", labels=labels)
    started = GaugeMetricFamily("podhub_sweep_last_started_age_seconds",
                                "Seconds since the sweep last started.", labels=labels)
    success = GaugeMetricFamily("podhub_sweep_last_success_age_seconds",
                                "Seconds since the sweep last finished without an error.",
                                labels=labels)
    running = GaugeMetricFamily("podhub_sweep_running",
                                "1 while a run holds the sweep's lease.", labels=labels)
    ran = CounterMetricFamily("podhub_sweep_runs", "Runs of the sweep.", labels=labels)
    skipped = CounterMetricFamily(
        "podhub_sweep_skipped", "Ticks not run because another run held the lease or the "
        "sweep ran moments ago (a second beat shows here).", labels=labels)
    for name, sweep in sorted(known.items()):
        if sweep.interval:
            interval.add_metric([name], sweep.interval.total_seconds())
        run = runs.get(name)
        if run is None:
            continue  # never ran: no age (the heartbeat's age says whether beat runs)
        if run.started_at:
            started.add_metric([name], _age(now, run.started_at))
        if run.finished_at:
            success.add_metric([name], _age(now, run.finished_at))
        running.add_metric([name], 1 if run.lease_until and run.lease_until > now else 0)
        ran.add_metric([name], run.runs)
        skipped.add_metric([name], run.skipped)
    return [interval, started, success, running, ran, skipped]


class DatabaseCollector:
    """The gauges above, read at most once per PODHUB_METRICS_CACHE_SECONDS per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._until = 0.0
        self._families: list = []

    def collect(self):
        with self._lock:
            if time.monotonic() >= self._until:
                self._families = database_families()
                self._until = time.monotonic() + settings.PODHUB_METRICS_CACHE_SECONDS
            return list(self._families)


DATABASE = DatabaseCollector()


class _Exposition:
    """What one scrape shows: every web process's request timings, and the gauges."""

    def collect(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        yield from DATABASE.collect()


def exposition() -> bytes:
    return generate_latest(_Exposition())
