"""Print files, Django side: render requests, the render itself, preflight holds.

    render_request   a Render row per line (pending), its task sent on commit
    render_run       the worker: claim the row, fetch + render outside any
                     transaction, then write the new PrintFile versions and
                     apply preflight to the order (hold / release) in one
    render_sweep     beat: pending renders whose task was lost, running ones
                     whose worker died (the broker is a doorbell)
    on_order_event   subscribed to orders.events: an order priced, edited or
                     updated from the store gets its print files (re)rendered

A product with design templates gets one file per template (side); a product
without one (or whose artwork comes from the seller) passes the buyer's uploaded file
through unchanged. A side whose newest version is the seller's own artwork
(printfiles/artwork.py) is left alone: the seller's file replaced the render there. Nothing is
rendered for a line not yet mapped to a catalog product (in quotation), nor
after the order is locked (submitted): the newest version before submission is
the one that went to production.
"""

import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from PIL import Image

from fulfillment.models import (
    Design,
    DesignPhoto,
    DesignTemplate,
    OutputFormat,
    PrintFile,
    PrintFileSource,
    Render,
    RenderStatus,
)
from fulfillment.printfiles import conf, loading, output
from fulfillment.printfiles.design import DesignRefused
from fulfillment.printfiles.design import apply as design_apply
from fulfillment.printfiles.problems import Code, ImageRefused, Problem
from fulfillment.printfiles.render import render
from fulfillment.printfiles.signing import signed_url as signed_url  # providers' file links
from fulfillment.printfiles.spec import SpecError, TemplateSpec, normalize_key, parse_spec
from fulfillment.tasks import render_task
from orders import services as order_services
from orders.events import Actor
from orders.inputs import display_value
from orders.models import HoldReason, LineItem, Order, OrderState
from podhub.core.doorbell import SWEEP_TTL, ring_once
from podhub.core.exceptions import Conflict, NotFound

log = logging.getLogger(__name__)

# Order events that change what a print file shows.
RENDER_EVENTS = {"order.priced", "order.edited", "order.updated", "order.imported",
                 "order.created"}
PREFLIGHT_ACTOR = "Print-file preflight"


class PrintFilesLocked(Conflict):
    """The order went to production: its print files can no longer change."""

    code = "print_files_locked"


def locked_reason(order: Order) -> str:
    """Why the personalisation editor is read-only, or "" when it is not."""
    if not order.is_locked:
        return ""
    if order.state == OrderState.CANCELLED:
        return f"Order {order.number} is cancelled: its print files can no longer change."
    when = f" on {order.submitted_at:%Y-%m-%d %H:%M} UTC" if order.submitted_at else ""
    return (f"Order {order.number} was submitted to production{when}: personalisation and "
            "print files can no longer be changed.")


# --- requests ---------------------------------------------------------------------------


def _renderable_lines(order: Order, line_ids=None) -> list[LineItem]:
    qs = LineItem.objects.filter(order=order, workspace_id=order.workspace_id,
                                 catalog_variant_id__isnull=False).order_by("id")
    if line_ids is not None:
        qs = qs.filter(pk__in=list(line_ids))
    return list(qs)


@transaction.atomic
def render_request(*, order_id: int, workspace, line_ids=None, user=None,
                   reason: str = "re-render") -> list[Render]:
    """Queue a render of the order's lines (all, or `line_ids`); one pending row per line.

    A line that already has a pending render keeps it (that render will read the
    latest personalisation when it runs). Refused once the order is locked.
    """
    order = Order.objects.filter(pk=order_id, workspace=workspace).first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    if order.is_locked:
        raise PrintFilesLocked(locked_reason(order))
    lines = _renderable_lines(order, line_ids)
    if line_ids is not None and not lines:
        raise NotFound("No such item in this order, or it is not connected to a catalog "
                       "product yet.")
    pending = set(Render.objects.filter(order=order, status=RenderStatus.PENDING,
                                        line_item__in=lines)
                  .values_list("line_item_id", flat=True))
    made = []
    for line in lines:
        if line.pk in pending:
            continue
        made.append(Render.objects.create(workspace_id=order.workspace_id, order=order,
                                          line_item=line, reason=reason[:64],
                                          requested_by=user))
    for job in made:
        render_task.delay(workspace_id=order.workspace_id, render_id=job.pk)
    return made


