"""Cache keys for video renditions, and an on-disk cache that also holds playback MP4s.

Storyboards are JPEGs: they go in a plain ``RenditionCache`` (or this one) under
``video_cache_key``. Playback MP4s go through ``put_video``/``get_video``/
``video_path_for``: the same layout (``root/ab/<key>.mp4`` plus a JSON sidecar written
last as the commit marker), the same atomic writes and the same LRU size bound, shared
with the JPEGs in the same directory. ``video_path_for`` gives a file a web server can
send with range requests (Flask's ``send_file(..., conditional=True)``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .cache import RenditionCache, _check_key, _write_atomic
from .rendition import Rendition
from .version import ENGINE_VERSION
from .video_isolation import render_video_isolated
from .video_limits import DEFAULT_VIDEO_LIMITS, VideoLimits
from .video_rendition import VideoRendition
from .video_spec import STORYBOARD, video_spec

# Bump when video renditions change; the image engine's version is part of it too,
# because storyboards and playback frames use the image looks.
VIDEO_ENGINE_VERSION = f"{ENGINE_VERSION}+video-1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MP4 = ".mp4"


def video_cache_key(sha256_hex: str, kind: str, **spec: Any) -> str:
    """Hex digest naming the ``kind`` rendition ('storyboard'/'playback') of a video."""
    if not _HEX64.fullmatch(sha256_hex):
        raise ValueError("sha256_hex must be 64 lowercase hex digits")
    checked = video_spec(kind, **spec)
    material = f"{sha256_hex}\n{checked.key()}\n{VIDEO_ENGINE_VERSION}".encode()
    return hashlib.sha256(material).hexdigest()


class VideoRenditionCache(RenditionCache):
    """A ``RenditionCache`` that also stores playback MP4s (``*_video`` methods)."""

    def get_video(self, key: str) -> VideoRendition | None:
        """The cached playback rendition, or None on a miss or a corrupt entry."""
        entry = self._entry(key, _video_suffix, with_data=True)
        if entry is None:
            return None
        meta, data, path = entry
        assert data is not None
        self._touch(key, path)
        return VideoRendition(
            data,
            "video/mp4",
            meta["width"],
            meta["height"],
            meta["duration_seconds"],
            meta["has_audio"],
        )

    def video_path_for(self, key: str) -> Path | None:
        """Path of the verified MP4 of a cached playback rendition, None on a miss."""
        entry = self._entry(key, _video_suffix, with_data=False)
        if entry is None:
            return None
        self._touch(key, entry[2])
        return entry[2]

    def put_video(self, key: str, rendition: VideoRendition) -> Path:
        """Store a playback rendition atomically; return the path of its MP4."""
        _check_key(key)
        if rendition.mime != "video/mp4" or rendition.data[4:8] != b"ftyp":
            raise ValueError("only encoded MP4 renditions are cached as video")
        folder = self.root / key[:2]
        folder.mkdir(exist_ok=True)
        path = folder / (key + _MP4)
        meta = {
            "mime": rendition.mime,
            "width": rendition.width,
            "height": rendition.height,
            "duration_seconds": rendition.duration_seconds,
            "has_audio": rendition.has_audio,
            "size": len(rendition.data),
            "sha256": hashlib.sha256(rendition.data).hexdigest(),
        }
        _write_atomic(path, rendition.data)
        _write_atomic(folder / (key + ".json"), json.dumps(meta).encode())
        self._account(len(rendition.data))
        return path


def _video_suffix(meta: dict[str, Any]) -> str:
    valid = (
        meta["mime"] == "video/mp4"
        and all(isinstance(meta[k], int) for k in ("width", "height"))
        and isinstance(meta["duration_seconds"], int | float)
        and isinstance(meta["has_audio"], bool)
    )
    if not valid:
        raise ValueError("not the sidecar of a playback rendition")
    return _MP4


def render_video_cached(
    cache: VideoRenditionCache | None,
    kind: str,
    data: bytes,
    sha256_hex: str,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    **spec: Any,
) -> Rendition | VideoRendition:
    """``render_video_isolated`` through the cache. A cache that cannot be written is skipped."""
    if cache is None:
        return render_video_isolated(kind, data, limits, **spec)
    key = video_cache_key(sha256_hex, kind, **spec)
    hit: Rendition | VideoRendition | None = (
        cache.get(key) if kind == STORYBOARD else cache.get_video(key)
    )
    if hit is not None:
        return hit
    if hashlib.sha256(data).hexdigest() != sha256_hex:
        raise ValueError("sha256_hex does not match the data; refusing to poison the cache")
    result = render_video_isolated(kind, data, limits, **spec)
    with contextlib.suppress(OSError):
        if isinstance(result, VideoRendition):
            cache.put_video(key, result)
        else:
            cache.put(key, result)
    return result
