"""Seller-supplied artwork (issue 17): a print file the seller uploads or links, per order
line and side, in place of the template render (docs/print-files.md, "Seller-supplied
artwork").

    artwork_supply   check the target, read the file (an upload, or a link fetched through
                     the outbound policy), decode it by content, preflight it, then store
                     it as the side's next PrintFile version and apply preflight to the
                     order (hold / release) under the order's lock
    prepare          bytes in, a checked print file out (or ImageRefused with the reason)

The file is judged by its bytes, never by its name or declared type: PNG and JPEG are
decoded by `loading.open_image` (pixel cap from the header: a decompression bomb is
refused undecoded); a PDF is rasterised at 300 DPI by PDFium (first and only page: a PDF
with more pages is refused); SVG is refused with the reason (it can carry scripts and
outside references, and rasterising it safely needs a renderer we do not ship).
Everything before the write happens outside any transaction: a refusal stores nothing
and leaves the order as it was.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max

from fulfillment.models import DesignTemplate, PrintFile, PrintFileSource
from fulfillment.printfiles import conf, loading, output
from fulfillment.printfiles.problems import Code, ImageRefused, Problem, Severity
from fulfillment.printfiles.services import (
    PrintFilesLocked,
    apply_preflight,
    approved_sides,
    locked_reason,
)
from fulfillment.printfiles.spec import MIN_EFFECTIVE_DPI, SpecError, parse_spec
from orders import services as order_services
from orders.events import Actor, OrderEvents
from orders.models import LineItem, Order
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from quotes.models import ArtworkSource, Product, Variant

PDF_DPI = 300
# A request carrying artwork: the file plus a few form fields. A bigger body is refused
# with 413 before it is read (podhub/core/uploads.py, upload_limit).
BODY_LIMIT = conf.max_upload_bytes() + 64 * 1024
# The artwork's shape may differ this much from the print area's before we say so
# (a warning), and this much before it cannot be printed as it is (an error).
FIT_WARNING = 0.02
FIT_ERROR = 0.10
ARTWORK_CONTENT_TYPES = ("image/png", "image/jpeg", "image/jpg", "application/pdf",
                         "application/octet-stream", "binary/octet-stream")


class ArtworkRefused(ValidationFailed):
    """The artwork cannot be used; the message says why (400, or 413 when too big)."""

    code = "artwork_refused"

    def __init__(self, message: str, *, reason: str):
        super().__init__(message, reason=reason)
        self.reason = reason
        if reason == Code.TOO_LARGE:
            self.status = 413
            self.code = "too_large"


@dataclass(frozen=True)
class PrintArea:
    """Where the artwork goes, in inches; None when nobody told us the size."""

    width_in: float | None
    height_in: float | None
    min_dpi: int = MIN_EFFECTIVE_DPI

    @property
    def known(self) -> bool:
        return bool(self.width_in and self.height_in)


@dataclass
class Prepared:
    content: bytes
    format: str  # png, jpeg
    preview: bytes
    size: tuple[int, int]
    dpi: int
    problems: list[Problem]
    kind: str  # what the seller sent: png, jpeg, pdf


# --- reading the bytes ------------------------------------------------------------------------


_SVG_SCRIPT = re.compile(rb"<script|\son[a-z]+\s*=|javascript:", re.I)
_SVG_OUTSIDE = re.compile(rb"(?:xlink:)?href\s*=\s*[\"'](?!#)|<!entity|url\(\s*[\"']?(?!#)",
                          re.I)


def _svg_refusal(data: bytes) -> ImageRefused:
    if _SVG_SCRIPT.search(data):
        why = "this one contains a script"
    elif _SVG_OUTSIDE.search(data):
        why = "this one refers to outside files or entities"
    else:
        why = "SVG can carry scripts and outside references, and has no fixed resolution"
    return ImageRefused(Code.SVG_REFUSED, f"SVG artwork is not accepted: {why}. Export it "
                        "as a PNG at 300 DPI, or as a one-page PDF.")


def _pdf(data: bytes, *, max_pixels: int) -> loading.LoadedImage:
    """The PDF's one page rasterised at 300 DPI on white. PDFium runs no JavaScript here:
    forms are never initialised, so only the page's own content is drawn."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ImageRefused(Code.CORRUPT_IMAGE, f"The PDF cannot be read ({exc}).") from None
    try:
        pages = len(pdf)
        if pages != 1:
            raise ImageRefused(Code.PDF_REFUSED, f"The PDF has {pages} pages; artwork must be "
                               "a PDF of one page (one file per side).")
        page = pdf[0]
        width_pt, height_pt = page.get_size()
        size = (round(width_pt / 72 * PDF_DPI), round(height_pt / 72 * PDF_DPI))
        if size[0] < 1 or size[1] < 1:
            raise ImageRefused(Code.CORRUPT_IMAGE, "The PDF's page has no size.")
        if size[0] * size[1] > max_pixels:
            raise ImageRefused(Code.TOO_MANY_PIXELS, f"The PDF's page is {width_pt / 72:.1f} × "
                               f"{height_pt / 72:.1f} in: at {PDF_DPI} DPI that is {size[0]} × "
                               f"{size[1]} px, more than {max_pixels / 1e6:.0f} million pixels. "
                               "Make the page the size of the print area.")
        try:
            image = page.render(scale=PDF_DPI / 72, fill_color=(255, 255, 255, 255)).to_pil()
        except pdfium.PdfiumError as exc:
            raise ImageRefused(Code.CORRUPT_IMAGE, f"The PDF's page cannot be drawn ({exc}).") \
                from None
    finally:
        pdf.close()
    return loading.LoadedImage(image=image.convert("RGB"), format="PDF", source_size=image.size,
                               nbytes=len(data), source_mode="RGB")


