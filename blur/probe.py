"""Header-only inspection of untrusted bytes: format, size, frames, all capped."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image

from .errors import MediaRejected
from .formats import FORMATS, describe_refused, sniff
from .frames import Layout, gif_layout, jpeg_scans, webp_layout
from .limits import DEFAULT_LIMITS, Limits

# Process-wide: Pillow's bomb warning (89-179 MP) is an error, never a log line.
warnings.simplefilter("error", Image.DecompressionBombWarning)

# EXIF orientations 5-8 swap width and height.
_SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class MediaInfo:
    """What the header says. ``width``/``height`` are after EXIF orientation."""

    format: str  # 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp'
    mime: str
    width: int
    height: int
    frames: int  # 1 for stills


@dataclass(frozen=True)
class Opened:
    """A checked, opened but not yet decoded image, for the renderer."""

    info: MediaInfo
    image: Image.Image
    orientation: int  # EXIF orientation 1-8


def probe(data: bytes, limits: Limits = DEFAULT_LIMITS) -> MediaInfo:
    """Check untrusted bytes from their headers only; raise MediaRejected if unacceptable."""
    opened = open_checked(data, limits)
    opened.image.close()
    return opened.info


def open_checked(data: bytes, limits: Limits) -> Opened:
    """Sniff, apply every cap that headers allow, and open with the one matching plugin."""
    if not data:
        raise MediaRejected("empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise MediaRejected(
            "too_large", f"the file is {len(data)} bytes; the limit is {limits.max_bytes}"
        )
    name = sniff(data)
    if name is None:
        raise MediaRejected(
            "unsupported_format",
            f"not an allowed image format (JPEG, PNG, GIF, WebP, BMP); "
            f"looks like: {describe_refused(data)}",
        )
    fmt = FORMATS[name]
    layout = _layout(name, data, limits)
    image = _open(data, fmt.pillow, limits)
    try:
        width, height = image.size
        _check_frame_pixels(width, height, limits)
        if image.info.get("progressive"):
            _check_scans(data, limits)
        frames = _frames(name, image, layout, limits)
        orientation = _orientation(image)
    except BaseException:
        image.close()
        raise
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return Opened(MediaInfo(name, fmt.mime, width, height, frames), image, orientation)


def _layout(name: str, data: bytes, limits: Limits) -> Layout | None:
    """Container-level checks done before Pillow sees the bytes."""
    if name == "gif":
        layout = gif_layout(data, limits.max_frames)
    elif name == "webp":
        layout = webp_layout(data, limits.max_frames)
    else:
        return None
    if layout.canvas_width or layout.canvas_height:  # a simple WebP declares no canvas
        _check_frame_pixels(layout.canvas_width, layout.canvas_height, limits)
    if layout.largest_frame_pixels > limits.max_pixels:
        raise MediaRejected("too_many_pixels", "a frame is larger than the pixel limit")
    _check_frame_count(layout.frames, limits)
    return layout


def _open(data: bytes, pillow_format: str, limits: Limits) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[pillow_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow checks the header size inside open(), before our own check can run.
        # Anything it flags is over our cap too, unless the cap was raised above Pillow's.
        max_pixels = Image.MAX_IMAGE_PIXELS
        if max_pixels is not None and limits.max_pixels <= max_pixels:
            raise MediaRejected("too_many_pixels", str(exc)) from None
        raise MediaRejected("decompression_bomb", str(exc)) from None
    except Image.UnidentifiedImageError:
        raise MediaRejected(
            "corrupt", f"the header is not a valid {pillow_format} header"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise MediaRejected("corrupt", f"the header cannot be read: {exc}") from None


def _check_frame_pixels(width: int, height: int, limits: Limits) -> None:
    if width < 1 or height < 1:
        raise MediaRejected("corrupt", f"the image claims a size of {width}x{height}")
    if width * height > limits.max_pixels:
        raise MediaRejected(
            "too_many_pixels",
            f"{width}x{height} is {width * height} pixels; the limit is {limits.max_pixels}",
        )


def _frames(name: str, image: Image.Image, layout: Layout | None, limits: Limits) -> int:
    if layout is not None:
        frames = layout.frames
        if frames < 1:
            raise MediaRejected("corrupt", "the file contains no image")
    elif name == "png":
        frames = int(getattr(image, "n_frames", 1))  # from the APNG acTL header
    else:
        frames = 1
    _check_frame_count(frames, limits)
    width, height = image.size
    if layout is not None:
        width, height = max(width, layout.canvas_width), max(height, layout.canvas_height)
    if frames * width * height > limits.max_total_pixels:
        raise MediaRejected(
            "too_many_pixels",
            f"{frames} frames of {width}x{height} exceed the limit of "
            f"{limits.max_total_pixels} pixels in total",
        )
    return frames


def _check_scans(data: bytes, limits: Limits) -> None:
    """Each progressive scan re-reads the whole coefficient buffer: cap them (scan bombs).

    Sequential JPEGs need no count: each component may appear in only one scan.
    """
    scans = jpeg_scans(data)
    if scans > limits.max_scans:
        raise MediaRejected(
            "too_many_scans", f"the JPEG has {scans} scans; the limit is {limits.max_scans}"
        )


def _check_frame_count(frames: int, limits: Limits) -> None:
    if frames > limits.max_frames:
        raise MediaRejected(
            "too_many_frames", f"more than {limits.max_frames} frames; that is the limit"
        )


def _orientation(image: Image.Image) -> int:
    """EXIF orientation from the header only (Image.getexif() would decode a PNG)."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        value = exif.get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1  # unreadable EXIF: show as stored; orientation is cosmetic, not a safety matter
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
