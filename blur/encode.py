"""JPEG encoding with nothing but pixels: no EXIF, GPS, ICC, XMP or thumbnails."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

BLURRED_QUALITY = 80  # blurred looks have no detail for a higher quality to keep
SHARP_QUALITY = 88


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG of an HxW (grey, mode L) or HxWx3 (RGB) uint8 array."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    # A new Image carries no info dict, so Pillow writes only JFIF + pixels.
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
