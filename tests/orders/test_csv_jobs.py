"""CSV import as a job: a row first, processed idempotently and resumably, progress shown."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from orders import csv_jobs
from orders.events import Actor
from orders.models import (
    CsvImport,
    CsvImportLine,
    CsvImportStatus,
    LineItem,
    Order,
)
from orders.services import intake
from podhub.core.exceptions import ValidationFailed

HEADER = ("order_number,buyer_name,buyer_email,ship_name,ship_address1,ship_city,ship_zip,"
          "ship_country,sku,title,quantity,unit_price,personalization")


def _row(number, sku="MUG-11", quantity="1", name="Ana"):
    return (f"{number},{name},ana@example.com,{name},1 Main St,Springfield,62701,US,{sku},Mug,"
            f"{quantity},12.50,")


def _upload(*rows, name="orders.csv"):
    return SimpleUploadedFile(name, "\n".join([HEADER, *rows]).encode(), content_type="text/csv")


def _start(workspace, user, file, **kwargs):
    with scope(workspace=workspace):
        return csv_jobs.csv_import_start(workspace=workspace, file=file,
                                         actor=Actor.seller(user), **kwargs)


def _process(workspace, job, **kwargs):
    with scope(workspace=workspace):
        return csv_jobs.csv_import_process(job_id=job.pk, **kwargs)


def test_an_upload_is_a_row_first_and_its_task_is_rung_after_commit(
        workspace, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = _start(workspace, user, _upload(_row("E-1"), _row("E-1", sku="TEE"), _row("E-2")))
    # then nothing is imported yet; the file is kept for the worker (and for replay)
    assert (job.status, job.total_rows, job.total_groups, job.rows_done) == (
        CsvImportStatus.PENDING, 3, 2, 0)
    assert len(callbacks) == 1
    with scope(workspace=workspace):
        assert not Order.objects.exists()
        assert job.file.open("rb").read().startswith(b"order_number,")


def test_a_job_processes_to_done_with_counts_and_lines(workspace, user):
    job = _start(workspace, user, _upload(
        _row("E-1"), _row("E-1", sku="TEE"),   # rows 2, 3
        _row("E-2", quantity="zero"),           # row 4: rejected
        _row("E-3"),                            # row 5
        ",,,,,,,,MUG,Mug,1,1.00,",              # row 6: no order number
    ))
    job = _process(workspace, job)
    assert job.status == CsvImportStatus.DONE and job.finished_at is not None
    assert (job.rows_done, job.total_rows) == (5, 5)
    assert (job.created_count, job.duplicate_count, job.rejected_count) == (2, 0, 2)
    with scope(workspace=workspace):
        assert sorted(Order.objects.values_list("number", flat=True)) == ["E-1", "E-3"]
        assert LineItem.objects.count() == 3
        created = CsvImportLine.objects.get(job=job, number="E-1")
        assert created.order.number == "E-1" and created.rows == [2, 3]
        errors = list(CsvImportLine.objects.filter(job=job, outcome="rejected")
                      .values_list("row", "reason"))
    # errors per line, with the row number as a spreadsheet counts it
    assert errors == [(4, "quantity: Enter a whole number from 1 to 10000."),
                      (6, "order_number: every row needs the order number")]


def test_the_same_file_twice_never_makes_an_order_twice(workspace, user):
    rows = (_row("E-1"), _row("E-2"), _row("E-2", sku="TEE"))
    first = _process(workspace, _start(workspace, user, _upload(*rows)))
    second = _process(workspace, _start(workspace, user, _upload(*rows)))
    assert first.pk != second.pk
    assert (first.created_count, second.created_count, second.duplicate_count) == (2, 0, 2)
    with scope(workspace=workspace):
        assert Order.objects.count() == 2 and LineItem.objects.count() == 3


def test_the_same_file_while_its_import_is_open_is_the_same_job(workspace, user):
    first = _start(workspace, user, _upload(_row("E-1")))
    again = _start(workspace, user, _upload(_row("E-1")))
    assert again.pk == first.pk
    with scope(workspace=workspace):
        assert CsvImport.objects.count() == 1


def test_running_it_twice_or_a_stale_task_changes_nothing(workspace, user):
    job = _process(workspace, _start(workspace, user, _upload(_row("E-1"), _row("E-2"))))
    again = _process(workspace, job)  # a duplicate delivery of the task
    assert again.status == CsvImportStatus.DONE and again.created_count == 2
    with scope(workspace=workspace):
        assert Order.objects.count() == 2
        assert CsvImportLine.objects.filter(job=job).count() == 2


class WorkerKilled(BaseException):
    """What the process sees when its worker is stopped mid-transaction."""


def test_a_killed_worker_resumes_after_the_last_committed_order(workspace, user, monkeypatch):
    job = _start(workspace, user, _upload(*[_row(f"E-{n}") for n in range(1, 8)]))
    # the first transaction (2 orders) commits; the worker dies inside the second
    real_create = intake._create_order
    made = []

    def dies_on_the_fourth(**kwargs):
        if len(made) == 3:
            raise WorkerKilled
        made.append(kwargs["inp"].number)
        return real_create(**kwargs)

    monkeypatch.setattr(intake, "_create_order", dies_on_the_fourth)
    with pytest.raises(WorkerKilled):
        _process(workspace, job, chunk=2)
    with scope(workspace=workspace):
        job.refresh_from_db()
        # the half-done transaction left nothing: the cursor says where to go on
        assert (job.status, job.next_group, job.rows_done, job.created_count) == (
            CsvImportStatus.RUNNING, 2, 2, 2)
        assert sorted(Order.objects.values_list("number", flat=True)) == ["E-1", "E-2"]
    monkeypatch.setattr(intake, "_create_order", real_create)
    job = _process(workspace, job, chunk=2)
    assert job.status == CsvImportStatus.DONE
    assert (job.created_count, job.duplicate_count, job.rows_done) == (7, 0, 7)
    with scope(workspace=workspace):
        assert Order.objects.count() == 7
        assert CsvImportLine.objects.filter(job=job).count() == 7


def test_a_poison_order_stops_the_job_after_a_few_attempts(workspace, user, monkeypatch):
    job = _start(workspace, user, _upload(_row("E-1"), _row("E-2")))
    real_create = intake._create_order

    def breaks_on_e2(**kwargs):
        if kwargs["inp"].number == "E-2":
            raise RuntimeError("a bug")
        return real_create(**kwargs)

    monkeypatch.setattr(intake, "_create_order", breaks_on_e2)
    for attempt in range(1, csv_jobs.MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            _process(workspace, job, chunk=1)
        with scope(workspace=workspace):
            job.refresh_from_db()
        assert job.attempts == attempt
    # then it stops for good (the sweep no longer wakes it); what was made stays
    assert job.status == CsvImportStatus.FAILED and "order 2 of 2" in job.error
    assert job.created_count == 1
    with scopes_disabled():
        assert csv_jobs.csv_import_sweep(now=timezone.now() + timedelta(hours=1)) == 0


def test_progress_moves_one_transaction_at_a_time(workspace, user):
    job = _start(workspace, user, _upload(*[_row(f"E-{n}") for n in range(1, 6)]))
    job = _process(workspace, job, chunk=2, max_chunks=1)
    assert (job.status, job.rows_done, job.created_count) == (CsvImportStatus.RUNNING, 2, 2)
    job = _process(workspace, job, chunk=2, max_chunks=1)
    assert job.rows_done == 4
    job = _process(workspace, job, chunk=2)
    assert (job.status, job.rows_done, job.created_count) == (CsvImportStatus.DONE, 5, 5)


def test_the_sweep_rewakes_lost_and_stale_jobs_only(workspace, user, monkeypatch):
    rung = []
    monkeypatch.setattr(csv_jobs, "_ring", lambda job: rung.append(job.pk))
    now = timezone.now()
    lost = _start(workspace, user, _upload(_row("L-1")), now=now - timedelta(minutes=5))
    fresh = _start(workspace, user, _upload(_row("F-1")), now=now)
    dead = _start(workspace, user, _upload(_row("D-1"), _row("D-2")), now=now - timedelta(hours=1))
    _process(workspace, dead, chunk=1, max_chunks=1, now=now - timedelta(minutes=10))
    alive = _start(workspace, user, _upload(_row("A-1"), _row("A-2")), now=now - timedelta(hours=1))
    _process(workspace, alive, chunk=1, max_chunks=1, now=now - timedelta(seconds=20))
    done = _process(workspace, _start(workspace, user, _upload(_row("X-1")),
                                      now=now - timedelta(hours=1)))
    rung.clear()
    with scopes_disabled():
        assert csv_jobs.csv_import_sweep(now=now) == 2
    assert sorted(rung) == sorted([lost.pk, dead.pk])
    assert fresh.pk not in rung and alive.pk not in rung and done.pk not in rung
    # and the woken job carries on from its cursor
    dead = _process(workspace, dead)
    assert (dead.status, dead.created_count) == (CsvImportStatus.DONE, 2)


def test_a_bad_file_is_refused_at_upload_and_nothing_is_kept(workspace, user):
    with pytest.raises(ValidationFailed, match="required column"):
        _start(workspace, user, SimpleUploadedFile("x.csv", b"sku,qty\nMUG,1\n"))
    with scope(workspace=workspace):
        assert not CsvImport.objects.exists()


def test_a_lost_file_fails_the_job_with_a_reason(workspace, user):
    job = _start(workspace, user, _upload(_row("E-1")))
    job.file.storage.delete(job.file.name)
    job = _process(workspace, job)
    assert job.status == CsvImportStatus.FAILED and "could not be read" in job.error


# --- the dashboard and the API ------------------------------------------------------------


def test_the_progress_page_and_its_htmx_fragment(client_for, owner, workspace):
    seller = client_for(owner)
    upload = _upload(_row("A-1"), _row("A-2", quantity="zero"))
    response = seller.post("/orders/import/", {"file": upload})
    assert response.status_code == 302
    with scope(workspace=workspace):
        job = CsvImport.objects.get()
    assert response["Location"] == f"/orders/import/{job.pk}/"
    page = seller.get(response["Location"]).content.decode()
    assert 'data-status="pending"' in page and 'hx-trigger="every 1s"' in page
    _process(workspace, job)
    fragment = seller.get(f"/orders/import/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment
    assert 'data-status="done"' in fragment and "every 1s" not in fragment
    assert 'data-testid="created-count">1<' in fragment
    assert 'data-testid="rejected-count">1<' in fragment
    with scope(workspace=workspace):
        a1 = Order.objects.get(number="A-1")
    assert f'href="/orders/{a1.pk}/"' in fragment
    assert "<td>3</td><td>quantity: Enter a whole number" in fragment
    # the import page lists it
    assert f"/orders/import/{job.pk}/" in seller.get("/orders/import/").content.decode()


def test_a_bad_upload_stays_on_the_form_with_the_reason(client_for, owner, workspace):
    response = client_for(owner).post(
        "/orders/import/", {"file": SimpleUploadedFile("x.png", b"\x89PNG\xff\xfe")})
    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()


def test_api_answers_202_with_the_job_url_and_reports_status(api_client_for, owner, workspace):
    api = api_client_for(owner)
    upload = _upload(_row("E-1"), _row("E-2", quantity="many"))
    response = api.post("/api/v1/orders/import-csv/", {"file": upload}, format="multipart")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["total_rows"] == 2
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/orders/imports/{body['id']}/")
    with scope(workspace=workspace):
        job = CsvImport.objects.get(pk=body["id"])
    _process(workspace, job)
    status = api.get(f"/api/v1/orders/imports/{job.pk}/").json()
    assert (status["status"], status["rows_done"], status["created_count"]) == ("done", 2, 1)
    assert [c["number"] for c in status["created"]] == ["E-1"]
    assert status["rejected"] == [{"row": 3,
                                   "reason": "quantity: Enter a whole number from 1 to 10000."}]


def test_another_workspaces_import_is_404(api_client_for, client_for, owner, other_owner,
                                          workspace):
    job = _start(workspace, owner.user, _upload(_row("E-1")))
    assert api_client_for(other_owner).get(f"/api/v1/orders/imports/{job.pk}/").status_code == 404
    assert client_for(other_owner).get(f"/orders/import/{job.pk}/").status_code == 404


# --- in a browser --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_progress_page_moves_to_done_in_a_browser(page, login, owner, artifacts_dir):
    cache.clear()  # login rate limits
    workspace = owner.workspace
    login(owner)
    job = _start(workspace, owner.user, _upload(*[_row(f"B-{n}") for n in range(1, 5)],
                                                _row("B-9", quantity="zero")))
    page.goto(f"/orders/import/{job.pk}/")
    assert page.locator("[data-testid=import-status]").inner_text() == "Waiting"
    assert page.locator("[data-testid=rows-done]").inner_text() == "0"
    # the worker settles two orders: the page's poll shows them without a reload
    _process(workspace, job, chunk=2, max_chunks=1)
    page.wait_for_function(  # a condition wait on the htmx poll, not a sleep
        "() => document.querySelector('[data-testid=rows-done]').textContent === '2'")
    assert page.locator("[data-testid=import-status]").inner_text() == "Importing"
    _process(workspace, job, chunk=2)
    page.wait_for_function(
        "() => document.querySelector('#import-progress').dataset.status === 'done'")
    assert page.locator("[data-testid=created-count]").inner_text() == "4"
    assert page.locator("[data-testid=rejected-count]").inner_text() == "1"
    assert "quantity" in page.locator("[data-testid=rejected]").inner_text()
    page.screenshot(path=f"{artifacts_dir}/orders-csv-import-progress.png", full_page=True)
    page.click("[data-testid=created] >> text=B-1")
    page.wait_for_url("**/orders/*/")
