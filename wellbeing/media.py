"""Media bytes: the safe rendition by default, and revealed renditions through one-time grants."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort
from flask_login import current_user

from exposure import attachments, breaks, ledger
from exposure.accounts import Identity
from exposure.models import Attachment, ExposureEvent
from wellbeing.auth import roles_required
from wellbeing.db import clock, db, end_reads, security_event
from wellbeing.guard import refuse_if_restricted
from wellbeing.policies import policy
from wellbeing.renditions import playback_path, still_response, video_response

bp = Blueprint("media", __name__, url_prefix="/media")


def _safe_view(token: str, attachment_id: int) -> tuple[Identity | None, breaks.SafeView]:
    # The safe view only reads: on PostgreSQL with no BEGIN and ROLLBACK round trips, on
    # SQLite from a snapshot without taking the write lock that other requests queue on.
    return breaks.safe_view(db.read_engine, token, attachment_id, clock().now())


@bp.get("/<int:attachment_id>/safe")
@roles_required("associate", load_with=_safe_view)
def safe(attachment_id: int, loaded: breaks.SafeView) -> Any:
    att = loaded.item
    if att is None:
        abort(404, description="No such attachment.")
    if loaded.restricted:
        refuse_if_restricted(att)
    return still_response(att, attachments.default_level(att, policy().categories))


@bp.get("/<int:attachment_id>/play/<client_event_id>")
@roles_required("associate")
def playback(attachment_id: int, client_event_id: str) -> Any:
    """The blurred, muted playback of a video, for a view of it that was logged; GET with
    ranges so the player can seek. Revealed levels and sound come through grants only."""
    event = ledger.find_event(db.session, current_user.id, client_event_id)
    if event is None or event.attachment_id != attachment_id or event.modality != "video":
        abort(404, description="Start playback from the viewer.")
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.media_kind != "video":
        abort(404, description="No such video.")
    if event.level != max(1, attachments.default_level(att, policy().categories)):
        abort(404, description="Revealed playback comes through a one-time link only.")
    refuse_if_restricted(att)
    end_reads()  # the render may take seconds
    path = playback_path(att, event.level)
    if path is None:
        abort(422, description="This video cannot be played; nothing of it was sent.")
    return video_response(path)


@bp.post("/once/<token>")
@roles_required("associate")
def once(token: str) -> Any:
    grant = ledger.redeem(db.session, token, current_user.id, clock().now())
    if grant is None:
        db.session.rollback()
        security_event("grant_refused", actor_id=current_user.id)
        abort(404, description="This link has expired or was already used.")
    db.session.commit()  # spent before anything is sent: a replay gets nothing
    att = db.session.get(Attachment, grant.attachment_id)
    if att is None:
        abort(404, description="No such attachment.")
    refuse_if_restricted(att, granted_at=grant.created_at)
    event = db.session.get(ExposureEvent, grant.event_id) if att.media_kind == "video" else None
    end_reads()  # the render may take seconds
    if att.media_kind == "video":
        audio = event is not None and event.modality == "audio"
        path = playback_path(att, grant.level, audio=audio)
        if path is None:
            abort(422, description="This video cannot be played; nothing of it was sent.")
        return video_response(path)
    return still_response(att, grant.level, ledger.parse_region(grant.region))
