"""A neutral stand-in image that contains no pixel of any source."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .encode import encode_jpeg
from .rendition import Rendition
from .spec import MAX_SIZE

BACKGROUND = 96  # dark neutral grey, calm on a light or dark page
FOREGROUND = 220
MAX_LABEL = 60


def placeholder(width: int = 640, height: int = 360, label: str | None = None) -> Rendition:
    """A grey JPEG (mode L) of the given size, with an optional label such as a category."""
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise ValueError(f"placeholder {name} must be an int 1-{MAX_SIZE}, got {value!r}")
    image = Image.new("L", (width, height), BACKGROUND)
    if label:
        _draw_label(image, label)
    return Rendition(
        data=encode_jpeg(np.asarray(image), quality=85),
        mime="image/jpeg",
        width=width,
        height=height,
        source_frames=0,
    )


def _draw_label(image: Image.Image, label: str) -> None:
    text = " ".join(label.split())[:MAX_LABEL]  # one line, bounded length
    if not text:
        return
    draw = ImageDraw.Draw(image)
    size = max(8, min(image.height // 8, 2 * image.width // max(len(text), 1)))
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        font = ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (image.width - (right - left)) / 2 - left
    y = (image.height - (bottom - top)) / 2 - top
    draw.text((x, y), text, fill=FOREGROUND, font=font)
