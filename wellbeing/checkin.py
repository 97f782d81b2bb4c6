"""The associate's check-ins: a banner when one is due, the form, and the answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from exposure import audit, checkins
from exposure.models import CheckIn, User
from wellbeing.auth import roles_required
from wellbeing.db import clock, db
from wellbeing.inputs import BadInput
from wellbeing.policies import routes

bp = Blueprint("checkin", __name__, url_prefix="/checkins")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _due_checkin() -> dict[str, Any]:
        # The banner on every page: the associate's earliest open check-in, if any.
        if not getattr(current_user, "is_authenticated", False):
            return {}
        if "associate" not in current_user.roles:
            return {}
        now = clock().now()
        due = [
            c for c in checkins.open_checkins(db.session, current_user.id) if c.created_at <= now
        ]
        return {"due_checkin": due[0] if due else None, "now": now}


def _own(checkin_id: int) -> CheckIn:
    row = db.session.get(CheckIn, checkin_id)
    if row is None or row.user_id != current_user.id:
        abort(404, description="No such check-in of yours.")
    return row


@bp.get("/<int:checkin_id>")
@roles_required("associate")
def form(checkin_id: int) -> Any:
    row = _own(checkin_id)
    return render_template(
        "checkin.html", checkin=row, instrument=checkins.INSTRUMENTS[row.instrument]
    )


def _answers(row: CheckIn) -> list[int]:
    instrument = checkins.INSTRUMENTS[row.instrument]
    values = []
    for i in range(len(instrument.items)):
        raw = request.form.get(f"item{i}", "")
        if not raw.isdigit():
            raise BadInput(f"please answer item {i + 1}")
        values.append(int(raw))
    return values


@bp.post("/<int:checkin_id>")
@roles_required("associate")
def submit(checkin_id: int) -> Any:
    row = _own(checkin_id)
    answers = _answers(row)
    person = db.session.get(User, current_user.id)
    assert person is not None
    now = clock().now()
    try:
        checkins.submit(db.session, row.id, person, answers, now, routes())
    except checkins.CheckInError as exc:
        raise BadInput(str(exc)) from None
    audit.record(db.session, "checkin.answered", now, actor_id=person.id, checkin_id=row.id)
    db.session.commit()
    flash("Thank you. Your answers are seen only by you and the wellbeing team.", "info")
    return redirect(url_for("viewer.home"))
