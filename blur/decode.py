"""Decode an opened image at reduced scale into an 8-bit grey or RGB array.

Reduced scale: JPEG uses libjpeg's DCT scaling (``Image.draft``); other formats must be
decoded in full and are box-reduced at once so later steps touch few pixels. Then modes
are normalised (alpha flattened onto mid-grey, 16-bit scaled down, CMYK to RGB) and the
EXIF orientation is applied.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import MediaRejected

NEUTRAL_GREY = 128  # what transparent pixels become

# Modes Image.reduce() handles directly; others are converted first.
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F"}
_SIXTEEN_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA = {"LA", "La", "PA", "RGBA", "RGBa"}

_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def decode(
    image: Image.Image, target: tuple[int, int], orientation: int, colour: bool
) -> np.ndarray:
    """Pixels of the first frame, at least ``target`` (stored orientation) where possible.

    Returns an HxW uint8 array (grey) or HxWx3 (colour), in display orientation.
    Decoder failures become MediaRejected ('truncated' or 'corrupt').
    """
    try:
        image = _load_reduced(image, target, colour)
    except MediaRejected:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise _decode_error(exc) from None
    image = _normalise(image, colour)
    for step in _TRANSPOSE.get(orientation, ()):
        image = image.transpose(step)
    return np.asarray(image)


def _load_reduced(image: Image.Image, target: tuple[int, int], colour: bool) -> Image.Image:
    if image.format == "JPEG" or image.format == "MPO":
        # draft() picks the largest DCT scale (1/2, 1/4, 1/8) that keeps >= target,
        # and for YCbCr input decodes only the luma channel when grey is wanted.
        image.draft("RGB" if colour else "L", target)
    image.load()
    factor = min(image.width // target[0], image.height // target[1])
    if factor >= 2:
        if image.mode not in _REDUCIBLE:
            image = _normalise(image, colour)
        image = image.reduce(factor)
    return image


def _normalise(image: Image.Image, colour: bool) -> Image.Image:
    """Convert any mode to 'L' or 'RGB', flattening alpha onto neutral grey."""
    mode = image.mode
    if mode in _SIXTEEN_BIT:
        wide = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        image = Image.fromarray((wide >> 8).astype(np.uint8))
    elif mode == "1":
        image = image.convert("L")
    elif mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode not in _ALPHA and mode not in ("L", "RGB"):
        image = image.convert("RGB")  # CMYK, YCbCr, RGBX, ...
    if image.mode in _ALPHA:
        image = _flatten(image)
    if colour and image.mode == "L":
        return image.convert("RGB")
    if not colour and image.mode == "RGB":
        return image.convert("L")
    return image


def _flatten(image: Image.Image) -> Image.Image:
    base = "RGB" if image.mode in ("PA", "RGBA", "RGBa") else "L"
    if image.mode in ("PA", "La", "RGBa"):
        image = image.convert("RGBA" if base == "RGB" else "LA")
    pixels = np.asarray(image).astype(np.uint16)
    colour, alpha = pixels[..., :-1], pixels[..., -1:]
    flat = (colour * alpha + NEUTRAL_GREY * (255 - alpha) + 127) // 255
    flat = flat.astype(np.uint8)
    if base == "L":
        return Image.fromarray(np.ascontiguousarray(flat[..., 0]))
    return Image.fromarray(flat)


def _decode_error(exc: Exception) -> MediaRejected:
    message = str(exc)
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return MediaRejected("decompression_bomb", message)
    if "truncated" in message or isinstance(exc, EOFError):
        return MediaRejected("truncated", "the file ends before the image does")
    return MediaRejected("corrupt", f"the image data cannot be decoded: {message[:200]}")
