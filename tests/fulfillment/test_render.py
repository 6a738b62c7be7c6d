"""The render engine (pure Pillow): golden images, DPI and colour metadata, layout."""

import io

import pytest
from PIL import Image, ImageCms

from fulfillment.printfiles import fonts, output
from fulfillment.printfiles.loading import open_image
from fulfillment.printfiles.problems import Code
from fulfillment.printfiles.render import render
from fulfillment.printfiles.spec import SpecError, parse_spec
from tests.fulfillment.engine_fixtures import assert_matches_golden, photo, png_bytes

CARD = {
    "width_in": 1.5, "height_in": 1.0, "dpi": 300,
    "layers": [
        {"type": "background", "color": "#fff4dc"},
        {"type": "image", "key": "Photo", "box": [0.05, 0.05, 0.6, 0.6], "fit": "cover",
         "mask": "ellipse", "required": True},
        {"type": "text", "key": "Name", "box": [0.7, 0.05, 0.75, 0.3],
         "font": "dejavu-sans-bold", "size_pt": 28, "min_size_pt": 6, "color": "#a02000",
         "align": "center"},
        {"type": "text", "key": "Date", "box": [0.7, 0.4, 0.75, 0.25], "font": "liberation-serif",
         "size_pt": 14, "min_size_pt": 6, "align": "right", "valign": "bottom"},
        {"type": "text", "key": "Motto", "box": [0.05, 0.7, 1.4, 0.25], "font": "dejavu-serif",
         "size_pt": 16, "min_size_pt": 5, "align": "left", "rotation": 4},
    ],
}


def test_card_matches_golden_and_carries_300_dpi():
    # given
    spec = parse_spec(CARD)
    # when
    result = render(spec, values={"name": "Ana", "DATE": "12 June 2026",
                                  " Motto ": "Love you to the moon and back"},
                    images={"Photo": photo()})
    png = output.encode_png(result.image, dpi=spec.dpi)
    # then
    assert result.problems == []
    reread = Image.open(io.BytesIO(png))
    reread.load()
    assert reread.size == (450, 300)
    assert reread.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert reread.mode == "RGB"  # opaque background: no alpha channel written
    assert_matches_golden("card", reread)


def test_no_background_gives_a_transparent_print_file():
    spec = parse_spec({"width_in": 1, "height_in": 0.5, "layers": [
        {"type": "text", "key": "Name", "box": [0, 0, 1, 0.5], "size_pt": 30,
         "color": "#1040c0"}]})

    result = render(spec, values={"Name": "Kai"})

    assert result.image.mode == "RGBA"
    assert result.image.getpixel((0, 0))[3] == 0
    assert_matches_golden("transparent_text", result.image)


def test_fit_keeps_the_whole_photo_and_cover_fills_the_box():
    spec = parse_spec({"width_in": 1, "height_in": 1, "layers": [
        {"type": "image", "key": "A", "box": [0, 0, 1, 0.5], "fit": "fit"},
        {"type": "image", "key": "A", "box": [0, 0.5, 1, 0.5], "fit": "cover",
         "crop": [0.25, 0.0, 1.0, 1.0]},
    ]})

    result = render(spec, images={"A": photo((400, 400))})

    img = result.image
    assert img.mode == "RGBA"
    assert img.getpixel((10, 75))[3] == 0  # fit: a square in a 2:1 box leaves the sides empty
    assert img.getpixel((150, 75))[3] == 255
    assert img.getpixel((2, 160))[3] == 255  # cover: edge to edge
    assert_matches_golden("fit_cover_crop", img)


@pytest.mark.skipif(not fonts.HAS_RAQM, reason="needs Pillow's raqm layout")
def test_right_to_left_and_emoji_render_with_raqm():
    spec = parse_spec({"width_in": 1.6, "height_in": 0.6, "layers": [
        {"type": "background", "color": "#ffffff"},
        {"type": "text", "key": "Greeting", "box": [0.05, 0.0, 1.5, 0.3], "size_pt": 20,
         "min_size_pt": 6},
        {"type": "text", "key": "Name", "box": [0.05, 0.3, 1.5, 0.3], "size_pt": 20,
         "min_size_pt": 6, "font": "dejavu-sans-bold"},
    ]})

    result = render(spec, values={"Greeting": "שלום مرحبا", "Name": "Ana 😀👍🏽❤️"})

    assert result.problems == []
    assert_matches_golden("rtl_emoji", result.image)
    # colour emoji really are in colour (not a monochrome outline in the text colour)
    colours = result.image.crop((180, 90, 480, 180)).convert("RGB").getcolors(1 << 16)
    assert any(r > 180 and g > 120 and b < 80 for _, (r, g, b) in colours)  # the yellow face


def test_rtl_paragraph_puts_the_first_word_on_the_right():
    line, _ = fonts.layout_line("שלום abc", "DejaVuSans.ttf", 40)
    assert line.direction == "rtl"
    line, _ = fonts.layout_line("abc שלום", "DejaVuSans.ttf", 40)
    assert line.direction == "ltr"


def test_emoji_runs_use_the_colour_emoji_font_and_text_keeps_its_own():
    parts, missing = fonts.runs("Ana 😀👍🏽 ❤️!", "DejaVuSans-Bold.ttf")
    assert [(p.font_file, p.text) for p in parts] == [
        ("DejaVuSans-Bold.ttf", "Ana "), (fonts.EMOJI_FONT, "😀👍🏽 ❤️"),
        ("DejaVuSans-Bold.ttf", "!")]
    assert missing == set()


