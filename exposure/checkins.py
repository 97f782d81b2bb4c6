"""Wellbeing check-ins: validated instruments (WHO-5 by default, K6), scheduling that is
idempotent by key, scoring and escalation. Answers are private: only the associate and
wellbeing staff may read them, and callers must audit reads of another person's answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exposure import alerts
from exposure.models import CheckIn, User


@dataclass(frozen=True)
class Instrument:
    name: str
    title: str
    prompt: str
    items: tuple[str, ...]
    choices: tuple[str, ...]  # labels for 0..len-1

    @property
    def top(self) -> int:
        return len(self.choices) - 1

    def score(self, answers: Sequence[int]) -> int:
        return sum(answers)

    def escalates(self, answers: Sequence[int]) -> bool:
        raise NotImplementedError


class WHO5(Instrument):
    def escalates(self, answers: Sequence[int]) -> bool:
        # WHO-5 scoring: a raw score below 13, or any item at 0 or 1, indicates poor
        # wellbeing and warrants follow-up.
        return self.score(answers) < 13 or any(a <= 1 for a in answers)


class K6(Instrument):
    def escalates(self, answers: Sequence[int]) -> bool:
        # Kessler 6: 13 or more suggests serious psychological distress.
        return self.score(answers) >= 13


INSTRUMENTS: dict[str, Instrument] = {
    "who5": WHO5(
        name="who5",
        title="WHO-5 Well-Being Index",
        prompt="Over the last two weeks:",
        items=(
            "I have felt cheerful and in good spirits",
            "I have felt calm and relaxed",
            "I have felt active and vigorous",
            "I woke up feeling fresh and rested",
            "My daily life has been filled with things that interest me",
        ),
        choices=(
            "At no time",
            "Some of the time",
            "Less than half of the time",
            "More than half of the time",
            "Most of the time",
            "All of the time",
        ),
    ),
    "k6": K6(
        name="k6",
        title="Kessler Psychological Distress Scale (K6)",
        prompt="During the past 30 days, about how often did you feel:",
        items=(
            "nervous",
            "hopeless",
            "restless or fidgety",
            "so depressed that nothing could cheer you up",
            "that everything was an effort",
            "worthless",
        ),
        choices=("None of the time", "A little", "Some", "Most", "All of the time"),
    ),
}


class CheckInError(ValueError):
    """Answers that cannot be accepted; the message says why."""


def schedule(
    session: Session,
    user_id: int,
    *,
    key: str,
    reason: str,
    instrument: str,
    due_at: datetime,
    now: datetime,
    trigger_id: int | None = None,
) -> CheckIn | None:
    """Create a check-in once per (person, key); a repeat returns None."""
    if instrument not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {instrument!r}")
    exists = session.scalar(
        select(CheckIn.id).where(CheckIn.user_id == user_id, CheckIn.key == key)
    )
    if exists is not None:
        return None
    try:
        with session.begin_nested():
            checkin = CheckIn(
                user_id=user_id,
                key=key,
                instrument=instrument,
                reason=reason,
                trigger_id=trigger_id,
                created_at=now,
                due_at=due_at,
                escalated=False,
            )
            session.add(checkin)
            session.flush()
    except IntegrityError:
        return None
    return checkin


def open_checkins(session: Session, user_id: int) -> Sequence[CheckIn]:
    return session.scalars(
        select(CheckIn)
        .where(CheckIn.user_id == user_id, CheckIn.completed_at.is_(None))
        .order_by(CheckIn.due_at)
    ).all()


def is_overdue(checkin: CheckIn, now: datetime) -> bool:
    return checkin.completed_at is None and checkin.due_at < now


def answer(
    session: Session, checkin_id: int, user_id: int, answers: Sequence[int], now: datetime
) -> CheckIn:
    """Record the associate's own answers; returns the check-in with score and escalation."""
    checkin = session.scalar(
        select(CheckIn)
        .where(CheckIn.id == checkin_id, CheckIn.user_id == user_id)
        .with_for_update()
    )
    if checkin is None:
        raise LookupError("no such check-in of yours")
    if checkin.completed_at is not None:
        raise CheckInError("this check-in was already answered")
    instrument = INSTRUMENTS[checkin.instrument]
    if len(answers) != len(instrument.items) or any(
        not isinstance(a, int) or not 0 <= a <= instrument.top for a in answers
    ):
        raise CheckInError(
            f"answer all {len(instrument.items)} items with a value from 0 to {instrument.top}"
        )
    checkin.answers = list(answers)
    checkin.score = instrument.score(answers)
    checkin.escalated = instrument.escalates(answers)
    checkin.completed_at = now
    session.flush()
    return checkin


def submit(
    session: Session,
    checkin_id: int,
    person: User,
    answers: Sequence[int],
    now: datetime,
    routes: alerts.Routes,
) -> CheckIn:
    """Answer a check-in; an escalating result alerts wellbeing staff (never with answers)."""
    checkin = answer(session, checkin_id, person.id, answers, now)
    if checkin.escalated:
        alerts.raise_alert(
            session,
            key=f"checkin:{checkin.id}:escalation",
            audience="wellbeing",
            team_id=person.team_id,
            subject_user_id=person.id,
            kind="checkin_escalation",
            message=f"{person.display_name}'s check-in suggests they may need support. "
            "Please reach out.",
            now=now,
            routes=routes,
        )
    return checkin


def periodic_key(now: datetime, periodic_days: float) -> str:
    """The key of the periodic check-in period containing `now` (periods from the epoch)."""
    period = timedelta(days=periodic_days).total_seconds()
    return f"periodic:{int(now.timestamp() // period)}"