def render_for_event(*, workspace, event_id: int, type: str) -> None:
    """The subscribed task's work (render_for_event_task, in the workspace's scope):
    re-render what the event changed. The sweep (`render_sweep`, which also finds lines
    changed after their last render) catches up a lost one within a minute."""
    from orders.models import OrderEvent

    event = OrderEvent.objects.filter(pk=event_id, workspace=workspace).select_related(
        "order").first()
    if event is None or event.order.is_locked:
        return
    line_ids = None
    if type == "order.edited":
        fields = (event.data or {}).get("fields", [])
        line_ids = {int(f.split(".")[1]) for f in fields
                    if f.startswith("lines.") and f.split(".")[1].isdigit()}
        if not line_ids:
            return  # only the address or buyer changed
    elif type == "order.updated" and "line_items" not in (event.data or {}).get("fields", []):
        return
    if not LineItem.objects.filter(order=event.order, catalog_variant_id__isnull=False) \
            .exists():
        return  # nothing mapped yet: order.priced will come
    try:
        render_request(order_id=event.order_id, workspace=workspace, line_ids=line_ids,
                       reason=type)
    except (PrintFilesLocked, NotFound):
        return


# --- the render ---------------------------------------------------------------------------


def _claim(render_id: int, now: datetime) -> Render | None:
    with transaction.atomic():
        job = (Render.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(pk=render_id).first())
        if job is None or job.status in (RenderStatus.DONE, RenderStatus.FAILED):
            return None
        stale = now - timedelta(seconds=conf.stale_seconds())
        if job.status == RenderStatus.RUNNING and job.started_at and job.started_at > stale:
            return None  # another worker has it
        if job.attempts >= conf.max_attempts():
            job.status, job.finished_at = RenderStatus.FAILED, now
            job.error = job.error or f"Gave up after {job.attempts} attempts (worker lost)."
            job.save(update_fields=["status", "finished_at", "error", "updated_at"])
            return None
        job.status = RenderStatus.RUNNING
        job.attempts += 1
        job.started_at = now
        job.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        return job


@dataclass
class Output:
    side: str
    template: DesignTemplate | None
    format: str
    content: bytes | IO[bytes]  # the print file: bytes, or a file positioned at its start
    preview: bytes
    mockup: bytes
    size: tuple[int, int]
    dpi: int
    problems: list[Problem]
    source: str = PrintFileSource.RENDER


def render_run(*, render_id: int, now: datetime | None = None) -> str:
    """Do one render. Idempotent: a finished render, or one another worker holds, is left."""
    now = now or timezone.now()
    job = _claim(render_id, now)
    if job is None:
        return "skipped"
    try:
        line = LineItem.objects.select_related("order").get(pk=job.line_item_id,
                                                            workspace_id=job.workspace_id)
        inputs = {"personalization": list(line.personalization or []),
                  "images": list(line.images or [])}
        designs = {d.side: d.state for d in Design.objects.filter(line_item_id=line.pk)
                   if d.state}
        if designs:
            inputs["designs"] = designs  # the editor's edits rendered (issue 17)
        outputs = _render_line(line)
    except Exception as exc:  # a bug or an outage: keep the row, let the sweep retry
        log.exception("render %s failed", render_id)
        failed = job.attempts >= conf.max_attempts()
        Render.objects.filter(pk=job.pk).update(
            status=RenderStatus.FAILED if failed else RenderStatus.PENDING,
            error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now(),
            finished_at=timezone.now() if failed else None)
        return "failed" if failed else "retry"
    return _store(job, line, inputs, outputs)


def _store(job: Render, line: LineItem, inputs: dict, outputs: list[Output]) -> str:
    with transaction.atomic():
        order = order_services.lock_order(job.order_id)
        job = Render.objects.select_for_update(of=("self",)).get(pk=job.pk)
        if order.is_locked:
            job.status, job.error = RenderStatus.DONE, (
                "The order went to production before this render finished; the submitted "
                "files are unchanged.")
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "error", "finished_at", "updated_at"])
            return "locked"
        newest = dict(PrintFile.objects.filter(line_item_id=line.pk).values("side")
                      .annotate(v=Max("version")).values_list("side", "v"))
        keep = seller_sides(line.pk)  # artwork supplied while this render ran
        for out in outputs:
            if out.side in keep:
                continue
            version = (newest.get(out.side) or 0) + 1
            stem = f"{out.side}-v{version}-{uuid.uuid4().hex[:12]}"
            pf = PrintFile(
                workspace_id=job.workspace_id, order_id=job.order_id, line_item_id=line.pk,
                render=job, template=out.template, side=out.side, source=out.source,
                version=version,
                format=out.format, width_px=out.size[0], height_px=out.size[1], dpi=out.dpi,
                size_bytes=_size(out.content), problems=[p.as_dict() for p in out.problems],
                has_errors=any(p.is_error for p in out.problems), inputs=inputs,
            )
            ext = {"jpeg": "jpg", "tiff": "tif"}.get(out.format, out.format)
            if isinstance(out.content, bytes):
                if out.content:
                    pf.file.save(f"{stem}.{ext}", ContentFile(out.content), save=False)
            else:
                pf.file.save(f"{stem}.{ext}", File(out.content), save=False)
                out.content.close()
            if out.preview:
                pf.preview.save(f"{stem}-preview.webp", ContentFile(out.preview), save=False)
            if out.mockup:
                pf.mockup.save(f"{stem}-mockup.jpg", ContentFile(out.mockup), save=False)
            pf.save()
        job.status, job.error, job.finished_at = RenderStatus.DONE, "", timezone.now()
        job.save(update_fields=["status", "error", "finished_at", "updated_at"])
        apply_preflight(order)
    return "done"


