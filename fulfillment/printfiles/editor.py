"""The design editor, Django side (issue 17; docs/print-files.md, "The design editor").

    editor_target   the line and side in this workspace with its active template
    design_preview  the edit state checked (design.apply) and rendered at preview size by
                    the production renderer (render.render); nothing stored
    photo_upload    a photo for a photo layer, checked like seller artwork
    design_finish   the checked edit state saved, then rendered at 300 DPI through the
                    render path (render_request -> render_run): a new PrintFile version
    design_approve  the newest version of the side locked for submission (renders leave
                    an approved side alone)
    design_reopen   the approval lifted, to edit again (until the order is submitted)

Every write is refused once the order is submitted (PrintFilesLocked, 409), and every
refusal of the state (DesignRefused -> EditRefused, 400 with the reason) happens before
anything is stored: the order stays as it was.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from fulfillment.models import Design, DesignPhoto, DesignTemplate, PrintFile, RenderStatus
from fulfillment.printfiles import artwork, conf, design, loading
from fulfillment.printfiles.problems import ImageRefused, Problem
from fulfillment.printfiles.render import render
from fulfillment.printfiles.services import (
    PrintFilesLocked,
    _assets,
    _values,
    design_photos,
    locked_reason,
    render_request,
)
from fulfillment.printfiles.spec import SpecError, TemplateSpec, parse_spec
from orders import services as order_services
from orders.events import Actor, OrderEvents
from orders.models import LineItem, Order
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from quotes.models import ArtworkSource, Product, Variant

PREVIEW_MAX_SIDE = 640  # px: the live preview's longer side
MAX_PHOTOS_PER_LINE = 20


class EditRefused(ValidationFailed):
    """The design is not allowed by its template; the message says why (400)."""

    code = "design_refused"


@dataclass(frozen=True)
class EditorTarget:
    order: Order
    line: LineItem
    product: Product
    template: DesignTemplate
    spec: TemplateSpec
    side: str

    @property
    def locked_reason(self) -> str:
        return locked_reason(self.order)


def editor_target(*, workspace, order_id: int, line_id: int, side: str) -> EditorTarget:
    """The line's side and its active template, in this workspace; NotFound otherwise."""
    order = Order.objects.filter(workspace=workspace, pk=order_id).first()
    line = (LineItem.objects.filter(workspace=workspace, order_id=order_id, pk=line_id).first()
            if order is not None else None)
    if order is None or line is None or not line.catalog_variant_id:
        raise NotFound("No such item in this workspace, or it is not priced yet.")
    product = Product.objects.get(pk=Variant.objects.filter(pk=line.catalog_variant_id)
                                  .values("product_id")[:1])
    template = None
    if product.artwork_source != ArtworkSource.SELLER:
        template = DesignTemplate.objects.filter(product=product, side=side,
                                                 is_active=True).first()
    if template is None:
        raise NotFound(f"{product.name} has no design template for the {side}.")
    try:
        spec = parse_spec(template.spec)
    except SpecError as exc:
        raise Conflict(f"The design template is invalid ({exc}); staff must fix it.") \
            from None
    return EditorTarget(order=order, line=line, product=product, template=template,
                        spec=spec, side=side)


def design_of(t: EditorTarget) -> Design | None:
    return Design.objects.filter(line_item_id=t.line.pk, side=t.side).first()


def photo_ids(t: EditorTarget) -> set[int]:
    return set(DesignPhoto.objects.filter(line_item_id=t.line.pk,
                                          workspace_id=t.order.workspace_id)
               .values_list("pk", flat=True))


def parse_body(body: bytes) -> dict:
    """The editor's JSON body; bounded before it is parsed."""
    if len(body) > design.MAX_STATE_BYTES:
        raise EditRefused(f"The design is over {design.MAX_STATE_BYTES // 1024} KB.",
                          field="state")
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise EditRefused("The design is not JSON.", field="state") from None


def _checked(t: EditorTarget, state) -> design.Applied:
    if t.order.is_locked:
        raise PrintFilesLocked(t.locked_reason)
    d = design_of(t)
    if d is not None and d.is_approved:
        raise Conflict(f"Version {d.approved_print_file.version if d.approved_print_file else ''}"
                       f" of the {t.side} is approved for submission: reopen the design to "
                       "edit it.")
    try:
        return design.apply(t.spec, state, photo_ids=photo_ids(t))
    except design.DesignRefused as exc:
        raise EditRefused(exc.message, field=exc.field) from None


@dataclass
class Preview:
    content: bytes  # PNG
    problems: list[Problem]


def design_preview(*, workspace, order_id: int, line_id: int, side: str, state) -> Preview:
    """The design as edited, at preview size, by the production renderer. Stores nothing."""
    t = editor_target(workspace=workspace, order_id=order_id, line_id=line_id, side=side)
    applied = _checked(t, state)
    values, _ = _values(t.line)
    spec = design.preview_spec(applied.spec, PREVIEW_MAX_SIDE)
    result = render(spec, values={**values, **applied.values},
                    images=design_photos(t.line.pk, applied.photos),
                    assets=_assets(t.template), max_pixels=conf.max_pixels())
    buf = io.BytesIO()
    result.image.save(buf, "PNG", compress_level=1)
    return Preview(content=buf.getvalue(), problems=result.problems)


