"""Safety limits applied before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Caps on untrusted input, checked from headers before decoding.

    Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``, about 89 MP) still applies as a
    backstop, so ``max_pixels`` above that is refused as ``decompression_bomb``.
    """

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000  # per frame
    max_frames: int = 1000  # counting stops at the cap
    max_total_pixels: int = 400_000_000  # frames x canvas pixels
    max_scans: int = 200  # JPEG scans (progressive scan-bomb guard)

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames", "max_total_pixels", "max_scans"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()
