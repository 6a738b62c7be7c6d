"""Preflight findings: what is wrong with a print file, in words a seller can act on."""

from dataclasses import asdict, dataclass


class Severity:
    ERROR = "error"  # the file must not be printed: the order is held
    WARNING = "warning"  # printable, but look at it


class Code:
    MISSING_FIELD = "missing_field"
    LOW_RESOLUTION = "low_resolution"
    TEXT_OVERFLOW = "text_overflow"
    TEXT_TOO_LONG = "text_too_long"
    MISSING_GLYPHS = "missing_glyphs"
    NO_COMPLEX_LAYOUT = "no_complex_layout"
    CORRUPT_IMAGE = "corrupt_image"
    UNSUPPORTED_IMAGE = "unsupported_image"
    SVG_REFUSED = "svg_refused"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    DOWNLOAD_FAILED = "download_failed"
    MISSING_ASSET = "missing_asset"
    NO_TEMPLATE_NO_FILE = "no_file"
    # seller artwork (issue 17)
    PDF_REFUSED = "pdf_refused"
    NOT_FITTING = "not_fitting"
    COLOUR_CONVERTED = "colour_converted"
    NO_PRINT_SIZE = "no_print_size"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    layer: str = ""
    severity: str = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Problem":
        return cls(code=data.get("code", ""), message=data.get("message", ""),
                   layer=data.get("layer", ""), severity=data.get("severity", Severity.ERROR))


class ImageRefused(Exception):
    """An input image that cannot be used; `problem` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def problem(self, layer: str = "") -> Problem:
        return Problem(code=self.code, message=self.message, layer=layer)
