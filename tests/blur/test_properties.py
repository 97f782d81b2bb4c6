"""Property tests: any small image and any valid spec give a decodable image as promised."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from blur import MediaRejected, Spec, render

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
MODES = ("RGB", "RGBA", "L", "LA", "P", "1")


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, tuple[int, int]]:
    width = draw(st.integers(1, 96))
    height = draw(st.integers(1, 96))
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    if fmt == "JPEG" and mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if fmt == "WEBP" and mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA")
    if fmt == "BMP" and mode == "LA":
        image = image.convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue(), (width, height)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    level = draw(st.integers(0, 4))
    region = None
    if level >= 2 and draw(st.booleans()):
        x = draw(st.floats(0, 0.9))
        y = draw(st.floats(0, 0.9))
        w = draw(st.floats(0.01, 1 - x))
        h = draw(st.floats(0.01, 1 - y))
        region = (x, y, w, h)
    return Spec(level, region, draw(st.integers(16, 200)))


def _expected_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), specs())
def test_any_small_image_gives_a_decodable_rendition_as_promised(
    source: tuple[bytes, tuple[int, int]], spec: Spec
) -> None:
    data, size = source
    rendition = render(data, spec)
    out = Image.open(io.BytesIO(rendition.data), formats=["JPEG"])
    out.load()
    assert rendition.mime == "image/jpeg"
    assert out.size == (rendition.width, rendition.height) == _expected_size(size, spec.max_size)
    assert out.mode == ("RGB" if spec.level == 4 else "L")
    assert rendition.data != data
    assert not out.info.get("exif")


@settings(max_examples=60, deadline=None)
@given(images())
def test_level_1_never_equals_the_input(source: tuple[bytes, tuple[int, int]]) -> None:
    data, _ = source
    original = Image.open(io.BytesIO(data))
    rendition = render(data, Spec(1))
    assert rendition.data != data
    out = np.asarray(Image.open(io.BytesIO(rendition.data), formats=["JPEG"]))
    if original.mode == "P":  # Pillow warns converting palette+transparency straight to L
        original = original.convert("RGBA")
    grey = np.asarray(original.convert("L"))
    if grey.std() > 8:  # a flat image blurs to itself; anything with detail must change
        assert np.abs(out.astype(int) - grey).mean() > 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([b"", b"\xff\xd8\xff", b"GIF89a", b"BM"]))
def test_arbitrary_bytes_give_a_refusal_or_a_rendition(noise: bytes, magic: bytes) -> None:
    data = magic + noise
    try:
        rendition = render(data, Spec(1, max_size=64))
    except MediaRejected as refusal:
        assert refusal.code and refusal.reason
    else:
        assert rendition.data != data
