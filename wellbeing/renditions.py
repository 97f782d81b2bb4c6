"""Renditions for the web: engine limits from config, the disk cache, bounded concurrency,
fail-closed rendering and the headers every media response carries.

With ``SENDFILE_HEADER`` set, a verified cache file is answered with an empty body and
``X-Accel-Redirect`` (nginx) or ``X-Sendfile`` (Apache, lighttpd): the front-end server
sends the bytes. Every check (session, role, break, grant, ledger) has run by then; only
files inside the rendition cache are ever named, and anything not in the cache (a
placeholder after a failed render) is sent as bytes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, send_file
from sqlalchemy.exc import SQLAlchemyError

import blur
from exposure.attachments import Viewable, original_bytes
from wellbeing.db import db, security_event

log = logging.getLogger("wellbeing.media")

SENDFILE_HEADERS = ("X-Accel-Redirect", "X-Sendfile")
_STILL_MIME = {".jpg": "image/jpeg", ".png": "image/png"}
_CACHE_FILE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}\.(?:jpg|png|mp4)")

MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store, private",
    "Content-Security-Policy": "default-src 'none'",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Saturated(Exception):
    """Every render slot is busy; the caller answers 429 rather than queueing."""


@dataclass
class Engine:
    limits: blur.Limits
    video_limits: blur.VideoLimits
    cache: blur.VideoRenditionCache
    max_size: int
    playback_height: int
    storyboard_frames: int
    slots: threading.BoundedSemaphore
    sendfile_header: str  # "" (we send the bytes) or one of SENDFILE_HEADERS
    sendfile_prefix: str
    cache_root: str  # absolute path of the cache directory, for X-Sendfile


def init_app(app: Flask) -> None:
    cfg = app.config
    cache_dir = Path(cfg["CACHE_DIR"] or Path(cfg["DATA_DIR"]) / "renditions")
    header, prefix = _sendfile_settings(cfg["SENDFILE_HEADER"], cfg["SENDFILE_PREFIX"])
    app.extensions["wellbeing.renditions"] = Engine(
        limits=blur.Limits(
            max_bytes=cfg["MAX_UPLOAD_BYTES"],
            max_pixels=cfg["MAX_PIXELS"],
            max_frames=cfg["MAX_FRAMES"],
            max_total_pixels=cfg["MAX_TOTAL_PIXELS"],
        ),
        video_limits=blur.VideoLimits(
            max_bytes=cfg["MAX_UPLOAD_BYTES"],
            max_seconds=cfg["VIDEO_MAX_SECONDS"],
            max_width=cfg["VIDEO_MAX_WIDTH"],
            max_height=cfg["VIDEO_MAX_HEIGHT"],
            render_timeout_seconds=cfg["VIDEO_RENDER_TIMEOUT_SECONDS"],
            render_memory_bytes=cfg["VIDEO_RENDER_MEMORY_BYTES"],
        ),
        cache=blur.VideoRenditionCache(cache_dir, max_bytes=cfg["CACHE_MAX_BYTES"]),
        max_size=cfg["SAFE_MAX_SIZE"],
        playback_height=cfg["VIDEO_PLAYBACK_HEIGHT"],
        storyboard_frames=cfg["VIDEO_STORYBOARD_FRAMES"],
        slots=threading.BoundedSemaphore(cfg["RENDER_SLOTS"]),
        sendfile_header=header,
        sendfile_prefix=prefix,
        cache_root=os.path.abspath(cache_dir),
    )


def _sendfile_settings(header: str | None, prefix: str | None) -> tuple[str, str]:
    """Check SENDFILE_HEADER and SENDFILE_PREFIX; a typo must stop the app, not half-work."""
    header = (header or "").strip()
    prefix = (prefix or "").strip()
    if header and header not in SENDFILE_HEADERS:
        raise RuntimeError(
            f"WELLBEING_SENDFILE_HEADER must be empty, X-Accel-Redirect or X-Sendfile; "
            f"got {header!r}"
        )
    if header == "X-Accel-Redirect" and not (
        prefix.startswith("/")
        and prefix.endswith("/")
        and "\\" not in prefix
        and ".." not in prefix
    ):
        raise RuntimeError(
            "WELLBEING_SENDFILE_PREFIX must be an absolute URI path ending in '/' (the internal "
            f"nginx location of the rendition cache, e.g. /_renditions/); got {prefix!r}"
        )
    return header, prefix


def engine() -> Engine:
    found: Engine = current_app.extensions["wellbeing.renditions"]
    return found


def render_for(
    attachment: Viewable,
    level: int,
    region: tuple[float, float, float, float] | None = None,
) -> blur.Rendition:
    """The still rendition of an item at a level (a video's is its silent storyboard);
    any failure gives a neutral placeholder."""
    eng = engine()
    if attachment.media_kind == "video":
        if level == 0:
            return blur.placeholder(label="video hidden")
        spec = {"frames": eng.storyboard_frames, "level": level, "max_size": eng.max_size}
        found = _render(attachment, "storyboard", spec)
        return found if isinstance(found, blur.Rendition) else blur.placeholder(label="unavailable")
    image_spec = blur.Spec(level=level, region=region, max_size=eng.max_size)
    cached = eng.cache.get(blur.cache_key(attachment.sha256, image_spec))
    if cached is not None:
        return cached
    with _slot():
        try:
            data = _original(attachment)
            return blur.render_cached(eng.cache, data, attachment.sha256, image_spec, eng.limits)
        except SQLAlchemyError:
            raise  # the database failed: 503 like any request that cannot read it
        except blur.MediaError as exc:
            security_event("render_refused", attachment_id=attachment.id, code=exc.code)
        except Exception:
            # Fail closed: whatever went wrong, nothing of the original leaves the server.
            log.exception("rendering attachment %s failed", attachment.id)
    return blur.placeholder(label="unavailable")


def still_response(
    attachment: Viewable,
    level: int,
    region: tuple[float, float, float, float] | None = None,
) -> Response:
    """The answer carrying ``render_for``'s rendition: through the front-end server when
    SENDFILE_HEADER is set and the rendition is a verified cache file, else its bytes."""
    eng = engine()
    if not eng.sendfile_header:
        return media_response(render_for(attachment, level, region))
    key = _still_key(attachment, level, region)
    path = None if key is None else eng.cache.path_for(key)
    if path is None:
        rendition = render_for(attachment, level, region)
        path = None if key is None else eng.cache.path_for(key)
        if path is None:  # a placeholder, or a cache that could not be written
            return media_response(rendition)
    return sendfile_response(path, _STILL_MIME[path.suffix])


def _still_key(
    attachment: Viewable, level: int, region: tuple[float, float, float, float] | None
) -> str | None:
    """The cache key ``render_for`` stores this rendition under (None: never cached)."""
    eng = engine()
    if attachment.media_kind != "video":
        spec = blur.Spec(level=level, region=region, max_size=eng.max_size)
        return blur.cache_key(attachment.sha256, spec)
    if level == 0:
        return None
    return blur.video_cache_key(
        attachment.sha256,
        "storyboard",
        frames=eng.storyboard_frames,
        level=level,
        max_size=eng.max_size,
    )


def playback_path(attachment: Viewable, level: int, *, audio: bool = False) -> Path | None:
    """The cached MP4 of a video at a level (muted unless `audio`), rendered if needed out
    of process; None if it cannot be rendered (the caller refuses; nothing else is sent)."""
    eng = engine()
    spec = {"level": max(level, 1), "audio": audio, "max_height": eng.playback_height}
    key = blur.video_cache_key(attachment.sha256, "playback", **spec)
    path = eng.cache.video_path_for(key)
    if path is not None:
        return path
    if not isinstance(_render(attachment, "playback", spec), blur.VideoRendition):
        return None
    return eng.cache.video_path_for(key)


def _render(
    attachment: Viewable, kind: str, spec: Mapping[str, object]
) -> blur.Rendition | blur.VideoRendition | None:
    eng = engine()
    with _slot():
        try:
            data = _original(attachment)
            return blur.render_video_cached(
                eng.cache, kind, data, attachment.sha256, eng.video_limits, **spec
            )
        except SQLAlchemyError:
            raise  # the database failed: 503 like any request that cannot read it
        except blur.MediaError as exc:
            security_event("render_refused", attachment_id=attachment.id, code=exc.code)
        except Exception:
            log.exception("rendering video %s failed", attachment.id)
    return None


def _original(attachment: Viewable) -> bytes:
    # Read on its own connection, outside the request's transaction. (Callers end their
    # own read transaction before rendering: see wellbeing.db.end_reads.)
    with db.reading() as conn:
        return original_bytes(conn, attachment)


@contextmanager
def _slot() -> Iterator[None]:
    slots = engine().slots
    if not slots.acquire(timeout=2):
        raise Saturated()
    try:
        yield
    finally:
        slots.release()


def media_response(rendition: blur.Rendition) -> Response:
    response = Response(rendition.data, mimetype=rendition.mime)
    response.headers.update(MEDIA_HEADERS)
    return response


def video_response(path: Path) -> Response:
    """A cached MP4 with range support (206 for seeking), under our own headers."""
    if engine().sendfile_header:
        return sendfile_response(path, "video/mp4")  # the front-end server does ranges
    response = send_file(path, mimetype="video/mp4", conditional=True, etag=False, max_age=0)
    response.headers.update(MEDIA_HEADERS)
    return response


def sendfile_response(path: Path, mime: str) -> Response:
    """An empty answer telling the front-end server to send a file of the rendition cache."""
    eng = engine()
    # Cache paths are built from hex keys, so this holds; it is checked because a header
    # naming any other file would have the front-end server send it unconditionally.
    relative = path.relative_to(eng.cache.root).as_posix()  # ValueError (500) if outside
    if not _CACHE_FILE.fullmatch(relative):
        raise ValueError(f"not a rendition cache file: {relative!r}")
    if eng.sendfile_header == "X-Accel-Redirect":
        target = eng.sendfile_prefix + relative
    else:
        target = f"{eng.cache_root}/{relative}"
    response = Response(b"", mimetype=mime)
    response.headers.update(MEDIA_HEADERS)
    response.headers[eng.sendfile_header] = target
    return response