def _size(content) -> int:
    if isinstance(content, bytes):
        return len(content)
    here = content.tell()
    size = content.seek(0, 2)
    content.seek(here)
    return size


def _values(line: LineItem) -> tuple[dict[str, str], dict[str, str]]:
    values = {str(p.get("key", "")): display_value(p.get("value"))
              for p in (line.personalization or []) if isinstance(p, dict)}
    urls = {str(i.get("key", "")): str(i.get("url", ""))
            for i in (line.images or []) if isinstance(i, dict) and i.get("url")}
    return values, urls


def _download(url: str) -> bytes:
    """The buyer's image from its link (size cap, content type, timeout: loading.fetch_url)."""
    return loading.fetch_url(url, max_bytes=conf.max_upload_bytes(),
                             timeout=conf.download_timeout())


def _assets(template: DesignTemplate) -> dict[str, Image.Image]:
    out = {}
    for asset in template.assets.all():
        with asset.file.open("rb") as fh:
            data = loading.read_capped(fh, max_bytes=conf.max_upload_bytes())
        try:
            out[asset.name] = loading.open_image(data, max_pixels=conf.max_pixels()).image
        except ImageRefused:
            log.warning("template %s: asset %s cannot be read", template.pk, asset.name)
    return out


def approved_sides(line_id: int) -> set[str]:
    """The line's sides whose design the seller approved: renders leave them alone."""
    return set(Design.objects.filter(line_item_id=line_id, approved_at__isnull=False)
               .values_list("side", flat=True))


def design_photos(line_id: int, photos: dict[str, int]) -> dict[str, bytes]:
    """The editor's photos (personalisation key -> the uploaded bytes) for a render."""
    files = {p.pk: p for p in DesignPhoto.objects.filter(line_item_id=line_id,
                                                         pk__in=set(photos.values()))}
    out = {}
    for key, photo_id in photos.items():
        if photo_id in files:
            with files[photo_id].file.open("rb") as fh:
                out[key] = loading.read_capped(fh, max_bytes=conf.max_upload_bytes())
    return out


def seller_sides(line_id: int) -> set[str]:
    """The line's sides whose newest print file is the seller's artwork."""
    newest: dict[str, str] = {}
    for side, source in (PrintFile.objects.filter(line_item_id=line_id)
                         .order_by("side", "-version").values_list("side", "source")):
        newest.setdefault(side, source)
    return {side for side, source in newest.items() if source == PrintFileSource.SELLER}


def _templates(line: LineItem) -> list[DesignTemplate]:
    from quotes.models import ArtworkSource, Variant

    product_id, source = Variant.objects.filter(pk=line.catalog_variant_id).values_list(
        "product_id", "product__artwork_source").first() or (None, "")
    if product_id is None or source == ArtworkSource.SELLER:
        return []
    return list(DesignTemplate.objects.filter(product_id=product_id, is_active=True)
                .prefetch_related("assets").order_by("side"))


