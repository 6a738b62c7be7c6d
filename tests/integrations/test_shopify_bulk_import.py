"""The bulk import of large Shopify stores (docs/shopify.md "Large stores: the bulk import"),
over HTTP against the sandbox with the production client: the threshold, the finish webhook
and the poll, a crash in the middle of the file, failed operations, broken lines.

Published payloads used as published:
* the JSONL lines of shopify.dev "Perform bulk operations with the GraphQL Admin API"
  (docs/api/usage/bulk-operations/queries, "Download result data"): a product and its
  variants, joined by `__parentId`;
* the `bulk_operations/finish` sample body of the webhook reference (shopify.dev
  docs/api/webhooks, topic bulk_operations/finish).
"""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from django_scopes import scope

from integrations import conf
from integrations.models import (
    ImportJob,
    ImportMethod,
    InboundWebhook,
    JobStatus,
    StoreConnection,
)
from integrations.platforms.shopify import PLATFORM, WEBHOOK_TOPICS
from integrations.services import bulk_imports
from integrations.services.imports import import_job_run, import_jobs_due
from integrations.services.inbox import inbox_drain
from integrations.shopify import queries
from integrations.shopify.bulk import orders_of
from integrations.shopify.connect import client_for
from orders.models import Order
from tests.integrations.conftest import post_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def large(settings, sandbox):
    """A 'large' store: the threshold at 10 orders; operations finished by the test."""
    settings.SHOPIFY_BULK_IMPORT_MIN_ORDERS = 10
    sandbox.shop.bulk.auto = False
    return sandbox


def _job(connection):
    return ImportJob.objects.create(workspace_id=connection.workspace_id, connection=connection)


def _finish(sandbox, n=1, **body):
    resp = httpx.post(f"{sandbox.url}/_sandbox/bulk/{n}/finish", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _store(shop, count, **spec):
    return [shop.create_order(dict(spec), webhooks=False) for _ in range(count)]


def test_jsonl_of_the_guide_is_joined_by_parent_id():
    """The guide's published lines, as published: children join their parent; each item
    ends where the next parent line begins (the position a resumed read starts from)."""
    published = (
        b'{"id":"gid://shopify/Product/1921569226808"}\n'
        b'{"id":"gid://shopify/ProductVariant/19435458986040","title":"70",'
        b'"__parentId":"gid://shopify/Product/1921569226808"}\n'
        b'{"id":"gid://shopify/Product/1921569259576"}\n'
        b'{"id":"gid://shopify/ProductVariant/19435459018808","title":"34",'
        b'"__parentId":"gid://shopify/Product/1921569259576"}\n'
    )
    items = list(orders_of([published[:50], published[50:]]))  # a chunk ends mid-line
    assert [i.node["id"] for i in items] == ["gid://shopify/Product/1921569226808",
                                             "gid://shopify/Product/1921569259576"]
    assert [v["title"] for v in items[0].node["lineItems"]["nodes"]] == ["70"]
    assert "__parentId" not in items[1].node["lineItems"]["nodes"][0]
    second = published.index(b'{"id":"gid://shopify/Product/1921569259576"}')
    assert (items[0].end, items[1].end) == (second, len(published))
    resumed = list(orders_of([published[second:]], start=second))
    assert [i.node["id"] for i in resumed] == ["gid://shopify/Product/1921569259576"]


def test_small_store_stays_paginated(connection, large, workspace):
    _store(large.shop, 3)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        assert (job.status, job.method, job.imported, job.total) == (
            JobStatus.DONE, ImportMethod.PAGES, 3, 3)
    assert large.shop.stats.get("bulk_operations", 0) == 0


def test_large_store_is_imported_by_bulk_operation_and_the_finish_webhook(
        connection, large, workspace, client_for, owner, django_capture_on_commit_callbacks):
    shop = large.shop
    long_lines = [{"title": f"Item {i}", "sku": f"SKU-{i}", "price": "1.00", "quantity": 2}
                  for i in range(23)]
    made = _store(shop, 11)
    made.append(shop.create_order({"line_items": long_lines}, webhooks=False))
    shop.create_order({"financial_status": "pending"}, webhooks=False)  # not imported
    shop.create_order({"fulfillment_status": "fulfilled"}, webhooks=False)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        # the operation runs at Shopify: the job lets go and waits
        assert (job.method, job.bulk_status, job.total, job.heartbeat_at) == (
            ImportMethod.BULK, "CREATED", 12, None)
        assert job.bulk_operation_id == "gid://shopify/BulkOperation/1"
        assert (workspace.pk, job.pk) not in import_jobs_due()  # not before its next check
    page = client_for(owner).get(f"/stores/{connection.store_id}/import/").content.decode()
    assert "Shopify is preparing the orders" in page and 'hx-trigger="every 2s"' in page

    _finish(large)  # Shopify finishes: bulk_operations/finish is sent, signed
    assert shop.deliver_due() == 1
    with scope(workspace=workspace), django_capture_on_commit_callbacks() as rung:
        inbox_drain(connection_id=connection.pk)
    assert len(rung) == 1  # the webhook rang the import (a doorbell after commit)
    with scope(workspace=workspace):
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported, job.failed, job.total) == (JobStatus.DONE, 12, 0, 12)
        assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(
            str(o["id"]) for o in made)
        assert Order.objects.get(external_id=str(made[-1]["id"])).line_items.count() == 23
    assert shop.stats["bulk_operations"] == 1 and shop.stats["bulk_downloads"] == 1
    page = client_for(owner).get(f"/stores/{connection.store_id}/import/").content.decode()
    assert "Imported 12 orders" in page and "bulk" in page


