"""The alerts inbox of leads (their teams) and wellbeing staff, with acknowledgement."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from exposure import alerts, audit
from exposure.models import Delivery, User
from wellbeing.auth import roles_required
from wellbeing.db import clock, db, security_event

bp = Blueprint("inbox", __name__, url_prefix="/alerts")


@bp.get("")
@roles_required("lead", "wellbeing")
def index() -> Any:
    show_all = request.args.get("all") == "1"
    rows = alerts.inbox(
        db.session, current_user.id, current_user.roles, include_acknowledged=show_all
    )
    names = {
        u.id: u.display_name
        for u in db.session.scalars(
            select(User).where(User.id.in_({a.subject_user_id for a in rows}))
        )
    }
    deliveries: dict[int, list[Delivery]] = {}
    for d in db.session.scalars(
        select(Delivery).where(Delivery.alert_id.in_([a.id for a in rows]))
    ):
        deliveries.setdefault(d.alert_id, []).append(d)
    return render_template(
        "alerts.html", alerts=rows, names=names, show_all=show_all, deliveries=deliveries
    )


@bp.post("/<int:alert_id>/ack")
@roles_required("lead", "wellbeing")
def acknowledge(alert_id: int) -> Any:
    now = clock().now()
    alert = alerts.acknowledge(db.session, alert_id, current_user.id, current_user.roles, now)
    if alert is None:
        security_event("alert_not_visible", actor_id=current_user.id, alert_id=alert_id)
        abort(404, description="No such alert for you.")
    audit.record(db.session, "alert.acknowledged", now, actor_id=current_user.id, alert_id=alert_id)
    db.session.commit()
    return redirect(url_for("inbox.index"))