def decode(data: bytes, *, max_pixels: int) -> loading.LoadedImage:
    """Artwork bytes, judged by content: PNG, JPEG or a one-page PDF; anything else refused."""
    if not data:
        raise ImageRefused(Code.CORRUPT_IMAGE, "The file is empty.")
    if loading.looks_like_svg(data):
        raise _svg_refusal(data)
    if data.lstrip()[:5] == b"%PDF-":
        return _pdf(data, max_pixels=max_pixels)
    loaded = loading.open_image(data, max_pixels=max_pixels)
    if loaded.format not in ("PNG", "JPEG"):
        raise ImageRefused(Code.UNSUPPORTED_IMAGE, f"This is a {loaded.format} image; artwork "
                           "must be a PNG, a JPEG or a one-page PDF.")
    return loaded


# --- preflight -------------------------------------------------------------------------------


def preflight(loaded: loading.LoadedImage, area: PrintArea) -> tuple[list[Problem], int]:
    """DPI at print size, fit to the print area, colour mode: the problems and the DPI."""
    problems: list[Problem] = []
    width, height = loaded.source_size
    dpi = PDF_DPI
    if area.known:
        dpi = math.floor(min(width / area.width_in, height / area.height_in))
        if dpi < area.min_dpi:
            need = (math.ceil(area.width_in * area.min_dpi),
                    math.ceil(area.height_in * area.min_dpi))
            problems.append(Problem(
                Code.LOW_RESOLUTION, f"The artwork is {width} × {height} px: printed "
                f"{area.width_in:g} × {area.height_in:g} in it is {dpi} DPI, below the "
                f"{area.min_dpi} DPI minimum. Use artwork of at least {need[0]} × {need[1]} px.",
                "artwork"))
        off = abs(math.log((width / height) / (area.width_in / area.height_in)))
        if off > FIT_WARNING:
            severity = Severity.ERROR if off > FIT_ERROR else Severity.WARNING
            want = (round(area.width_in * 300), round(area.height_in * 300))
            problems.append(Problem(
                Code.NOT_FITTING, f"The artwork's shape ({width} × {height} px) does not fit "
                f"the {area.width_in:g} × {area.height_in:g} in print area"
                + (": it would be cut or leave blank bands." if severity == Severity.ERROR
                   else ": it will be centred with thin blank bands.")
                + f" At 300 DPI the print area is {want[0]} × {want[1]} px.", "artwork",
                severity))
    else:
        problems.append(Problem(
            Code.NO_PRINT_SIZE, "PodHub has no print size for this product yet, so the "
            "artwork's resolution could not be checked; staff check it before printing.",
            "artwork", Severity.WARNING))
    if loaded.source_mode == "CMYK":
        problems.append(Problem(
            Code.COLOUR_CONVERTED, "The artwork is CMYK: it was converted to sRGB, the colour "
            "space print providers expect, so colours may shift slightly. Supply RGB artwork "
            "for exact colours.", "artwork", Severity.WARNING))
    return problems, max(dpi, 1)