def test_the_api_shows_the_import_progress(connection, large, workspace, api_client_for,
                                           owner):
    _store(large.shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
    api = api_client_for(owner)
    body = api.get(f"/api/v1/stores/{connection.store_id}/").json()["last_import"]
    assert (body["status"], body["method"], body["total"], body["imported"],
            body["bulk_status"]) == ("running", "bulk", 10, 0, "CREATED")
    _finish(large)
    with scope(workspace=workspace):
        import_job_run(job_id=job.pk)
    body = api.get(f"/api/v1/stores/{connection.store_id}/").json()["last_import"]
    assert (body["status"], body["imported"], body["problems"]) == ("done", 10, [])


def test_without_the_webhook_the_sweep_polls(connection, large, workspace):
    shop = large.shop
    shop.topics = {"orders/create"}  # the app is not subscribed to bulk_operations/finish
    _store(shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large)
        assert shop.pending_deliveries() == 0  # nothing is sent
        later = job.next_check_at + timedelta(seconds=1)
        assert (workspace.pk, job.pk) in import_jobs_due(now=later)  # the poll
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 10)


def test_a_second_bulk_query_is_refused_while_one_runs(connection, large, workspace):
    with scope(workspace=workspace):
        client = client_for(connection)
        first, _ = PLATFORM.bulk_start(client)
        assert first.status == "CREATED"
        # ours again (a worker died before saving the id): the running one is taken over
        again, busy = PLATFORM.bulk_start(client)
        assert (again.id, busy) == (first.id, "")
        # anything else: Shopify's userError, and the import waits
        other = client.execute(queries.BULK_RUN, {"query": "{ orders { edges { node { id } } } }"})
        errors = other["bulkOperationRunQuery"]["userErrors"]
        assert errors and "already in progress" in errors[0]["message"]
        assert first.id in errors[0]["message"]


def test_a_crash_in_the_middle_of_the_file_resumes_there(connection, large, workspace,
                                                         monkeypatch):
    shop = large.shop
    _store(shop, 23)
    monkeypatch.setattr(conf, "BULK_BATCH", 5)
    real = bulk_imports._apply_batch
    calls = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large)
        monkeypatch.setattr(bulk_imports, "_apply_batch", dies_on_the_third)
        with pytest.raises(RuntimeError):
            import_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.imported, Order.objects.count()) == (JobStatus.RUNNING, 10, 10)
        position = int(job.cursor)
        assert position > 0
        # the worker is gone: its heartbeat goes stale, the sweep resumes the job
        ImportJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now() - timedelta(hours=1))
        assert (workspace.pk, job.pk) in import_jobs_due()
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported, job.failed) == (JobStatus.DONE, 23, 0)
        assert Order.objects.count() == 23  # none twice
    assert shop.stats["bulk_downloads"] == 2 and shop.stats["bulk_last_start"] == position


