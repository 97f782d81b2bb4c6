"""Renditions: sizes, modes, orientation, alpha, regions, metadata, placeholders."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from blur import MediaRejected, Rendition, Spec, placeholder, probe, render


def _check(rendition: Rendition, inspect, size: tuple[int, int], mode: str) -> Image.Image:
    image = inspect.opened(rendition.data)
    assert image.format == "JPEG" and rendition.mime == "image/jpeg"
    assert image.size == size == (rendition.width, rendition.height)
    assert image.mode == mode
    return image


@pytest.mark.parametrize(("level", "mode"), [(1, "L"), (2, "L"), (3, "L"), (4, "RGB")])
def test_levels_give_promised_mode_and_size(astronaut_jpeg, inspect, level, mode) -> None:
    rendition = render(astronaut_jpeg, Spec(level, max_size=300))
    _check(rendition, inspect, (300, 300), mode)
    assert rendition.source_frames == 1
    assert rendition.data != astronaut_jpeg


def test_grey_levels_carry_no_colour_and_level_4_does(astronaut_jpeg, inspect) -> None:
    for level in (1, 2, 3):
        assert inspect.max_chroma(inspect.opened(render(astronaut_jpeg, Spec(level)).data)) == 0
    assert inspect.max_chroma(inspect.opened(render(astronaut_jpeg, Spec(4)).data)) > 100


def test_never_upscales_and_fits_the_longest_side(astronaut, encode, inspect) -> None:
    small = encode(Image.fromarray(astronaut).resize((100, 60)), "PNG")
    _check(render(small, Spec(1, max_size=1280)), inspect, (100, 60), "L")
    wide = encode(Image.fromarray(astronaut).resize((2000, 1000)), "JPEG")
    _check(render(wide, Spec(3, max_size=500)), inspect, (500, 250), "L")
    _check(render(wide, Spec(1, max_size=16)), inspect, (16, 8), "L")


def test_level_4_of_a_jpeg_is_re_encoded_without_metadata(astronaut, encode, inspect) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp</x:xmpmeta>'
    source = encode(astronaut, "JPEG", exif=exif, icc_profile=icc, xmp=xmp, comment=b"secret")
    assert b"SecretCam" in source and b"secret-xmp" in source
    for level in (1, 3, 4):
        rendition = render(source, Spec(level))
        image = inspect.opened(rendition.data)
        for key in ("exif", "icc_profile", "xmp", "comment", "dpi"):
            assert key not in image.info, (level, key)
        assert not image.getexif()
        for marker in (b"Exif", b"SecretCam", b"ICC_PROFILE", b"secret", b"adobe"):
            assert marker not in rendition.data, (level, marker)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_metadata_is_stripped(astronaut, encode, inspect, fmt) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(Image.fromarray(astronaut), fmt, exif=exif, icc_profile=icc)
    data = render(source, Spec(4)).data
    assert b"SecretCam" not in data and b"Exif" not in data
    assert "icc_profile" not in inspect.opened(data).info


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_first(encode, inspect, orientation) -> None:
    stored = np.zeros((100, 200), np.uint8)
    stored[:50, :100] = 255  # one bright quadrant marks the corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = encode(Image.fromarray(stored), "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(source))))
    rendition = render(source, Spec(3))
    got = inspect.grey(rendition.data)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).mean() < 8
    info = probe(source)
    assert (info.width, info.height) == (rendition.width, rendition.height)


def test_region_fractions_refer_to_the_oriented_image(encode, inspect) -> None:
    stored = np.full((100, 200), 0, np.uint8)
    stored[:, :100] = 255  # stored left half bright; orientation 6 puts it on top
    exif = Image.Exif()
    exif[0x0112] = 6
    source = encode(Image.fromarray(stored), "PNG", exif=exif)
    top = inspect.grey(render(source, Spec(3, region=(0.0, 0.0, 1.0, 0.3))).data)
    assert top.shape == (200, 100)
    assert top[:55].mean() > 240


def test_alpha_is_flattened_onto_neutral_grey(inspect, encode) -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = 255  # fully transparent red
    for level in (1, 4):
        image = inspect.opened(render(encode(rgba, "PNG"), Spec(level)).data)
        rgb = np.asarray(image.convert("RGB")).astype(int)
        assert abs(rgb.mean() - 128) < 3
        assert inspect.max_chroma(image) < 6


def test_region_is_sharp_inside_and_safe_outside(astronaut_jpeg, inspect) -> None:
    region = (0.3, 0.1, 0.3, 0.3)  # around the face
    x0, y0, x1, y1 = 154, 51, 307, 205
    sharp = inspect.grey(render(astronaut_jpeg, Spec(3)).data).astype(np.uint8)
    for level in (3, 4):
        rendition = render(astronaut_jpeg, Spec(level, region=region))
        image = inspect.opened(rendition.data)
        assert image.mode == ("L" if level == 3 else "RGB")
        got = np.asarray(image.convert("L"))
        inside = (slice(y0 + 4, y1 - 4), slice(x0 + 4, x1 - 4))
        outside = (slice(300, 512), slice(0, 512))
        lap = inspect.laplacian_variance
        assert lap(got[inside]) > 0.7 * lap(sharp[inside])
        assert lap(got[outside]) < 0.02 * lap(sharp[outside])
        assert inspect.faces(got) >= 1
        if level == 4:
            assert inspect.max_chroma(image.crop((x0 + 4, y0 + 4, x1 - 4, y1 - 4))) > 60
            assert inspect.max_chroma(image.crop((0, 320, 512, 512))) < 12


def test_region_at_peek_is_blurred_inside_but_less_than_outside(astronaut_jpeg, inspect) -> None:
    got = inspect.grey(render(astronaut_jpeg, Spec(2, region=(0.0, 0.0, 0.5, 1.0))).data)
    detail = inspect.coarse_detail
    assert detail(got[:, :236]) > 3 * detail(got[:, 276:])


def test_level_0_is_a_placeholder_sized_like_the_source(astronaut, encode, inspect) -> None:
    source = encode(Image.fromarray(astronaut).resize((2000, 1000)), "PNG")
    cut = source[: len(source) // 3]  # pixels missing: level 0 must not need them
    for data in (source, cut):
        rendition = render(data, Spec(0, max_size=640))
        image = _check(rendition, inspect, (640, 320), "L")
        assert np.asarray(image).std() < 1  # uniform: no source pixels
        assert rendition.source_frames == 1
    with pytest.raises(MediaRejected):
        render(cut, Spec(1))


def test_placeholder_draws_an_optional_label(inspect) -> None:
    blank = placeholder()
    _check(blank, inspect, (640, 360), "L")
    assert blank.source_frames == 0
    labelled = inspect.grey(placeholder(320, 180, label="graphic_violence").data)
    assert labelled.shape == (180, 320) and labelled.std() > 5
    assert placeholder(16, 16, label="x" * 500).width == 16
    with pytest.raises(ValueError):
        placeholder(0, 10)
    with pytest.raises(ValueError):
        placeholder(10, 5000)


def test_animations_render_a_safe_still_of_the_first_frame(encode, inspect) -> None:
    first = Image.new("L", (80, 60), 250)
    rest = [Image.new("L", (80, 60), 5) for _ in range(9)]
    for n, frame in enumerate(rest):  # make frames distinct, or the encoders merge them
        frame.paste(255, (n * 8, 0, n * 8 + 4, 4))
    for fmt in ("GIF", "WEBP"):
        source = encode(first, fmt, save_all=True, append_images=rest, duration=40)
        for level in (1, 3):
            rendition = render(source, Spec(level))
            assert rendition.source_frames == 10
            assert inspect.grey(rendition.data).mean() > 200, (fmt, level)


def test_mpo_is_accepted_as_jpeg_and_only_the_first_picture_is_shown(encode, inspect) -> None:
    first = Image.new("RGB", (80, 60), (250, 250, 250))
    second = Image.new("RGB", (80, 60), (5, 5, 5))
    source = encode(first, "MPO", save_all=True, append_images=[second])
    assert probe(source).format == "jpeg" and probe(source).frames == 1
    rendition = render(source, Spec(4))
    assert inspect.grey(rendition.data).mean() > 200
    assert rendition.source_frames == 1


def _cmyk(astronaut: np.ndarray) -> Image.Image:
    return Image.fromarray(astronaut).convert("CMYK")


def _sixteen_bit() -> Image.Image:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    return Image.fromarray(ramp)


def _palette_alpha(astronaut: np.ndarray) -> Image.Image:
    image = Image.fromarray(astronaut).resize((64, 64)).convert("P")
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(
    ("name", "make", "fmt"),
    [
        ("cmyk-jpeg", _cmyk, "JPEG"),
        ("grey-jpeg", lambda a: Image.fromarray(a).convert("L"), "JPEG"),
        ("16-bit-png", lambda a: _sixteen_bit(), "PNG"),
        ("palette-alpha-png", _palette_alpha, "PNG"),
        ("palette-gif", lambda a: Image.fromarray(a).convert("P"), "GIF"),
        ("1-bit-png", lambda a: Image.fromarray(a).convert("1"), "PNG"),
        ("1-bit-bmp", lambda a: Image.fromarray(a).convert("1"), "BMP"),
        ("la-png", lambda a: Image.fromarray(a).convert("LA"), "PNG"),
        ("rgba-webp", lambda a: Image.fromarray(a).convert("RGBA"), "WEBP"),
        ("rgba-bmp", lambda a: Image.fromarray(a).convert("RGBA"), "BMP"),
        ("lossless-webp", lambda a: Image.fromarray(a), "WEBP"),
    ],
)
def test_odd_modes_render_at_every_level(astronaut, encode, inspect, name, make, fmt) -> None:
    image = make(astronaut)
    source = encode(image, fmt, **({"lossless": True} if name == "lossless-webp" else {}))
    for level, mode in ((1, "L"), (3, "L"), (4, "RGB")):
        rendition = render(source, Spec(level, max_size=200))
        out = _check(rendition, inspect, _fit(image.size, 200), mode)
        assert 5 < np.asarray(out.convert("L")).mean() < 250, (name, level)


def test_sixteen_bit_is_scaled_not_clipped(encode, inspect) -> None:
    got = inspect.grey(render(encode(_sixteen_bit(), "PNG"), Spec(3)).data)
    assert 100 < got.mean() < 156
    assert got[:, :16].mean() < 30 and got[:, -16:].mean() > 225


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
