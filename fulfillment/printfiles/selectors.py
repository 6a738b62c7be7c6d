"""Reads for the print-file panel and downloads; every one filters by workspace."""

import json
import re
from dataclasses import dataclass, field

from fulfillment.models import (
    Design,
    DesignPhoto,
    DesignTemplate,
    PrintFile,
    Render,
    RenderStatus,
)
from fulfillment.printfiles import design
from fulfillment.printfiles.artwork import sides_for
from fulfillment.printfiles.services import locked_reason, newest_print_files
from fulfillment.printfiles.spec import SpecError, TextLayer, normalize_key, parse_spec
from orders.inputs import display_value
from orders.models import LineItem, Order
from podhub.core.exceptions import NotFound


@dataclass
class EditorField:
    key: str
    value: str
    required: bool = False
    is_image: bool = False


@dataclass
class LinePanel:
    line: LineItem
    position: int
    files: list[PrintFile] = field(default_factory=list)
    versions: int = 0
    render: Render | None = None  # the newest render request
    fields: list[EditorField] = field(default_factory=list)
    artwork_sides: list[str] = field(default_factory=list)  # where the seller may add artwork
    design_sides: list[str] = field(default_factory=list)  # sides with a template: the editor
    approved_sides: set[str] = field(default_factory=set)

    @property
    def rendering(self) -> bool:
        return self.render is not None and self.render.is_open

    @property
    def failed(self) -> bool:
        return self.render is not None and self.render.status == RenderStatus.FAILED


@dataclass
class Panel:
    order: Order
    lines: list[LinePanel]
    locked_reason: str

    @property
    def rendering(self) -> bool:
        return any(lp.rendering for lp in self.lines)

    @property
    def has_files(self) -> bool:
        return any(lp.files and any(f.file for f in lp.files) for lp in self.lines)


def order_get(*, workspace, order_id: int) -> Order:
    order = Order.objects.filter(workspace=workspace, pk=order_id).first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


def line_get(*, workspace, order_id: int, line_id: int) -> LineItem:
    line = LineItem.objects.filter(workspace=workspace, order_id=order_id, pk=line_id).first()
    if line is None:
        raise NotFound("No such item in this workspace.")
    return line


def print_file_get(*, workspace, print_file_id: int) -> PrintFile:
    pf = (PrintFile.objects.filter(workspace=workspace, pk=print_file_id)
          .select_related("order", "line_item").first())
    if pf is None:
        raise NotFound("No such print file in this workspace.")
    return pf


def _editor_fields(line: LineItem, templates: list) -> list[EditorField]:
    """The buyer's fields, plus any field a template reads that the order lacks."""
    fields = [EditorField(key=str(p.get("key", "")), value=display_value(p.get("value")))
              for p in (line.personalization or []) if isinstance(p, dict)]
    fields += [EditorField(key=str(i.get("key", "")), value=str(i.get("url", "")),
                           is_image=True)
               for i in (line.images or []) if isinstance(i, dict)]
    known = {normalize_key(f.key) for f in fields}
    for template in templates:
        try:
            spec = parse_spec(template.spec)
        except SpecError:
            continue
        for layer in spec.layers:
            key = getattr(layer, "key", "")
            if not key:
                continue
            required = getattr(layer, "required", False)
            if normalize_key(key) in known:
                for f in fields:
                    if normalize_key(f.key) == normalize_key(key):
                        f.required = f.required or required
                continue
            known.add(normalize_key(key))
            fields.append(EditorField(key=key, value="", required=required,
                                      is_image=key in spec.image_keys))
    return fields


def _templates_by_variant(variant_ids: set[int]) -> dict[int, list[DesignTemplate]]:
    from quotes.models import Variant

    if not variant_ids:
        return {}
    product_of = dict(Variant.objects.filter(pk__in=variant_ids).values_list("pk", "product_id"))
    by_product: dict[int, list[DesignTemplate]] = {}
    for template in DesignTemplate.objects.filter(product_id__in=set(product_of.values()),
                                                  is_active=True).order_by("side"):
        by_product.setdefault(template.product_id, []).append(template)
    return {vid: by_product.get(pid, []) for vid, pid in product_of.items()}


def _artwork_sources(variant_ids: set[int]) -> dict[int, str]:
    from quotes.models import Variant

    return dict(Variant.objects.filter(pk__in=variant_ids)
                .values_list("pk", "product__artwork_source")) if variant_ids else {}


