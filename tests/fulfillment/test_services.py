"""Print files, Django side: render rows and versions, storage, preflight holds, the sweep."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope
from PIL import Image

from fulfillment.models import PrintFile, Render, RenderStatus
from fulfillment.printfiles import services
from fulfillment.printfiles.problems import Code
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, LineItem, OrderState
from tests.factories import LineItemFactory, OrderFactory
from tests.fulfillment.conftest import jpeg, png_of

pytestmark = pytest.mark.django_db


def _render_all(order):
    for job in Render.objects.filter(order=order, status=RenderStatus.PENDING).order_by("pk"):
        services.render_run(render_id=job.pk)


def test_request_makes_one_pending_row_per_line_and_sends_its_task_on_commit(
        workspace, order, line, template, django_capture_on_commit_callbacks, sent_tasks):
    with scope(workspace=workspace):
        made = services.render_request(order_id=order.pk, workspace=workspace)
        again = services.render_request(order_id=order.pk, workspace=workspace)

        assert [r.line_item_id for r in made] == [line.pk]
        assert again == []  # the pending render will read the latest values
        assert sent_tasks == [(workspace.pk, made[0].pk)]


def test_render_stores_a_300_dpi_png_preview_and_version(workspace, order, line, template,
                                                          downloads, sent_tasks):
    downloads["https://cdn.test/ana.jpg"] = jpeg()
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"images": [{"key": "Photo", "url": "https://cdn.test/ana.jpg"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        pf = PrintFile.objects.get(line_item=line)
        assert (pf.side, pf.version, pf.format, pf.has_errors) == ("front", 1, "png", False)
        assert pf.file.name.startswith(f"printfiles/ws{workspace.pk}/order{order.pk}/")
        with pf.file.open("rb") as fh:
            img = Image.open(io.BytesIO(fh.read()))
        assert img.size == (600, 300) and (pf.width_px, pf.height_px) == (600, 300)
        assert img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert pf.preview and pf.inputs["personalization"] == [{"key": "Name", "value": "Ana"}]
        assert Render.objects.get().status == RenderStatus.DONE


def test_each_render_is_a_new_version_and_the_newest_is_submitted(
        workspace, order, line, template, sent_tasks):
    with scope(workspace=workspace):
        for _ in range(3):
            services.render_request(order_id=order.pk, workspace=workspace)
            _render_all(order)

        assert list(PrintFile.objects.filter(line_item=line).order_by("version")
                    .values_list("version", flat=True)) == [1, 2, 3]
        assert [pf.version for pf in services.newest_print_files(order)] == [3]


def test_preflight_failure_holds_the_order_with_the_reason_and_a_fix_releases_it(
        workspace, order, line, template, downloads, sent_tasks):
    downloads["https://cdn.test/tiny.jpg"] = jpeg((60, 60))
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"personalization": [],
                      "images": [{"key": "Photo", "url": "https://cdn.test/tiny.jpg"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        order.refresh_from_db()
        assert order.state == OrderState.ON_HOLD
        assert order.hold_reason == HoldReason.PREFLIGHT
        assert order.return_state == OrderState.TO_ORDER
        assert "Item 1 (Mug), front:" in order.hold_message
        assert "\"Name\" is required" in order.hold_message
        assert "DPI" in order.hold_message

        # when the seller fixes both and the file is rendered again
        downloads["https://cdn.test/big.jpg"] = jpeg((900, 900))
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"personalization": [{"key": "Name", "value": "Ana"}],
                      "images": [{"key": "Photo", "url": "https://cdn.test/big.jpg"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        order.refresh_from_db()
        assert order.state == OrderState.TO_ORDER and order.hold_reason == ""
        assert order.events.filter(type="order.released").exists()


def test_a_hold_for_another_reason_is_kept(workspace, order, line, template, sent_tasks):
    with scope(workspace=workspace):
        order_services.order_request_info(order_id=order.pk, message="Which colour?",
                                          actor=Actor.system())
        order_services.order_edit(order_id=order.pk, actor=Actor.system(),
                                  changes={"lines": {line.pk: {"personalization": []}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        order.refresh_from_db()
        assert order.hold_reason == HoldReason.INFO_REQUESTED
        assert PrintFile.objects.get().has_errors


def test_bad_image_link_is_a_preflight_problem_not_a_crash(workspace, order, line, template,
                                                           downloads, sent_tasks):
    downloads["https://cdn.test/evil.svg"] = b"<svg><script>alert(1)</script></svg>"
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"images": [{"key": "Photo", "url": "https://cdn.test/evil.svg"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        pf = PrintFile.objects.get()
        assert [p["code"] for p in pf.problems] == [Code.SVG_REFUSED]
        assert Render.objects.get().status == RenderStatus.DONE


def test_without_a_template_the_buyers_file_passes_through_unchanged(
        workspace, order, line, downloads, sent_tasks):
    original = png_of((1200, 900))
    downloads["https://cdn.test/art.png"] = original
    with scope(workspace=workspace):
        order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={"lines": {
            line.pk: {"images": [{"key": "Design", "url": "https://cdn.test/art.png"}]}}})
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        pf = PrintFile.objects.get()
        with pf.file.open("rb") as fh:
            assert fh.read() == original
        assert (pf.template, pf.format, pf.has_errors) == (None, "png", False)


def test_without_a_template_or_a_file_the_order_is_held(workspace, order, line, sent_tasks):
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
        _render_all(order)

        order.refresh_from_db()
        assert order.hold_reason == HoldReason.PREFLIGHT
        assert "no design template" in order.hold_message


def test_locked_order_refuses_renders_and_a_late_render_adds_no_version(
        workspace, order, line, template, sent_tasks):
    with scope(workspace=workspace):
        [job] = services.render_request(order_id=order.pk, workspace=workspace)
        order_services.order_mark_paid(order_id=order.pk, actor=Actor.system())
        order_services.order_submit(order_id=order.pk, actor=Actor.system())

        with pytest.raises(services.PrintFilesLocked, match="submitted to production"):
            services.render_request(order_id=order.pk, workspace=workspace)
        assert services.render_run(render_id=job.pk) == "locked"
        assert not PrintFile.objects.exists()


def test_editing_personalisation_re_renders_only_the_edited_line(
        workspace, order, line, template, variant, django_capture_on_commit_callbacks,
        sent_tasks):
    with scope(workspace=workspace):
        LineItemFactory(order=order, catalog_variant_id=variant.pk, title="Mug 2")  # not edited
        with django_capture_on_commit_callbacks(execute=True):
            order_services.order_edit(order_id=order.pk, actor=Actor.system(), changes={
                "lines": {line.pk: {"personalization": [{"key": "Name", "value": "Bo"}]}}})
        with django_capture_on_commit_callbacks(execute=True):
            order_services.order_edit(order_id=order.pk, actor=Actor.system(),
                                      changes={"buyer_name": "Someone Else"})

        assert list(Render.objects.values_list("line_item_id", "reason")) == [
            (line.pk, "order.edited")]
        # the tasks sent are for that render only (render ids, not line ids)
        assert {r for _, r in sent_tasks} == set(Render.objects.values_list("pk", flat=True))


def test_an_order_priced_on_import_gets_rendered(workspace, variant, template,
                                                 django_capture_on_commit_callbacks, sent_tasks):
    from tests.factories import StoreFactory

    store = StoreFactory(workspace=workspace)
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        order, _ = order_services.order_import(
            workspace=workspace, store=store, actor=Actor.store(), data={
            "external_id": "X1", "number": "#77", "currency": "USD",
            "shipping_address": {"name": "Kim", "address1": "1 Main St", "city": "Springfield",
                                 "zip": "62701", "country_code": "US"},
            "subtotal": "10", "total": "10",
            "line_items": [{"sku": "MUG-11", "title": "Mug", "quantity": 1, "unit_price": "10",
                       "catalog_variant_id": variant.pk,
                       "personalization": [{"key": "Name", "value": "Kim"}]}]})

    with scope(workspace=workspace):
        assert Render.objects.filter(order=order).count() == 1


def test_unmapped_lines_are_not_rendered(workspace, sent_tasks):
    order = OrderFactory(workspace=workspace)
    LineItemFactory(order=order)
    with scope(workspace=workspace):
        assert services.render_request(order_id=order.pk, workspace=workspace) == []


def test_a_crashing_render_is_retried_then_fails_with_the_error(
        workspace, order, line, template, monkeypatch, sent_tasks):
    def boom(line):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_render_line", boom)
    with scope(workspace=workspace):
        [job] = services.render_request(order_id=order.pk, workspace=workspace)
        assert services.render_run(render_id=job.pk) == "retry"
        job.refresh_from_db()
        assert (job.status, job.attempts) == (RenderStatus.PENDING, 1)
        assert services.render_run(render_id=job.pk) == "retry"
        assert services.render_run(render_id=job.pk) == "failed"
        job.refresh_from_db()
        assert job.status == RenderStatus.FAILED and "disk full" in job.error
        assert services.render_run(render_id=job.pk) == "skipped"


def test_sweep_resends_lost_renders_and_takes_over_dead_workers(
        workspace, order, line, template, sent_tasks):
    with scope(workspace=workspace):
        [lost] = services.render_request(order_id=order.pk, workspace=workspace)
    sent_tasks.clear()
    now = timezone.now()
    with scope(workspace=workspace):
        Render.objects.filter(pk=lost.pk).update(updated_at=now - timedelta(minutes=5))
        dead = Render.objects.create(workspace=workspace, order=order, line_item=line,
                                     status=RenderStatus.RUNNING, attempts=1,
                                     started_at=now - timedelta(hours=1))
        fresh = Render.objects.create(workspace=workspace, order=order, line_item=line,
                                      status=RenderStatus.RUNNING, attempts=1, started_at=now)

    assert services.render_sweep(now=now) == 2
    assert sorted(r for _, r in sent_tasks) == sorted([lost.pk, dead.pk])
    with scope(workspace=workspace):
        assert services.render_run(render_id=fresh.pk) == "skipped"  # its worker is alive
        assert services.render_run(render_id=dead.pk) == "done"


def test_printfiles_ready_for_submission(workspace, order, line, template, sent_tasks):
    with scope(workspace=workspace):
        ready, reasons = services.printfiles_ready(order=order)
        assert not ready and reasons == ["Mug: no print file yet."]
        services.render_request(order_id=order.pk, workspace=workspace)
        assert "Print files are still rendering." in services.printfiles_ready(order=order)[1]
        _render_all(order)
        assert services.printfiles_ready(order=order) == (True, [])


def test_sweep_requests_renders_for_lines_changed_after_their_last_render(
        workspace, order, line, template, sent_tasks):
    now = timezone.now()
    with scope(workspace=workspace):
        # an edit whose after-commit render request was lost (no Render row at all)
        LineItem.objects.filter(pk=line.pk).update(updated_at=now - timedelta(minutes=5))
        locked = OrderFactory(workspace=workspace, state="in_production", submitted_at=now)
        LineItemFactory(order=locked, catalog_variant_id=line.catalog_variant_id)
        LineItem.objects.filter(order=locked).update(updated_at=now - timedelta(minutes=5))

    services.render_sweep(now=now)

    with scope(workspace=workspace):
        [job] = Render.objects.all()
        assert (job.line_item_id, job.reason) == (line.pk, "sweep")
    services.render_sweep(now=now)  # now it has a render: nothing more
    with scope(workspace=workspace):
        assert Render.objects.count() == 1
