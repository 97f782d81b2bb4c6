"""Content-addressed on-disk cache of renditions (never of originals).

Layout: ``root/ab/<key>.jpg`` holds exactly the image bytes (so a front-end server can
send it with X-Sendfile) and ``root/ab/<key>.json`` is a tiny sidecar with mime, size,
frames and the SHA-256 of the image. Both are written to a temp file and moved into
place with ``os.replace``; the sidecar is written last and acts as the commit marker, so
readers see a whole entry or a miss. The size bound is enforced by evicting the least
recently used entries (file mtimes, refreshed by a hit at most once a minute).

An entry is verified against its sidecar's SHA-256 the first time a process reads it.
The process then remembers the identity of both files (device, inode, size, mtime):
later hits compare a ``stat`` instead of hashing again. Any rewrite, replacement or
removal of either file changes that identity and the entry is verified afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import RenderFailed
from .limits import DEFAULT_LIMITS, Limits
from .render import render
from .rendition import Rendition
from .spec import Spec
from .version import ENGINE_VERSION

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png"}
_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
_RESCAN_EVERY = 64  # puts between full scans, so several processes keep the bound
_STALE_TEMP_SECONDS = 3600
_EVICT_TO = 0.9  # evict down to this share of max_bytes, so eviction is not run per put
_TOUCH_NS = 60 * 10**9  # a hit refreshes an entry's mtime (its LRU age) at most this often
_MEMO_ENTRIES = 4096  # verified entries remembered per process (then forgotten at once)

# (st_dev, st_ino, st_size, st_mtime_ns): changes whenever a file is rewritten or replaced.
FileIdentity = tuple[int, int, int, int]
Entry = tuple[dict[str, Any], bytes | None, Path]  # sidecar, image bytes if read, image path


def _identity(stat: os.stat_result) -> FileIdentity:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class _Verified:
    """An entry this process checked against its SHA-256, and the files it checked."""

    sidecar: FileIdentity
    image: FileIdentity
    meta: dict[str, Any]


def cache_key(sha256_hex: str, spec: Spec) -> str:
    """Hex digest naming the rendition of content ``sha256_hex`` under ``spec``."""
    if not _HEX64.fullmatch(sha256_hex):
        raise ValueError("sha256_hex must be 64 lowercase hex digits")
    material = f"{sha256_hex}\n{spec.key()}\n{ENGINE_VERSION}".encode()
    return hashlib.sha256(material).hexdigest()


class RenditionCache:
    """A bounded directory of renditions keyed by ``cache_key``; safe across processes."""

    def __init__(self, root: Path, max_bytes: int = 512 * 1024 * 1024) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._approx_bytes: int | None = None
        self._puts_since_scan = 0
        self._verified: dict[str, _Verified] = {}

    def get(self, key: str) -> Rendition | None:
        """The cached rendition, or None on a miss or a corrupt entry."""
        entry = self._entry(key, _still_suffix, with_data=True)
        if entry is None:
            return None
        meta, data, path = entry
        assert data is not None
        self._touch(key, path)
        return Rendition(data, meta["mime"], meta["width"], meta["height"], meta["frames"])

    def path_for(self, key: str) -> Path | None:
        """Path of the verified image file of a cached rendition, None on a miss."""
        entry = self._entry(key, _still_suffix, with_data=False)
        if entry is None:
            return None
        self._touch(key, entry[2])  # the front-end server sends it: still a use
        return entry[2]

    def put(self, key: str, rendition: Rendition) -> Path:
        """Store a rendition atomically; return the path of its image file."""
        _check_key(key)
        magic = _MAGIC.get(rendition.mime)
        if magic is None or not rendition.data.startswith(magic):
            raise ValueError(f"only encoded JPEG/PNG renditions are cached, not {rendition.mime}")
        folder = self.root / key[:2]
        folder.mkdir(exist_ok=True)
        path = folder / (key + _SUFFIX[rendition.mime])
        meta = {
            "mime": rendition.mime,
            "width": rendition.width,
            "height": rendition.height,
            "frames": rendition.source_frames,
            "size": len(rendition.data),
            "sha256": hashlib.sha256(rendition.data).hexdigest(),
        }
        for mime, suffix in _SUFFIX.items():  # a key maps to one image file
            if mime != rendition.mime:
                _unlink(folder / (key + suffix))
        _write_atomic(path, rendition.data)
        _write_atomic(folder / (key + ".json"), json.dumps(meta).encode())
        self._account(len(rendition.data))
        return path

    def _entry(
        self, key: str, suffix_of: Callable[[dict[str, Any]], str], *, with_data: bool
    ) -> Entry | None:
        """A verified entry; None on a miss, a corrupt entry or one `suffix_of` rejects
        (it names the image file's suffix for a sidecar it accepts, else raises)."""
        _check_key(key)
        folder = self.root / key[:2]
        sidecar = folder / (key + ".json")
        known = self._verified.get(key)
        try:
            if known is not None and _identity(os.stat(sidecar)) == known.sidecar:
                path = folder / (key + suffix_of(known.meta))  # raises for another kind
                if not with_data:
                    if _identity(os.stat(path)) == known.image:
                        return known.meta, None, path
                else:
                    with open(path, "rb") as handle:
                        if _identity(os.fstat(handle.fileno())) == known.image:
                            return known.meta, handle.read(), path
            with open(sidecar, "rb") as handle:
                side = _identity(os.fstat(handle.fileno()))
                meta = json.loads(handle.read())
            path = folder / (key + suffix_of(meta))
            with open(path, "rb") as handle:
                image = _identity(os.fstat(handle.fileno()))
                data = handle.read()
            if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if len(self._verified) >= _MEMO_ENTRIES:
            self._verified.clear()
        self._verified[key] = _Verified(side, image, meta)
        return meta, data, path

    def _touch(self, key: str, path: Path) -> None:
        """Mark an entry recently used (for eviction), at most once per _TOUCH_NS."""
        known = self._verified.get(key)
        now = time.time_ns()
        if known is None or now - known.image[3] < _TOUCH_NS:
            return
        with contextlib.suppress(OSError):
            os.utime(path, ns=(now, now))
            self._verified[key] = replace(known, image=(*known.image[:3], now))

    def _account(self, added: int) -> None:
        self._puts_since_scan += 1
        if self._approx_bytes is None or self._puts_since_scan >= _RESCAN_EVERY:
            self._approx_bytes = self._scan_and_evict()
            return
        self._approx_bytes += added
        if self._approx_bytes > self.max_bytes:
            self._approx_bytes = self._scan_and_evict()

    def _scan_and_evict(self) -> int:
        """Measure the cache; evict least recently used entries past the bound."""
        self._puts_since_scan = 0
        entries: list[tuple[float, int, Path]] = []
        now = time.time()
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for item in os.scandir(folder):
                try:
                    stat = item.stat()
                except OSError:
                    continue
                if item.name.startswith("."):
                    if now - stat.st_mtime > _STALE_TEMP_SECONDS:  # left by a crash
                        _unlink(Path(item.path))
                    continue
                if not item.name.endswith(".json"):
                    entries.append((stat.st_mtime, stat.st_size, Path(item.path)))
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return total
        entries.sort()
        for _, size, path in entries:
            if total <= self.max_bytes * _EVICT_TO:
                break
            _unlink(path.with_suffix(".json"))  # uncommit first, then drop the image
            _unlink(path)
            total -= size
        return total


def render_cached(
    cache: RenditionCache | None,
    data: bytes,
    sha256_hex: str,
    spec: Spec,
    limits: Limits = DEFAULT_LIMITS,
) -> Rendition:
    """``render`` through the cache. A cache that cannot be written is skipped, not fatal."""
    if cache is None:
        return render(data, spec, limits)
    key = cache_key(sha256_hex, spec)
    hit = cache.get(key)
    if hit is not None:
        return hit
    if hashlib.sha256(data).hexdigest() != sha256_hex:
        raise ValueError("sha256_hex does not match the data; refusing to poison the cache")
    rendition = render(data, spec, limits)
    if rendition.data == data:  # never cache (or serve) an original
        raise RenderFailed("internal", "rendition equals the input")
    with contextlib.suppress(OSError):
        cache.put(key, rendition)
    return rendition


def _still_suffix(meta: dict[str, Any]) -> str:
    if not all(isinstance(meta[k], int) for k in ("width", "height", "frames")):
        raise TypeError("sidecar of a still rendition without integer dimensions")
    return _SUFFIX[meta["mime"]]


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _HEX64.fullmatch(key):
        raise ValueError("cache keys are 64 lowercase hex digits (see cache_key)")


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        _unlink(temp)
        raise


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
