"""The design editor's edit state, checked against the template: pure, no Django.

The editor in the browser is a convenience; this module is the authority
(docs/print-files.md, "The design editor"). Everything the editor sends is
checked here before anything is rendered or stored:

    {"layers": [
      {"id": "1", "text": "Ana", "font": "dejavu-serif", "color": "#b91c1c",
       "box": [0.5, 0.5, 7.5, 2.5]},
      {"id": "2", "photo": 12, "box": [1, 1, 3, 3], "crop": [0.1, 0.1, 0.9, 0.9]}
    ]}

A layer's id is its index in the template's layers; only text layers and
photo layers (image layers fed by a key) can be edited. Boxes are inches from
the print area's top-left corner, like the template's, and must lie inside
the print area (or be the template's own box unchanged); a font or colour must
be the layer's own or one the template offers (`fonts`, `colors`); a text is
at most the layer's `max_chars`; a photo must be one uploaded for this item;
a crop is fractions of the photo. Anything else is refused with the reason
(`DesignRefused`), and the request renders and stores nothing.
"""

import dataclasses
import math
from dataclasses import dataclass

from PIL import ImageColor

from fulfillment.printfiles.spec import Box, ImageLayer, TemplateSpec, TextLayer

MAX_STATE_BYTES = 64 * 1024
MIN_BOX_IN = 0.1  # a smaller box prints nothing legible
MIN_CROP = 0.02  # of the photo: a smaller window is a blur
EPSILON = 1e-6
TEXT_FIELDS = {"id", "text", "font", "color", "box"}
PHOTO_FIELDS = {"id", "photo", "box", "crop"}


class DesignRefused(ValueError):
    """The edit state is not allowed by the template; `field` says where, the message why."""

    def __init__(self, message: str, *, field: str = "layers"):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Applied:
    """The template with the edits applied, ready for `render.render`."""

    spec: TemplateSpec
    values: dict[str, str]  # personalisation key -> text, for the edited text layers
    photos: dict[str, int]  # personalisation key -> DesignPhoto id, for the photo layers


def editable(spec: TemplateSpec) -> dict[str, TextLayer | ImageLayer]:
    """The layers the editor may change, by id (the index in the template's layers)."""
    return {str(i): layer for i, layer in enumerate(spec.layers)
            if isinstance(layer, TextLayer) or (isinstance(layer, ImageLayer) and layer.key)}