def test_failed_operations_are_retried_then_fall_back_to_pages(connection, large, workspace,
                                                               client_for, owner):
    shop = large.shop
    _store(shop, 12)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large, 1, status="FAILED", error_code="TIMEOUT")
        job = import_job_run(job_id=job.pk)
        # one more operation is started; the store's page says why
        assert (job.bulk_operation_id, job.bulk_attempts) == ("gid://shopify/BulkOperation/2", 2)
        error = StoreConnection.objects.get(pk=connection.pk).last_error
        assert "FAILED (TIMEOUT)" in error and "starting a new one" in error
        _finish(large, 2, status="FAILED", error_code="INTERNAL_SERVER_ERROR")
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.method, job.imported) == (JobStatus.DONE, ImportMethod.PAGES, 12)
        assert Order.objects.count() == 12
    html = client_for(owner).get(f"/stores/{connection.store_id}/").content.decode()
    assert "FAILED (INTERNAL_SERVER_ERROR)" in html and "page by page" in html


def test_access_denied_fails_the_import_with_the_reason(connection, large, workspace):
    _store(large.shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large, 1, status="FAILED", error_code="ACCESS_DENIED")
        job = import_job_run(job_id=job.pk)
        assert job.status == JobStatus.FAILED and "ACCESS_DENIED" in job.error
        assert StoreConnection.objects.get(pk=connection.pk).last_error.startswith(
            "Import refused:")
        assert Order.objects.count() == 0


def test_an_expired_file_starts_a_new_operation(connection, large, workspace):
    _store(large.shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large, 1)
        httpx.post(f"{large.url}/_sandbox/bulk/1/expire", timeout=30)
        job = import_job_run(job_id=job.pk)
        assert job.bulk_operation_id == "gid://shopify/BulkOperation/2"
        _finish(large, 2)
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 10)


def test_broken_lines_are_kept_with_the_reason_and_nothing_else_is_lost(connection, large,
                                                                        workspace):
    shop = large.shop
    made = _store(shop, 12, line_items=[
        {"title": "Mug", "sku": "MUG", "price": "9.00", "quantity": 1},
        {"title": "Tee", "sku": "TEE", "price": "19.00", "quantity": 1}])
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
    third = f"gid://shopify/Order/{made[2]['id']}"
    # a line item of the third order cut short, and a line that is not JSON at all
    _finish(large, 1, inject=[
        {"after": 3, "text": '{"id":"gid://shopify/LineItem/1","__parentId":"' + third
         + '","title":"Mu'},
        {"after": 7, "text": "<html>oops</html>"}])
    with scope(workspace=workspace):
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported, job.failed) == (JobStatus.DONE, 12, 2)
        assert len(job.problems) == 2 and all("byte" in p["reason"] for p in job.problems)
        assert "<html>oops</html>" in job.problems[1]["text"]
        # every order is there with all its lines (the ones near a broken line re-read)
        assert Order.objects.count() == 12
        for order in Order.objects.all():
            assert order.line_items.count() == 2
        error = StoreConnection.objects.get(pk=connection.pk).last_error
        assert "could not be read" in error and "read again one by one" in error


def test_the_published_finish_sample_is_stored_and_ignored_when_no_import_waits(
        connection, webhook_client, workspace):
    """The webhook reference's sample body for bulk_operations/finish, as published."""
    sample = {"admin_graphql_api_id": "gid://shopify/BulkOperation/147595010",
              "completed_at": "2024-01-01T07:40:20-05:00",
              "created_at": "2024-01-01T07:40:20-05:00", "error_code": None,
              "status": "completed", "type": "query"}
    assert "bulk_operations/finish" in WEBHOOK_TOPICS
    resp = post_webhook(webhook_client, "bulk_operations/finish", sample)
    assert resp.status_code == 200
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        row = InboundWebhook.objects.get(topic="bulk_operations/finish")
        assert row.resource_id == "gid://shopify/BulkOperation/147595010"
        assert row.result.startswith("ignored: no import waits")
    # a body naming no operation is refused with the reason, never a 500
    resp = post_webhook(webhook_client, "bulk_operations/finish", {"status": "completed"})
    assert resp.status_code == 200
    with scope(workspace=workspace):
        inbox_drain(connection_id=connection.pk)
        bad = InboundWebhook.objects.exclude(pk=row.pk).get(topic="bulk_operations/finish")
        assert "names no operation" in bad.error


def test_the_file_url_goes_through_the_outbound_policy(connection, large, workspace):
    """A file address the outbound policy refuses (here: credentials in the URL) is never
    fetched: the import says why and reads pages instead."""
    _store(large.shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        large.shop.bulk.base_url = large.url.replace("http://", "http://user:secret@")
        _finish(large)
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.method, job.imported) == (JobStatus.DONE, ImportMethod.PAGES, 10)
        assert "outbound policy refused the bulk file" in job.error
    assert large.shop.stats.get("bulk_downloads", 0) == 0


