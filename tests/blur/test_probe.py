"""Sniffing and header-only probing of the allowed formats."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blur import Limits, MediaInfo, MediaRejected, probe, sniff


@pytest.fixture(scope="module")
def small(astronaut: np.ndarray) -> Image.Image:
    return Image.fromarray(astronaut).resize((120, 80))


@pytest.mark.parametrize(
    ("fmt", "name", "mime"),
    [
        ("JPEG", "jpeg", "image/jpeg"),
        ("PNG", "png", "image/png"),
        ("GIF", "gif", "image/gif"),
        ("WEBP", "webp", "image/webp"),
        ("BMP", "bmp", "image/bmp"),
    ],
)
def test_allowed_formats_are_sniffed_and_probed(
    small: Image.Image, encode, fmt: str, name: str, mime: str
) -> None:
    data = encode(small, fmt)
    assert sniff(data) == name
    assert probe(data) == MediaInfo(name, mime, 120, 80, 1)


def test_sniff_uses_magic_bytes_only() -> None:
    assert sniff(b"") is None
    assert sniff(b"BM this is a text file, not a bitmap") is None
    assert sniff(b"%PDF-1.7") is None
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None


def test_probe_reports_display_size_after_exif_orientation(small: Image.Image, encode) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    info = probe(encode(small, "JPEG", exif=exif))
    assert (info.width, info.height) == (80, 120)


def test_animated_gif_and_webp_frames_are_counted(small: Image.Image, encode) -> None:
    frames = [small.rotate(angle) for angle in range(0, 70, 10)]
    for fmt in ("GIF", "WEBP"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50)
        assert probe(data).frames == 7, fmt


def test_apng_frames_are_counted(small: Image.Image, encode) -> None:
    frames = [small, small.rotate(90), small.rotate(180)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert probe(data).frames == 3


def test_probe_caps_apply_before_decoding(small: Image.Image, encode) -> None:
    data = encode(small, "PNG")
    with pytest.raises(MediaRejected) as too_big:
        probe(data, Limits(max_pixels=120 * 80 - 1))
    assert too_big.value.code == "too_many_pixels"
    with pytest.raises(MediaRejected) as too_long:
        probe(data, Limits(max_bytes=len(data) - 1))
    assert too_long.value.code == "too_large"
    frames = [small.rotate(a) for a in range(0, 40, 10)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(MediaRejected) as too_many:
        probe(gif, Limits(max_frames=3))
    assert too_many.value.code == "too_many_frames"
    with pytest.raises(MediaRejected) as too_much:
        probe(gif, Limits(max_total_pixels=3 * 120 * 80))
    assert too_much.value.code == "too_many_pixels"
