"""Bench clips made with PyAV: 20 s, 30 fps, motion, a face-like shape and AAC sound.

H.264 High profile from libx264 ``veryfast`` at the bit rates phone cameras write
(5 Mbit/s at 720p, 10 at 1080p) with a keyframe every 2 s, and per-frame sensor-like
grain so the bits are spent. Cached in bench/corpus/video/ (gitignored); made once, in
about a minute per clip on 2 cores.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "corpus" / "video"
SECONDS = 20
FPS = 30
SAMPLE_RATE = 48_000
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
BIT_RATES = {(1280, 720): 5_000_000, (1920, 1080): 10_000_000}
GRAIN = 12


def clip_path(name: str) -> Path:
    """Path of the bench clip ``name`` ('720p' or '1080p'), made if missing."""
    path = FOLDER / f"motion-{name}-{SECONDS}s.mp4"
    if not path.exists():
        FOLDER.mkdir(parents=True, exist_ok=True)
        print(f"making {path.name} (one time) ...", flush=True)
        temp = path.with_suffix(".tmp")
        _make(temp, *SIZES[name])
        temp.replace(path)
    return path


def _make(path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0 : 2 * width]
    backdrop = np.empty((height, 2 * width, 3), np.uint8)
    backdrop[..., 0] = (128 + 100 * np.sin(xs / 97.0)).astype(np.uint8)
    backdrop[..., 1] = (128 + 90 * np.cos(ys / 61.0 + xs / 211.0)).astype(np.uint8)
    backdrop[..., 2] = (xs * 255 // (2 * width)).astype(np.uint8)
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream(
            "libx264", rate=FPS, options={"preset": "veryfast", "g": str(2 * FPS)}
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = BIT_RATES[(width, height)]
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for index in range(SECONDS * FPS):
            grain = rng.integers(0, GRAIN, (height, width, 3), dtype=np.uint8)
            image = _picture(backdrop, grain, index, width, height)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        _tone(out, audio)


def _picture(
    backdrop: np.ndarray, grain: np.ndarray, index: int, width: int, height: int
) -> np.ndarray:
    t = index / FPS
    shift = int(width * (0.5 + 0.5 * math.sin(t / 3)))
    image = np.ascontiguousarray(backdrop[:, shift : shift + width])
    if (index // (4 * FPS)) % 2:  # a cut every 4 s: a darker scene
        image //= 2
    cx = int(width * (0.5 + 0.35 * math.sin(t * 0.9)))
    cy = int(height * (0.5 + 0.2 * math.cos(t * 1.3)))
    _face(image, (cx, cy), height // 4)
    corner = (int((index * 9) % width), height // 6)
    cv2.rectangle(
        image, corner, (corner[0] + width // 10, corner[1] + height // 8), (20, 40, 220), -1
    )
    image += grain
    return image


def _face(image: np.ndarray, centre: tuple[int, int], radius: int) -> None:
    """A drawn face: skin oval, eyes, brows, nose and mouth."""
    x, y = centre
    cv2.ellipse(image, centre, (radius * 3 // 4, radius), 0, 0, 360, (224, 172, 140), -1)
    for side in (-1, 1):
        eye = (x + side * radius // 3, y - radius // 4)
        cv2.ellipse(image, eye, (radius // 6, radius // 10), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(image, eye, radius // 14, (40, 30, 20), -1)
        brow = (eye[0] - radius // 6, eye[1] - radius // 5)
        cv2.line(image, brow, (brow[0] + radius // 3, brow[1]), (60, 40, 30), max(1, radius // 20))
    cv2.line(image, (x, y - radius // 8), (x - radius // 12, y + radius // 5), (150, 100, 80), 2)
    cv2.ellipse(
        image, (x, y + radius // 2), (radius // 3, radius // 8), 0, 0, 180, (150, 40, 50), -1
    )


def _tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream) -> None:
    samples = SECONDS * SAMPLE_RATE
    for start in range(0, samples, 1024):
        t = np.arange(start, min(start + 1024, samples)) / SAMPLE_RATE
        wave = (0.2 * np.sin(2 * np.pi * (220 + 40 * np.sin(t)) * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