def _render_line(line: LineItem) -> list[Output]:
    # the seller's artwork replaced the render there; an approved design stays as approved
    skip_sides = seller_sides(line.pk) | approved_sides(line.pk)
    values, urls = _values(line)
    designs = {d.side: d for d in Design.objects.filter(line_item_id=line.pk)}
    templates = _templates(line)
    if not templates:
        return [] if "front" in skip_sides else [_passthrough(line, urls)]
    outputs = []
    for template in templates:
        if template.side in skip_sides:
            continue
        try:
            spec = parse_spec(template.spec)
        except SpecError as exc:
            raise RuntimeError(f"design template {template.pk} is invalid: {exc}") from exc
        design = designs.get(template.side)
        side_values, photos = values, {}
        if design is not None and design.state:
            try:  # checked when saved; checked again in case the template changed since
                applied = design_apply(spec, design.state, photo_ids=set(
                    DesignPhoto.objects.filter(line_item_id=line.pk).values_list("pk",
                                                                                 flat=True)))
            except DesignRefused as exc:
                log.warning("line %s %s: design no longer fits the template: %s", line.pk,
                            template.side, exc.message)
            else:
                spec, side_values = applied.spec, {**values, **applied.values}
                photos = design_photos(line.pk, applied.photos)
        outputs.append(_render_template(template, spec, side_values, urls, photos))
    return outputs


def _image_url(key: str, values: dict[str, str], urls: dict[str, str]) -> str:
    want = normalize_key(key)
    for source in (urls, values):
        for k, v in source.items():
            if normalize_key(k) == want and v.strip().lower().startswith(("http://",
                                                                          "https://")):
                return v.strip()
    return ""


def _render_template(template: DesignTemplate, spec: TemplateSpec, values: dict[str, str],
                     urls: dict[str, str], photos: dict[str, bytes] | None = None) -> Output:
    images: dict[str, object] = dict(photos or {})  # the editor's photos win over links
    for key in spec.image_keys:
        if key in images:
            continue
        url = _image_url(key, values, urls)
        if not url:
            continue
        try:
            images[key] = _download(url)  # bytes: render() decodes each just in time
        except ImageRefused as exc:
            images[key] = exc
    assets = _assets(template)
    result = render(spec, values=values, images=images, assets=assets,
                    max_pixels=conf.max_pixels())
    images.clear()
    if template.output_format == OutputFormat.JPEG:
        content = output.encode_jpeg(result.image, dpi=spec.dpi)
    else:
        content = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        output.write_print_png(content, result.image, dpi=spec.dpi,
                               compress_level=conf.png_level())
        content.seek(0)
    mock = b""
    if spec.mockup and spec.mockup.asset in assets:
        mock = output.mockup(assets[spec.mockup.asset], result.image, spec.mockup)
    return Output(side=template.side, template=template, format=template.output_format,
                  content=content, preview=output.preview(result.image), mockup=mock,
                  size=result.image.size, dpi=spec.dpi, problems=result.problems)


def _passthrough(line: LineItem, urls: dict[str, str]) -> Output:
    """No template: the buyer's own file goes to print unchanged (after the same checks)."""
    url = next(iter(urls.values()), "")
    if not url:
        problem = Problem(Code.NO_TEMPLATE_NO_FILE, "This product has no design template and "
                          "the order has no print file: add artwork (upload the file or give "
                          "its link).")
        return Output("front", None, "", b"", b"", b"", (0, 0), 0, [problem],
                      PrintFileSource.BUYER)
    try:
        data = _download(url)
        loaded = loading.open_image(data, max_pixels=conf.max_pixels())
    except ImageRefused as exc:
        return Output("front", None, "", b"", b"", b"", (0, 0), 0, [exc.problem("file")],
                      PrintFileSource.BUYER)
    dpi = 300
    return Output("front", None, loaded.format.lower(), data, output.preview(loaded.image), b"",
                  loaded.source_size, dpi, [], PrintFileSource.BUYER)


# --- preflight holds ------------------------------------------------------------------------


def newest_print_files(order: Order) -> list[PrintFile]:
    """The newest version of each (line, side) of the order: what goes to production."""
    files = (PrintFile.objects.filter(order=order, workspace_id=order.workspace_id)
             .select_related("line_item").order_by("line_item_id", "side", "-version"))
    newest: dict[tuple[int, str], PrintFile] = {}
    for pf in files:
        newest.setdefault((pf.line_item_id, pf.side), pf)
    return list(newest.values())


def preflight_message(order: Order, files: list[PrintFile]) -> str:
    positions = {pk: i for i, pk in enumerate(
        LineItem.objects.filter(order=order).order_by("id").values_list("pk", flat=True), 1)}
    parts = []
    for pf in files:
        errors = [p["message"] for p in pf.problems if p.get("severity", "error") == "error"]
        if errors:
            parts.append(f"Item {positions.get(pf.line_item_id, '?')} ({pf.line_item.title}), "
                         f"{pf.side}: " + " ".join(errors))
    return "Print file needs fixing. " + " ".join(parts)


