"""Breaks and rotations, and the question every media request asks: may this person see
sensitive media right now? Answered from the database at request time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exposure.models import Break

BREAK_KINDS = ("enforced", "step_away", "rotation")


@dataclass(frozen=True)
class Restriction:
    kind: str
    ends_at: datetime | None

    def seconds_left(self, now: datetime) -> int | None:
        if self.ends_at is None:
            return None
        return max(0, int((self.ends_at - now).total_seconds() + 0.999))


def active_restriction(session: Session, user_id: int, now: datetime) -> Restriction | None:
    """The break or rotation in force now, the one ending last if several overlap."""
    rows = session.scalars(
        select(Break).where(
            Break.user_id == user_id,
            Break.status == "active",
            Break.starts_at <= now,
            or_(Break.ends_at.is_(None), Break.ends_at > now),
        )
    ).all()
    if not rows:
        return None
    open_ended = [b for b in rows if b.ends_at is None]
    chosen = open_ended[0] if open_ended else max(rows, key=lambda b: b.ends_at or now)
    return Restriction(kind=chosen.kind, ends_at=chosen.ends_at)


def start_break(
    session: Session,
    user_id: int,
    kind: str,
    now: datetime,
    *,
    minutes: float | None,
    created_by_id: int | None = None,
    reason: str | None = None,
) -> Break:
    if kind not in BREAK_KINDS:
        raise ValueError(f"break kind must be one of {BREAK_KINDS}")
    if minutes is not None and not 0 < minutes <= 24 * 60:
        raise ValueError("break length must be between 0 and 1440 minutes")
    brk = Break(
        user_id=user_id,
        kind=kind,
        status="active",
        starts_at=now,
        ends_at=None if minutes is None else now + timedelta(minutes=minutes),
        reason=reason,
        created_by_id=created_by_id,
        created_at=now,
    )
    session.add(brk)
    session.flush()
    return brk
