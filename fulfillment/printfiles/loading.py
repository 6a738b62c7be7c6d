"""Untrusted images in: size caps, format allow-list, pixel cap, colour to sRGB.

Everything a buyer or seller supplies passes through here before Pillow
decodes it:

- `read_capped` reads a file or stream in chunks and stops one chunk past the
  cap, so a 200 MB upload is refused without holding it in memory (and a
  Django upload whose declared size is too big is refused before any read).
- `open_image` sniffs the bytes: SVG is refused (it can carry scripts and has
  no resolution of its own), only PNG, JPEG, WebP and TIFF are decoded, the
  pixel count is checked from the header before decoding (a decompression
  bomb is refused with a reason, never decoded), and a truncated or corrupt
  file is reported as such.
- `to_srgb` applies the EXIF orientation and converts CMYK, grey, palette,
  16-bit and ICC-tagged images to sRGB (RGB or RGBA).
- `fetch_url` downloads through the outbound HTTP policy (podhub/core/outbound.py:
  http(s) only, resolved once and connected to the checked address, private
  addresses refused unless the operator allows them, redirects re-checked, an
  overall deadline as well as connect/read timeouts, the Content-Length and then
  the streamed body capped), and checks the content type.
"""

import io
import re
import warnings
from dataclasses import dataclass

import httpx
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from fulfillment.printfiles.problems import Code, ImageRefused
from podhub.core import outbound

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# 120 MP: a 30 x 40 in poster at 300 DPI. Pillow's own guard (MAX_IMAGE_PIXELS,
# an error at twice its value) stays as a second line behind this one.
MAX_PIXELS = 120_000_000
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")
ALLOWED_CONTENT_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp", "image/tiff",
                         "application/octet-stream", "binary/octet-stream")
CHUNK = 256 * 1024