# --- a batch of orders applied together (apply_store_orders, orders_import) -------------


def _snapshot():
    """What a seller sees of the store's orders: each order's state, hold, lines and
    timeline, the records' view of the store, and the events' subscribers' input."""
    from integrations.models import StoreOrderRecord
    from orders.models import OrderEvent

    orders = {o.external_id: (o.state, o.hold_reason, o.store_paid, o.number,
                              o.total_amount, sorted(o.data_problems or {}),
                              sorted(o.line_items.values_list("sku", "quantity")),
                              list(OrderEvent.objects.filter(order=o).order_by("pk")
                                   .values_list("type", "message")))
              for o in Order.objects.all()}
    # (a batch makes its records first, so the refused order keeps an empty one: what
    # apply_store_order makes before reading an order, and changes nothing)
    records = sorted(StoreOrderRecord.objects.exclude(order=None, store_updated_at=None)
                     .values_list("external_id", "order__external_id", "financial_status",
                                  "fulfilled", "cancelled", "store_updated_at"))
    return orders, records


def _batch_items(connection, shop, workspace):
    """A batch as the bulk file gives it: new orders, one without an address (held for
    its data), one already fulfilled (skipped), one PodHub has (a newer version), one
    nobody can name (refused), and a new one named twice."""
    from integrations.services.orders import apply_store_order

    client = client_for(connection)
    made = [_store(shop, 1)[0], _store(shop, 1)[0],
            shop.create_order({"shipping_address": None}, webhooks=False),
            shop.create_order({"fulfillment_status": "fulfilled"}, webhooks=False),
            _store(shop, 1)[0], _store(shop, 1)[0]]
    known = made[4]
    data, facts = PLATFORM.map_order(client, PLATFORM.read_order(client, str(known["id"])))
    apply_store_order(connection=connection, data=data, facts=facts)  # imported earlier
    shop.update_order(known["id"], {"note": "gift wrap"}, webhooks=False)
    items = [PLATFORM.map_order(client, PLATFORM.read_order(client, str(o["id"])))
             for o in made]
    bad = items[5][0]
    items[5] = ({**bad, "external_id": "", "number": ""}, items[5][1])
    items.append(items[0])  # named twice (a line the file had twice)
    return items


def test_a_batch_is_applied_as_one_by_one(connection, large, workspace):
    """apply_store_orders gives each order the outcome apply_store_order gives it, and
    leaves the same orders, lines, timelines and records; the unreadable order fails
    alone, the others are kept."""
    from django.db import transaction

    from integrations.services.orders import apply_store_order, apply_store_orders
    from podhub.core.exceptions import ValidationFailed

    with scope(workspace=workspace):
        items = _batch_items(connection, large.shop, workspace)
        now = timezone.now()
        one_by_one = []
        with transaction.atomic():
            for data, facts in items:
                try:
                    with transaction.atomic():
                        one_by_one.append(apply_store_order(connection=connection, data=data,
                                                            facts=facts, now=now))
                except ValidationFailed:
                    one_by_one.append("failed")
            expected = _snapshot()
            transaction.set_rollback(True)
        together = ["failed" if isinstance(r, ValidationFailed) else r
                    for r in apply_store_orders(connection=connection, items=items, now=now)]
        assert together == one_by_one == ["created", "created", "created", "skipped:fulfilled",
                                          "updated", "failed", "unchanged"]
        assert _snapshot() == expected
        held = Order.objects.get(external_id=items[2][1].external_id)
        assert (held.state, held.hold_reason) == ("on_hold", "data_problem")