def print_panel(*, workspace, order_id: int) -> Panel:
    order = order_get(workspace=workspace, order_id=order_id)
    lines = list(LineItem.objects.filter(order=order, workspace=workspace).order_by("id"))
    newest = newest_print_files(order)
    files_by_line: dict[int, list[PrintFile]] = {}
    for pf in sorted(newest, key=lambda f: (f.line_item_id, f.side)):
        files_by_line.setdefault(pf.line_item_id, []).append(pf)
    templates = _templates_by_variant({line.catalog_variant_id for line in lines
                                       if line.catalog_variant_id})
    counts: dict[int, int] = {}
    for line_id in PrintFile.objects.filter(order=order, workspace=workspace).values_list(
            "line_item_id", flat=True):
        counts[line_id] = counts.get(line_id, 0) + 1
    renders: dict[int, Render] = {}
    for job in Render.objects.filter(order=order, workspace=workspace).order_by("-created_at",
                                                                                 "-pk"):
        renders.setdefault(job.line_item_id, job)
    sources = _artwork_sources({line.catalog_variant_id for line in lines
                                if line.catalog_variant_id})
    approved: dict[int, set[str]] = {}
    for line_id, side in Design.objects.filter(order=order, workspace=workspace,
                                               approved_at__isnull=False).values_list(
            "line_item_id", "side"):
        approved.setdefault(line_id, set()).add(side)
    panels = []
    for i, line in enumerate(lines, 1):
        line_templates = templates.get(line.catalog_variant_id, [])
        source = sources.get(line.catalog_variant_id)  # None: not mapped to the catalog
        panels.append(LinePanel(
            line=line, position=i, files=files_by_line.get(line.pk, []),
            versions=counts.get(line.pk, 0), render=renders.get(line.pk),
            fields=_editor_fields(line, line_templates),
            artwork_sides=sides_for(source, [t.side for t in line_templates]) if source
            else [],
            design_sides=[t.side for t in line_templates] if source != "seller" else [],
            approved_sides=approved.get(line.pk, set())))
    return Panel(order=order, lines=panels, locked_reason=locked_reason(order))


def newest_of(order: Order, line_id: int, side: str) -> PrintFile | None:
    return (PrintFile.objects.filter(order=order, workspace_id=order.workspace_id,
                                     line_item_id=line_id, side=side)
            .order_by("-version").first())


def first_fix(*, workspace, order_id: int) -> tuple[int, str] | None:
    """(line id, side) of the first newest print file with errors whose product takes the
    seller's artwork; None when there is none (the fix is elsewhere)."""
    from quotes.models import ArtworkSource

    order = order_get(workspace=workspace, order_id=order_id)
    bad = sorted((pf for pf in newest_print_files(order) if pf.has_errors),
                 key=lambda pf: (pf.line_item_id, pf.side))
    sources = _artwork_sources({pf.line_item.catalog_variant_id for pf in bad
                                if pf.line_item.catalog_variant_id})
    for pf in bad:
        if sources.get(pf.line_item.catalog_variant_id) in (ArtworkSource.SELLER,
                                                            ArtworkSource.EITHER):
            return pf.line_item_id, pf.side
    return None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def download_name(pf: PrintFile, position: int) -> str:
    """order-1001_line-2_front_v3.png: order, line and side, as the files are sorted."""
    return (f"order-{_safe(pf.order.number)}_line-{position}_{_safe(pf.side)}"
            f"_v{pf.version}.{pf.extension}")


def line_position(pf: PrintFile) -> int:
    ids = list(LineItem.objects.filter(order_id=pf.order_id, workspace_id=pf.workspace_id)
               .order_by("id").values_list("pk", flat=True))
    return ids.index(pf.line_item_id) + 1 if pf.line_item_id in ids else 0


def zip_entries(*, workspace, order_id: int) -> tuple[Order, list[tuple[str, PrintFile]]]:
    order = order_get(workspace=workspace, order_id=order_id)
    positions = {pk: i for i, pk in enumerate(
        LineItem.objects.filter(order=order, workspace=workspace).order_by("id")
        .values_list("pk", flat=True), 1)}
    entries = []
    for pf in newest_print_files(order):
        if pf.file:
            pf.order = order
            entries.append((download_name(pf, positions.get(pf.line_item_id, 0)), pf))
    entries.sort(key=lambda e: e[0])
    return order, entries


