"""Deterministic inputs for the render engine's tests: templates, photos, and the
golden-image comparison (tests/fulfillment/golden/*.png)."""

import io
import os
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PODHUB_UPDATE_GOLDEN") == "1"

# A pixel "differs" when any channel is off by more than this; FreeType and
# raqm builds differ in anti-aliasing by a few levels at glyph edges.
CHANNEL_TOLERANCE = 32
MAX_DIFFERING_FRACTION = 0.01


def photo(size=(300, 200)) -> Image.Image:
    """A smooth, asymmetric test photo: red rises left to right, green top to bottom."""
    w, h = size
    red = Image.linear_gradient("L").rotate(90).resize(size)
    green = Image.linear_gradient("L").resize(size)
    blue = Image.new("L", size, 90)
    img = Image.merge("RGB", (red.transpose(Image.Transpose.FLIP_LEFT_RIGHT), green, blue))
    ImageDraw.Draw(img).rectangle((w // 3, h // 3, w // 3 + w // 8, h // 3 + h // 8),
                                  fill=(255, 255, 255))
    return img


def png_bytes(img: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **params)
    return buf.getvalue()


def assert_matches_golden(name: str, img: Image.Image) -> None:
    path = GOLDEN_DIR / f"{name}.png"
    if UPDATE or not path.exists():
        if not UPDATE:
            raise AssertionError(f"no golden image {path}: run with PODHUB_UPDATE_GOLDEN=1")
        GOLDEN_DIR.mkdir(exist_ok=True)
        img.save(path, "PNG", optimize=True)
        return
    ref = Image.open(path)
    ref.load()
    assert ref.size == img.size, f"{name}: size {img.size} != golden {ref.size}"
    assert ref.mode == img.mode, f"{name}: mode {img.mode} != golden {ref.mode}"
    diff = ImageChops.difference(img, ref)
    bands = diff.split()
    worst = bands[0]
    for band in bands[1:]:
        worst = ImageChops.lighter(worst, band)
    differing = worst.point(lambda v: 255 if v > CHANNEL_TOLERANCE else 0).histogram()[255]
    fraction = differing / (img.width * img.height)
    if fraction > MAX_DIFFERING_FRACTION:
        out = Path(os.environ.get("PODHUB_ARTIFACTS", "test-artifacts"))
        out.mkdir(parents=True, exist_ok=True)
        img.save(out / f"golden-{name}-actual.png")
        raise AssertionError(f"{name}: {fraction:.2%} of pixels differ from {path} (allowed "
                             f"{MAX_DIFFERING_FRACTION:.0%}); actual saved to {out}")
