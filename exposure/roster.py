"""What a team lead may know about each member: status, not wellbeing data.

Leads see working / on a break / rotated off, whether someone is near the daily cap, and
whether a check-in is overdue (yes or no). Never check-in answers or scores, and never why
a break was taken (a self-started "step away" is confidential).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exposure import breaks, summaries
from exposure.models import Break, CheckIn, TeamLead, User, UserRole
from exposure.policy import Policy
from exposure.rollups import hour_of

NEAR_CAP_FRACTION = 0.8


@dataclass(frozen=True)
class MemberStatus:
    user_id: int
    name: str
    state: str  # 'working' | 'on_break' | 'rotated'
    break_id: int | None
    overridable: bool  # an enforced break or rotation (never a confidential step-away)
    seconds_left: int | None
    graphic_minutes_today: float
    near_cap: bool
    checkin_overdue: bool


def daily_cap(policy: Policy) -> float | None:
    """The smallest daily graphic-minutes threshold that takes someone off sensitive work."""
    caps = [
        r.threshold
        for r in policy.rules
        if r.metric == "graphic_minutes"
        and r.window.kind == "day"
        and any(a.type in ("rotate", "break") for a in r.actions)
    ]
    return min(caps) if caps else None


def led_team_ids(session: Session, lead_id: int) -> Sequence[int]:
    return session.scalars(select(TeamLead.team_id).where(TeamLead.user_id == lead_id)).all()


def _status(
    policy: Policy,
    person: User,
    today: summaries.Totals,
    restriction: breaks.Restriction | None,
    checkin_overdue: bool,
    now: datetime,
) -> MemberStatus:
    cap = daily_cap(policy)
    state = "working"
    if restriction is not None:
        state = "rotated" if restriction.kind == "rotation" else "on_break"
    return MemberStatus(
        user_id=person.id,
        name=person.display_name,
        state=state,
        break_id=restriction.break_id if restriction else None,
        overridable=restriction is not None and restriction.kind != "step_away",
        seconds_left=restriction.seconds_left(now) if restriction else None,
        graphic_minutes_today=round(today.graphic_minutes, 1),
        near_cap=cap is not None and today.graphic_minutes >= NEAR_CAP_FRACTION * cap,
        checkin_overdue=checkin_overdue,
    )


def statuses(
    session: Session, policy: Policy, people: Sequence[User], now: datetime
) -> list[MemberStatus]:
    """Status of each person, with a fixed number of queries however large the team."""
    ids = [p.id for p in people]
    if not ids:
        return []
    local = now.astimezone(policy.timezone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = summaries.totals(
        session, policy, midnight, hour_of(now) + timedelta(hours=1), user_ids=ids
    )
    # Breaks in force are few: find who has one, then ask for each of them the usual way.
    on_break = set(
        session.scalars(
            select(Break.user_id).where(
                Break.user_id.in_(ids),
                Break.status == "active",
                Break.starts_at <= now,
                or_(Break.ends_at.is_(None), Break.ends_at > now),
            )
        )
    )
    restrictions = {i: breaks.active_restriction(session, i, now) for i in sorted(on_break)}
    overdue = set(
        session.scalars(
            select(CheckIn.user_id).where(
                CheckIn.user_id.in_(ids), CheckIn.completed_at.is_(None), CheckIn.due_at < now
            )
        )
    )
    return [
        _status(
            policy,
            p,
            today.get(p.id, summaries.Totals()),
            restrictions.get(p.id),
            p.id in overdue,
            now,
        )
        for p in people
    ]


def team_roster(
    session: Session, policy: Policy, team_id: int, now: datetime
) -> list[MemberStatus]:
    members = session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.team_id == team_id, User.active.is_(True), UserRole.role == "associate")
        .order_by(User.display_name, User.id)
    ).all()
    return statuses(session, policy, members, now)
