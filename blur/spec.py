"""What to render: a reveal level, an optional sharp region and a maximum size."""

from __future__ import annotations

import math
from dataclasses import dataclass

PLACEHOLDER, SAFE, PEEK, GRAY, ORIGINAL = 0, 1, 2, 3, 4
LEVEL_NAMES = {
    PLACEHOLDER: "placeholder",
    SAFE: "safe",
    PEEK: "peek",
    GRAY: "gray",
    ORIGINAL: "original",
}
MIN_SIZE = 16
MAX_SIZE = 4096
_SLACK = 1e-9  # float sums such as 0.7 + 0.3 may land just above 1


@dataclass(frozen=True)
class Spec:
    """A rendition request.

    ``level``: 0 placeholder, 1 safe (heavy blur + gray), 2 peek (light blur + gray),
    3 gray sharp, 4 original colour.
    ``region``: (x, y, w, h) as fractions of the oriented image. Inside it the image is
    shown at ``level`` (2, 3 or 4); outside it stays at the safe level-1 look.
    ``max_size``: longest output side in pixels; images are never upscaled.
    """

    level: int
    region: tuple[float, float, float, float] | None = None
    max_size: int = 1280

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise ValueError(f"level must be an int 0-4, got {self.level!r}")
        if self.level not in LEVEL_NAMES:
            raise ValueError(f"level must be 0-4, got {self.level}")
        if isinstance(self.max_size, bool) or not isinstance(self.max_size, int):
            raise ValueError(f"max_size must be an int, got {self.max_size!r}")
        if not MIN_SIZE <= self.max_size <= MAX_SIZE:
            raise ValueError(f"max_size must be {MIN_SIZE}-{MAX_SIZE}, got {self.max_size}")
        if self.region is not None:
            if isinstance(self.region, list):  # e.g. straight from JSON
                object.__setattr__(self, "region", tuple(self.region))
            self._check_region(self.region)

    def _check_region(self, region: tuple[float, float, float, float]) -> None:
        if self.level < PEEK:
            raise ValueError(
                f"a region reveals more than the safe look, so it needs level 2-4, "
                f"got level {self.level}"
            )
        if not isinstance(region, tuple) or len(region) != 4:
            raise ValueError(f"region must be a tuple (x, y, w, h), got {region!r}")
        for value in region:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"region values must be numbers, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"region values must be finite, got {value!r}")
        x, y, w, h = region
        if w <= 0 or h <= 0:
            raise ValueError(f"region must have a positive width and height, got {region!r}")
        if x < 0 or y < 0 or x + w > 1 + _SLACK or y + h > 1 + _SLACK:
            raise ValueError(f"region must lie within 0..1 of the image, got {region!r}")

    def key(self) -> str:
        """A stable string naming this spec, for cache keys."""
        region = "-" if self.region is None else ",".join(repr(float(v)) for v in self.region)
        return f"level={self.level};region={region};max={self.max_size}"