def prepare(data: bytes, area: PrintArea, *, max_pixels: int | None = None) -> Prepared:
    """Checked, preflighted artwork ready to store; ImageRefused when it cannot be used."""
    loaded = decode(data, max_pixels=max_pixels or conf.max_pixels())
    problems, dpi = preflight(loaded, area)
    kind = loaded.format.lower()
    plain = (loaded.source_mode in ("RGB", "RGBA", "L", "LA", "P", "1")
             and not loaded.had_profile)
    if kind in ("png", "jpeg") and plain:
        content, fmt = data, kind  # already what a provider prints: kept byte for byte
    elif kind == "jpeg":
        content, fmt = output.encode_jpeg(loaded.image, dpi=dpi), "jpeg"
    else:  # a PDF's page, or a PNG with a profile or 16-bit channels: our sRGB PNG
        content = output.encode_png(loaded.image, dpi=dpi, compress_level=conf.png_level())
        fmt = "png"
    return Prepared(content=content, format=fmt, preview=output.preview(loaded.image),
                    size=loaded.source_size, dpi=dpi, problems=problems, kind=kind)


# --- where it goes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    order: Order
    line: LineItem
    product: Product
    templates: dict[str, DesignTemplate]  # active templates by side

    @property
    def sides(self) -> list[str]:
        return sides_for(self.product.artwork_source, self.templates)

    def area(self, side: str) -> PrintArea:
        template = self.templates.get(side)
        if template is not None:
            try:
                spec = parse_spec(template.spec)
                return PrintArea(spec.width_in, spec.height_in, spec.min_effective_dpi)
            except SpecError:
                pass
        if self.product.print_width_in and self.product.print_height_in:
            return PrintArea(float(self.product.print_width_in),
                             float(self.product.print_height_in))
        return PrintArea(None, None)


def sides_for(source: str, template_sides) -> list[str]:
    """The sides a seller may supply artwork for, by the product's artwork source."""
    if source == ArtworkSource.TEMPLATE:
        return []
    if source == ArtworkSource.SELLER:
        return ["front"]
    return sorted(set(template_sides) | {"front"})


def seller_may_supply(product: Product) -> bool:
    return product.artwork_source != ArtworkSource.TEMPLATE


def target(*, workspace, order_id: int, line_id: int) -> Target:
    """The order line artwork is for, in this workspace; NotFound for any other."""
    order = Order.objects.filter(workspace=workspace, pk=order_id).first()
    line = (LineItem.objects.filter(workspace=workspace, order_id=order_id, pk=line_id).first()
            if order is not None else None)
    if order is None or line is None:
        raise NotFound("No such item in this workspace.")
    if not line.catalog_variant_id:
        raise ValidationFailed("This item is not connected to a catalog product yet: artwork "
                               "can be added once it is priced.")
    product = Product.objects.get(pk=Variant.objects.filter(pk=line.catalog_variant_id)
                                  .values("product_id")[:1])
    templates = {}
    if product.artwork_source != ArtworkSource.SELLER:
        templates = {t.side: t for t in DesignTemplate.objects.filter(product=product,
                                                                      is_active=True)}
    return Target(order=order, line=line, product=product, templates=templates)


