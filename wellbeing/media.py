"""Media bytes: the safe rendition by default, and revealed renditions through one-time grants."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request
from flask_login import current_user

from exposure import attachments, breaks, ledger
from exposure.models import Attachment
from wellbeing.auth import roles_required
from wellbeing.db import clock, db, security_event
from wellbeing.guard import refuse_if_restricted
from wellbeing.policies import policy
from wellbeing.renditions import media_response, render_for

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.before_request
def _autocommit_reads() -> None:
    # The safe view only reads; on PostgreSQL skip the BEGIN and ROLLBACK round trips.
    # (Not on SQLite: its engine opens every transaction with BEGIN IMMEDIATE.)
    if request.endpoint == "media.safe" and db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@bp.get("/<int:attachment_id>/safe")
@roles_required("associate")
def safe(attachment_id: int) -> Any:
    att, restricted = breaks.attachment_for(
        db.session, attachment_id, current_user.id, clock().now()
    )
    if att is None:
        abort(404, description="No such attachment.")
    if restricted:
        refuse_if_restricted(att)
    return media_response(render_for(att, attachments.default_level(att, policy().categories)))


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
    return media_response(render_for(att, grant.level, ledger.parse_region(grant.region)))
