"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from exposure.models import SchedulerHeartbeat
from wellbeing.db import clock, db
from wellbeing.reconcile import HEARTBEAT_NAME

bp = Blueprint("health", __name__)
log = logging.getLogger("wellbeing.health")


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    session = db.session
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    # A stale scheduler only delays time-based work (breaks marked over, check-ins falling
    # due, alert delivery); enforcement is read from the database on every request, so web
    # workers stay ready and keep serving. The field makes a stale scheduler visible.
    scheduler = _scheduler_status()
    session.rollback()
    return jsonify(status="ready", database="ok", **scheduler)


def _scheduler_status() -> dict[str, Any]:
    """The scheduler as seen through its heartbeat: ok, stale (with age and holder), never_run."""
    try:
        beat = db.session.get(SchedulerHeartbeat, HEARTBEAT_NAME)
    except SQLAlchemyError as exc:
        log.error("cannot read the scheduler heartbeat: %s", exc)
        return {"scheduler": "unknown"}
    if beat is None:
        return {"scheduler": "never_run"}
    age = (clock().now() - beat.beat_at).total_seconds()
    stale = age > current_app.config["SCHEDULER_STALE_SECONDS"]
    return {
        "scheduler": "stale" if stale else "ok",
        "scheduler_age_seconds": max(0, int(age)),
        "scheduler_holder": beat.holder,
    }