def photo_upload(*, workspace, order_id: int, line_id: int, side: str, upload) -> DesignPhoto:
    """A photo for the design's photo layers: PNG or JPEG (or a one-page PDF, drawn at
    300 DPI), judged by its bytes like seller artwork (artwork.decode: SVG refused, pixel
    cap from the header)."""
    t = editor_target(workspace=workspace, order_id=order_id, line_id=line_id, side=side)
    if t.order.is_locked:
        raise PrintFilesLocked(t.locked_reason)
    if upload is None:
        raise EditRefused("Choose a photo to upload.", field="file")
    if DesignPhoto.objects.filter(line_item_id=t.line.pk).count() >= MAX_PHOTOS_PER_LINE:
        raise EditRefused(f"This item has {MAX_PHOTOS_PER_LINE} photos already.", field="file")
    try:
        data = loading.read_capped(upload, max_bytes=conf.max_upload_bytes())
        prepared = artwork.prepare(data, artwork.PrintArea(None, None))
    except ImageRefused as exc:
        raise artwork.ArtworkRefused(exc.message, reason=exc.code) from None
    with transaction.atomic():
        order = order_services.lock_order(t.order.pk)
        if order.is_locked:
            raise PrintFilesLocked(locked_reason(order))
        photo = DesignPhoto(workspace_id=order.workspace_id, order=order, line_item=t.line,
                            name=str(getattr(upload, "name", "") or "")[:200],
                            width_px=prepared.size[0], height_px=prepared.size[1])
        ext = "jpg" if prepared.format == "jpeg" else prepared.format
        photo.file.save(f"photo-{uuid.uuid4().hex[:12]}.{ext}", ContentFile(prepared.content),
                        save=False)
        photo.save()
    return photo


def design_finish(*, workspace, order_id: int, line_id: int, side: str, state,
                  actor: Actor, user=None) -> Design:
    """Save the checked design and render it at 300 DPI (a new print-file version)."""
    t = editor_target(workspace=workspace, order_id=order_id, line_id=line_id, side=side)
    _checked(t, state)
    with transaction.atomic():
        order = order_services.lock_order(t.order.pk)
        if order.is_locked:
            raise PrintFilesLocked(locked_reason(order))
        d, _ = Design.objects.select_for_update().get_or_create(
            line_item=t.line, side=side,
            defaults={"workspace_id": order.workspace_id, "order": order,
                      "template": t.template})
        if d.is_approved:
            raise Conflict("This design is approved: reopen it to edit.")
        d.state, d.template = state, t.template
        d.save(update_fields=["state", "template", "updated_at"])
        render_request(order_id=order.pk, workspace=workspace, line_ids=[t.line.pk],
                       user=user, reason="design")
    return d


def design_approve(*, workspace, order_id: int, line_id: int, side: str, print_file_id: int,
                   actor: Actor, user=None) -> Design:
    """Lock the side's newest version for submission. Refused while it renders, when the
    version is not the newest or has errors, or once the order is submitted."""
    t = editor_target(workspace=workspace, order_id=order_id, line_id=line_id, side=side)
    with transaction.atomic():
        order = order_services.lock_order(t.order.pk)
        if order.is_locked:
            raise PrintFilesLocked(locked_reason(order))
        from fulfillment.models import Render

        if Render.objects.filter(line_item_id=t.line.pk, status__in=[
                RenderStatus.PENDING, RenderStatus.RUNNING]).exists():
            raise Conflict("The design is still rendering: approve it once the new version "
                           "shows.")
        newest = (PrintFile.objects.filter(line_item_id=t.line.pk, side=side,
                                           workspace_id=order.workspace_id)
                  .order_by("-version").first())
        if newest is None or newest.pk != print_file_id:
            raise Conflict("Only the newest version can be approved: reload the page.")
        if newest.has_errors:
            raise Conflict(f"Version {newest.version} has problems to fix before it can be "
                           "approved.")
        d, _ = Design.objects.select_for_update().get_or_create(
            line_item=t.line, side=side,
            defaults={"workspace_id": order.workspace_id, "order": order,
                      "template": t.template})
        d.approved_print_file, d.approved_at, d.approved_by = newest, timezone.now(), user
        d.save(update_fields=["approved_print_file", "approved_at", "approved_by",
                              "updated_at"])
        order_services.record_event(
            order=order, type=OrderEvents.NOTE_ADDED, actor=actor,
            message=f"Design approved for {t.line.title}, {side}: version {newest.version} "
            "goes to production.",
            data={"print_file_id": newest.pk, "side": side, "line_item_id": t.line.pk})
    return d


def design_reopen(*, workspace, order_id: int, line_id: int, side: str, actor: Actor) -> Design:
    """Lift the approval, to edit again; refused once the order is submitted."""
    t = editor_target(workspace=workspace, order_id=order_id, line_id=line_id, side=side)
    with transaction.atomic():
        order = order_services.lock_order(t.order.pk)
        if order.is_locked:
            raise PrintFilesLocked(locked_reason(order))
        d = Design.objects.select_for_update().filter(line_item=t.line, side=side).first()
        if d is None or not d.is_approved:
            raise Conflict("This design is not approved.")
        d.approved_print_file, d.approved_at, d.approved_by = None, None, None
        d.save(update_fields=["approved_print_file", "approved_at", "approved_by",
                              "updated_at"])
        order_services.record_event(order=order, type=OrderEvents.NOTE_ADDED, actor=actor,
                                    message=f"Design reopened for {t.line.title}, {side}.",
                                    data={"side": side, "line_item_id": t.line.pk})
    return d
