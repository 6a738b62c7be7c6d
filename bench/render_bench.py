"""Print-file render benchmark: PodHub's renderer against pyvips, in the same run.

A 15 × 18 in print area at 300 DPI (4500 × 5400 px, transparent, as for DTG
apparel) with two photo layers (a 3000 × 3000 and a 2400 × 3200 JPEG, cover-
fitted, one with an ellipse mask) and three text layers (auto-fitted to their
boxes), composed and written as PNG at each zlib compression level.

Every measurement is a fresh subprocess: the time covers decoding the photos,
resizing, text, compositing and PNG encoding + writing; peak memory is the
subprocess's ru_maxrss (resident set, C allocations included), read after the
work. Three runs each; the median time and the largest peak are reported.

pyvips lives only in the benchmark's own virtualenv (created here under
/tmp, `pip install pyvips pyvips-binary`), never in PodHub's dependencies.

    .venv/bin/python bench/render_bench.py              # full table (~3 min)
    .venv/bin/python bench/render_bench.py --levels 1 --runs 1   # quick look
"""

import argparse
import html
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("BENCH_DIR", "/tmp/podhub-render-bench"))
VIPS_VENV = Path(os.environ.get("BENCH_VIPS_VENV", "/tmp/podhub-bench-vips-venv"))
FONT_DIR = ROOT / "static" / "fonts"
DPI = 300
W_IN, H_IN = 15, 18

# Boxes in inches: left, top, width, height.
PHOTO_1 = (1.0, 1.0, 13.0, 9.0)
PHOTO_2 = (4.5, 8.5, 6.0, 6.0)  # under an ellipse mask
TEXTS = [
    ("Name", (1.0, 14.8, 13.0, 1.6), "DejaVuSans-Bold.ttf", 150, "#1d3557"),
    ("Date", (2.0, 16.4, 11.0, 0.8), "DejaVuSerif.ttf", 60, "#e63946"),
    ("Motto", (0.5, 0.1, 14.0, 0.8), "LiberationSans-Regular.ttf", 50, "#222222"),
]
VALUES = {"Name": "Olivia & Benjamin", "Date": "12 June 2026",
          "Motto": "Together since the very first day"}


def spec() -> dict:
    layers = [
        {"type": "image", "key": "Photo1", "box": list(PHOTO_1), "fit": "cover"},
        {"type": "image", "key": "Photo2", "box": list(PHOTO_2), "fit": "cover",
         "mask": "ellipse"},
    ]
    font_key = {"DejaVuSans-Bold.ttf": "dejavu-sans-bold", "DejaVuSerif.ttf": "dejavu-serif",
                "LiberationSans-Regular.ttf": "liberation-sans"}
    for key, box, font, size, colour in TEXTS:
        layers.append({"type": "text", "key": key, "box": list(box), "font": font_key[font],
                       "size_pt": size, "min_size_pt": 8, "color": colour})
    return {"width_in": W_IN, "height_in": H_IN, "dpi": DPI, "layers": layers}


# --- inputs --------------------------------------------------------------------------------


