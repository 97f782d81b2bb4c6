"""Bytes in, a safe rendition out: probe, decode small, apply the look, encode.

Fail closed: every failure is a MediaRejected (the input) or a RenderFailed (us); the
input bytes are never returned.
"""

from __future__ import annotations

from .decode import decode
from .encode import BLURRED_QUALITY, SHARP_QUALITY, encode_jpeg
from .errors import MediaError, RenderFailed
from .limits import DEFAULT_LIMITS, Limits
from .look import apply, decode_target
from .placeholder import placeholder
from .probe import open_checked
from .rendition import Rendition
from .spec import GRAY, ORIGINAL, PLACEHOLDER, Spec

_SWAPS_AXES = {5, 6, 7, 8}


def render(data: bytes, spec: Spec, limits: Limits = DEFAULT_LIMITS) -> Rendition:
    """Render ``spec`` from untrusted ``data``; raises MediaRejected or RenderFailed only."""
    try:
        return _render(data, spec, limits)
    except MediaError:
        raise
    except MemoryError:
        raise RenderFailed("out_of_memory", "ran out of memory while rendering") from None
    except Exception as exc:
        raise RenderFailed("internal", f"rendering failed: {type(exc).__name__}") from exc


def output_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """Fit (width, height) within max_size on the longest side; never upscale."""
    longest = max(width, height)
    if longest <= max_size:
        return width, height
    scale = max_size / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _render(data: bytes, spec: Spec, limits: Limits) -> Rendition:
    opened = open_checked(data, limits)
    info = opened.info
    with opened.image as image:
        size = output_size(info.width, info.height, spec.max_size)
        if spec.level == PLACEHOLDER:
            blank = placeholder(*size)
            return Rendition(blank.data, blank.mime, *size, source_frames=info.frames)
        target = decode_target(size, spec)
        if opened.orientation in _SWAPS_AXES:
            target = (target[1], target[0])
        colour = spec.level == ORIGINAL
        pixels = decode(image, target, opened.orientation, colour)
    look = apply(pixels, size, spec)
    quality = SHARP_QUALITY if spec.level >= GRAY or spec.region is not None else BLURRED_QUALITY
    encoded = encode_jpeg(look, quality)
    if encoded == data:  # cannot happen; a last fail-closed guard
        raise RenderFailed("internal", "the encoder returned the input")
    return Rendition(encoded, "image/jpeg", size[0], size[1], source_frames=info.frames)
