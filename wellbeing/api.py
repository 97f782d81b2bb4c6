"""JSON API for the ticketing system, authenticated by bearer tokens (never by cookies)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

import blur
from exposure import accounts, attachments
from exposure.attachments import AttachmentError, MediaFacts, Registration
from exposure.models import ApiToken, Attachment
from wellbeing.db import clock, db, security_event
from wellbeing.openapi import document
from wellbeing.renditions import engine
from wellbeing.upstream import UpstreamPolicy, UpstreamRefused, fetch

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])

MEDIA_STATUS = {
    "too_large": 413,
    "unsupported_format": 415,
    "unsupported_codec": 415,
    "playlist": 415,
}


def token_required(scope: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                security_event("api_no_token", path=request.path)
                abort(401, description="This API takes a bearer token, not a browser session.")
            token = accounts.token_for(db.session, header[7:].strip(), clock().now())
            if token is None:
                security_event("api_bad_token", path=request.path)
                abort(401, description="Unknown or revoked API token.")
            if scope not in token.scopes.split():
                security_event("api_scope", token_id=token.id, path=request.path, scope=scope)
                abort(403, description=f"This token lacks the {scope!r} scope.")
            g.api_token = token
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _token() -> ApiToken:
    token: ApiToken = g.api_token
    return token


def attachment_json(att: Attachment) -> dict[str, Any]:
    return {
        "id": att.id,
        "ticket_ref": att.ticket_ref,
        "external_id": att.external_id,
        "filename": att.filename,
        "media_kind": att.media_kind,
        "format": att.format,
        "width": att.width,
        "height": att.height,
        "frames": att.frames,
        "duration_seconds": att.duration_seconds,
        "has_audio": att.has_audio,
        "size": att.size,
        "sha256": att.sha256,
        "labels": att.labels,
        "flag_state": att.flag_state,
        "categories": att.categories,
        "severity": att.severity,
        "flag_source": att.flag_source,
        "viewer_url": url_for("viewer.view", attachment_id=att.id, _external=True),
        "created_at": att.created_at.isoformat(),
        "updated_at": att.updated_at.isoformat(),
    }


def _registration(meta: dict[str, Any], source_url: str | None) -> Registration:
    allowed = {
        "ticket_ref",
        "external_id",
        "filename",
        "labels",
        "flag_state",
        "categories",
        "severity",
        "flag_source",
        "source_url",
    }
    unknown = sorted(set(meta) - allowed)
    if unknown:
        abort(400, description=f"unknown fields: {', '.join(unknown)}")
    try:
        return Registration(
            ticket_ref=meta.get("ticket_ref"),  # type: ignore[arg-type]
            external_id=meta.get("external_id"),  # type: ignore[arg-type]
            filename=meta.get("filename") or "",
            labels=meta.get("labels") or [],
            flag_state=meta.get("flag_state", "unknown"),
            categories=meta.get("categories") or [],
            severity=meta.get("severity", 0),
            flag_source=meta.get("flag_source"),
            source_url=source_url,
        )
    except AttachmentError as exc:
        abort(400, description=str(exc))
    except TypeError:
        abort(400, description="labels and categories must be lists of strings")


def _read_request() -> tuple[dict[str, Any], bytes | None, str | None]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(400, description="multipart upload needs a 'file' part")
        try:
            meta = json.loads(request.form.get("metadata", "{}"))
        except ValueError:
            abort(400, description="'metadata' must be a JSON object")
        if not isinstance(meta, dict):
            abort(400, description="'metadata' must be a JSON object")
        return meta, upload.read(current_app.config["MAX_UPLOAD_BYTES"] + 1), None
    meta = request.get_json(silent=True)
    if not isinstance(meta, dict):
        abort(400, description="send multipart/form-data with a file, or JSON with source_url")
    url = meta.get("source_url")
    if not isinstance(url, str) or not url:
        abort(400, description="JSON registration needs 'source_url' (or upload the file)")
    return meta, None, url


def _fetch(url: str) -> bytes:
    cfg = current_app.config
    policy = UpstreamPolicy(
        allowed_hosts=frozenset(
            h.strip().lower() for h in cfg["UPSTREAM_ALLOWED_HOSTS"].split(",") if h.strip()
        ),
        max_bytes=cfg["MAX_UPLOAD_BYTES"],
        timeout_seconds=float(cfg["UPSTREAM_TIMEOUT_SECONDS"]),
        allow_private=cfg["UPSTREAM_ALLOW_PRIVATE"],
    )
    try:
        # Tests inject a TLS context trusting their CA and a resolver for their made-up host.
        return fetch(
            url,
            policy,
            ssl_context=current_app.extensions.get("wellbeing.upstream_tls"),
            resolver=current_app.extensions.get("wellbeing.upstream_resolver"),
        )
    except UpstreamRefused as exc:
        security_event("upstream_refused", token_id=_token().id, code=exc.code, url=url[:500])
        status = 413 if exc.code == "too_large" else 422
        abort(status, description=f"upstream fetch refused ({exc.code}): {exc.reason}")


def _probe(data: bytes) -> MediaFacts:
    """What the bytes are, from their headers only (video is never decoded in here)."""
    try:
        if blur.sniff_video(data) is not None:
            video = blur.probe_video(data, engine().video_limits)
            return MediaFacts(
                "video",
                video.container,
                video.mime,
                video.width,
                video.height,
                0,
                duration_seconds=video.duration_seconds,
                has_audio=video.has_audio,
            )
        info = blur.probe(data, engine().limits)
    except blur.MediaRejected as exc:
        security_event("media_rejected", token_id=_token().id, code=exc.code)
        abort(MEDIA_STATUS.get(exc.code, 422), description=f"{exc.code}: {exc.reason}")
    kind = "animation" if info.frames > 1 else "image"
    return MediaFacts(kind, info.format, info.mime, info.width, info.height, info.frames)


@bp.post("/attachments")
@token_required("attachments:write")
def register() -> Any:
    meta, data, url = _read_request()
    reg = _registration(meta, url)
    existing = attachments.find(db.session, reg.ticket_ref, reg.external_id)
    if existing is not None:
        return jsonify(attachment_json(existing)), 200
    if data is None:
        data = _fetch(url or "")
    facts = _probe(data)
    att, created = attachments.register(db.session, reg, data, facts, clock().now())
    db.session.commit()
    return jsonify(attachment_json(att)), 201 if created else 200


@bp.get("/attachments/<int:attachment_id>")
@token_required("attachments:read")
def show(attachment_id: int) -> Any:
    att = db.session.get(Attachment, attachment_id)
    if att is None:
        abort(404, description="No such attachment.")
    db.session.commit()  # token last-used time
    return jsonify(attachment_json(att))


@bp.post("/attachments/<int:attachment_id>/flag")
@token_required("attachments:write")
def flag(attachment_id: int) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    att = db.session.get(Attachment, attachment_id)
    if att is None:
        abort(404, description="No such attachment.")
    try:
        attachments.set_flag(
            db.session,
            att,
            flag_state=body.get("flag_state", "flagged"),
            categories=body.get("categories") or [],
            severity=body.get("severity", att.severity),
            flag_source=body.get("flag_source", "manual"),
            now=clock().now(),
        )
    except AttachmentError as exc:
        abort(400, description=str(exc))
    db.session.commit()
    return jsonify(attachment_json(att))


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())
