"""One pass of the periodic reconciler, run by the scheduler process: evaluate everyone
active against the policy, finish ended breaks, schedule and chase check-ins, send pending
alert deliveries, and beat the heartbeat. Commits per step, so locks stay short."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from exposure import daily, evaluate, reconciler
from exposure.models import SchedulerHeartbeat
from exposure.policy import Policy
from wellbeing.db import clock, db
from wellbeing.policies import policy, routes

log = logging.getLogger("wellbeing.reconcile")
HEARTBEAT_NAME = "reconciler"
ACTIVE_WITHIN = timedelta(hours=12)


@dataclass
class Report:
    evaluated: int = 0
    fired: list[str] = field(default_factory=list)
    breaks_completed: int = 0
    checkins_scheduled: int = 0
    reminders: int = 0
    overdue: int = 0
    delivered: int = 0
    summaries: str = daily.Step.CURRENT.value


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(session: Session, name: str = HEARTBEAT_NAME) -> None:
    row = session.get(SchedulerHeartbeat, name)
    now = clock().now()
    if row is None:
        session.add(SchedulerHeartbeat(name=name, holder=holder(), beat_at=now))
    else:
        row.holder = holder()
        row.beat_at = now
    session.flush()


def run_once(app: Flask) -> Report:
    """Reconcile everything once; safe to run again at any time."""
    report = Report()
    with app.app_context():
        session = db.session
        pol = policy()
        to = routes()
        now = clock().now()
        for user_id in evaluate.active_people(session, now, ACTIVE_WITHIN):
            firings = evaluate.evaluate(session, pol, user_id, now, routes=to)
            session.commit()
            report.evaluated += 1
            report.fired += [f"{user_id}:{f.rule_id}" for f in firings]
        report.breaks_completed = evaluate.complete_ended_breaks(session, now)
        report.checkins_scheduled = reconciler.periodic_checkins(session, pol, now)
        report.reminders = len(reconciler.checkin_reminders(session, pol, now))
        report.overdue = reconciler.overdue_checkins(session, pol, now, to)
        session.commit()
        report.delivered = _deliver(app, session)
        report.summaries = _maintain_summaries(session, pol).value
        beat(session)
        session.commit()
    if report.fired or report.overdue:
        log.info("reconciled: %s", report)
    return report


SUMMARY_BUDGET_SECONDS = 20.0


def _maintain_summaries(session: Session, pol: Policy) -> daily.Step:
    """Keep the daily summaries built for the policy in force: a rebuild goes on in short
    transactions, for up to SUMMARY_BUDGET_SECONDS per run, and resumes on the next."""
    deadline = time.monotonic() + SUMMARY_BUDGET_SECONDS
    while True:
        step = daily.maintain(session, pol, clock().now())
        session.commit()
        if step not in (daily.Step.STARTED, daily.Step.PROGRESS):
            break
        if time.monotonic() > deadline:
            break
    if step is not daily.Step.CURRENT:
        log.info("summaries for policy %s: %s", pol.version, step.value)
    return step


def _deliver(app: Flask, session: Session) -> int:
    from wellbeing import notify

    result = notify.deliver_due(
        session,
        clock().now(),
        mail=notify.mail_settings(app.config),
        max_attempts=app.config["DELIVERY_MAX_ATTEMPTS"],
    )
    return result.sent
