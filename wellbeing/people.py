"""Wellbeing staff's view of people: check-in results and exposure, each read audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy import select

from exposure import audit, checkins
from exposure.dose import load_events, summarise
from exposure.models import CheckIn, User
from exposure.reconciler import associates
from wellbeing.auth import roles_required
from wellbeing.db import clock, db
from wellbeing.policies import policy

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.get("")
@roles_required("wellbeing")
def index() -> Any:
    now = clock().now()
    rows = []
    for person in associates(db.session):
        latest = db.session.scalar(
            select(CheckIn)
            .where(CheckIn.user_id == person.id, CheckIn.completed_at.is_not(None))
            .order_by(CheckIn.completed_at.desc())
            .limit(1)
        )
        overdue = any(
            checkins.is_overdue(c, now) for c in checkins.open_checkins(db.session, person.id)
        )
        rows.append((person, latest, overdue))
    audit.record(db.session, "wellbeing.read_list", now, actor_id=current_user.id)
    db.session.commit()
    return render_template("people.html", rows=rows)


@bp.get("/<int:user_id>")
@roles_required("wellbeing")
def show(user_id: int) -> Any:
    person = db.session.get(User, user_id)
    if person is None:
        abort(404, description="No such person.")
    now = clock().now()
    pol = policy()
    week = summarise(load_events(db.session, person.id, now - timedelta(days=7), now), pol)
    history = db.session.scalars(
        select(CheckIn)
        .where(CheckIn.user_id == person.id)
        .order_by(CheckIn.due_at.desc())
        .limit(50)
    ).all()
    # Every read of another person's wellbeing data is audited (invariant 4).
    audit.record(
        db.session,
        "wellbeing.read_person",
        now,
        actor_id=current_user.id,
        subject_user_id=person.id,
    )
    db.session.commit()
    return render_template(
        "person.html", person=person, week=week, history=history, instruments=checkins.INSTRUMENTS
    )
