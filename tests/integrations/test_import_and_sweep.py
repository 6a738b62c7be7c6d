"""Initial import (progress, skips, resumable) and the reconciliation sweep."""

import time

import pytest
from django.test import Client
from django_scopes import scope

from integrations.models import ImportJob, JobStatus, StoreConnection
from integrations.services.imports import import_job_run, import_jobs_due, reconcile_store
from integrations.shopify.connect import client_for
from orders.models import Order

pytestmark = pytest.mark.django_db


class Clock:
    """Time as a parameter: the store's cost bucket and the client's pacing read one
    clock that moves only when the client waits, so a loaded machine changes nothing."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _paced(connection, shop, **kwargs):
    clock = Clock()
    shop.clock, shop.bucket_at = clock, clock()
    return client_for(connection, clock=clock, sleep=clock.sleep, **kwargs)


def _job(connection):
    return ImportJob.objects.create(workspace_id=connection.workspace_id, connection=connection)


def test_import_takes_open_unfulfilled_paid_orders_only(connection, sandbox, workspace):
    shop = sandbox.shop
    paid = [shop.create_order({}, webhooks=False) for _ in range(3)]
    shop.create_order({"financial_status": "pending"}, webhooks=False)
    shop.create_order({"fulfillment_status": "fulfilled"}, webhooks=False)
    archived = shop.create_order({}, webhooks=False)
    shop.update_order(archived["id"], {"closed_at": "2026-01-01T00:00:00Z"}, webhooks=False)
    cancelled = shop.create_order({}, webhooks=False)
    shop.cancel_order(cancelled["id"], webhooks=False)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        assert (job.status, job.total, job.imported, job.failed) == (JobStatus.DONE, 3, 3, 0)
        assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(
            str(o["id"]) for o in paid)


def test_import_is_paginated_resumable_and_shows_progress(connection, sandbox, workspace,
                                                          client_for, owner):
    sandbox.shop.bulk_create(120)
    with scope(workspace=workspace):
        job = _job(connection)
        job = import_job_run(job_id=job.pk, max_pages=1)  # a worker dies after one page
        assert (job.status, job.imported, job.total) == (JobStatus.RUNNING, 50, 120)
    page = client_for(owner).get(f"/stores/{connection.store_id}/import/")
    assert "imported 50 of 120" in page.content.decode()
    assert 'hx-trigger="every 2s"' in page.content.decode()
    with scope(workspace=workspace):
        # the worker is alive (fresh heartbeat): nobody else may take the job
        assert import_job_run(job_id=job.pk) is None
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at.replace(
            year=2000))
    with scope(workspace=workspace):
        assert (workspace.pk, job.pk) in import_jobs_due()
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 120)
        assert Order.objects.count() == 120
    page = client_for(owner).get(f"/stores/{connection.store_id}/import/")
    assert "Imported 120 orders" in page.content.decode()


def test_long_orders_get_all_their_lines(connection, sandbox, workspace):
    lines = [{"title": f"Item {i}", "sku": f"SKU-{i}", "price": "1.00", "quantity": 1}
             for i in range(23)]
    sandbox.shop.create_order({"line_items": lines}, webhooks=False)
    with scope(workspace=workspace):
        import_job_run(job_id=_job(connection).pk)
        assert Order.objects.get().line_items.count() == 23


def test_import_never_gets_throttled(connection, sandbox, workspace):
    """Cost-aware pacing: the bucket is far smaller than the import; zero THROTTLED, zero 429."""
    shop = sandbox.shop
    shop.settings.bucket_max = 800
    shop.settings.restore_rate = 50
    shop.settings.throttled_status = 429
    shop.bucket = 800
    shop.bulk_create(100)
    with scope(workspace=workspace):
        client = _paced(connection, shop)
        job = import_job_run(job_id=_job(connection).pk, client=client)
    assert job.imported == 100
    assert shop.stats["throttled"] == 0 and shop.stats["http_429"] == 0
    assert client.stats.waited_seconds > 0  # it did have to pace itself
    assert client.stats.http_429 == 0


def test_a_429_is_retried_after_backing_off(connection, sandbox, workspace):
    shop = sandbox.shop
    shop.settings.throttled_status = 429
    shop.settings.restore_rate = 500  # a page (702) fits again only after ~1.4 s
    shop.bulk_create(5)
    shop.bucket = 0  # empty and we have not seen a throttleStatus yet
    with scope(workspace=workspace):
        client = _paced(connection, shop, backoff_base=0.05)
        job = import_job_run(job_id=_job(connection).pk, client=client)
    assert job.imported == 5
    assert client.stats.http_429 >= 1


def test_5xx_and_timeouts_are_retried(connection, sandbox, workspace):
    sandbox.shop.bulk_create(3)
    sandbox.shop.fail_next = 2
    with scope(workspace=workspace):
        client = client_for(connection, backoff_base=0.01)
        job = import_job_run(job_id=_job(connection).pk, client=client)
    assert job.imported == 3
    assert client.stats.retries == 2


def test_reconciliation_catches_a_dropped_webhook(connection, sandbox, workspace):
    shop = sandbox.shop
    seen = shop.create_order({})
    lost = shop.create_order({}, delivery={"drop": True})  # Shopify never delivered it
    shop.deliver_due()
    from integrations.services.inbox import inbox_drain

    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        assert list(Order.objects.values_list("external_id", flat=True)) == [str(seen["id"])]
        stats = reconcile_store(connection_id=connection.pk)
        assert stats["created"] == 1
        assert Order.objects.filter(external_id=str(lost["id"])).exists()
        connection.refresh_from_db()
        assert connection.last_sweep_at is not None
        # the next sweep starts from the high-water mark and changes nothing
        assert reconcile_store(connection_id=connection.pk)["created"] == 0


def test_reconciliation_catches_a_missed_cancel(connection, sandbox, workspace):
    shop = sandbox.shop
    order = shop.create_order({})
    shop.deliver_due()
    from integrations.services.inbox import inbox_drain

    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
    shop.cancel_order(order["id"], delivery={"drop": True})
    with scope(workspace=workspace):
        reconcile_store(connection_id=connection.pk)
        assert Order.objects.get().state == "cancelled"


def test_sync_health_page(connection, sandbox, workspace, client_for, owner):
    shop = sandbox.shop
    shop.create_order({})
    shop.deliver_due()
    with scope(workspace=workspace):
        from integrations.services.inbox import inbox_drain

        inbox_drain(connection_id=connection.pk)
        reconcile_store(connection_id=connection.pk)
        StoreConnection.objects.filter(pk=connection.pk).update(last_error="boom")
    html = client_for(owner).get(f"/stores/{connection.store_id}/").content.decode()
    assert "orders/create" in html and "orders/paid" in html
    assert 'data-testid="last-sweep"' in html and "none yet" not in html.split(
        'data-testid="last-sweep"')[1][:80]
    assert "boom" in html
    assert Client().get(f"/stores/{connection.store_id}/").status_code == 302  # login first
