"""Files people upload: typed by content, stored under our names, served so they cannot run.

The rules (docs/security.md, "Files people upload"):

- **Type from content**, never from the declared type or the name. `clean_image`
  decodes with Pillow (JPEG, PNG, WebP, GIF only; the pixel count is checked from
  the header before anything is decoded, so a decompression bomb is refused) and
  re-encodes what it decoded: what is stored is an image PodHub wrote, with no
  EXIF (camera, GPS) or other metadata, only the colour profile. Text files
  (CSV) are checked by their reader (`orders.csv_import`: UTF-8, no binary).
- **Names we make**: `generated_name` (random, with the extension of what we
  stored). The client's filename is kept only as display text (`display_name`).
- **Served as attachments** by `file_response`: `Content-Disposition: attachment`,
  the stored type (from our own extension map, never guessed), `nosniff`, and
  `Content-Security-Policy: default-src 'none'; sandbox`, so even a file opened
  in a tab can neither run script nor load anything.
- **Size refused before the body is read**: a view declares its limit with
  `@upload_limit(bytes)` (an APIView: the class attribute `max_upload_bytes`);
  `UploadLimitMiddleware`, placed before the CSRF middleware (which would read
  the form), answers 413 from the Content-Length header. The site-wide request
  limit and Django's upload settings sit in front of it.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import render
from PIL import Image, ImageOps, UnidentifiedImageError

from podhub.core.exceptions import ValidationFailed

FILE_CSP = "default-src 'none'; sandbox"
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "csv": "text/csv; charset=utf-8"}
# What Pillow may decode (TIFF only where a caller asks: print artwork), and what each
# is stored as: JPEG as JPEG, WebP as WebP, the rest as PNG (GIF: its first frame); CMYK
# stays CMYK in a JPEG (PNG has no CMYK, and converting without the profile shifts colours).
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_SAVE = {"jpg": ("JPEG", {"quality": 90}), "png": ("PNG", {}), "webp": ("WEBP", {"quality": 90})}
_MODES = {"jpg": ("L", "RGB", "CMYK"), "png": ("1", "L", "LA", "RGB", "RGBA"),
          "webp": ("RGB", "RGBA")}
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class CleanFile:
    content: ContentFile  # .name is the generated name, its extension says the type
    display_name: str


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def generated_name(ext: str) -> str:
    """A random file name with our extension; the client's name never reaches a path."""
    return f"{uuid.uuid4().hex}.{ext}"


def stored_ext(name: str) -> str:
    """The extension of a name we generated ("" for anything else)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext in CONTENT_TYPES else ""


def display_name(name: str | None, *, default: str = "file", max_length: int = 100) -> str:
    """The client's file name as plain display text: no path, no markup characters,
    no control characters, at most `max_length` characters (the extension kept)."""
    name = re.split(r"[\\/]", str(name or ""))[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name)
                   if unicodedata.category(ch)[0] != "C" and ch not in '<>"\'`&|;:*?')
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = (stem if dot else name)[:max_length - len(ext) - 1].rstrip() + (f".{ext}"
                                                                             if ext else "")
    return name or default


def read_capped(upload, *, max_bytes: int, field: str, what: str = "The file") -> bytes:
    """The upload's bytes; refused from its declared size, or one chunk past the cap."""
    declared = getattr(upload, "size", None)
    if isinstance(declared, int) and declared > max_bytes:
        raise ValidationFailed(f"{what} is {_mb(declared)}; the limit is {_mb(max_bytes)}.",
                               fields={field: f"At most {_mb(max_bytes)}."})
    if hasattr(upload, "seek"):
        upload.seek(0)
    buf = io.BytesIO()
    while chunk := upload.read(_CHUNK):
        buf.write(chunk)
        if buf.tell() > max_bytes:
            raise ValidationFailed(f"{what} is larger than the {_mb(max_bytes)} limit.",
                                   fields={field: f"At most {_mb(max_bytes)}."})
    return buf.getvalue()


def _stored_as(fmt: str, mode: str) -> str:
    if fmt == "JPEG" or mode == "CMYK":
        return "jpg"
    return "webp" if fmt == "WEBP" else "png"