def test_a_batch_costs_a_few_queries_not_a_few_per_order(connection, large, workspace):
    """The bulk import's budget (issue 16: <= 10 SQL queries per order): a batch of new
    orders is a few queries, whatever its size (SQLite splits a large INSERT by its
    variable limit: a couple more there)."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from integrations.services.orders import apply_store_orders

    client = client_for(connection)
    made = _store(large.shop, 55)
    with scope(workspace=workspace):
        items = [PLATFORM.map_order(client, PLATFORM.read_order(client, str(o["id"])))
                 for o in made]
        counts = []
        for batch in (items[:5], items[5:]):
            with CaptureQueriesContext(db) as seen:
                outcomes = apply_store_orders(connection=connection, items=batch)
            assert set(outcomes) == {"created"}
            counts.append(len(seen))
        assert counts[0] <= 16 and counts[1] <= 20, counts
        assert Order.objects.count() == 55


def test_a_late_finish_of_a_replaced_operation_changes_nothing(connection, large, workspace,
                                                               django_capture_on_commit_callbacks):
    """Operation 1 failed and the import started operation 2; operation 1's finish webhook
    arriving now neither rings nor moves the import, and says which operation it awaits."""
    _store(large.shop, 10)
    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large, 1, status="FAILED", error_code="TIMEOUT")
        job = import_job_run(job_id=job.pk)
        assert job.bulk_operation_id == "gid://shopify/BulkOperation/2"
        before = ImportJob.objects.get(pk=job.pk)
        with django_capture_on_commit_callbacks() as rung:
            said = bulk_imports.bulk_operation_finished(
                connection=connection, operation_id="gid://shopify/BulkOperation/1")
        assert said == (f"ignored: gid://shopify/BulkOperation/1 was replaced; import "
                        f"{job.pk} waits for gid://shopify/BulkOperation/2")
        assert rung == []
        after = ImportJob.objects.get(pk=job.pk)
        assert (after.next_check_at, after.bulk_operation_id, after.bulk_status) == (
            before.next_check_at, before.bulk_operation_id, before.bulk_status)
        _finish(large, 2)
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported) == (JobStatus.DONE, 10)


def test_an_import_waits_for_another_bulk_query_only_so_long(connection, large, workspace,
                                                             settings):
    """Another bulk query of the app runs in the shop: the import waits (and says why),
    and once it has waited SHOPIFY_BULK_WAIT_FOR_OTHER_SECONDS since it started it reads
    pages instead."""
    settings.SHOPIFY_BULK_WAIT_FOR_OTHER_SECONDS = 600
    _store(large.shop, 10)
    with scope(workspace=workspace):
        client = client_for(connection)
        other = client.execute(queries.BULK_RUN,
                               {"query": "{ orders { edges { node { id } } } }"})
        assert not other["bulkOperationRunQuery"]["userErrors"]
        job = import_job_run(job_id=_job(connection).pk)
        assert (job.status, job.method, job.bulk_operation_id, job.heartbeat_at) == (
            JobStatus.RUNNING, ImportMethod.BULK, "", None)
        assert "another bulk query" in job.error
        # 9 minutes after it started: still waiting
        ImportJob.objects.filter(pk=job.pk).update(
            started_at=timezone.now() - timedelta(minutes=9))
        job = import_job_run(job_id=job.pk)
        assert (job.method, job.heartbeat_at, job.imported) == (ImportMethod.BULK, None, 0)
        # 11 minutes: pages instead, with the reason on the job and the store
        ImportJob.objects.filter(pk=job.pk).update(
            started_at=timezone.now() - timedelta(minutes=11))
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.method, job.imported) == (JobStatus.DONE, ImportMethod.PAGES, 10)
        assert "after 10 min of waiting" in job.error
        assert "page by page" in StoreConnection.objects.get(pk=connection.pk).last_error


def test_a_broken_line_read_again_from_a_new_file_is_counted_once(connection, large,
                                                                  workspace, monkeypatch):
    """The file goes away after the batch with a broken line committed (an expired URL
    met on resuming after a crash): a new operation is read from the start, and the same
    broken line is one problem and one failure, not two."""
    from integrations.shopify import bulk

    _store(large.shop, 12)
    monkeypatch.setattr(conf, "BULK_BATCH", 5)
    broken = [{"after": 2, "text": "<html>oops</html>"}]
    real = bulk_imports._apply_batch
    calls = []

    def file_gone_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise bulk.BulkFileGone("the file's URL expired")
        return real(*args, **kwargs)

    with scope(workspace=workspace):
        job = import_job_run(job_id=_job(connection).pk)
        _finish(large, 1, inject=broken)
        monkeypatch.setattr(bulk_imports, "_apply_batch", file_gone_on_the_second)
        job = import_job_run(job_id=job.pk)
        assert job.bulk_operation_id == "gid://shopify/BulkOperation/2"
        assert len(job.problems) == 1  # from the first file's committed batch
        _finish(large, 2, inject=broken)
        job = import_job_run(job_id=job.pk)
        assert (job.status, job.imported, job.failed) == (JobStatus.DONE, 12, 1)
        assert len(job.problems) == 1
        assert job.problems[0]["operation"] == "gid://shopify/BulkOperation/2"
        assert Order.objects.count() == 12
