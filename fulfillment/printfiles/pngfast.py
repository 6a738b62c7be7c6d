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
- Pillow and zlib release the GIL, so strips compress on every core;
- zlib-ng (when installed, as PodHub's dependencies ask) deflates the same
  format about twice as fast as the system zlib at low levels.

Choosing per strip rather than per row gives files close to Pillow's per-row
adaptive choice (docs/benchmarks.md has the figures).
"""

import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageChops

try:  # zlib-ng: the same deflate format, about 2x faster at low levels (docs/benchmarks.md)
    from zlib_ng import zlib_ng as deflate
except ImportError:  # pragma: no cover - the standard library's zlib works too, slower
    deflate = zlib

COLOR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
STRIP_ROWS = 128
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
    sub_size = len(deflate.compress(_sub(sample), 1))
    up_size = len(deflate.compress(_up(sample, above), 1))
    if up_size <= sub_size:
        return _with_filter_bytes(_up(strip, above), strip.height, b"\x02")
    return _with_filter_bytes(_sub(strip), strip.height, b"\x01")


def _deflate(img: Image.Image, top: int, bottom: int, level: int, last: bool
             ) -> tuple[int, int, bytes]:
    """Filter and deflate one strip: (adler32 of its filtered rows, their length, deflate)."""
    rows = _filtered_rows(img, top, bottom)
    comp = deflate.compressobj(level, deflate.DEFLATED, -15, 9)
    body = comp.compress(rows) + comp.flush(deflate.Z_FINISH if last else deflate.Z_SYNC_FLUSH)
    return deflate.adler32(rows), len(rows), body


_BASE = 65521


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """zlib's adler32_combine: the checksum of A+B from those of A and B (and B's length)."""
    rem = len2 % _BASE
    sum1 = adler1 & 0xFFFF
    sum2 = rem * sum1 % _BASE
    sum1 += (adler2 & 0xFFFF) + _BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _BASE - rem
    if sum1 >= _BASE:
        sum1 -= _BASE
    if sum1 >= _BASE:
        sum1 -= _BASE
    if sum2 >= (_BASE << 1):
        sum2 -= _BASE << 1
    if sum2 >= _BASE:
        sum2 -= _BASE
    return sum1 | (sum2 << 16)


def encode_png(img: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    write_png(buf, img, **options)
    return buf.getvalue()


def write_png(fp, img: Image.Image, *, dpi: int | None = None, compress_level: int = 2,
              icc_profile: bytes | None = None, threads: int | None = None,
              strip_rows: int = STRIP_ROWS) -> int:
    """Write a PNG to the binary file `fp`; return the number of bytes written.

    The compressed stream goes out as it is made (one IDAT chunk per strip), so
    memory holds a few strips, never a second copy of the file.
    """
    if img.mode not in COLOR_TYPES:
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    img.load()
    width, height = img.size
    written = 0

    def put(data: bytes) -> None:
        nonlocal written
        fp.write(data)
        written += len(data)

    put(b"\x89PNG\r\n\x1a\n")
    put(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[img.mode],
                                    0, 0, 0)))
    if icc_profile:
        put(_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(icc_profile)))
    if dpi:
        per_metre = round(dpi / 0.0254)
        put(_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
    bounds = [(top, min(height, top + strip_rows)) for top in range(0, height, strip_rows)]
    workers = threads or min(8, os.cpu_count() or 1)
    adler = 1
    header = b"\x78\x01"  # zlib header: deflate, 32 K window, no dictionary
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # A window of strips in flight: finished strips are written and freed in order.
        window = workers + 2
        last = len(bounds) - 1
        futures = [pool.submit(_deflate, img, t, b, compress_level, i == last)
                   for i, (t, b) in enumerate(bounds[:window])]
        for done in range(len(bounds)):
            strip_adler, length, body = futures[done].result()
            futures[done] = None
            adler = adler32_combine(adler, strip_adler, length)
            if done == 0:
                body = header + body
            if done == last:
                body += struct.pack(">I", adler & 0xFFFFFFFF)
            put(_chunk(b"IDAT", body))
            nxt = done + window
            if nxt < len(bounds):
                t, b = bounds[nxt]
                futures.append(pool.submit(_deflate, img, t, b, compress_level, nxt == last))
    put(_chunk(b"IEND", b""))
    return written