def apply_preflight(order: Order) -> None:
    """Hold the order while any newest print file has errors; release it when none has.

    Call inside a transaction holding the order's row lock. An order held for
    another reason keeps that hold (the panel still lists the problems).
    """
    if order.is_locked or order.state in (OrderState.SHIPPED, OrderState.COMPLETED,
                                          OrderState.CANCELLED):
        return
    files = newest_print_files(order)
    bad = [pf for pf in files if pf.has_errors]
    actor = Actor.system(PREFLIGHT_ACTOR)
    held_for_preflight = (order.state == OrderState.ON_HOLD
                          and order.hold_reason == HoldReason.PREFLIGHT)
    if bad:
        message = preflight_message(order, bad)[:2000]
        if order.state == OrderState.ON_HOLD and not held_for_preflight:
            return
        if held_for_preflight and order.hold_message == message:
            return
        order_services.order_hold(order_id=order.pk, reason=HoldReason.PREFLIGHT,
                                  message=message, actor=actor)
        order.refresh_from_db()
    elif held_for_preflight:
        order_services.order_release_hold(order_id=order.pk, actor=actor,
                                          message="The print files now pass preflight.")
        order.refresh_from_db()


def printfiles_ready(*, order: Order) -> tuple[bool, list[str]]:
    """For submission (issue 7): every connected line has clean newest files, none pending."""
    reasons = []
    lines = _renderable_lines(order)
    files = newest_print_files(order)
    have = {pf.line_item_id for pf in files}
    if Render.objects.filter(order=order, status__in=[RenderStatus.PENDING,
                                                      RenderStatus.RUNNING]).exists():
        reasons.append("Print files are still rendering.")
    for line in lines:
        if line.pk not in have:
            reasons.append(f"{line.title}: no print file yet.")
    reasons += [f"{pf.line_item.title}, {pf.side}: {p['message']}" for pf in files
                if pf.has_errors for p in pf.problems if p.get("severity") == "error"]
    return not reasons, reasons


# --- the sweep ---------------------------------------------------------------------------


SWEEP_LOOKBACK = timedelta(days=2)


def renders_retry(*, render_ids) -> int:
    """Staff: these renders, if failed, go back to waiting with their attempts reset; the
    render sweep sends them within a minute. How many."""
    return Render.objects.filter(pk__in=list(render_ids), status=RenderStatus.FAILED).update(
        status=RenderStatus.PENDING, attempts=0)


def render_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """Beat: re-send renders whose task was lost; request renders for lines changed
    after their last render whose request was lost (the subscriber runs after
    commit, so a crash in between would lose it). Runs across workspaces."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.stale_seconds())
    lost_after = now - timedelta(seconds=60)
    _request_missing_renders(now=now, since=now - SWEEP_LOOKBACK, settle=lost_after,
                             limit=limit)
    with scopes_disabled():
        due = list(
            Render.objects.filter(
                Q(status=RenderStatus.PENDING, updated_at__lte=lost_after)
                | Q(status=RenderStatus.RUNNING, started_at__lte=stale))
            .order_by("updated_at").values_list("workspace_id", "pk")[:limit])
    for workspace_id, pk in due:
        ring_once(render_task, key=f"render:{pk}", ttl=SWEEP_TTL, from_sweep=True,
                  workspace_id=workspace_id, render_id=pk)
    return len(due)


def _request_missing_renders(*, now: datetime, since: datetime, settle: datetime,
                             limit: int) -> int:
    from podhub.workspaces.models import Workspace

    with scopes_disabled():
        newer_render = Render.objects.filter(line_item=OuterRef("pk"),
                                             created_at__gte=OuterRef("updated_at"))
        stale_lines = list(
            LineItem.objects.filter(catalog_variant_id__isnull=False, updated_at__gte=since,
                                    updated_at__lte=settle, order__submitted_at__isnull=True)
            .exclude(order__state__in=[OrderState.IN_PRODUCTION, OrderState.SHIPPED,
                                       OrderState.COMPLETED, OrderState.CANCELLED])
            .filter(~Exists(newer_render))
            .order_by("updated_at").values_list("workspace_id", "order_id", "pk")[:limit])
        workspaces = Workspace.objects.in_bulk({ws for ws, _, _ in stale_lines})
    made = 0
    for workspace_id, order_id, line_id in stale_lines:
        with scope(workspace=workspaces[workspace_id]):
            try:
                made += len(render_request(order_id=order_id, workspace=workspaces[workspace_id],
                                           line_ids=[line_id], reason="sweep"))
            except (PrintFilesLocked, NotFound):
                continue
    return made
