"""A design template: the print area and its layers, parsed from JSON.

Staff keep templates as JSON (DesignTemplate.spec); `parse_spec` turns that
into typed, validated layers or raises SpecError naming every bad field.
Lengths are inches from the print area's top-left corner; type sizes are
points (1 pt = 1/72 in, so at 300 DPI 1 pt = 300/72 px).

    {
      "width_in": 10, "height_in": 12, "dpi": 300,
      "layers": [
        {"type": "background", "color": "#ffffff", "asset": "paper"},
        {"type": "image", "key": "Photo", "box": [1, 1, 8, 6], "fit": "cover",
         "mask": "ellipse", "required": true},
        {"type": "text", "key": "Name", "box": [1, 8, 8, 1.5], "font": "dejavu-sans-bold",
         "size_pt": 96, "min_size_pt": 24, "color": "#202020", "align": "center",
         "valign": "middle", "rotation": 0, "required": true}
      ],
      "mockup": {"asset": "mug-photo", "box": [310, 220, 400, 480], "blend": "multiply"},
      "fonts": ["dejavu-sans", "dejavu-serif"], "colors": ["#202020", "#b91c1c"]
    }

`fonts` and `colors` are what the design editor offers for text layers, besides each
layer's own font and colour (fulfillment/printfiles/design.py refuses anything else).

`key` names the personalisation field that feeds the layer (matched without
regard to case or surrounding spaces). An image layer with `asset` instead of
`key` is fixed artwork (a frame, a logo) placed like a photo.
"""

from dataclasses import dataclass, field

from PIL import ImageColor

from fulfillment.printfiles.fonts import FONTS

DEFAULT_DPI = 300
MIN_EFFECTIVE_DPI = 150
MAX_SIDE_IN = 60  # 18 000 px at 300 DPI: larger is a spec error, not a print file

ALIGNS = ("left", "center", "right")
VALIGNS = ("top", "middle", "bottom")
FITS = ("cover", "fit")
MASK_SHAPES = ("ellipse",)
BLENDS = ("normal", "multiply")


