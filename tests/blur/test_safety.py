"""The safe looks hide what they must: measured with a face detector and blur strength."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from blur import Spec, render


@pytest.fixture(scope="module")
def sources(astronaut: np.ndarray, encode) -> dict[str, bytes]:
    photo = Image.fromarray(astronaut)
    face = photo.crop((132, 20, 318, 206)).resize((400, 400), Image.Resampling.BICUBIC)
    return {
        "native": encode(photo, "JPEG", quality=92),  # 512 px, face about 18% wide
        "large": encode(photo.resize((2048, 2048), Image.Resampling.BICUBIC), "JPEG"),
        "close-up": encode(face, "PNG"),  # face about half the frame
    }


@pytest.mark.parametrize(
    ("source", "max_size"),
    [("native", 1280), ("large", 1280), ("large", 300), ("close-up", 1280)],
)
def test_face_is_found_at_level_4_and_hidden_at_levels_1_and_2(
    sources, inspect, source, max_size
) -> None:
    def faces(level: int) -> int:
        return inspect.faces(
            inspect.grey(render(sources[source], Spec(level, max_size=max_size)).data)
        )

    assert faces(4) >= 1
    assert faces(3) >= 1
    assert faces(1) == 0
    if source != "close-up":  # peek is a light blur: a face filling the frame may survive it
        assert faces(2) == 0


@pytest.mark.parametrize(("source", "max_size"), [("native", 1280), ("large", 1280)])
def test_level_1_keeps_under_2_percent_of_the_laplacian_variance(
    sources, inspect, source, max_size
) -> None:
    def variance(level: int) -> float:
        pixels = inspect.grey(render(sources[source], Spec(level, max_size=max_size)).data)
        return inspect.laplacian_variance(pixels)

    assert variance(1) < 0.02 * variance(4)


def test_peek_is_visibly_clearer_than_safe(sources, inspect) -> None:
    def detail(level: int) -> float:
        return inspect.coarse_detail(inspect.grey(render(sources["native"], Spec(level)).data))

    assert detail(2) > 4 * detail(1)
    assert detail(4) > 4 * detail(2)


def test_blur_is_relative_to_size_so_thumbnails_and_large_images_look_alike(
    sources, inspect
) -> None:
    large = inspect.grey(render(sources["large"], Spec(1, max_size=1280)).data)
    thumb = inspect.grey(render(sources["native"], Spec(1, max_size=128)).data)
    shrunk = cv2.resize(large, thumb.shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - thumb).mean() < 3
