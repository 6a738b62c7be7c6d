"""A PNG writer that filters and deflates horizontal strips in parallel threads.

Pillow's PNG encoder runs on one core: on a 4500 × 5400 print file zlib is
most of the render time. This writer produces a standard PNG (one zlib stream
in IDAT, checked by Pillow and by the golden tests) the way pigz does:

- the image is cut into strips of rows; each strip is filtered in C with
  PNG's "Sub" or "Up" filter, whichever deflates a 16-row sample of the strip
  smaller (`ImageChops.subtract_modulo` of the strip and the strip shifted
  one pixel right is exactly Sub, each byte minus the same channel of the
  pixel to its left, modulo 256; shifted one row down it is Up);
- each strip is deflated on its own with a raw deflate stream ended by a
  sync flush (byte-aligned, so the pieces concatenate into one valid
  stream); the last strip finishes the stream;
- Pillow and zlib release the GIL, so strips compress on every core.

Choosing per strip rather than per row gives files close to Pillow's per-row
adaptive choice (docs/benchmarks.md has the figures).
"""

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageChops

COLOR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
STRIP_ROWS = 256
SAMPLE_ROWS = 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF)


def _sub(strip: Image.Image) -> bytes:
    left = Image.new(strip.mode, strip.size, 0)
    if strip.width > 1:
        left.paste(strip.crop((0, 0, strip.width - 1, strip.height)), (1, 0))
    return ImageChops.subtract_modulo(strip, left).tobytes()


def _up(strip: Image.Image, above: Image.Image | None) -> bytes:
    upper = Image.new(strip.mode, strip.size, 0)
    if above is not None:
        upper.paste(above, (0, 0))
    if strip.height > 1:
        upper.paste(strip.crop((0, 0, strip.width, strip.height - 1)), (0, 1))
    return ImageChops.subtract_modulo(strip, upper).tobytes()


def _with_filter_bytes(raw: bytes, rows: int, kind: bytes) -> bytes:
    stride = len(raw) // rows
    return b"".join(kind + raw[i:i + stride] for i in range(0, len(raw), stride))


def _filtered_rows(img: Image.Image, top: int, bottom: int) -> bytes:
    """One strip, filtered with Sub or Up, whichever deflates a sample of it smaller."""
    strip = img.crop((0, top, img.width, bottom))
    above = img.crop((0, top - 1, img.width, top)) if top > 0 else None
    sample = strip.crop((0, 0, strip.width, min(SAMPLE_ROWS, strip.height)))
    sub_size = len(zlib.compress(_sub(sample), 1))
    up_size = len(zlib.compress(_up(sample, above), 1))
    if up_size <= sub_size:
        return _with_filter_bytes(_up(strip, above), strip.height, b"\x02")
    return _with_filter_bytes(_sub(strip), strip.height, b"\x01")


def _deflate(img: Image.Image, top: int, bottom: int, level: int, last: bool
             ) -> tuple[bytes, bytes]:
    rows = _filtered_rows(img, top, bottom)
    comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    body = comp.compress(rows) + comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return rows, body


def encode_png(img: Image.Image, *, dpi: int | None = None, compress_level: int = 1,
               icc_profile: bytes | None = None, threads: int | None = None,
               strip_rows: int = STRIP_ROWS) -> bytes:
    if img.mode not in COLOR_TYPES:
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    img.load()
    width, height = img.size
    parts = [b"\x89PNG\r\n\x1a\n",
             _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[img.mode],
                                         0, 0, 0))]
    if icc_profile:
        parts.append(_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(icc_profile)))
    if dpi:
        per_metre = round(dpi / 0.0254)
        parts.append(_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
    bounds = [(top, min(height, top + strip_rows)) for top in range(0, height, strip_rows)]
    workers = threads or min(8, os.cpu_count() or 1)
    adler = 1
    idat = [b"\x78\x01"]  # zlib header: deflate, 32 K window, no dictionary
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Submit a window of strips at a time so finished strips are freed early.
        window = workers * 2
        futures = [pool.submit(_deflate, img, t, b, compress_level, i == len(bounds) - 1)
                   for i, (t, b) in enumerate(bounds[:window])]
        nxt = len(futures)
        for done in range(len(bounds)):
            rows, body = futures[done].result()
            futures[done] = None
            adler = zlib.adler32(rows, adler)
            idat.append(body)
            if nxt < len(bounds):
                t, b = bounds[nxt]
                futures.append(pool.submit(_deflate, img, t, b, compress_level,
                                           nxt == len(bounds) - 1))
                nxt += 1
    idat.append(struct.pack(">I", adler & 0xFFFFFFFF))
    stream = b"".join(idat)
    for start in range(0, len(stream), 1 << 20):
        parts.append(_chunk(b"IDAT", stream[start:start + (1 << 20)]))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)
