"""Files out: the print file (PNG or JPEG at its DPI, sRGB), the preview, the mock-up.

Every print file carries its resolution (PNG pHYs, JPEG JFIF density) and an
sRGB ICC profile, so a provider's RIP reads 300 DPI and sRGB without guessing.
"""

import io

from PIL import Image, ImageChops

from fulfillment.printfiles.loading import SRGB_ICC
from fulfillment.printfiles.pngfast import write_png
from fulfillment.printfiles.spec import Mockup

PNG_COMPRESS_LEVEL = 2  # docs/benchmarks.md: the knee of time against size
JPEG_QUALITY = 95
PREVIEW_MAX_SIDE = 640
MOCKUP_MAX_SIDE = 1000


def encode_png(img: Image.Image, *, dpi: int, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    buf = io.BytesIO()
    write_print_png(buf, img, dpi=dpi, compress_level=compress_level)
    return buf.getvalue()


def write_print_png(fp, img: Image.Image, *, dpi: int,
                    compress_level: int = PNG_COMPRESS_LEVEL) -> int:
    """Stream the print file's PNG into `fp` (parallel strips, pngfast); bytes written."""
    return write_png(fp, img, dpi=dpi, compress_level=compress_level, icc_profile=SRGB_ICC)


def encode_png_pillow(img: Image.Image, *, dpi: int,
                      compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Pillow's own PNG writer (adaptive filters, one thread): the reference."""
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(dpi, dpi), compress_level=compress_level, icc_profile=SRGB_ICC)
    return buf.getvalue()


def flatten(img: Image.Image, background=(255, 255, 255)) -> Image.Image:
    if img.mode != "RGBA":
        return img.convert("RGB") if img.mode != "RGB" else img
    out = Image.new("RGB", img.size, background)
    out.paste(img, mask=img.getchannel("A"))
    return out


def encode_jpeg(img: Image.Image, *, dpi: int, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG on request: no transparency, so it is flattened onto white."""
    buf = io.BytesIO()
    flatten(img).save(buf, "JPEG", dpi=(dpi, dpi), quality=quality, subsampling=0,
                      optimize=False, icc_profile=SRGB_ICC)
    return buf.getvalue()


def _shrunk(img: Image.Image, max_side: int) -> Image.Image:
    factor = max(img.width, img.height) / max_side
    if factor <= 1:
        return img.copy()
    if factor >= 4:  # cheap integer reduction first, then a proper filter for the rest
        img = img.reduce(int(factor // 2))
    size = (max(1, round(img.width * max_side / max(img.size))),
            max(1, round(img.height * max_side / max(img.size))))
    return img.resize(size, Image.Resampling.LANCZOS)


def preview(img: Image.Image, *, max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """A small WebP of the print file for the order page (keeps transparency)."""
    small = _shrunk(img, max_side)
    buf = io.BytesIO()
    small.save(buf, "WEBP", quality=85, method=4)
    return buf.getvalue()


def mockup(photo: Image.Image, design: Image.Image, placement: Mockup, *,
           max_side: int = MOCKUP_MAX_SIDE) -> bytes:
    """The design placed on the product photo (multiplied, like ink on fabric), as JPEG."""
    base = flatten(photo)
    x, y, w, h = placement.box
    art = _shrunk(design, max(w, h) * 2)
    scale = min(w / art.width, h / art.height)
    size = (max(1, round(art.width * scale)), max(1, round(art.height * scale)))
    art = art.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    left, top = x + (w - size[0]) // 2, y + (h - size[1]) // 2
    region = base.crop((left, top, left + size[0], top + size[1]))
    alpha = art.getchannel("A")
    if placement.blend == "multiply":
        ink = flatten(art)
        printed = ImageChops.multiply(region, ink)
    else:
        printed = art.convert("RGB")
    region.paste(printed, mask=alpha)
    base.paste(region, (left, top))
    out = _shrunk(base, max_side)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=85)
    return buf.getvalue()
