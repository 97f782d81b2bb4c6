"""Alerts to team leads and wellbeing staff: an in-app inbox with acknowledgement, and an
outbox of deliveries (email, webhook) written in the same transaction, so nothing is sent
for an alert that was rolled back and nothing is lost if the sender is down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exposure.models import Alert, Delivery, TeamLead, User, UserRole

AUDIENCES = ("lead", "wellbeing")


@dataclass(frozen=True)
class Routes:
    """Where alerts go besides the in-app inbox."""

    email: bool = False
    webhook_lead: str | None = None
    webhook_wellbeing: str | None = None


def recipients(session: Session, audience: str, team_id: int | None) -> Sequence[User]:
    if audience == "lead":
        if team_id is None:
            return []
        return session.scalars(
            select(User)
            .join(TeamLead, TeamLead.user_id == User.id)
            .where(TeamLead.team_id == team_id, User.active.is_(True))
        ).all()
    return session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "wellbeing", User.active.is_(True))
    ).all()


def raise_alert(
    session: Session,
    *,
    key: str,
    audience: str,
    team_id: int | None,
    subject_user_id: int | None,
    kind: str,
    message: str,
    now: datetime,
    routes: Routes,
    detail: dict[str, Any] | None = None,
) -> Alert | None:
    """Create an alert once per key, with its deliveries; a repeat returns None."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    if session.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return None
    try:
        with session.begin_nested():
            alert = Alert(
                key=key,
                audience=audience,
                team_id=team_id,
                subject_user_id=subject_user_id,
                kind=kind,
                message=message,
                detail=detail or {},
                created_at=now,
            )
            session.add(alert)
            session.flush()
            targets: list[tuple[str, str]] = []
            if routes.email:
                targets += [
                    ("email", u.email) for u in recipients(session, audience, team_id) if u.email
                ]
            hook = routes.webhook_lead if audience == "lead" else routes.webhook_wellbeing
            if hook:
                targets.append(("webhook", hook))
            for channel, target in dict.fromkeys(targets):
                session.add(
                    Delivery(
                        alert_id=alert.id,
                        channel=channel,
                        target=target,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
            session.flush()
    except IntegrityError:
        return None
    return alert


def visible_to(user_id: int, roles: frozenset[str]) -> ColumnElement[bool]:
    """The where-clause of the alerts a person may see: their teams' lead alerts, and
    wellbeing alerts for wellbeing staff."""
    clauses: list[ColumnElement[bool]] = []
    if "lead" in roles:
        teams = select(TeamLead.team_id).where(TeamLead.user_id == user_id)
        clauses.append((Alert.audience == "lead") & Alert.team_id.in_(teams))
    if "wellbeing" in roles:
        clauses.append(Alert.audience == "wellbeing")
    if not clauses:
        return Alert.id.is_(None)  # nothing
    return or_(*clauses)


def inbox(
    session: Session, user_id: int, roles: frozenset[str], *, include_acknowledged: bool = False
) -> Sequence[Alert]:
    query = select(Alert).where(visible_to(user_id, roles))
    if not include_acknowledged:
        query = query.where(Alert.acknowledged_at.is_(None))
    return session.scalars(query.order_by(Alert.created_at.desc()).limit(200)).all()


def acknowledge(
    session: Session, alert_id: int, user_id: int, roles: frozenset[str], now: datetime
) -> Alert | None:
    """Acknowledge an alert the person may see; None if it is not theirs to see."""
    alert = session.scalar(select(Alert).where(Alert.id == alert_id, visible_to(user_id, roles)))
    if alert is None:
        return None
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by_id = user_id
        session.flush()
    return alert