def make_inputs() -> None:
    from PIL import Image, ImageDraw, ImageFilter

    WORK.mkdir(parents=True, exist_ok=True)
    for name, size, seed in (("photo1.jpg", (3000, 3000), 1), ("photo2.jpg", (2400, 3200), 2)):
        path = WORK / name
        if path.exists():
            continue
        w, h = size
        noise = Image.effect_noise((w // 4, h // 4), 40 + seed * 10).resize(size)
        red = Image.linear_gradient("L").resize(size)
        blue = Image.radial_gradient("L").resize(size)
        img = Image.merge("RGB", (red, noise, blue)).filter(ImageFilter.GaussianBlur(1))
        draw = ImageDraw.Draw(img)
        for i in range(0, w, 150):
            draw.line((i, 0, w - i, h), fill=(255, 255 - i % 255, 40), width=9)
        img.save(path, "JPEG", quality=90)


# --- workers (run in a subprocess each) -------------------------------------------------------


def work_podhub(level: int, out: Path, encoder: str) -> None:
    sys.path.insert(0, str(ROOT))
    from fulfillment.printfiles import output
    from fulfillment.printfiles.render import render
    from fulfillment.printfiles.spec import parse_spec

    template = parse_spec(spec())
    images = {key: (WORK / name).read_bytes()  # decoded by render(), one at a time
              for key, name in (("Photo1", "photo1.jpg"), ("Photo2", "photo2.jpg"))}
    result = render(template, values=VALUES, images=images)
    assert result.problems == [], result.problems
    if encoder == "podhub":
        with out.open("wb") as fp:
            output.write_print_png(fp, result.image, dpi=DPI, compress_level=level)
    else:
        out.write_bytes(output.encode_png_pillow(result.image, dpi=DPI, compress_level=level))


def work_vips(level: int, out: Path) -> None:
    import pyvips

    def px(v):
        return round(v * DPI)

    canvas = pyvips.Image.black(px(W_IN), px(H_IN), bands=4).copy(interpretation="srgb")
    for name, box, mask in (("photo1.jpg", PHOTO_1, False), ("photo2.jpg", PHOTO_2, True)):
        w, h = px(box[2]), px(box[3])
        img = pyvips.Image.thumbnail(str(WORK / name), w, height=h, crop="centre")
        if mask:
            ellipse = pyvips.Image.svgload_buffer(
                f'<svg width="{w}" height="{h}"><ellipse cx="{w / 2}" cy="{h / 2}" '
                f'rx="{w / 2}" ry="{h / 2}" fill="white"/></svg>'.encode())[3]
            img = img.bandjoin(ellipse)
        else:
            img = img.bandjoin(255)
        canvas = canvas.composite2(img, "over", x=px(box[0]), y=px(box[1]))
    for key, box, font, size, colour in TEXTS:
        w, h = px(box[2]), px(box[3])
        family = {"DejaVuSans-Bold.ttf": "DejaVu Sans Bold", "DejaVuSerif.ttf": "DejaVu Serif",
                  "LiberationSans-Regular.ttf": "Liberation Sans"}[font]
        text = pyvips.Image.text(html.escape(VALUES[key]), font=f"{family} {size}", fontfile=str(
            FONT_DIR / font), width=w, height=h, dpi=DPI)
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        layer = text.new_from_image(rgb).copy(interpretation="srgb").bandjoin(text)
        x = px(box[0]) + (w - text.width) // 2
        y = px(box[1]) + (h - text.height) // 2
        canvas = canvas.composite2(layer, "over", x=x, y=y)
    canvas = canvas.cast("uchar").copy(xres=DPI / 25.4, yres=DPI / 25.4)
    canvas.pngsave(str(out), compression=level)


def worker_main(args) -> None:
    out = WORK / f"out-{args.worker}-{args.level}.png"
    start = time.perf_counter()
    if args.worker == "vips":
        work_vips(args.level, out)
    else:
        work_podhub(args.level, out, args.worker)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024,
                      "bytes": out.stat().st_size}))


# --- driver ------------------------------------------------------------------------------


def ensure_vips_venv() -> Path | None:
    python = VIPS_VENV / "bin" / "python"
    check = [str(python), "-c", "import pyvips; print(pyvips.version(0), pyvips.version(1))"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VIPS_VENV)], check=True)
    # pyvips-binary ships libvips itself; Pillow only to make the shared inputs.
    got = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "pyvips",
                          "pyvips-binary"], capture_output=True, text=True)
    if got.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        print("pyvips could not be installed in the bench venv:\n" + got.stderr[-2000:],
              file=sys.stderr)
        return None
    return python


def run_once(python: str, worker: str, level: int) -> dict:
    env = {**os.environ, "BENCH_DIR": str(WORK), "PYTHONPATH": str(ROOT),
           "DJANGO_SETTINGS_MODULE": ""}
    got = subprocess.run([python, __file__, "--worker", worker, "--level", str(level)],
                         capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    if got.returncode != 0:
        raise RuntimeError(f"{worker} level {level} failed:\n{got.stderr[-3000:]}")
    return json.loads(got.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=["podhub", "pillow", "vips"])
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--levels", default="0,1,2,3,6,9")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    make_inputs()
    vips_python = ensure_vips_venv()
    contenders = [("podhub", sys.executable), ("pillow", sys.executable)]
    if vips_python:
        contenders.append(("vips", str(vips_python)))
    levels = [int(v) for v in args.levels.split(",")]
    results: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.runs):  # interleaved, so a busy machine slows every contender alike
        for level in levels:
            for worker, python in contenders:
                results.setdefault((worker, level), []).append(run_once(python, worker, level))
    rows = []
    for level in levels:
        for worker, _ in contenders:
            runs = results[(worker, level)]
            rows.append({"worker": worker, "level": level,
                         "seconds": statistics.median(r["seconds"] for r in runs),
                         "peak_mb": max(r["peak_mb"] for r in runs),
                         "mb": runs[0]["bytes"] / 1e6})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    names = {"podhub": "PodHub (render + parallel PNG)", "pillow": "Pillow's own PNG writer",
             "vips": "pyvips"}
    print(f"{W_IN} x {H_IN} in at {DPI} DPI, 2 photos + 3 text layers; median of {args.runs} "
          f"runs, {os.cpu_count()} CPUs")
    print(f"{'level':>5}  {'renderer':<32} {'time s':>7} {'peak MB':>8} {'file MB':>8} "
          f"{'vs pyvips':>9}")
    for row in rows:
        vips = next((r for r in rows if r["worker"] == "vips" and r["level"] == row["level"]),
                    None)
        ratio = f"{row['seconds'] / vips['seconds']:.2f}x" if vips else "-"
        print(f"{row['level']:>5}  {names[row['worker']]:<32} {row['seconds']:>7.2f} "
              f"{row['peak_mb']:>8.0f} {row['mb']:>8.1f} {ratio:>9}")


if __name__ == "__main__":
    main()
