"""The looks of the reveal levels, applied to a decoded array at output size.

Blur strength is relative to the output: a Gaussian whose sigma is a fixed fraction of
the longest side. It is computed on a small working copy (``WORKING_SIGMA`` pixels of
sigma), then scaled up, so its cost does not grow with the sigma or the output size, and
a thumbnail and a 24 MP photo are equally unrecognisable. The working copy holds only a
few dozen samples per side, so the detail is gone, not merely softened.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .spec import GRAY, ORIGINAL, PEEK, SAFE, Spec

# Sigma as a fraction of the longest side. Measured with OpenCV's Haar face detectors:
# SAFE hides a face that fills most of the frame; PEEK hides a face of a quarter of the
# frame (a portrait like scikit-image's astronaut) while shapes stay readable.
SAFE_SIGMA = 0.10
PEEK_SIGMA = 0.045
WORKING_SIGMA = 4.0  # sigma in working pixels: smooth enough to upscale without facets
DECODE_OVERSAMPLE = 2  # decoded pixels per working pixel, for a clean area-average


def sigma_for(level: int) -> float:
    return SAFE_SIGMA if level == SAFE else PEEK_SIGMA


def decode_target(size: tuple[int, int], spec: Spec) -> tuple[int, int]:
    """Smallest decoded size (same orientation as ``size``) that the spec can use."""
    if spec.region is not None or spec.level not in (SAFE, PEEK):
        return size
    return _scaled(size, DECODE_OVERSAMPLE * _working_side(sigma_for(spec.level)))


def apply(pixels: np.ndarray, size: tuple[int, int], spec: Spec) -> np.ndarray:
    """Render the spec's look at ``size`` (width, height) from decoded pixels."""
    if spec.region is None:
        if spec.level in (SAFE, PEEK):
            return blurred(pixels, size, sigma_for(spec.level))
        return fit(pixels, size)
    sharp = fit(pixels, size)
    grey = sharp if sharp.ndim == 2 else cv2.cvtColor(sharp, cv2.COLOR_RGB2GRAY)
    out = blurred(grey, size, SAFE_SIGMA)
    inside = sharp
    if spec.level == PEEK:
        inside = blurred(grey, size, PEEK_SIGMA)
    elif spec.level == GRAY:
        inside = grey
    if spec.level == ORIGINAL:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    x0, y0, x1, y1 = region_box(spec.region, size)
    out[y0:y1, x0:x1] = inside[y0:y1, x0:x1]
    return out


def region_box(
    region: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of a fractional region; at least one pixel."""
    width, height = size
    x, y, w, h = region
    x0 = min(width - 1, int(x * width))
    y0 = min(height - 1, int(y * height))
    x1 = max(x0 + 1, min(width, round((x + w) * width)))
    y1 = max(y0 + 1, min(height, round((y + h) * height)))
    return x0, y0, x1, y1


def fit(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to exactly ``size`` (callers never ask for an upscale)."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return np.ascontiguousarray(pixels)
    # Decoding already shrank by a power of two, so the rest is under 2x: bilinear covers
    # each source pixel and costs a fifth of area averaging at non-integer ratios.
    ratio = pixels.shape[1] / size[0]
    method = cv2.INTER_LINEAR if ratio < 2 else cv2.INTER_AREA
    return cv2.resize(pixels, size, interpolation=method)


def blurred(pixels: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` x longest side, rendered at ``size``."""
    working = _scaled(size, _working_side(sigma), upscale=True)
    # Tiny images are enlarged to the working size, so they get the same relative blur.
    shrink = working[0] < pixels.shape[1] or working[1] < pixels.shape[0]
    small = cv2.resize(
        pixels, working, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma * max(working))
    grow = size[0] > working[0] or size[1] > working[1]
    return cv2.resize(small, size, interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)


def _working_side(sigma: float) -> int:
    return math.ceil(WORKING_SIGMA / sigma)


def _scaled(size: tuple[int, int], longest: int, upscale: bool = False) -> tuple[int, int]:
    """``size`` scaled so its longest side is ``longest`` (or less, unless ``upscale``)."""
    width, height = size
    scale = longest / max(width, height)
    if not upscale:
        scale = min(1.0, scale)
    return max(1, round(width * scale)), max(1, round(height * scale))
