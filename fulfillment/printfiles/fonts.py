"""The shipped fonts, glyph fallback, and one-line text layout across fonts.

PodHub ships open-licence fonts in static/fonts/ (licences beside them), so
a print file looks the same on every machine. A template names a font by its
key in FONTS. Characters the chosen font lacks fall back, per character, to
DejaVu Sans, Noto Sans Arabic, Noto Sans Hebrew and Noto Color Emoji, in that
order; a character no font has is reported (MISSING_GLYPHS).

Right-to-left scripts and emoji sequences need complex layout: Pillow's raqm
engine (bundled in Pillow's PyPI wheels, with FriBiDi loaded from the system:
Debian's libfribidi0). Without it, `HAS_RAQM` is False, text is laid out
left to right character by character, and every layer holding RTL text or
emoji sequences gets a NO_COMPLEX_LAYOUT warning in preflight.

Noto Color Emoji is a bitmap font with one strike (109 px): emoji runs are
drawn at 109 px and scaled to the text size.
"""

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont, features

from fulfillment.printfiles.imaging import composite

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"

FONTS: dict[str, str] = {
    "dejavu-sans": "DejaVuSans.ttf",
    "dejavu-sans-bold": "DejaVuSans-Bold.ttf",
    "dejavu-serif": "DejaVuSerif.ttf",
    "liberation-sans": "LiberationSans-Regular.ttf",
    "liberation-sans-bold": "LiberationSans-Bold.ttf",
    "liberation-serif": "LiberationSerif-Regular.ttf",
    "noto-sans-arabic": "NotoSansArabic-Regular.ttf",
    "noto-sans-hebrew": "NotoSansHebrew-Regular.ttf",
}
LATIN = frozenset(FONTS[k] for k in FONTS if not k.startswith("noto-"))
EMOJI_FONT = "NotoColorEmoji.ttf"
EMOJI_STRIKE = 109
FALLBACKS = ("DejaVuSans.ttf", "NotoSansArabic-Regular.ttf", "NotoSansHebrew-Regular.ttf",
             EMOJI_FONT)

HAS_RAQM = features.check("raqm")
LAYOUT = ImageFont.Layout.RAQM if HAS_RAQM else ImageFont.Layout.BASIC

# Characters that belong to the cluster before them, whatever font has them.
_ZWJ, _VS15, _VS16, _KEYCAP = "\u200d", "\ufe0e", "\ufe0f", "\u20e3"


def font_choices() -> list[tuple[str, str]]:
    return [(key, file.removesuffix(".ttf")) for key, file in FONTS.items()]


@lru_cache(maxsize=16)
def coverage(filename: str) -> frozenset[int]:
    font = TTFont(FONT_DIR / filename, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


@lru_cache(maxsize=128)
def load(filename: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / filename), size, layout_engine=LAYOUT)


def _sticky(ch: str) -> bool:
    cp = ord(ch)
    return (ch in (_ZWJ, _VS15, _VS16, _KEYCAP) or 0x1F3FB <= cp <= 0x1F3FF
            or 0xE0020 <= cp <= 0xE007F or unicodedata.category(ch) in ("Mn", "Me"))


def is_rtl(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("R", "AL")


def needs_complex_layout(text: str) -> bool:
    """RTL script, joining scripts or multi-codepoint emoji: only raqm gets these right."""
    return any(is_rtl(ch) or ch in (_ZWJ, _VS16) or 0x1F3FB <= ord(ch) <= 0x1F3FF
               for ch in text)


def base_direction(text: str) -> str:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


@dataclass
class Run:
    font_file: str
    text: str
    direction: str = "ltr"

    @property
    def is_emoji(self) -> bool:
        return self.font_file == EMOJI_FONT


def runs(text: str, primary: str) -> tuple[list[Run], set[str]]:
    """Split text into runs of one font each; also return the characters no font has."""
    if text.isascii() and text.isprintable() and primary in LATIN:
        return [Run(primary, text)], set()  # every Latin font we ship has printable ASCII
    chain = (primary, *[f for f in FALLBACKS if f != primary])
    out: list[Run] = []
    missing: set[str] = set()
    for i, ch in enumerate(text):
        if out and (_sticky(ch) or (ch.isspace() and ord(ch) in coverage(out[-1].font_file))):
            out[-1].text += ch
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        wants_emoji = (0x1F000 <= ord(ch) <= 0x1FAFF or nxt in (_VS16, _KEYCAP)
                       or 0x1F3FB <= ord(nxt or "\0") <= 0x1F3FF)
        order = (EMOJI_FONT, *chain) if wants_emoji else chain
        chosen = next((f for f in order if ord(ch) in coverage(f)), None)
        if chosen is None:
            if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf"):
                missing.add(ch)
            chosen = primary
        if out and out[-1].font_file == chosen:
            out[-1].text += ch
        else:
            out.append(Run(chosen, ch))
    return out, missing


@dataclass
class LineLayout:
    runs: list[Run]
    width: float
    direction: str


def _emoji_scale(size: int) -> float:
    return size / EMOJI_STRIKE


def _direction(run: Run) -> dict:
    return {"direction": run.direction} if HAS_RAQM else {}


def run_width(run: Run, size: int) -> float:
    if run.is_emoji:
        return load(EMOJI_FONT, EMOJI_STRIKE).getlength(run.text) * _emoji_scale(size)
    return load(run.font_file, size).getlength(run.text, **_direction(run))


def layout_line(text: str, primary: str, size: int) -> tuple[LineLayout, set[str]]:
    parts, missing = runs(text, primary)
    direction = base_direction(text)
    for part in parts:
        part.direction = direction
    if direction == "rtl" and HAS_RAQM:
        parts = parts[::-1]  # runs in visual order; raqm orders within each run
    width = sum(run_width(r, size) for r in parts)
    return LineLayout(parts, width, direction), missing


def metrics(primary: str, size: int) -> tuple[int, int]:
    """(ascent, descent) of the primary font at this size, in pixels."""
    return load(primary, size).getmetrics()


def draw_line(canvas: Image.Image, line: LineLayout, *, x: float, baseline: float, size: int,
              fill: tuple[int, int, int, int]) -> None:
    """Draw runs left to right from x, all sitting on one baseline."""
    draw = ImageDraw.Draw(canvas)
    for run in line.runs:
        if run.is_emoji:
            _draw_emoji(canvas, run.text, x=x, baseline=baseline, size=size)
        else:
            font = load(run.font_file, size)
            draw.text((x, baseline), run.text, font=font, fill=fill, anchor="ls",
                      **_direction(run))
        x += run_width(run, size)


def _draw_emoji(canvas: Image.Image, text: str, *, x: float, baseline: float,
                size: int) -> None:
    font = load(EMOJI_FONT, EMOJI_STRIKE)
    ascent, descent = font.getmetrics()
    width = max(1, round(font.getlength(text)))
    tile = Image.new("RGBA", (width, ascent + descent), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((0, ascent), text, font=font, anchor="ls", embedded_color=True)
    scale = _emoji_scale(size)
    scaled = tile.resize((max(1, round(tile.width * scale)), max(1, round(tile.height * scale))),
                         Image.Resampling.LANCZOS)
    top = round(baseline - ascent * scale)
    composite(canvas, scaled, round(x), top)
