"""What a policy would have triggered: replay the ledger of the last days against it in a
scratch in-memory database, so the live service is neither locked nor changed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from exposure.alerts import Routes
from exposure.evaluate import evaluate
from exposure.models import Base, ExposureEvent, Team, TeamLead, User, UserRole
from exposure.policy import Policy


@dataclass
class Simulation:
    start: datetime
    end: datetime
    events: int = 0
    people: int = 0
    per_rule: Counter[str] = field(default_factory=Counter)
    per_person: Counter[tuple[str, str]] = field(default_factory=Counter)
    firings: list[tuple[datetime, str, str]] = field(default_factory=list)


def copy_ledger(source: Session, scratch: Session, start: datetime, end: datetime) -> int:
    """Copy the people, teams and events a simulation reads into a scratch database."""
    for team in source.scalars(select(Team)):
        scratch.merge(Team(id=team.id, name=team.name, created_at=team.created_at))
    for user in source.scalars(select(User)):
        scratch.merge(
            User(
                id=user.id,
                username=user.username,
                display_name=user.display_name,
                password_hash="!",  # noqa: S106 - the scratch copy can never log in
                team_id=user.team_id,
                active=user.active,
                session_token=f"sim-{user.id}",
                failed_logins=0,
                created_at=user.created_at,
            )
        )
    for role in source.scalars(select(UserRole)):
        scratch.merge(UserRole(user_id=role.user_id, role=role.role))
    for lead in source.scalars(select(TeamLead)):
        scratch.merge(TeamLead(team_id=lead.team_id, user_id=lead.user_id))
    count = 0
    rows = source.scalars(
        select(ExposureEvent).where(
            ExposureEvent.started_at >= start, ExposureEvent.started_at <= end
        )
    )
    for ev in rows:
        scratch.add(
            ExposureEvent(
                id=ev.id,
                user_id=ev.user_id,
                attachment_id=ev.attachment_id,
                client_event_id=ev.client_event_id,
                category=ev.category,
                severity=ev.severity,
                level=ev.level,
                region=ev.region,
                modality=ev.modality,
                started_at=ev.started_at,
                last_seen_at=ev.last_seen_at,
                duration_seconds=ev.duration_seconds,
            )
        )
        count += 1
    scratch.flush()
    return count


def simulate(source: Session, policy: Policy, start: datetime, end: datetime) -> Simulation:
    """Evaluate the policy at every event's start and last heartbeat, person by person."""
    # A throwaway copy without the attachments (so no foreign keys), not the service's
    # schema: create_all is fine here.
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    result = Simulation(start, end)
    with sessionmaker(engine)() as scratch:
        result.events = copy_ledger(source, scratch, start, end)
        people = scratch.scalars(select(ExposureEvent.user_id).distinct()).all()
        result.people = len(people)
        names = {u.id: u.display_name for u in scratch.scalars(select(User))}
        for user_id in people:
            moments = sorted(
                {
                    t
                    for ev in scratch.scalars(
                        select(ExposureEvent).where(ExposureEvent.user_id == user_id)
                    )
                    for t in (ev.started_at, ev.last_seen_at)
                }
            )
            for moment in moments:
                for firing in evaluate(scratch, policy, user_id, moment, routes=Routes()):
                    result.per_rule[firing.rule_id] += 1
                    result.per_person[(names[user_id], firing.rule_id)] += 1
                    result.firings.append((moment, names[user_id], firing.rule_id))
        scratch.rollback()
    engine.dispose()
    return result
