"""A lead's team page: who is working, on a break or rotated off, who is near the cap and
whose check-in is overdue (yes/no only), and overrides of breaks with a reason."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from exposure import audit, breaks, roster
from exposure.models import Break, Team, User
from wellbeing import inputs
from wellbeing.auth import roles_required
from wellbeing.db import clock, db, security_event
from wellbeing.policies import policy

bp = Blueprint("team", __name__, url_prefix="/team")


@bp.get("")
@roles_required("lead")
def index() -> Any:
    now = clock().now()
    pol = policy()
    teams = []
    for team_id in roster.led_team_ids(db.session, current_user.id):
        team = db.session.get(Team, team_id)
        teams.append((team, roster.team_roster(db.session, pol, team_id, now)))
    return render_template("team.html", teams=teams, cap=roster.daily_cap(pol))


def _overridable(break_id: int) -> Break:
    """A break the caller may override: an enforced break or rotation of someone in a team
    they lead (wellbeing staff: anyone's). Confidential step-away breaks are not theirs."""
    brk = db.session.get(Break, break_id)
    if brk is None or brk.status != "active" or brk.kind == "step_away":
        abort(404, description="No such break to override.")
    if "wellbeing" not in current_user.roles:
        person = db.session.get(User, brk.user_id)
        teams = set(roster.led_team_ids(db.session, current_user.id))
        if person is None or person.team_id not in teams:
            security_event("override_other_team", actor_id=current_user.id, break_id=break_id)
            abort(404, description="No such break to override.")
    return brk


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if len(reason) < 3:
        raise inputs.BadInput("say why (a reason is required and audited)")
    return reason[:2000]


@bp.post("/breaks/<int:break_id>/end")
@roles_required("lead", "wellbeing")
def end_break(break_id: int) -> Any:
    brk = _overridable(break_id)
    reason = _reason()
    now = clock().now()
    breaks.end_break(db.session, brk.id, now, by_user_id=current_user.id, reason=reason)
    audit.record(
        db.session,
        "break.ended",
        now,
        actor_id=current_user.id,
        subject_user_id=brk.user_id,
        break_id=brk.id,
        kind=brk.kind,
        reason=reason,
    )
    db.session.commit()
    flash("Break ended; the reason is in the audit log.", "info")
    return redirect(url_for("team.index"))


@bp.post("/breaks/<int:break_id>/extend")
@roles_required("lead", "wellbeing")
def extend_break(break_id: int) -> Any:
    brk = _overridable(break_id)
    reason = _reason()
    minutes = inputs.minutes(request.form.get("minutes"), default=10, low=1, high=240)
    now = clock().now()
    breaks.extend_break(
        db.session, brk.id, now, minutes=minutes, by_user_id=current_user.id, reason=reason
    )
    audit.record(
        db.session,
        "break.extended",
        now,
        actor_id=current_user.id,
        subject_user_id=brk.user_id,
        break_id=brk.id,
        minutes=minutes,
        reason=reason,
    )
    db.session.commit()
    flash("Break extended; the reason is in the audit log.", "info")
    return redirect(url_for("team.index"))