def _check(t: Target, side: str) -> None:
    if t.order.is_locked:
        raise PrintFilesLocked(locked_reason(t.order))
    if not seller_may_supply(t.product):
        raise ValidationFailed(f"{t.product.name} is printed from its design template: edit "
                               "the personalisation instead of uploading artwork.",
                               field="side")
    if side not in t.sides:
        raise ValidationFailed(f"{t.product.name} has no side \"{side}\"; its sides are "
                               f"{', '.join(t.sides)}.", field="side")
    if side in approved_sides(t.line.pk):
        raise Conflict(f"The {side}'s design is approved for submission: reopen it in the "
                       "design editor before replacing it with artwork.")


def _read(upload, url: str) -> tuple[bytes, dict]:
    url = (url or "").strip()
    if (upload is None) == (not url):
        raise ValidationFailed("Upload a file or give a link to it (one of the two).",
                               field="file")
    if upload is not None:
        data = loading.read_capped(upload, max_bytes=conf.max_upload_bytes())
        name = str(getattr(upload, "name", "") or "")[:200]
        return data, {"from": "upload", "name": name}
    data = loading.fetch_url(url, max_bytes=conf.max_upload_bytes(),
                             timeout=conf.download_timeout(),
                             content_types=ARTWORK_CONTENT_TYPES,
                             accept="image/png, image/jpeg, application/pdf")
    return data, {"from": "link", "url": url[:1000]}


def artwork_supply(*, workspace, order_id: int, line_id: int, side: str, actor: Actor,
                   upload=None, url: str = "") -> PrintFile:
    """The seller's artwork for one side of one line: the side's next print-file version.

    Refused (ArtworkRefused: 400, 413 when too big; PrintFilesLocked: 409) with nothing
    stored and the order unchanged. Accepted, it replaces the template render of that side
    and the order is held or released by preflight like after a render.
    """
    t = target(workspace=workspace, order_id=order_id, line_id=line_id)
    _check(t, side)
    try:
        data, origin = _read(upload, url)
        prepared = prepare(data, t.area(side))
    except ImageRefused as exc:
        raise ArtworkRefused(exc.message, reason=exc.code) from None
    del data
    return _store(t, side, prepared, origin, actor)


def _store(t: Target, side: str, art: Prepared, origin: dict, actor: Actor) -> PrintFile:
    with transaction.atomic():
        order = order_services.lock_order(t.order.pk)
        if order.is_locked:  # submitted while the file was being read
            raise PrintFilesLocked(locked_reason(order))
        version = (PrintFile.objects.filter(line_item_id=t.line.pk, side=side)
                   .aggregate(v=Max("version"))["v"] or 0) + 1
        pf = PrintFile(
            workspace_id=order.workspace_id, order=order, line_item=t.line, side=side,
            source=PrintFileSource.SELLER, template=None, version=version, format=art.format,
            width_px=art.size[0], height_px=art.size[1], dpi=art.dpi,
            size_bytes=len(art.content), problems=[p.as_dict() for p in art.problems],
            has_errors=any(p.is_error for p in art.problems),
            inputs={"artwork": {**origin, "kind": art.kind}})
        stem = f"{side}-v{version}-artwork-{uuid.uuid4().hex[:12]}"
        pf.file.save(f"{stem}.{'jpg' if art.format == 'jpeg' else art.format}",
                     ContentFile(art.content), save=False)
        pf.preview.save(f"{stem}-preview.webp", ContentFile(art.preview), save=False)
        pf.save()
        position = list(LineItem.objects.filter(order=order).order_by("id")
                        .values_list("pk", flat=True)).index(t.line.pk) + 1
        verdict = ("it needs fixing" if pf.has_errors else "it passes preflight")
        order_services.record_event(
            order=order, type=OrderEvents.NOTE_ADDED, actor=actor,
            message=f"Artwork added for item {position} ({t.line.title}), {side}: version "
            f"{version}, {art.size[0]} × {art.size[1]} px; {verdict}.",
            data={"print_file_id": pf.pk, "side": side, "line_item_id": t.line.pk})
        apply_preflight(order)
    return pf