# --- the design editor (issue 17) -------------------------------------------------------------

def design_photo_get(*, workspace, photo_id: int) -> DesignPhoto:
    photo = DesignPhoto.objects.filter(workspace=workspace, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo in this workspace.")
    return photo


def _layer_data(spec, layer_id: str, layer) -> dict:
    box = [layer.box.x, layer.box.y, layer.box.w, layer.box.h]
    if isinstance(layer, TextLayer):
        return {"id": layer_id, "type": "text", "label": layer.label, "box": box,
                "fonts": design.allowed_fonts(spec, layer),
                "colors": design.allowed_colors(spec, layer), "max_chars": layer.max_chars,
                "required": layer.required, "align": layer.align}
    return {"id": layer_id, "type": "photo", "label": layer.label, "box": box,
            "required": layer.required, "mask": layer.mask}


def editor_page(request, t) -> dict:
    """What the editor page shows: the layers (for the canvas, as JSON), the state to start
    from (the saved design, else the template with the buyer's personalisation), the
    photos, the versions of the side (history) and the 3D shape."""
    from django.urls import reverse

    from fulfillment.printfiles.services import _values, approved_sides

    saved = Design.objects.filter(line_item_id=t.line.pk, side=t.side).select_related(
        "approved_print_file").first()
    values, _ = _values(t.line)
    state = saved.state if saved is not None and saved.state else design.initial_state(
        t.spec, values)
    photos = [{"id": p.pk, "url": reverse("fulfillment:design_photo", args=[p.pk]),
               "width": p.width_px, "height": p.height_px, "name": p.name}
              for p in DesignPhoto.objects.filter(line_item_id=t.line.pk,
                                                  workspace_id=t.order.workspace_id)
              .order_by("pk")]
    versions = list(PrintFile.objects.filter(line_item_id=t.line.pk, side=t.side,
                                             workspace_id=t.order.workspace_id)
                    .order_by("-version"))
    rendering = Render.objects.filter(line_item_id=t.line.pk, status__in=[
        RenderStatus.PENDING, RenderStatus.RUNNING]).exists()
    args = [t.order.pk, t.line.pk, t.side]
    newest = versions[0] if versions else None
    approved = saved.approved_print_file if saved is not None and saved.is_approved else None
    locked = t.locked_reason
    editor_data = {
        "area": {"width_in": t.spec.width_in, "height_in": t.spec.height_in},
        "layers": [_layer_data(t.spec, i, layer) for i, layer in design.editable(t.spec).items()],
        "state": state, "photos": photos,
        "locked": bool(locked or approved),
        "urls": {"preview": reverse("fulfillment:design_preview", args=args),
                 "photos": reverse("fulfillment:design_photo_upload", args=args)},
    }
    current = {e.get("id"): e for e in state.get("layers", []) if isinstance(e, dict)}
    layers = []
    for data in editor_data["layers"]:
        cur = dict(current.get(data["id"], {}))
        box = cur.get("box") or data["box"]
        crop = cur.get("crop") or [0, 0, 1, 1]
        zoom = round(1 / max(0.05, min(crop[2] - crop[0], crop[3] - crop[1])), 2)
        layers.append({**data, "cur": cur, "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                       "zoom": zoom, "cx": round((crop[0] + crop[2]) / 2, 3),
                       "cy": round((crop[1] + crop[3]) / 2, 3)})
    shape = t.product.shape
    return {
        "editor_layers": layers,
        "order": t.order, "line": t.line, "side": t.side, "target": t, "product": t.product,
        "editor_data": editor_data, "versions": versions, "newest": newest,
        "approved": approved, "approved_sides": approved_sides(t.line.pk),
        "rendering": rendering, "locked_reason": locked, "shape": shape,
        "state_json": json.dumps(state),
        "three_texture": reverse("fulfillment:preview", args=[newest.pk])
        if newest is not None and newest.preview else "",
        "three_fallback": reverse("fulfillment:mockup", args=[newest.pk])
        if newest is not None and newest.mockup else (
            reverse("fulfillment:preview", args=[newest.pk])
            if newest is not None and newest.preview else ""),
    }