_SRGB = ImageCms.createProfile("sRGB")
SRGB_ICC = ImageCms.ImageCmsProfile(_SRGB).tobytes()


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def read_capped(source, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """Read bytes, a file, a stream or a Django UploadedFile; refuse past max_bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageRefused(Code.TOO_LARGE, f"The file is {_mb(len(data))}; the limit is "
                               f"{_mb(max_bytes)}.")
        return data
    declared = getattr(source, "size", None)
    if isinstance(declared, int) and declared > max_bytes:
        raise ImageRefused(Code.TOO_LARGE, f"The file is {_mb(declared)}; the limit is "
                           f"{_mb(max_bytes)}.")
    buf = io.BytesIO()
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        buf.write(chunk)
        if buf.tell() > max_bytes:
            raise ImageRefused(Code.TOO_LARGE, f"The file is larger than the {_mb(max_bytes)} "
                               "limit.")
    return buf.getvalue()


def looks_like_svg(head: bytes) -> bool:
    text = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and (b"<svg" in text or text.startswith(b"<?xml")
                                      or text.startswith(b"<!doctype svg"))


def sniff(data: bytes) -> None:
    """Refuse what must never reach a decoder: SVG/XML, HTML, empty files."""
    if not data:
        raise ImageRefused(Code.CORRUPT_IMAGE, "The file is empty.")
    if looks_like_svg(data):
        raise ImageRefused(Code.SVG_REFUSED, "SVG files are not accepted: they can carry "
                           "scripts and have no fixed resolution. Upload a PNG or JPEG.")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise ImageRefused(Code.UNSUPPORTED_IMAGE, "This is a web page, not an image.")


@dataclass
class LoadedImage:
    image: Image.Image  # sRGB, RGB or RGBA, decoded
    format: str
    source_size: tuple[int, int]
    nbytes: int
    source_mode: str = ""  # before the conversion to sRGB: "CMYK", "RGB", "I;16" ...
    had_profile: bool = False  # an embedded ICC profile was applied


def open_image(data: bytes, *, max_pixels: int = MAX_PIXELS,
               draft_size: tuple[int, int] | None = None) -> LoadedImage:
    """Decode untrusted bytes into an sRGB image, or raise ImageRefused with the reason.

    `draft_size` lets JPEG decode at a reduced scale (DCT scaling) when the
    image will be shrunk to about that size anyway: much less time and memory.
    """
    sniff(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except UnidentifiedImageError:
            raise ImageRefused(Code.UNSUPPORTED_IMAGE, "Not a PNG, JPEG, WebP or TIFF image, or "
                               "the file is damaged.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many(None, max_pixels, str(exc)) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRefused(Code.CORRUPT_IMAGE, f"The image is damaged ({exc}).") from None
        width, height = img.size
        if width * height > max_pixels:
            raise _too_many(img.size, max_pixels)
        if width == 0 or height == 0:
            raise ImageRefused(Code.CORRUPT_IMAGE, "The image has no pixels.")
        fmt = img.format or ""
        source_mode, had_profile = img.mode, bool(img.info.get("icc_profile"))
        if draft_size and fmt == "JPEG":
            img.draft("RGB", draft_size)
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many(img.size, max_pixels, str(exc)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageRefused(Code.CORRUPT_IMAGE, "The image is damaged or cut short "
                               f"({exc}).") from None
    try:
        out = to_srgb(img)
    except (OSError, ValueError, ImageCms.PyCMSError) as exc:
        raise ImageRefused(Code.CORRUPT_IMAGE, f"The image's colours cannot be read ({exc}).") \
            from None
    return LoadedImage(image=out, format=fmt, source_size=(width, height), nbytes=len(data),
                       source_mode=source_mode, had_profile=had_profile)


def _too_many(size, max_pixels: int, pillow_says: str = "") -> ImageRefused:
    found = re.search(r"\((\d+) pixels\)", pillow_says)
    if size:
        what = f"{size[0]} × {size[1]} px"
    elif found:
        what = f"{int(found.group(1)) / 1e6:,.0f} million pixels"
    else:
        what = "too many pixels"
    return ImageRefused(Code.TOO_MANY_PIXELS, f"The image is {what}: more than "
                        f"{max_pixels / 1e6:.0f} million pixels is refused (it could be a "
                        "decompression bomb). Upload a smaller image.")


def to_srgb(img: Image.Image) -> Image.Image:
    """Upright, 8-bit, sRGB, RGB or RGBA; the ICC profile is applied, then dropped."""
    if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation: turn it upright
        img = ImageOps.exif_transpose(img)
    icc = img.info.get("icc_profile")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode in ("1", "F"):
        img = img.convert("L")
    has_alpha = img.mode == "RGBA"
    alpha = img.getchannel("A") if has_alpha else None
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            base = img.convert("RGB") if img.mode == "RGBA" else img
            img = ImageCms.profileToProfile(base, src, _SRGB, outputMode="RGB",
                                            renderingIntent=ImageCms.Intent.PERCEPTUAL)
        except ImageCms.PyCMSError:
            img = img.convert("RGB")  # a broken profile: read the numbers as sRGB
    elif img.mode != "RGB" and img.mode != "RGBA":
        img = img.convert("RGB")  # CMYK without a profile, grey, YCbCr ...
    if alpha is not None:
        img = img.convert("RGB") if img.mode != "RGB" else img
        img.putalpha(alpha)
    img.info.pop("icc_profile", None)
    return img


# --- downloads ----------------------------------------------------------------------


def fetch_url(url: str, *, max_bytes: int = MAX_UPLOAD_BYTES, timeout: float = 20.0,
              content_types: tuple[str, ...] = ALLOWED_CONTENT_TYPES,
              accept: str = "image/*") -> bytes:
    """Download an image through the outbound HTTP policy; raise ImageRefused with the
    reason when it cannot be used.

    The policy (podhub/core/outbound.py) resolves the host once and connects to the
    address it checked, refuses private networks unless the operator allows them,
    follows at most 3 redirects (each checked like the first), caps the size and bounds
    the whole download by `timeout` seconds (connect, each read, and the total), so a
    server that accepts and then never answers, or drips a byte at a time, costs
    `timeout` seconds, not a worker.
    """
    try:
        with outbound.client(timeout=timeout, total_timeout=timeout, max_bytes=max_bytes,
                             max_redirects=3, headers={"Accept": accept}) as client, \
                client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise ImageRefused(Code.DOWNLOAD_FAILED, "The image link answered "
                                   f"{resp.status_code}; the image cannot be downloaded.")
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype == "image/svg+xml":
                raise ImageRefused(Code.SVG_REFUSED, "SVG files are not accepted: they can "
                                   "carry scripts and have no fixed resolution. Use a PNG "
                                   "or JPEG.")
            if ctype and ctype not in content_types:
                what = ("PNG, JPEG or PDF file" if "application/pdf" in content_types
                        else "PNG, JPEG, WebP or TIFF image")
                raise ImageRefused(Code.UNSUPPORTED_IMAGE, f"The link does not point to a "
                                   f"{what} (it sent {ctype}).")
            return resp.read()
    except outbound.OutboundTooLarge as exc:
        message = (f"The image is {_mb(exc.size)}; the limit is {_mb(max_bytes)}."
                   if exc.size else f"The image is larger than the {_mb(max_bytes)} limit.")
        raise ImageRefused(Code.TOO_LARGE, message) from None
    except outbound.OutboundError as exc:
        raise ImageRefused(Code.DOWNLOAD_FAILED, f"The image cannot be downloaded: "
                           f"{exc.message}") from None
    except httpx.TimeoutException:
        raise ImageRefused(Code.DOWNLOAD_FAILED, f"The image link did not answer within "
                           f"{timeout:g} seconds.") from None
    except httpx.HTTPError as exc:
        raise ImageRefused(Code.DOWNLOAD_FAILED, "The image could not be downloaded "
                           f"({type(exc).__name__}).") from None
