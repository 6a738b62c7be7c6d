"""Render a design template with a line's personalisation: pure Pillow, no Django.

`render()` composes the layers in order on a canvas of the print area at the
template's DPI and returns the image plus the preflight problems found on
the way (missing fields, low-resolution photos, text that overflows even at
its minimum size, characters no font has, refused images). The renderer
never raises for bad *input*: it reports it. A bad *template* is a
SpecError at parse time.

Every layer is drawn into a tile of its own box and composited onto the
canvas in place (`imaging.composite`), so cost and memory follow the layers'
sizes, and the only full-size buffer is the canvas itself.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image, ImageChops, ImageDraw

from fulfillment.printfiles import fonts
from fulfillment.printfiles.imaging import composite
from fulfillment.printfiles.loading import MAX_PIXELS, LoadedImage, open_image
from fulfillment.printfiles.problems import Code, ImageRefused, Problem, Severity
from fulfillment.printfiles.spec import (
    BackgroundLayer,
    ImageLayer,
    TemplateSpec,
    TextLayer,
    normalize_key,
)

TRANSPARENT = (0, 0, 0, 0)


@dataclass
class RenderResult:
    image: Image.Image
    dpi: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors


def pt_to_px(pt: float, dpi: int) -> int:
    return max(1, round(pt * dpi / 72))


def image_target_px(spec: TemplateSpec, key: str) -> tuple[int, int] | None:
    """The largest box an image key fills, in pixels: lets JPEG decode at reduced scale."""
    boxes = [layer.box.px(spec.dpi)[2:] for layer in spec.layers
             if isinstance(layer, ImageLayer) and normalize_key(layer.key) == normalize_key(key)]
    if not boxes:
        return None
    return max(b[0] for b in boxes), max(b[1] for b in boxes)


def render(spec: TemplateSpec, *, values: Mapping[str, str] | None = None,
           images: Mapping[str, bytes | LoadedImage | Image.Image | ImageRefused | None]
           | None = None, assets: Mapping[str, Image.Image] | None = None,
           max_pixels: int = MAX_PIXELS) -> RenderResult:
    """Compose the print file. `values`/`images` are keyed by personalisation key.

    An image given as the file's bytes is decoded (safely, `loading.open_image`,
    at reduced scale when the box is much smaller) just before its layer is
    drawn and dropped after it, so only one decoded photo is in memory at once.
    """
    vals = {normalize_key(k): v for k, v in (values or {}).items()}
    imgs = {normalize_key(k): v for k, v in (images or {}).items()}
    assets = assets or {}
    problems: list[Problem] = []
    canvas = Image.new("RGBA", spec.size_px, TRANSPARENT)
    for layer in spec.layers:
        if isinstance(layer, BackgroundLayer):
            _background(canvas, layer, assets, problems)
        elif isinstance(layer, TextLayer):
            value = vals.get(normalize_key(layer.key))
            _text(canvas, layer, "" if value is None else str(value), spec.dpi, problems)
        elif isinstance(layer, ImageLayer):
            if layer.asset:
                source = assets.get(layer.asset)
                if source is None:
                    problems.append(Problem(Code.MISSING_ASSET, f"The template's artwork "
                                            f"\"{layer.asset}\" is missing.", layer.label))
                    continue
                _image(canvas, layer, source, source.size, spec, assets, problems,
                       check_resolution=False)
                continue
            source = imgs.get(normalize_key(layer.key))
            if isinstance(source, bytes | bytearray):
                try:
                    source = open_image(bytes(source), max_pixels=max_pixels,
                                        draft_size=layer.box.px(spec.dpi)[2:])
                except ImageRefused as exc:
                    source = exc
            if isinstance(source, ImageRefused):
                problems.append(source.problem(layer.label))
            elif source is None:
                if layer.required:
                    problems.append(Problem(Code.MISSING_FIELD, f"The image \"{layer.label}\" is "
                                            "required but none was given.", layer.label))
            elif isinstance(source, LoadedImage):
                _image(canvas, layer, source.image, source.source_size, spec, assets, problems)
            else:
                _image(canvas, layer, source, source.size, spec, assets, problems)
    image = canvas
    background = next((layer for layer in spec.layers if isinstance(layer, BackgroundLayer)),
                      None)
    if background is not None and background.color is not None and background.color[3] == 255:
        image = canvas.convert("RGB")  # opaque: a quarter smaller and faster to encode
    return RenderResult(image=image, dpi=spec.dpi, problems=problems)


# --- background ---------------------------------------------------------------------


def _background(canvas: Image.Image, layer: BackgroundLayer, assets, problems) -> None:
    if layer.color is not None:
        canvas.paste(layer.color, (0, 0, *canvas.size))
    if layer.asset:
        art = assets.get(layer.asset)
        if art is None:
            problems.append(Problem(Code.MISSING_ASSET, f"The template's background "
                                    f"\"{layer.asset}\" is missing.", layer.name))
            return
        tile = _cover(art, canvas.size).convert("RGBA")
        composite(canvas, tile, 0, 0)


def _cover(img: Image.Image, size: tuple[int, int],
           crop: tuple[float, float, float, float] | None = None) -> Image.Image:
    """Scale to fill `size`, centred, cutting what overflows (one resampling pass)."""
    left, top, right, bottom = _crop_box(img, crop)
    cw, ch = right - left, bottom - top
    w, h = size
    scale = max(w / cw, h / ch)
    vw, vh = w / scale, h / scale  # the part of the source that shows
    box = (left + (cw - vw) / 2, top + (ch - vh) / 2, left + (cw + vw) / 2, top + (ch + vh) / 2)
    return img.resize(size, _filter(scale), box=box, reducing_gap=3.0)


def _filter(scale: float) -> Image.Resampling:
    """Lanczos to shrink (sharp, no aliasing); bicubic to enlarge (as smooth, half the cost)."""
    return Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC


def _cover_in_bands(canvas: Image.Image, img: Image.Image, box: tuple[int, int, int, int],
                    crop, band_rows: int = 512) -> None:
    """An opaque photo filling its box: resized band by band straight into the canvas.

    "Over" with an opaque source is a plain copy, so each band is pasted; and
    no full-size tile (nor the resampler's full-size intermediate) is ever
    held. Each band's source rows are the exact slice of the same source box,
    and the filter reads its support from the whole image, so bands join
    without seams.
    """
    x, y, w, h = box
    left, top, right, bottom = _crop_box(img, crop)
    cw, ch = right - left, bottom - top
    scale = max(w / cw, h / ch)
    vw, vh = w / scale, h / scale
    sx0, sy0 = left + (cw - vw) / 2, top + (ch - vh) / 2
    resample = _filter(scale)
    for r0 in range(0, h, band_rows):
        r1 = min(h, r0 + band_rows)
        src = (sx0, sy0 + r0 / scale, sx0 + vw, sy0 + r1 / scale)
        band = img.resize((w, r1 - r0), resample, box=src, reducing_gap=3.0)
        canvas.paste(band, (x, y + r0))


def _crop_box(img: Image.Image, crop) -> tuple[float, float, float, float]:
    if not crop:
        return 0.0, 0.0, float(img.width), float(img.height)
    return crop[0] * img.width, crop[1] * img.height, crop[2] * img.width, crop[3] * img.height


# --- text ---------------------------------------------------------------------------


def _text(canvas: Image.Image, layer: TextLayer, value: str, dpi: int,
          problems: list[Problem]) -> None:
    text = value.strip() or layer.default
    if not text:
        if layer.required:
            problems.append(Problem(Code.MISSING_FIELD, f"\"{layer.label}\" is required but "
                                    "empty.", layer.label))
        return
    if len(text) > layer.max_chars:
        problems.append(Problem(Code.TEXT_TOO_LONG, f"\"{layer.label}\" has {len(text)} "
                                f"characters; at most {layer.max_chars} fit this design.",
                                layer.label))
        text = text[:layer.max_chars]
    if layer.uppercase:
        text = text.upper()
    primary = fonts.FONTS[layer.font]
    lines = [line.strip() for line in text.splitlines()] or [""]
    _, _, bw, bh = layer.box.px(dpi)
    hi, lo = pt_to_px(layer.size_pt, dpi), pt_to_px(layer.min_size_pt, dpi)

    def measure(px: int):
        laid = [fonts.layout_line(line, primary, px) for line in lines]
        ascent, descent = fonts.metrics(primary, px)
        step = round((ascent + descent) * layer.line_spacing)
        height = ascent + descent + step * (len(lines) - 1)
        width = max(line.width for line, _ in laid)
        return laid, ascent, step, width, height

    def fits(px: int) -> bool:
        *_, width, height = measure(px)
        return width <= bw and height <= bh

    size = None
    if fits(hi):
        size = hi
    elif fits(lo):
        low, high = lo, hi  # fits(low), not fits(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        size = low
    else:
        size = lo
        shown = text if len(text) <= 40 else text[:37] + "…"
        problems.append(Problem(Code.TEXT_OVERFLOW, f"\"{shown}\" does not fit the "
                                f"\"{layer.label}\" box even at the minimum size "
                                f"{layer.min_size_pt:g} pt: shorten the text.", layer.label))
    laid, ascent, step, _, height = measure(size)
    missing = set().union(*(m for _, m in laid))
    if missing:
        chars = " ".join(sorted(missing))[:60]
        problems.append(Problem(Code.MISSING_GLYPHS, f"\"{layer.label}\" has characters that "
                                f"no PodHub font can print: {chars}", layer.label))
    if not fonts.HAS_RAQM and fonts.needs_complex_layout(text):
        problems.append(Problem(Code.NO_COMPLEX_LAYOUT, f"\"{layer.label}\" has right-to-left "
                                "script or emoji sequences, but this server lacks the raqm "
                                "layout engine: check the preview, the text may be shown in "
                                "the wrong order or unjoined.", layer.label, Severity.WARNING))
    tile = Image.new("RGBA", (bw, bh), TRANSPARENT)
    top = {"top": 0, "middle": (bh - height) / 2, "bottom": bh - height}[layer.valign]
    for i, (line, _) in enumerate(laid):
        x = {"left": 0, "center": (bw - line.width) / 2, "right": bw - line.width}[layer.align]
        fonts.draw_line(tile, line, x=x, baseline=top + ascent + i * step, size=size,
                        fill=layer.color)
    _place(canvas, tile, layer.box.px(dpi), layer.rotation)


def _place(canvas: Image.Image, tile: Image.Image, box: tuple[int, int, int, int],
           rotation: float) -> None:
    """Composite a box-sized tile, turned `rotation` degrees clockwise about the box centre."""
    left, top, bw, bh = box
    if rotation % 360:
        tile = tile.rotate(-rotation, resample=Image.Resampling.BICUBIC, expand=True)
        left += (bw - tile.width) // 2
        top += (bh - tile.height) // 2
    composite(canvas, tile, left, top)


# --- images -------------------------------------------------------------------------


def _image(canvas: Image.Image, layer: ImageLayer, img: Image.Image,
           source_size: tuple[int, int], spec: TemplateSpec, assets,
           problems: list[Problem], *, check_resolution: bool = True) -> None:
    dpi = spec.dpi
    _, _, bw, bh = layer.box.px(dpi)
    left, top, right, bottom = _crop_box(img, layer.crop)
    cw, ch = right - left, bottom - top
    scale = max(bw / cw, bh / ch) if layer.fit == "cover" else min(bw / cw, bh / ch)
    # Decoded at reduced scale (JPEG draft)? Judge the resolution of the original.
    decoded_factor = source_size[0] / img.width
    effective = dpi / scale * decoded_factor
    if check_resolution and effective < spec.min_effective_dpi - 0.5:
        need_w = math.ceil(layer.box.w * spec.min_effective_dpi)
        need_h = math.ceil(layer.box.h * spec.min_effective_dpi)
        problems.append(Problem(
            Code.LOW_RESOLUTION,
            f"The image for \"{layer.label}\" is {source_size[0]} × {source_size[1]} px: printed "
            f"{layer.box.w:g} × {layer.box.h:g} in it is {effective:.0f} DPI, below the "
            f"{spec.min_effective_dpi} DPI minimum. Use an image of at least {need_w} × "
            f"{need_h} px.", layer.label))
    if (layer.fit == "cover" and img.mode == "RGB" and not layer.mask
            and not layer.rotation % 360):
        _cover_in_bands(canvas, img, layer.box.px(dpi), layer.crop)
        return
    if layer.fit == "cover":
        tile = _cover(img, (bw, bh), layer.crop)
        offset = (0, 0)
    else:
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        tile = img.resize(size, _filter(scale), box=(left, top, right, bottom),
                          reducing_gap=3.0)
        offset = ((bw - size[0]) // 2, (bh - size[1]) // 2)
    if tile.mode == "RGB" and not layer.mask and offset == (0, 0) and not layer.rotation % 360:
        # Opaque and box-filling: "over" is a plain copy; no alpha channel, no blending.
        left, top, _, _ = layer.box.px(dpi)
        canvas.paste(tile, (left, top))
        return
    tile = tile.convert("RGBA") if tile.mode != "RGBA" else tile
    if layer.mask:
        mask = _mask(layer.mask, tile.size, assets, problems, layer.label)
        if mask is not None:
            tile.putalpha(ImageChops.multiply(tile.getchannel("A"), mask))
    if offset != (0, 0):
        framed = Image.new("RGBA", (bw, bh), TRANSPARENT)
        framed.paste(tile, offset)
        tile = framed
    _place(canvas, tile, layer.box.px(dpi), layer.rotation)


def _mask(name: str, size: tuple[int, int], assets, problems, label) -> Image.Image | None:
    if name == "ellipse":
        big = Image.new("L", (size[0] * 2, size[1] * 2), 0)
        ImageDraw.Draw(big).ellipse((0, 0, big.width - 1, big.height - 1), fill=255)
        return big.resize(size, Image.Resampling.BOX)
    asset = assets.get(name.removeprefix("asset:"))
    if asset is None:
        problems.append(Problem(Code.MISSING_ASSET, f"The template's mask \"{name}\" is "
                                "missing.", label))
        return None
    grey = asset.getchannel("A") if asset.mode == "RGBA" else asset.convert("L")
    return grey.resize(size, Image.Resampling.LANCZOS)
