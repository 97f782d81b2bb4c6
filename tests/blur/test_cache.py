"""The rendition cache: atomic, bounded, self-checking, and never a home for originals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from blur import Rendition, RenditionCache, Spec, cache_key, placeholder, render, render_cached


def _rendition(seed: int, size: int = 64) -> Rendition:
    return placeholder(size + seed % 7, size, label=f"item {seed}")


def _key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_put_then_get_and_path_for(tmp_path: Path) -> None:
    cache = RenditionCache(tmp_path)
    rendition = _rendition(1)
    key = _key(1)
    assert cache.get(key) is None and cache.path_for(key) is None
    path = cache.put(key, rendition)
    assert cache.get(key) == rendition
    assert cache.path_for(key) == path
    assert path.read_bytes() == rendition.data  # servable as is (X-Sendfile)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_corrupt_or_partial_entries_are_misses(tmp_path: Path) -> None:
    cache = RenditionCache(tmp_path)
    for n, damage in enumerate(("flip", "truncate", "sidecar", "no-image", "no-sidecar")):
        key = _key(n)
        path = cache.put(key, _rendition(n))
        sidecar = path.with_suffix(".json")
        if damage == "flip":
            data = bytearray(path.read_bytes())
            data[-10] ^= 0xFF
            path.write_bytes(bytes(data))
        elif damage == "truncate":
            path.write_bytes(path.read_bytes()[:50])
        elif damage == "sidecar":
            sidecar.write_text("{not json")
        elif damage == "no-image":
            path.unlink()
        else:
            sidecar.unlink()
        assert cache.get(key) is None, damage
        assert cache.path_for(key) is None, damage


def test_cache_stays_under_its_bound_by_evicting_least_recently_used(tmp_path: Path) -> None:
    one = len(_rendition(0).data)
    cache = RenditionCache(tmp_path, max_bytes=one * 10)
    keys = [_key(n) for n in range(40)]
    cache.put(keys[0], _rendition(0))
    for n, key in enumerate(keys[1:], start=1):
        old = os.stat(cache.path_for(keys[0])).st_mtime
        cache.put(key, _rendition(n))
        os.utime(cache.path_for(key), (old - 1000 + n, old - 1000 + n))  # older than key 0
        assert cache.get(keys[0]) is not None  # a hit refreshes key 0
    images = [p for p in tmp_path.rglob("*.jpg")]
    assert sum(p.stat().st_size for p in images) <= one * 11
    assert cache.get(keys[0]) is not None  # recently used survived
    assert cache.get(keys[1]) is None  # oldest went
    sidecars = {p.stem for p in tmp_path.rglob("*.json")}
    assert sidecars == {p.stem for p in images}


def test_only_encoded_renditions_with_valid_keys_are_stored(tmp_path: Path) -> None:
    cache = RenditionCache(tmp_path)
    with pytest.raises(ValueError):
        cache.put(_key(1), Rendition(b"GIF89a...", "image/gif", 1, 1, 1))
    with pytest.raises(ValueError):
        cache.put(_key(1), Rendition(b"\x89PNG\r\n\x1a\n", "image/jpeg", 1, 1, 1))
    for bad in ("../../etc/passwd", "A" * 64, "abc"):
        with pytest.raises(ValueError):
            cache.get(bad)


def test_render_cached_stores_renditions_never_originals(
    tmp_path: Path, astronaut_jpeg: bytes
) -> None:
    cache = RenditionCache(tmp_path)
    sha = hashlib.sha256(astronaut_jpeg).hexdigest()
    for spec in (Spec(1), Spec(4), Spec(3, region=(0.2, 0.2, 0.5, 0.5))):
        first = render_cached(cache, astronaut_jpeg, sha, spec)
        assert first == render(astronaut_jpeg, spec)  # deterministic
        assert render_cached(cache, astronaut_jpeg, sha, spec) == first
        assert cache.get(cache_key(sha, spec)) == first
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.read_bytes() != astronaut_jpeg
            middle = len(astronaut_jpeg) // 2  # entropy-coded pixels, unique to the input
            assert astronaut_jpeg[middle : middle + 64] not in path.read_bytes()
    assert render_cached(None, astronaut_jpeg, sha, Spec(1)) == render(astronaut_jpeg, Spec(1))


def test_render_cached_refuses_a_hash_that_does_not_match(
    tmp_path: Path, astronaut_jpeg: bytes
) -> None:
    cache = RenditionCache(tmp_path)
    with pytest.raises(ValueError):
        render_cached(cache, astronaut_jpeg, "0" * 64, Spec(1))
    assert not list(tmp_path.rglob("*.jpg"))


def test_an_unwritable_cache_does_not_fail_the_render(
    tmp_path: Path, astronaut_jpeg: bytes, monkeypatch
) -> None:
    cache = RenditionCache(tmp_path)

    def refuse(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cache, "put", refuse)
    sha = hashlib.sha256(astronaut_jpeg).hexdigest()
    assert render_cached(cache, astronaut_jpeg, sha, Spec(1)).mime == "image/jpeg"


def test_sidecar_records_what_the_rendition_is(tmp_path: Path) -> None:
    cache = RenditionCache(tmp_path)
    path = cache.put(_key(3), Rendition(_rendition(3).data, "image/jpeg", 67, 64, 12))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["mime"] == "image/jpeg" and meta["frames"] == 12 and meta["size"] > 0
    assert cache.get(_key(3)) == Rendition(path.read_bytes(), "image/jpeg", 67, 64, 12)


def _replace(path: Path, data: bytes) -> None:
    """Rewrite a file the way another process's put does: a new file moved into place."""
    temp = path.with_name(".replacement.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


@pytest.mark.parametrize("damage", ["replace image", "rewrite image", "replace sidecar", "evict"])
def test_an_entry_changed_after_a_verified_hit_is_verified_again(
    tmp_path: Path, damage: str
) -> None:
    """Later hits compare file identities instead of hashing; any change is caught."""
    cache = RenditionCache(tmp_path)
    key = _key(5)
    path = cache.put(key, _rendition(5))
    sidecar = path.with_suffix(".json")
    good = cache.get(key)
    assert good is not None and cache.get(key) == good  # verified, then remembered
    forged = bytearray(good.data)
    forged[-10] ^= 0xFF  # same size, different bytes
    if damage == "replace image":
        _replace(path, bytes(forged))
    elif damage == "rewrite image":  # in place: same inode, a later mtime
        stat = path.stat()
        path.write_bytes(bytes(forged))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    elif damage == "replace sidecar":
        meta = json.loads(sidecar.read_text())
        _replace(sidecar, json.dumps({**meta, "sha256": "0" * 64}).encode())
    else:  # another process evicted the entry: sidecar first, then the image
        sidecar.unlink()
    assert cache.get(key) is None, damage
    assert cache.path_for(key) is None, damage


@pytest.mark.parametrize("read", ["get", "path_for"])
def test_a_hit_refreshes_the_lru_age_at_most_once_a_minute(tmp_path: Path, read: str) -> None:
    """Bytes served by the app (get) or by the front-end server (path_for, X-Sendfile)."""
    cache = RenditionCache(tmp_path)
    hit = getattr(cache, read)
    key = _key(6)
    path = cache.put(key, _rendition(6))
    fresh = path.stat().st_mtime_ns
    assert hit(key) is not None
    assert path.stat().st_mtime_ns == fresh  # written a moment ago: no write per hit
    old = fresh - 120 * 10**9
    os.utime(path, ns=(old, old))  # another process saw it last two minutes ago
    first = hit(key)
    touched = path.stat().st_mtime_ns
    assert first is not None and touched > old + 100 * 10**9  # refreshed
    assert hit(key) == first  # and still served, from the remembered identity
    assert path.stat().st_mtime_ns == touched