def clean_image(upload, *, max_bytes: int, max_pixels: int, field: str,
                max_side: int | None = None, quality: int | None = None,
                formats: tuple[str, ...] = IMAGE_FORMATS) -> CleanFile:
    """Decode an uploaded image and write it again; ValidationFailed names the reason.

    `max_side` shrinks a larger image (a claim photo needs no 48 MP); `quality`
    overrides the JPEG/WebP quality (print artwork: 95).
    """
    names = ", ".join({"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF",
                       "TIFF": "TIFF"}[f] for f in formats)
    names = " or ".join(names.rsplit(", ", 1))
    label = display_name(getattr(upload, "name", ""), default="image")
    data = read_capped(upload, max_bytes=max_bytes, field=field, what=f"{label!r}")

    def refused(reason: str) -> ValidationFailed:
        return ValidationFailed(f"{label!r} {reason}", fields={field: f"{label}: {reason}"})

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=formats)
            width, height = img.size
            if width * height > max_pixels:
                raise refused(f"has {width} × {height} pixels; the limit is "
                              f"{max_pixels / 1e6:.0f} million.")
            if max_side and img.format == "JPEG":
                img.draft("RGB", (max_side, max_side))  # decode at a reduced scale
            img.load()
        except UnidentifiedImageError:
            raise refused(f"is not a {names} image.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise refused(f"has too many pixels; the limit is {max_pixels / 1e6:.0f} "
                          "million.") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise refused("is damaged or incomplete.") from None
    ext = _stored_as(img.format, img.mode)
    icc = img.info.get("icc_profile")
    img = ImageOps.exif_transpose(img)  # keep what the camera meant, drop the EXIF
    if img.mode not in _MODES[ext]:
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        if img.mode not in ("P", "PA"):  # a palette is RGB: its profile still fits
            icc = None  # a profile for another colour space would be wrong now
        img = img.convert("RGBA" if has_alpha and ext != "jpg" else "RGB")
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    img.info = {}  # nothing of the original's metadata is written back
    fmt, options = _SAVE[ext]
    options = dict(options)
    if quality and ext != "png":
        options["quality"] = quality
    if icc:
        options["icc_profile"] = icc
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return CleanFile(content=ContentFile(out.getvalue(), name=generated_name(ext)),
                     display_name=label)


def file_response(field_file, *, filename: str, content_type: str | None = None,
                  attachment: bool = True, cache: str = "private, max-age=300") -> FileResponse:
    """Stream a stored file so that it can never run on our origin.

    The type is the one we stored (our own extension map; anything else is
    application/octet-stream), never guessed from the client's name.
    `attachment=False` only for images PodHub rendered itself (print previews).
    """
    if content_type is None:
        content_type = CONTENT_TYPES.get(stored_ext(field_file.name), "application/octet-stream")
    response = FileResponse(field_file.open("rb"), as_attachment=attachment,
                            filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = cache
    return response


# --- size before the body is read -------------------------------------------------------


def upload_limit(max_bytes: int):
    """Mark a view: a request body larger than `max_bytes` is refused with 413 unread."""

    def mark(view):
        view.max_upload_bytes = max_bytes
        return view

    return mark


def _limit_of(view_func) -> int | None:
    limit = getattr(view_func, "max_upload_bytes", None)
    if limit is None:  # an APIView: the class says it
        limit = getattr(getattr(view_func, "view_class", None), "max_upload_bytes", None)
    return limit


class UploadLimitMiddleware:
    """Answers 413 for a body over its view's `upload_limit`, from the Content-Length.

    Must sit before CsrfViewMiddleware: its process_view reads the form body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit = _limit_of(view_func)
        if limit is None:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= limit:
            return None
        message = (f"The upload is {_mb(length)}; the limit here is {_mb(limit)}. "
                   "Send smaller or fewer files.")
        if request.path.startswith("/api/"):
            return JsonResponse({"error": {"code": "too_large", "message": message}},
                                status=413)
        if getattr(request, "htmx", False):  # shown in the page's error box
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return render(request, "413.html", {"message": message}, status=413)
