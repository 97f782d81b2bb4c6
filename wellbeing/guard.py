"""The break check every request for sensitive media passes, computed from the database now."""

from __future__ import annotations

from datetime import datetime

from flask import Response, jsonify, make_response, render_template, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from exposure.attachments import Viewable, is_sensitive
from exposure.breaks import Restriction, active_restriction
from wellbeing.db import clock, db, security_event

MESSAGES = {
    "enforced": "You are on a break. Sensitive media is paused until it ends.",
    "step_away": "You stepped away. Sensitive media is paused until your break ends.",
    "rotation": "You are rotated off sensitive work for now. Your lead will bring you back.",
}


class Locked(HTTPException):
    """423 Locked: sensitive media is refused during a break or rotation."""

    code = 423

    def __init__(self, restriction: Restriction, seconds_left: int | None) -> None:
        super().__init__(MESSAGES.get(restriction.kind, MESSAGES["enforced"]))
        self.restriction = restriction
        self.seconds_left = seconds_left

    def get_response(self, environ: object = None, scope: object = None) -> Response:
        payload = {
            "error": "on_break",
            "kind": self.restriction.kind,
            "message": self.description,
            "seconds_left": self.seconds_left,
        }
        wants_json = request.method != "GET" or request.path.startswith("/media/")
        body = jsonify(payload) if wants_json else render_template("break.html", **payload)
        response = make_response(body)
        response.status_code = 423
        if self.seconds_left is not None:
            response.headers["Retry-After"] = str(self.seconds_left)
        response.headers["Cache-Control"] = "no-store, private"
        return response


def refuse_if_restricted(attachment: Viewable, *, granted_at: datetime | None = None) -> None:
    """Raise 423 if the signed-in person may not see this item now.

    Unflagged items pass; if the break state cannot be read, the database error propagates
    and the app answers 503, so an unknown state refuses too. `granted_at` honours a grant
    whose own reveal started the break (that reveal was logged; the next one is refused).
    """
    if not is_sensitive(attachment):
        return
    now = clock().now()
    restriction = active_restriction(db.session, current_user.id, now, ignore_started_at=granted_at)
    if restriction is not None:
        security_event(
            "refused_on_break",
            actor_id=current_user.id,
            attachment_id=attachment.id,
            kind=restriction.kind,
        )
        raise Locked(restriction, restriction.seconds_left(now))
