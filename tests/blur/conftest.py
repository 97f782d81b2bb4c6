"""Fixtures for the media engine tests: sample photos and encoders, all made in-process."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

Encode = Callable[..., bytes]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut: a 512x512 RGB portrait with one frontal face."""
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def encode() -> Encode:
    """encode(pixels_or_image, "JPEG", **save_options) -> bytes."""

    def _encode(pixels: np.ndarray | Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
        image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    return _encode


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray, encode: Encode) -> bytes:
    return encode(astronaut, "JPEG", quality=92)


class Inspect:
    """Measurements on renditions, shared through the ``inspect`` fixture."""

    CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")

    @staticmethod
    def opened(data: bytes) -> Image.Image:
        """Decode a rendition (only JPEG is ever produced; PNG accepted to fail clearly)."""
        image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
        image.load()
        return image

    @classmethod
    def grey(cls, data: bytes) -> np.ndarray:
        return np.asarray(cls.opened(data).convert("L"))

    @staticmethod
    def laplacian_variance(pixels: np.ndarray) -> float:
        return float(cv2.Laplacian(pixels, cv2.CV_64F).var())

    @classmethod
    def coarse_detail(cls, pixels: np.ndarray) -> float:
        """Laplacian variance at 32 px: the shapes a heavy blur removes and a light one keeps."""
        height, width = pixels.shape[:2]
        scale = 32 / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cls.laplacian_variance(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))

    @classmethod
    def faces(cls, pixels: np.ndarray) -> int:
        """Faces at least 1/16 of the short side found by OpenCV's bundled Haar cascades."""
        smallest = max(20, min(pixels.shape[:2]) // 16)
        found = 0
        for name in cls.CASCADES:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
            found += len(
                cascade.detectMultiScale(
                    pixels, scaleFactor=1.05, minNeighbors=3, minSize=(smallest, smallest)
                )
            )
        return found

    @staticmethod
    def max_chroma(image: Image.Image) -> int:
        """Largest channel spread of any pixel: 0 for a grey image."""
        if image.mode == "L":
            return 0
        rgb = np.asarray(image.convert("RGB")).astype(np.int16)
        return int((rgb.max(axis=2) - rgb.min(axis=2)).max())


@pytest.fixture(scope="session")
def inspect() -> type[Inspect]:
    return Inspect