def hex_color(rgba: tuple[int, int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def allowed_fonts(spec: TemplateSpec, layer: TextLayer) -> list[str]:
    return list(dict.fromkeys([layer.font, *spec.fonts]))


def allowed_colors(spec: TemplateSpec, layer: TextLayer) -> list[str]:
    return list(dict.fromkeys([hex_color(layer.color), *(hex_color(c) for c in spec.colors)]))


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DesignRefused("Must be a finite number.", field=field)
    return float(value)


def _box(raw, layer, spec: TemplateSpec, field: str) -> Box:
    if not isinstance(raw, list) or len(raw) != 4:
        raise DesignRefused("The box must be [left, top, width, height] in inches.", field=field)
    x, y, w, h = (_number(v, field) for v in raw)
    own = layer.box
    if (x, y, w, h) == (own.x, own.y, own.w, own.h):
        return own  # the template's own box (it may bleed past the edge on purpose)
    if w < MIN_BOX_IN or h < MIN_BOX_IN:
        raise DesignRefused(f"The box is too small: at least {MIN_BOX_IN:g} in each way.",
                            field=field)
    if (x < -EPSILON or y < -EPSILON or x + w > spec.width_in + EPSILON
            or y + h > spec.height_in + EPSILON):
        raise DesignRefused(
            f"The box [{x:g}, {y:g}, {w:g}, {h:g}] lies outside the print area "
            f"({spec.width_in:g} × {spec.height_in:g} in): keep it inside.", field=field)
    return Box(x, y, w, h)


def _color(raw, choices: list[str], field: str) -> tuple[int, int, int, int]:
    if not isinstance(raw, str) or len(raw) != 7 or not raw.startswith("#"):
        raise DesignRefused("A colour is #rrggbb.", field=field)
    try:
        rgb = ImageColor.getrgb(raw)
    except ValueError:
        raise DesignRefused("A colour is #rrggbb.", field=field) from None
    if hex_color((*rgb[:3], 255)) not in choices:
        raise DesignRefused(f"The colour {raw} is not one this design offers: "
                            + ", ".join(choices) + ".", field=field)
    return (*rgb[:3], 255)


def apply(spec: TemplateSpec, state, *, photo_ids: set[int]) -> Applied:
    """Check the edit state against the template and apply it; DesignRefused otherwise."""
    if not isinstance(state, dict) or set(state) - {"layers"}:
        raise DesignRefused("The design is an object with \"layers\" only.", field="state")
    raw_layers = state.get("layers", [])
    layers_by_id = editable(spec)
    if not isinstance(raw_layers, list) or len(raw_layers) > len(layers_by_id):
        raise DesignRefused(f"\"layers\" is a list of at most {len(layers_by_id)} edits, one "
                            "per editable layer.")
    new_layers = list(spec.layers)
    values: dict[str, str] = {}
    photos: dict[str, int] = {}
    seen: set[str] = set()
    for n, raw in enumerate(raw_layers):
        where = f"layers[{n}]"
        if not isinstance(raw, dict):
            raise DesignRefused("Each edit is an object.", field=where)
        layer_id = raw.get("id")
        if not isinstance(layer_id, str) or layer_id not in layers_by_id:
            raise DesignRefused(f"There is no editable layer {str(layer_id)[:20]!r} in this "
                                "design; its layers are " + ", ".join(layers_by_id) + ".",
                                field=f"{where}.id")
        if layer_id in seen:
            raise DesignRefused(f"Layer {layer_id} is edited twice.", field=f"{where}.id")
        seen.add(layer_id)
        layer = layers_by_id[layer_id]
        if isinstance(layer, TextLayer):
            unknown = set(raw) - TEXT_FIELDS
            if unknown:
                raise DesignRefused("A text layer takes id, text, font, color and box; not "
                                    + ", ".join(sorted(unknown)[:5]) + ".", field=where)
            changes = {}
            if "text" in raw:
                text = raw["text"]
                if not isinstance(text, str):
                    raise DesignRefused("The text must be text.", field=f"{where}.text")
                if len(text) > layer.max_chars:
                    raise DesignRefused(f"\"{layer.label}\" takes at most {layer.max_chars} "
                                        f"characters; this has {len(text)}.",
                                        field=f"{where}.text")
                values[layer.key] = text
            if "font" in raw:
                fonts = allowed_fonts(spec, layer)
                if raw["font"] not in fonts:
                    raise DesignRefused(f"The font {str(raw['font'])[:40]!r} is not one this "
                                        "design offers: " + ", ".join(fonts) + ".",
                                        field=f"{where}.font")
                changes["font"] = raw["font"]
            if "color" in raw:
                changes["color"] = _color(raw["color"], allowed_colors(spec, layer),
                                          f"{where}.color")
            if "box" in raw:
                changes["box"] = _box(raw["box"], layer, spec, f"{where}.box")
            new_layers[int(layer_id)] = dataclasses.replace(layer, **changes)
        else:
            unknown = set(raw) - PHOTO_FIELDS
            if unknown:
                raise DesignRefused("A photo layer takes id, photo, box and crop; not "
                                    + ", ".join(sorted(unknown)[:5]) + ".", field=where)
            changes = {}
            photo = raw.get("photo")
            if photo is not None:
                if isinstance(photo, bool) or not isinstance(photo, int) or \
                        photo not in photo_ids:
                    raise DesignRefused("That photo was not uploaded for this item.",
                                        field=f"{where}.photo")
                photos[layer.key] = photo
            if "box" in raw:
                changes["box"] = _box(raw["box"], layer, spec, f"{where}.box")
            if raw.get("crop") is not None:
                crop = raw["crop"]
                if not isinstance(crop, list) or len(crop) != 4:
                    raise DesignRefused("The crop is [left, top, right, bottom] as fractions "
                                        "of the photo.", field=f"{where}.crop")
                left, top, right, bottom = (_number(v, f"{where}.crop") for v in crop)
                if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1) or \
                        right - left < MIN_CROP or bottom - top < MIN_CROP:
                    raise DesignRefused("The crop must lie within the photo (fractions 0 to "
                                        f"1, at least {MIN_CROP:g} wide and high).",
                                        field=f"{where}.crop")
                changes["crop"] = (left, top, right, bottom)
            new_layers[int(layer_id)] = dataclasses.replace(layer, **changes)
    return Applied(spec=dataclasses.replace(spec, layers=tuple(new_layers)), values=values,
                   photos=photos)


def initial_state(spec: TemplateSpec, values: dict[str, str]) -> dict:
    """The editor's starting point: the template's layers with the buyer's values."""
    from fulfillment.printfiles.spec import normalize_key

    by_key = {normalize_key(k): v for k, v in values.items()}
    layers = []
    for layer_id, layer in editable(spec).items():
        box = [layer.box.x, layer.box.y, layer.box.w, layer.box.h]
        if isinstance(layer, TextLayer):
            layers.append({"id": layer_id, "text": by_key.get(normalize_key(layer.key), ""),
                           "font": layer.font, "color": hex_color(layer.color), "box": box})
        else:
            layers.append({"id": layer_id, "photo": None, "box": box,
                           "crop": list(layer.crop) if layer.crop else None})
    return {"layers": layers}


def preview_spec(spec: TemplateSpec, max_side_px: int) -> TemplateSpec:
    """The same design at preview size: the same renderer at a lower DPI."""
    dpi = max(8, math.floor(max_side_px / max(spec.width_in, spec.height_in)))
    return dataclasses.replace(spec, dpi=min(dpi, spec.dpi))