class SpecError(ValueError):
    """The template is invalid; `errors` maps a field path to its reason."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Box:
    """A rectangle in inches: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    def px(self, dpi: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) in whole pixels; never narrower than 1 px."""
        left, top = round(self.x * dpi), round(self.y * dpi)
        return left, top, max(1, round(self.w * dpi)), max(1, round(self.h * dpi))


@dataclass(frozen=True)
class BackgroundLayer:
    color: tuple[int, int, int, int] | None = None
    asset: str = ""
    name: str = "background"


@dataclass(frozen=True)
class TextLayer:
    key: str
    box: Box
    font: str = "dejavu-sans"
    size_pt: float = 48
    min_size_pt: float = 12
    color: tuple[int, int, int, int] = (0, 0, 0, 255)
    align: str = "center"
    valign: str = "middle"
    rotation: float = 0
    line_spacing: float = 1.15
    required: bool = False
    default: str = ""
    uppercase: bool = False
    max_chars: int = 200
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.key


@dataclass(frozen=True)
class ImageLayer:
    box: Box
    key: str = ""
    asset: str = ""
    fit: str = "cover"
    crop: tuple[float, float, float, float] | None = None  # fractions: left, top, right, bottom
    mask: str = ""  # "ellipse", or "asset:<name>" for a grey-scale mask image
    rotation: float = 0
    required: bool = False
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.key or self.asset


@dataclass(frozen=True)
class Mockup:
    asset: str
    box: tuple[int, int, int, int]  # pixels on the product photo: left, top, width, height
    blend: str = "multiply"


Layer = BackgroundLayer | TextLayer | ImageLayer


@dataclass(frozen=True)
class TemplateSpec:
    width_in: float
    height_in: float
    dpi: int = DEFAULT_DPI
    layers: tuple[Layer, ...] = ()
    mockup: Mockup | None = None
    min_effective_dpi: int = MIN_EFFECTIVE_DPI
    assets: tuple[str, ...] = field(default=())
    fonts: tuple[str, ...] = ()  # the design editor's choices, besides each layer's own
    colors: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def size_px(self) -> tuple[int, int]:
        return round(self.width_in * self.dpi), round(self.height_in * self.dpi)

    @property
    def keys(self) -> list[str]:
        """The personalisation keys the layers read, in layer order."""
        seen: list[str] = []
        for layer in self.layers:
            key = getattr(layer, "key", "")
            if key and key not in seen:
                seen.append(key)
        return seen

    @property
    def text_keys(self) -> list[str]:
        return [layer.key for layer in self.layers if isinstance(layer, TextLayer)]

    @property
    def image_keys(self) -> list[str]:
        return [layer.key for layer in self.layers if isinstance(layer, ImageLayer) and layer.key]


def normalize_key(key: str) -> str:
    """How personalisation keys are matched: case-insensitive, spaces trimmed/collapsed."""
    return " ".join(str(key).split()).casefold()


# --- parsing ----------------------------------------------------------------------


class _Reader:
    def __init__(self, errors: dict[str, str], data: dict, path: str):
        self.errors, self.data, self.path = errors, data, path

    def _err(self, name: str, message: str) -> None:
        self.errors.setdefault(f"{self.path}{name}", message)

    def number(self, name: str, default=None, *, low: float | None = None,
               high: float | None = None) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._err(name, "Must be a number.")
            return default if isinstance(default, int | float) else 0
        if (low is not None and value < low) or (high is not None and value > high):
            self._err(name, f"Must be between {low} and {high}.")
        return value

    def text(self, name: str, default: str = "", *, choices=None, required=False) -> str:
        value = self.data.get(name, default)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self._err(name, "Must be text.")
            return default
        value = value.strip()
        if required and not value:
            self._err(name, "Required.")
        if choices and value not in choices:
            self._err(name, "Must be one of " + ", ".join(choices) + ".")
            return default
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self._err(name, "Must be true or false.")
            return default
        return value

    def color(self, name: str, default=None):
        value = self.data.get(name, default)
        if value is None or isinstance(value, tuple):
            return value
        try:
            rgba = ImageColor.getrgb(str(value))
        except ValueError:
            self._err(name, "Not a colour: use #rrggbb or #rrggbbaa.")
            return default
        return rgba if len(rgba) == 4 else (*rgba, 255)

    def box(self, name: str, *, width: float, height: float) -> Box:
        value = self.data.get(name)
        if (not isinstance(value, list | tuple) or len(value) != 4 or
                any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)):
            self._err(name, "Must be [left, top, width, height] in inches.")
            return Box(0, 0, 1, 1)
        x, y, w, h = (float(v) for v in value)
        if w <= 0 or h <= 0:
            self._err(name, "Width and height must be above zero.")
        elif x >= width or y >= height or x + w <= 0 or y + h <= 0:
            self._err(name, "The box lies outside the print area.")
        return Box(x, y, max(w, 0.01), max(h, 0.01))


def parse_spec(data: dict) -> TemplateSpec:
    """Validate a template's JSON; raise SpecError with every problem found."""
    font_keys = list(FONTS)
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise SpecError({"spec": "Must be an object."})
    top = _Reader(errors, data, "")
    width = float(top.number("width_in", low=0.1, high=MAX_SIDE_IN))
    height = float(top.number("height_in", low=0.1, high=MAX_SIDE_IN))
    dpi = int(top.number("dpi", DEFAULT_DPI, low=72, high=1200))
    min_dpi = int(top.number("min_effective_dpi", MIN_EFFECTIVE_DPI, low=1, high=1200))
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, list):
        errors["layers"] = "Must be a list of layers."
        raw_layers = []
    layers: list[Layer] = []
    assets: list[str] = []
    for i, raw in enumerate(raw_layers):
        path = f"layers[{i}]."
        if not isinstance(raw, dict):
            errors[f"layers[{i}]"] = "Must be an object."
            continue
        r = _Reader(errors, raw, path)
        kind = r.text("type", choices=("background", "text", "image"), required=True)
        name = r.text("name")
        if kind == "background":
            if i != 0:
                errors[f"{path}type"] = "The background must be the first layer."
            layer = BackgroundLayer(color=r.color("color"), asset=r.text("asset"),
                                    name=name or "background")
            if layer.asset:
                assets.append(layer.asset)
        elif kind == "text":
            size = float(r.number("size_pt", 48, low=1, high=2000))
            font = r.text("font", "dejavu-sans")
            if font not in font_keys:
                errors[f"{path}font"] = "Unknown font; shipped: " + ", ".join(font_keys) + "."
            low = float(r.number("min_size_pt", min(12, size), low=1, high=2000))
            if low > size:
                errors[f"{path}min_size_pt"] = "Must not exceed size_pt."
            layer = TextLayer(
                key=r.text("key", required=True), box=r.box("box", width=width, height=height),
                font=font, size_pt=size, min_size_pt=low,
                color=r.color("color", (0, 0, 0, 255)),
                align=r.text("align", "center", choices=ALIGNS),
                valign=r.text("valign", "middle", choices=VALIGNS),
                rotation=float(r.number("rotation", 0, low=-360, high=360)),
                line_spacing=float(r.number("line_spacing", 1.15, low=0.5, high=3)),
                required=r.flag("required"), default=r.text("default"),
                uppercase=r.flag("uppercase"),
                max_chars=int(r.number("max_chars", 200, low=1, high=2000)), name=name,
            )
        elif kind == "image":
            crop = raw.get("crop")
            if crop is not None:
                if (not isinstance(crop, list | tuple) or len(crop) != 4 or
                        any(not isinstance(v, int | float) for v in crop) or
                        not (0 <= crop[0] < crop[2] <= 1 and 0 <= crop[1] < crop[3] <= 1)):
                    errors[f"{path}crop"] = ("Must be [left, top, right, bottom] as fractions "
                                             "of the image, 0 to 1.")
                    crop = None
                else:
                    crop = tuple(float(v) for v in crop)
            mask = r.text("mask")
            if mask and mask not in MASK_SHAPES and not mask.startswith("asset:"):
                errors[f"{path}mask"] = "Use \"ellipse\" or \"asset:<name>\"."
            layer = ImageLayer(
                key=r.text("key"), asset=r.text("asset"),
                box=r.box("box", width=width, height=height),
                fit=r.text("fit", "cover", choices=FITS), crop=crop, mask=mask,
                rotation=float(r.number("rotation", 0, low=-360, high=360)),
                required=r.flag("required"), name=name,
            )
            if bool(layer.key) == bool(layer.asset):
                errors[f"{path}key"] = "Give either key (fed by the buyer) or asset (fixed art)."
            assets += [a for a in (layer.asset, mask.removeprefix("asset:")
                                   if mask.startswith("asset:") else "") if a]
        else:
            continue
        layers.append(layer)
    mockup = None
    raw_mockup = data.get("mockup")
    if raw_mockup is not None:
        if not isinstance(raw_mockup, dict):
            errors["mockup"] = "Must be an object."
        else:
            r = _Reader(errors, raw_mockup, "mockup.")
            asset = r.text("asset", required=True)
            box = raw_mockup.get("box")
            if (not isinstance(box, list | tuple) or len(box) != 4 or
                    any(not isinstance(v, int) or isinstance(v, bool) for v in box) or
                    box[2] <= 0 or box[3] <= 0):
                errors["mockup.box"] = "Must be [left, top, width, height] in photo pixels."
                box = (0, 0, 1, 1)
            mockup = Mockup(asset=asset, box=tuple(box),
                            blend=r.text("blend", "multiply", choices=BLENDS))
            if asset:
                assets.append(asset)
    fonts_allowed: list[str] = []
    raw_fonts = data.get("fonts", [])
    if not isinstance(raw_fonts, list) or any(f not in font_keys for f in raw_fonts):
        errors["fonts"] = "A list of shipped fonts: " + ", ".join(font_keys) + "."
    else:
        fonts_allowed = list(dict.fromkeys(raw_fonts))
    colors_allowed: list[tuple[int, int, int, int]] = []
    raw_colors = data.get("colors", [])
    if not isinstance(raw_colors, list) or len(raw_colors) > 64:
        errors["colors"] = "A list of at most 64 colours (#rrggbb)."
    else:
        for i, value in enumerate(raw_colors):
            rgba = _Reader(errors, {"c": value}, f"colors[{i}]").color("c")
            if rgba is not None:
                colors_allowed.append(rgba)
    if errors:
        raise SpecError(errors)
    return TemplateSpec(width_in=width, height_in=height, dpi=dpi, layers=tuple(layers),
                        mockup=mockup, min_effective_dpi=min_dpi,
                        assets=tuple(dict.fromkeys(assets)), fonts=tuple(fonts_allowed),
                        colors=tuple(dict.fromkeys(colors_allowed)))
