"""Build the image corpus for bench/images.py from scikit-image sample photos."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image, ImageDraw

# name -> (pixels wide, high, how it is saved)
SPECS: dict[str, tuple[int, int, str]] = {
    "photo-0.3mp.jpg": (640, 480, "jpeg"),
    "photo-2mp.jpg": (1728, 1152, "jpeg"),
    "photo-12mp.jpg": (4000, 3000, "jpeg"),
    "photo-24mp.jpg": (6000, 4000, "jpeg"),
    "progressive-12mp.jpg": (4000, 3000, "progressive"),
    "photo-12mp.png": (4000, 3000, "png"),
    "screenshot-5mp.png": (2560, 1960, "screenshot"),
    "photo-4mp.webp": (2400, 1600, "webp"),
    "animation-0.3mp.gif": (640, 480, "gif"),
}


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Sample photos tiled and scaled up, with sensor-like grain so they compress like photos."""
    tiles = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    tiles = [cv2.resize(t, (512, 384), interpolation=cv2.INTER_AREA) for t in tiles]
    mosaic = np.vstack([np.hstack(tiles), np.hstack(tiles[::-1])])
    big = cv2.resize(mosaic, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(seed).normal(0, 4, big.shape[:2])[..., None]
    return np.clip(big + grain, 0, 255).astype(np.uint8)


def screenshot(width: int, height: int) -> Image.Image:
    """Flat panels, lines of text and one embedded photo, like a chat or ticket screenshot."""
    image = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 64), fill=(32, 48, 80))
    draw.rectangle((0, 64, 360, height), fill=(231, 234, 240))
    rng = np.random.default_rng(1)
    y = 100
    while y < height - 40:
        words = " ".join("lorem ipsum dolor sit amet"[: int(n)] for n in rng.integers(3, 26, 9))
        draw.text((400, y), words, fill=(20, 20, 20))
        y += 28
    image.paste(Image.fromarray(photo(800, 600, seed=3)), (1200, 500))
    return image


def build(root: Path) -> dict[str, Path]:
    """Create any missing corpus files; return name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (width, height, kind) in SPECS.items():
        path = root / name
        paths[name] = path
        if path.exists():
            continue
        buffer = io.BytesIO()
        if kind == "screenshot":
            screenshot(width, height).save(buffer, "PNG")
        elif kind == "gif":
            frames = [Image.fromarray(photo(width, height, seed=n)) for n in range(12)]
            frames = [f.quantize(64) for f in frames]
            frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80)
        else:
            image = Image.fromarray(photo(width, height))
            if kind == "jpeg":
                image.save(buffer, "JPEG", quality=90)
            elif kind == "progressive":
                image.save(buffer, "JPEG", quality=90, progressive=True)
            elif kind == "png":
                image.save(buffer, "PNG")
            elif kind == "webp":
                image.save(buffer, "WEBP", quality=85)
        path.write_bytes(buffer.getvalue())
    return paths
