"""Renditions for the web: engine limits from config, the disk cache, bounded concurrency,
fail-closed rendering and the headers every media response carries."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app

import blur
from exposure.attachments import original_bytes
from exposure.models import Attachment
from wellbeing.db import db, security_event

log = logging.getLogger("wellbeing.media")

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
    cache: blur.RenditionCache
    max_size: int
    slots: threading.BoundedSemaphore


def init_app(app: Flask) -> None:
    cfg = app.config
    cache_dir = Path(cfg["CACHE_DIR"] or Path(cfg["DATA_DIR"]) / "renditions")
    app.extensions["wellbeing.renditions"] = Engine(
        limits=blur.Limits(
            max_bytes=cfg["MAX_UPLOAD_BYTES"],
            max_pixels=cfg["MAX_PIXELS"],
            max_frames=cfg["MAX_FRAMES"],
            max_total_pixels=cfg["MAX_TOTAL_PIXELS"],
        ),
        cache=blur.RenditionCache(cache_dir, max_bytes=cfg["CACHE_MAX_BYTES"]),
        max_size=cfg["SAFE_MAX_SIZE"],
        slots=threading.BoundedSemaphore(cfg["RENDER_SLOTS"]),
    )


def engine() -> Engine:
    found: Engine = current_app.extensions["wellbeing.renditions"]
    return found


def limits() -> blur.Limits:
    return engine().limits


def render_for(
    attachment: Attachment,
    level: int,
    region: tuple[float, float, float, float] | None = None,
) -> blur.Rendition:
    """The rendition of an attachment at a level; any failure gives a neutral placeholder."""
    eng = engine()
    spec = blur.Spec(level=level, region=region, max_size=eng.max_size)
    key = blur.cache_key(attachment.sha256, spec)
    cached = eng.cache.get(key)
    if cached is not None:
        return cached
    if not eng.slots.acquire(timeout=2):
        raise Saturated()
    try:
        data = original_bytes(db.session, attachment)
        return blur.render_cached(eng.cache, data, attachment.sha256, spec, eng.limits)
    except blur.MediaError as exc:
        security_event("render_refused", attachment_id=attachment.id, code=exc.code)
        return blur.placeholder(label="unavailable")
    except Exception:
        # Fail closed: whatever went wrong, nothing of the original leaves the server.
        log.exception("rendering attachment %s failed", attachment.id)
        return blur.placeholder(label="unavailable")
    finally:
        eng.slots.release()


def media_response(rendition: blur.Rendition) -> Response:
    response = Response(rendition.data, mimetype=rendition.mime)
    response.headers.update(MEDIA_HEADERS)
    return response
