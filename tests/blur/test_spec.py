"""Spec and Limits: what a caller may ask for, and the stable names used in cache keys."""

from __future__ import annotations

import math

import pytest

from blur import ENGINE_VERSION, Limits, Spec, cache_key

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": -1}, "level"),
        ({"level": 5}, "level"),
        ({"level": True}, "level"),
        ({"level": 1.0}, "level"),
        ({"level": 1, "max_size": 15}, "max_size"),
        ({"level": 1, "max_size": 4097}, "max_size"),
        ({"level": 3, "region": (0.5, 0.5, 0.6, 0.1)}, "within"),
        ({"level": 3, "region": (-0.1, 0.0, 0.5, 0.5)}, "within"),
        ({"level": 3, "region": (0.1, 0.1, 0.0, 0.5)}, "positive"),
        ({"level": 3, "region": (0.1, 0.1, 0.5, -0.5)}, "positive"),
        ({"level": 3, "region": (0.1, 0.1, math.nan, 0.5)}, "finite"),
        ({"level": 3, "region": (0.1, 0.1, 0.5)}, "tuple"),
        ({"level": 1, "region": (0.1, 0.1, 0.5, 0.5)}, "level 2-4"),
        ({"level": 0, "region": (0.1, 0.1, 0.5, 0.5)}, "level 2-4"),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Spec(**kwargs)


def test_region_edges_tolerate_float_sums() -> None:
    assert Spec(4, region=(0.7, 0.35, 0.3, 0.65)).region == (0.7, 0.35, 0.3, 0.65)


def test_region_from_json_becomes_a_hashable_tuple() -> None:
    spec = Spec(3, region=[0.1, 0.2, 0.3, 0.4])  # type: ignore[arg-type]
    assert spec.region == (0.1, 0.2, 0.3, 0.4)
    assert hash(spec) == hash(Spec(3, region=(0.1, 0.2, 0.3, 0.4)))


def test_key_is_stable_and_distinguishes_specs() -> None:
    assert Spec(1).key() == Spec(1).key() == "level=1;region=-;max=1280"
    keys = {
        Spec(1).key(),
        Spec(2).key(),
        Spec(1, max_size=640).key(),
        Spec(3, region=(0.1, 0.2, 0.3, 0.4)).key(),
        Spec(4, region=(0.1, 0.2, 0.3, 0.4)).key(),
        Spec(4, region=(0.1, 0.2, 0.3, 0.40000001)).key(),
    }
    assert len(keys) == 6
    assert Spec(3, region=(0, 0, 1, 1)).key() == Spec(3, region=(0.0, 0.0, 1.0, 1.0)).key()


def test_cache_key_covers_content_spec_and_engine_version() -> None:
    key = cache_key(SHA, Spec(1))
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == cache_key(SHA, Spec(1))
    assert key != cache_key("cd" * 32, Spec(1))
    assert key != cache_key(SHA, Spec(2))
    assert ENGINE_VERSION in ENGINE_VERSION  # exported, a plain string
    with pytest.raises(ValueError):
        cache_key("not-a-digest", Spec(1))
    with pytest.raises(ValueError):
        cache_key(SHA.upper(), Spec(1))


def test_limits_are_named_and_validated() -> None:
    assert Limits().max_pixels == 40_000_000
    assert Limits(max_frames=5).max_frames == 5
    with pytest.raises(ValueError, match="max_bytes"):
        Limits(max_bytes=0)
