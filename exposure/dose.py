"""Dose and the other exposure metrics, measured from the ledger over a rule's window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exposure.models import Break, ExposureEvent
from exposure.policy import Policy, Rule, Window
from exposure.rollups import floored_seconds


@dataclass(frozen=True)
class Measurement:
    value: float
    window_key: str | None  # None: nothing to measure (e.g. no continuous run in progress)


class DoseEvent(Protocol):
    """What measuring reads of a ledger event: an `ExposureEvent` or an `EventRow`."""

    @property
    def category(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def level(self) -> int: ...
    @property
    def modality(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def duration_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class EventRow:
    """A ledger event as a plain row: evaluation after every view reads a person's recent
    events, and ORM objects cost several times more to load than the measuring itself."""

    category: str
    severity: int
    level: int
    modality: str
    started_at: datetime
    last_seen_at: datetime
    duration_seconds: float


_EVENT_COLUMNS = (
    ExposureEvent.category,
    ExposureEvent.severity,
    ExposureEvent.level,
    ExposureEvent.modality,
    ExposureEvent.started_at,
    ExposureEvent.last_seen_at,
    ExposureEvent.duration_seconds,
)


def load_events(
    session: Session, user_id: int, since: datetime, until: datetime | None = None
) -> list[EventRow]:
    """A person's events started in [since, until], oldest first (pending changes in the
    session are flushed first, so the view being recorded is among them)."""
    query = select(*_EVENT_COLUMNS).where(
        ExposureEvent.user_id == user_id, ExposureEvent.started_at >= since
    )
    if until is not None:
        query = query.where(ExposureEvent.started_at <= until)
    rows = session.execute(query.order_by(ExposureEvent.started_at, ExposureEvent.id))
    return [EventRow(*row) for row in rows]


def event_minutes(event: DoseEvent, policy: Policy) -> float:
    return max(event.duration_seconds, policy.min_event_seconds) / 60


def event_dose(event: DoseEvent, policy: Policy) -> float:
    """Weighted minutes: minutes x category weight x level factor x modality factor."""
    if event.category == "clear":
        return 0.0
    rule = policy.categories.get(event.category)
    weight = rule.weight if rule else 1.0
    return (
        event_minutes(event, policy)
        * weight
        * policy.level_factors.get(event.level, 1.0)
        * policy.modality_factors.get(event.modality, 1.0)
    )


def is_graphic(event: DoseEvent) -> bool:
    """Revealed (level 2 or more) sensitive content: what 'graphic minutes' count."""
    return event.category != "clear" and event.level >= 2


def _matches(rule: Rule, event: DoseEvent) -> bool:
    if rule.categories and event.category not in rule.categories:
        return False
    return event.severity >= rule.min_severity


def shift_start(events: Sequence[DoseEvent], policy: Policy, now: datetime) -> datetime:
    """The shift began at the first event after a pause of at least shift_gap_hours."""
    gap = timedelta(hours=policy.shift_gap_hours)
    if not events or now - events[-1].last_seen_at >= gap:
        return now
    start = events[-1].started_at
    for earlier in reversed(events[:-1]):
        if start - earlier.last_seen_at >= gap:
            break
        start = min(start, earlier.started_at)
    return start


def _window(
    window: Window, rule: Rule, events: Sequence[DoseEvent], policy: Policy, now: datetime
) -> tuple[datetime, str]:
    """The window's start and a key naming this occurrence of it (for idempotent actions)."""
    bucket = int(now.timestamp() // max(rule.cooldown.total_seconds(), 60))
    if window.kind == "rolling":
        return now - timedelta(minutes=window.minutes), f"t:{bucket}"
    if window.kind == "week":
        return now - timedelta(days=7), f"t:{bucket}"
    if window.kind == "day":
        local = now.astimezone(policy.timezone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight, f"day:{local.date().isoformat()}"
    start = shift_start(events, policy, now)
    return start, f"shift:{start.isoformat(timespec='seconds')}"


def _continuous(
    events: Sequence[DoseEvent], ended_breaks: Sequence[datetime], policy: Policy, now: datetime
) -> Measurement:
    """Minutes of the current unbroken run of sensitive work (pauses under the gap, no break)."""
    gap = timedelta(minutes=policy.continuous_gap_minutes)
    sensitive = [e for e in events if e.category != "clear"]
    if not sensitive:
        return Measurement(0.0, None)
    last_seen = max(e.last_seen_at for e in sensitive)
    if now - last_seen > gap:
        return Measurement(0.0, None)
    start = sensitive[-1].started_at
    for earlier in reversed(sensitive[:-1]):
        if start - earlier.last_seen_at > gap:
            break
        start = min(start, earlier.started_at)
    for ended in ended_breaks:
        if start < ended <= now:
            start = ended
    minutes = max(0.0, (now - start).total_seconds() / 60)
    return Measurement(minutes, f"run:{start.isoformat(timespec='seconds')}")


def ended_breaks(session: Session, user_id: int, since: datetime, now: datetime) -> list[datetime]:
    rows = session.scalars(
        select(Break).where(Break.user_id == user_id, Break.starts_at >= since)
    ).all()
    ends = []
    for b in rows:
        end = b.ended_at if b.ended_at is not None else b.ends_at
        if end is not None and end <= now:
            ends.append(end)
    return sorted(ends)


def measure(
    rule: Rule,
    events: Sequence[DoseEvent],
    breaks_ended: Sequence[datetime],
    policy: Policy,
    now: datetime,
) -> Measurement:
    """The rule's metric for one person now, from that person's recent events."""
    if rule.metric == "continuous_minutes":
        return _continuous([e for e in events if _matches(rule, e)], breaks_ended, policy, now)
    start, key = _window(rule.window, rule, events, policy, now)
    chosen = [e for e in events if e.started_at >= start and _matches(rule, e)]
    if rule.metric == "reveals":
        value = float(sum(1 for e in chosen if is_graphic(e)))
    elif rule.metric == "graphic_minutes":
        value = sum(event_minutes(e, policy) for e in chosen if is_graphic(e))
    else:
        value = sum(event_dose(e, policy) for e in chosen)
    return Measurement(value, key)


def recent_since(policy: Policy, now: datetime) -> datetime:
    """How far back individual events are needed: a shift's start, a continuous run."""
    return now - timedelta(hours=policy.shift_gap_hours + 24)


def measure_in_database(
    session: Session,
    rule: Rule,
    user_id: int,
    recent: Sequence[DoseEvent],
    breaks_ended: Sequence[datetime],
    policy: Policy,
    now: datetime,
) -> Measurement:
    """The same answer as `measure`, with windows longer than `recent` summed by the
    database, so the cost does not grow with the person's history. `recent` are the
    events since `recent_since`, which already cover the shorter windows."""
    if rule.metric == "continuous_minutes":
        return _continuous([e for e in recent if _matches(rule, e)], breaks_ended, policy, now)
    start, key = _window(rule.window, rule, recent, policy, now)
    if start >= recent_since(policy, now):  # the recent events cover it: no query needed
        return measure(rule, recent, breaks_ended, policy, now)
    floor = policy.min_event_seconds
    longest = floored_seconds(session, ExposureEvent.duration_seconds, floor)
    query = (
        select(
            ExposureEvent.category,
            ExposureEvent.level,
            ExposureEvent.modality,
            func.count(),
            func.sum(longest),
        )
        .where(
            ExposureEvent.user_id == user_id,
            ExposureEvent.started_at >= start,
            ExposureEvent.started_at <= now,
            ExposureEvent.category != "clear",
        )
        .group_by(ExposureEvent.category, ExposureEvent.level, ExposureEvent.modality)
    )
    if rule.categories:
        query = query.where(ExposureEvent.category.in_(sorted(rule.categories)))
    if rule.min_severity:
        query = query.where(ExposureEvent.severity >= rule.min_severity)
    value = 0.0
    for category, level, modality, count, seconds in session.execute(query):
        graphic = level >= 2
        if rule.metric == "reveals":
            value += count if graphic else 0
        elif rule.metric == "graphic_minutes":
            value += float(seconds) / 60 if graphic else 0.0
        else:
            cat = policy.categories.get(category)
            value += (
                float(seconds)
                / 60
                * (cat.weight if cat else 1.0)
                * policy.level_factors.get(level, 1.0)
                * policy.modality_factors.get(modality, 1.0)
            )
    return Measurement(float(value), key)


@dataclass(frozen=True)
class DoseSummary:
    dose: float
    graphic_minutes: float
    reveals: int


def summarise(events: Sequence[DoseEvent], policy: Policy) -> DoseSummary:
    return DoseSummary(
        dose=sum(event_dose(e, policy) for e in events),
        graphic_minutes=sum(event_minutes(e, policy) for e in events if is_graphic(e)),
        reveals=sum(1 for e in events if is_graphic(e)),
    )