def test_text_shrinks_to_fit_its_box():
    spec = parse_spec({"width_in": 2, "height_in": 0.5, "layers": [
        {"type": "text", "key": "Name", "box": [0, 0, 2, 0.5], "size_pt": 30,
         "min_size_pt": 4}]})

    short = render(spec, values={"Name": "Al"}).image.getbbox()
    long = render(spec, values={"Name": "Bartholomew-Alexandrina Smith"}).image.getbbox()

    assert long[2] - long[0] <= 600  # stays inside the 2 in box
    assert (long[3] - long[1]) < (short[3] - short[1])  # by using a smaller size


def test_jpeg_on_request_is_flattened_with_300_dpi_and_srgb():
    spec = parse_spec({"width_in": 1, "height_in": 1, "layers": [
        {"type": "text", "key": "Name", "box": [0, 0, 1, 1], "size_pt": 20}]})
    result = render(spec, values={"Name": "Zoe"})

    jpeg = output.encode_jpeg(result.image, dpi=300)

    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    assert img.mode == "RGB"
    assert img.info["dpi"] == (300, 300)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert img.getpixel((0, 0)) == (255, 255, 255)  # transparent became white


def test_png_carries_an_srgb_profile_and_decodes_losslessly():
    img = photo((333, 257)).convert("RGBA")
    img.putpixel((5, 5), (1, 2, 3, 4))
    for level in (0, 1, 6, 9):
        data = output.encode_png(img, dpi=300, compress_level=level)
        back = Image.open(io.BytesIO(data))
        back.load()
        assert back.tobytes() == img.tobytes()
        assert back.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert "sRGB" in ImageCms.getProfileDescription(
            ImageCms.ImageCmsProfile(io.BytesIO(back.info["icc_profile"])))


def test_cmyk_and_icc_tagged_inputs_become_srgb():
    cmyk = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red ink
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG")
    loaded = open_image(buf.getvalue())
    assert loaded.image.mode == "RGB"
    r, g, b = loaded.image.getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60

    lab_like = ImageCms.createProfile("LAB")  # an exotic profile is applied, not ignored
    assert lab_like is not None
    tagged = png_bytes(photo((20, 20)), icc_profile=ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes())
    out = open_image(tagged)
    assert out.image.mode == "RGB"
    assert "icc_profile" not in out.image.info


def test_grey_palette_and_16_bit_inputs_are_normalised():
    for img in (Image.new("L", (8, 8), 128), Image.new("P", (8, 8), 3),
                Image.new("LA", (8, 8), (10, 200)), Image.new("I;16", (8, 8), 40000)):
        loaded = open_image(png_bytes(img))
        assert loaded.image.mode in ("RGB", "RGBA")
    sixteen = open_image(png_bytes(Image.new("I;16", (8, 8), 40000))).image
    assert abs(sixteen.getpixel((0, 0))[0] - 40000 // 256) <= 1


def test_preview_and_mockup_are_small():
    spec = parse_spec({"width_in": 4, "height_in": 4, "layers": [
        {"type": "image", "key": "P", "box": [0, 0, 4, 4]}],
        "mockup": {"asset": "mug", "box": [40, 40, 120, 120]}})
    result = render(spec, images={"P": photo((1200, 1200))})

    preview = Image.open(io.BytesIO(output.preview(result.image)))
    mock = Image.open(io.BytesIO(output.mockup(Image.new("RGB", (200, 200), (240, 240, 240)),
                                               result.image, spec.mockup)))

    assert preview.format == "WEBP" and max(preview.size) == 640
    assert mock.format == "JPEG" and mock.size == (200, 200)
    assert mock.getpixel((5, 5)) == pytest.approx((240, 240, 240), abs=3)
    assert mock.getpixel((100, 100)) != mock.getpixel((5, 5))


def test_bad_templates_name_every_bad_field():
    with pytest.raises(SpecError) as exc:
        parse_spec({"width_in": 0, "height_in": 5, "layers": [
            {"type": "text", "box": [0, 0, 1], "font": "comic-sans", "size_pt": 10,
             "min_size_pt": 20},
            {"type": "image", "box": [9, 9, 1, 1]},
            {"type": "wobble"}]})
    errors = exc.value.errors
    assert {"width_in", "layers[0].key", "layers[0].box", "layers[0].font",
            "layers[0].min_size_pt", "layers[1].key", "layers[2].type"} <= set(errors)


def test_missing_template_asset_is_a_problem_not_a_crash():
    spec = parse_spec({"width_in": 1, "height_in": 1, "layers": [
        {"type": "background", "asset": "paper"},
        {"type": "image", "asset": "frame", "box": [0, 0, 1, 1]}]})

    result = render(spec)

    assert [p.code for p in result.problems] == [Code.MISSING_ASSET, Code.MISSING_ASSET]


def test_parallel_png_is_one_valid_zlib_stream_with_its_checksum():
    import struct
    import zlib

    img = photo((700, 530)).convert("RGBA")  # five strips of rows
    data = output.encode_png(img, dpi=300, compress_level=2)

    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == \
            zlib.crc32(kind + body)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)  # checks the adler32 trailer too
    assert len(raw) == 530 * (1 + 700 * 4)
