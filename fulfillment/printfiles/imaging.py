"""Small Pillow helpers shared by the layout and the renderer."""

from PIL import Image


def composite(canvas: Image.Image, im: Image.Image, x: int, y: int) -> None:
    """Alpha-composite `im` (RGBA) onto `canvas` (RGBA) at (x, y), clipped to the canvas.

    Only the covered region is touched, so placing a small layer on a large
    print area costs the layer's size, not the canvas's.
    """
    left, top = max(0, -x), max(0, -y)
    right, bottom = min(im.width, canvas.width - x), min(im.height, canvas.height - y)
    if right <= left or bottom <= top:
        return
    canvas.alpha_composite(im, dest=(x + left, y + top), source=(left, top, right, bottom))
