"""Periodic reconciliation over database state: time-based rules, ended breaks, periodic
check-ins, reminders and overdue escalation. Every step is idempotent, so a run that was
missed, repeated or interrupted simply catches up on the next one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from exposure import alerts, checkins
from exposure.models import CheckIn, User, UserRole
from exposure.policy import Policy


def associates(session: Session) -> Sequence[User]:
    return session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "associate", User.active.is_(True))
    ).all()


def periodic_checkins(session: Session, policy: Policy, now: datetime) -> int:
    """Give every active associate the check-in of the current period, once."""
    settings = policy.checkins
    if settings.periodic_days <= 0:
        return 0
    key = checkins.periodic_key(now, settings.periodic_days)
    made = 0
    for person in associates(session):
        created = checkins.schedule(
            session,
            person.id,
            key=key,
            reason="periodic",
            instrument=settings.instrument,
            due_at=now + timedelta(hours=settings.due_within_hours),
            now=now,
        )
        made += created is not None
    return made


def checkin_reminders(session: Session, policy: Policy, now: datetime) -> Sequence[CheckIn]:
    """Open check-ins past the reminder delay get one reminder (shown in the app)."""
    after = timedelta(hours=policy.checkins.remind_after_hours)
    rows = session.scalars(
        select(CheckIn).where(
            CheckIn.completed_at.is_(None),
            CheckIn.reminded_at.is_(None),
            CheckIn.created_at <= now - after,
        )
    ).all()
    for row in rows:
        row.reminded_at = now
    session.flush()
    return rows


def overdue_checkins(session: Session, policy: Policy, now: datetime, routes: alerts.Routes) -> int:
    """Check-ins overdue by more than the escalation delay go to wellbeing staff, once."""
    after = timedelta(hours=policy.checkins.escalate_overdue_after_hours)
    rows = session.scalars(
        select(CheckIn).where(
            CheckIn.completed_at.is_(None),
            CheckIn.overdue_alerted_at.is_(None),
            CheckIn.due_at <= now - after,
        )
    ).all()
    for row in rows:
        person = session.get(User, row.user_id)
        name = person.display_name if person else f"user {row.user_id}"
        alerts.raise_alert(
            session,
            key=f"checkin:{row.id}:overdue",
            audience="wellbeing",
            team_id=person.team_id if person else None,
            subject_user_id=row.user_id,
            kind="checkin_overdue",
            message=f"{name}'s check-in is overdue since {row.due_at:%Y-%m-%d %H:%M} UTC.",
            now=now,
            routes=routes,
        )
        row.overdue_alerted_at = now
    session.flush()
    return len(rows)
