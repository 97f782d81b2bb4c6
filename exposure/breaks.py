"""Breaks and rotations, and the question every media request asks: may this person see
sensitive media right now? Answered from the database at request time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.orm import Session

from exposure.models import Attachment, Break

BREAK_KINDS = ("enforced", "step_away", "rotation")


@dataclass(frozen=True)
class Restriction:
    break_id: int
    kind: str
    starts_at: datetime
    ends_at: datetime | None

    def seconds_left(self, now: datetime) -> int | None:
        if self.ends_at is None:
            return None
        return max(0, int((self.ends_at - now).total_seconds() + 0.999))


# Built once: constructing the statement per request cost about as much as running it.
_ATTACHMENT_AND_BREAK = select(
    Attachment,
    exists().where(
        Break.user_id == bindparam("user_id"),
        Break.status == "active",
        Break.starts_at <= bindparam("now", type_=Break.starts_at.type),
        or_(Break.ends_at.is_(None), Break.ends_at > bindparam("now", type_=Break.ends_at.type)),
    ),
).where(Attachment.id == bindparam("attachment_id"))


def attachment_for(
    session: Session, attachment_id: int, user_id: int, now: datetime
) -> tuple[Attachment | None, bool]:
    """An attachment and whether any restriction of this person is in force, in one query.

    The hot path of the safe view: when the flag says restricted, the caller asks
    `active_restriction` for which one (to say why and for how long).
    """
    params = {"attachment_id": attachment_id, "user_id": user_id, "now": now}
    row = session.execute(_ATTACHMENT_AND_BREAK, params).first()
    return (None, False) if row is None else (row[0], bool(row[1]))


def active_restriction(
    session: Session, user_id: int, now: datetime, *, ignore_started_at: datetime | None = None
) -> Restriction | None:
    """The break or rotation in force now, the one ending last if several overlap.

    `ignore_started_at` leaves out restrictions that began at that instant: the reveal whose
    own logging started a break is still served (it was logged), the next one is not.
    """
    query = select(Break).where(
        Break.user_id == user_id,
        Break.status == "active",
        Break.starts_at <= now,
        or_(Break.ends_at.is_(None), Break.ends_at > now),
    )
    if ignore_started_at is not None:
        query = query.where(Break.starts_at != ignore_started_at)
    rows = session.scalars(query).all()
    if not rows:
        return None
    open_ended = [b for b in rows if b.ends_at is None]
    chosen = open_ended[0] if open_ended else max(rows, key=lambda b: b.ends_at or now)
    return Restriction(
        break_id=chosen.id, kind=chosen.kind, starts_at=chosen.starts_at, ends_at=chosen.ends_at
    )


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
    longest = 7 * 24 * 60 if kind == "rotation" else 24 * 60
    if minutes is not None and not 0 < minutes <= longest:
        raise ValueError(f"{kind} length must be between 0 and {longest} minutes")
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


def end_break(
    session: Session, break_id: int, now: datetime, *, by_user_id: int, reason: str
) -> Break:
    """End a break or rotation early (a lead's or wellbeing staff's override)."""
    brk = session.get(Break, break_id)
    if brk is None or brk.status != "active":
        raise LookupError("no such active break")
    if not reason.strip():
        raise ValueError("ending a break needs a reason")
    brk.status = "overridden"
    brk.ended_at = now
    brk.ended_by_id = by_user_id
    brk.end_reason = reason.strip()[:2000]
    session.flush()
    return brk


def extend_break(
    session: Session, break_id: int, now: datetime, *, minutes: float, by_user_id: int, reason: str
) -> Break:
    brk = session.get(Break, break_id)
    if brk is None or brk.status != "active":
        raise LookupError("no such active break")
    if not reason.strip():
        raise ValueError("extending a break needs a reason")
    if not 0 < minutes <= 24 * 60:
        raise ValueError("extend by 1 to 1440 minutes")
    base = brk.ends_at if brk.ends_at is not None and brk.ends_at > now else now
    brk.ends_at = base + timedelta(minutes=minutes)
    brk.end_reason = f"extended by {minutes:g} min by user {by_user_id}: {reason.strip()[:2000]}"
    session.flush()
    return brk
