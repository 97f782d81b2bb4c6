"""The associate's pages: home, the safe viewer, reveal, heartbeats and stepping away."""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from exposure import attachments, audit, breaks, daily, ledger, viewing
from exposure.categories import LEVEL_NAMES
from exposure.models import Attachment
from wellbeing import dashboards, inputs
from wellbeing.auth import roles_required
from wellbeing.db import clock, db, security_event
from wellbeing.guard import refuse_if_restricted
from wellbeing.policies import policy, routes

bp = Blueprint("viewer", __name__)


def _attachment(attachment_id: int) -> Attachment:
    att = db.session.get(Attachment, attachment_id)
    if att is None:
        abort(404, description="No such attachment.")
    return att


@bp.get("/")
@login_required
def home() -> Any:
    if "associate" in current_user.roles:
        return dashboards.render_my_day()  # My day, with the break timer and step-away
    return render_template("home.html")


@bp.get("/view/<int:attachment_id>")
@roles_required("associate")
def view(attachment_id: int) -> Any:
    att = _attachment(attachment_id)
    refuse_if_restricted(att)
    pol = policy()
    level = attachments.default_level(att, pol.categories)
    event_id = secrets.token_urlsafe(12)
    viewing.record_view(
        db.session,
        pol,
        routes(),
        current_user.id,
        att,
        level=level,
        client_event_id=event_id,
        now=clock().now(),
    )
    db.session.commit()
    return render_template(
        "viewer.html",
        att=att,
        sensitive=attachments.is_sensitive(att),
        level=level,
        level_name=LEVEL_NAMES[level],
        max_level=attachments.max_level(att, pol.categories),
        event_id=event_id,
        heartbeat_seconds=current_app.config["HEARTBEAT_SECONDS"],
    )


@bp.post("/view/<int:attachment_id>/reveal")
@roles_required("associate")
def reveal(attachment_id: int) -> Any:
    req = inputs.RevealRequest.from_form(request.form)
    att = _attachment(attachment_id)
    if att.media_kind == "video" and req.region is not None:
        raise inputs.BadInput("region reveals are for images")
    if req.audio and not att.has_audio:
        raise inputs.BadInput("this item has no sound")
    refuse_if_restricted(att)
    now = clock().now()
    try:
        revealed = viewing.reveal(
            db.session,
            policy(),
            routes(),
            current_user.id,
            att,
            level=req.level,
            region=req.region,
            client_event_id=req.client_event_id,
            now=now,
            ttl_seconds=current_app.config["REVEAL_TTL_SECONDS"],
            audio=req.audio,
        )
    except ledger.LevelNotAllowed as exc:
        security_event("reveal_above_max", actor_id=current_user.id, attachment_id=att.id)
        abort(403, description=str(exc))
    except ledger.LedgerConflict as exc:
        abort(409, description=str(exc))
    grant = revealed.grant
    if grant.created:
        audit.record(
            db.session,
            "reveal",
            now,
            actor_id=current_user.id,
            attachment_id=att.id,
            level=req.level,
            region=ledger.format_region(req.region),
        )
    db.session.commit()  # the ledger entry exists before any revealed byte is sent
    return jsonify(
        url=url_for("media.once", token=grant.token),
        expires_at=grant.expires_at.isoformat(),
        client_event_id=req.client_event_id,
        level=req.level,
        # A break this reveal triggered: the page shows it once the item is dismissed.
        break_started=any(
            f.actions for f in revealed.firings if "break" in f.actions or "rotate" in f.actions
        ),
    )


@bp.post("/view/<int:attachment_id>/play")
@roles_required("associate")
def play(attachment_id: int) -> Any:
    """Start the blurred, muted playback of a video: a logged view, then its URL."""
    event_id = inputs.client_event_id(request.form.get("client_event_id"))
    att = _attachment(attachment_id)
    if att.media_kind != "video":
        raise inputs.BadInput("only videos play")
    refuse_if_restricted(att)
    pol = policy()
    level = max(1, attachments.default_level(att, pol.categories))
    viewing.record_view(
        db.session,
        pol,
        routes(),
        current_user.id,
        att,
        level=level,
        client_event_id=event_id,
        now=clock().now(),
    )
    db.session.commit()
    return jsonify(
        url=url_for("media.playback", attachment_id=att.id, client_event_id=event_id),
        client_event_id=event_id,
        level=level,
    )


@bp.post("/events/<client_event_id>/heartbeat")
@roles_required("associate")
def heartbeat(client_event_id: str) -> Any:
    event_id = inputs.client_event_id(client_event_id)
    cfg = current_app.config
    event = ledger.heartbeat(
        db.session,
        current_user.id,
        event_id,
        clock().now(),
        grace_seconds=cfg["HEARTBEAT_GRACE_SECONDS"],
        cap_seconds=cfg["SAFE_VIEW_MAX_SECONDS"],
        basis=daily.Basis.of(policy()),
    )
    if event is None:
        abort(404, description="No such view of yours.")
    db.session.commit()
    return jsonify(client_event_id=event_id, duration_seconds=round(event.duration_seconds, 1))


@bp.post("/step-away")
@roles_required("associate")
def step_away() -> Response:
    minutes = inputs.minutes(request.form.get("minutes"), default=10, low=1, high=60)
    now = clock().now()
    breaks.start_break(db.session, current_user.id, "step_away", now, minutes=minutes)
    db.session.commit()
    return redirect(url_for("viewer.home"))
