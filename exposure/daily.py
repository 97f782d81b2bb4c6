"""Exposure totals per person and local day, and per person (and per person and category)
and local week, with the policy's weights applied: what the wellbeing and lead pages read
for whole days and weeks, so a week of thousands of people is a few thousand rows however
dense the ledger is.

The weights, the floor on short events and the day boundaries (the policy's time zone)
are baked into these rows, so they are valid only for the policy terms they were built
with. `SummaryBasis` names those terms; readers check it and fall back to the hourly
rollups (or the raw ledger, if the floor differs) until a rebuild for the terms in force
has finished. Writers add to the daily rows in the same statement only when the basis
names their terms, so a worker still holding an older policy can never mix weights.

`maintain` moves the basis to the policy in force, one bounded step per call, run by the
scheduler: it waits until new terms have been in force for `SETTLE` (so that no worker
still writes with the old ones), rebuilds the recent days with writers held off, then
older days a week at a time without blocking anybody."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Float,
    Integer,
    String,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exposure import rollups
from exposure.models import (
    ExposureDay,
    ExposureEvent,
    ExposureWeek,
    ExposureWeekCategory,
    SummaryBasis,
)

if TYPE_CHECKING:
    from exposure.policy import Policy

BASIS_ID = 1
SETTLE = timedelta(seconds=30)  # longer than any worker keeps a policy cached
RECENT_DAYS = 2  # days before today that writers may still add to (heartbeats of long views)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Basis:
    """The policy terms that summaries depend on, and a fingerprint of them."""

    fingerprint: str
    timezone: ZoneInfo
    floor_seconds: float
    weights: Mapping[str, float]
    level_factors: Mapping[int, float]
    modality_factors: Mapping[str, float]

    @classmethod
    def of(cls, policy: Policy) -> Basis:
        weights = {name: rule.weight for name, rule in sorted(policy.categories.items())}
        levels = dict(sorted(policy.level_factors.items()))
        modalities = dict(sorted(policy.modality_factors.items()))
        terms = {
            "timezone": policy.timezone.key,
            "floor": policy.min_event_seconds,
            "weights": weights,
            "levels": {str(k): v for k, v in levels.items()},
            "modalities": modalities,
        }
        digest = hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()
        return cls(digest, policy.timezone, policy.min_event_seconds, weights, levels, modalities)

    def weight(self, category: str, level: int, modality: str) -> float:
        """Dose per minute; the same product, in the same order, as `summaries._weight`."""
        if category == "clear":
            return 0.0
        return (
            self.weights.get(category, 1.0)
            * self.level_factors.get(level, 1.0)
            * self.modality_factors.get(modality, 1.0)
        )

    def day_of(self, instant: datetime) -> date:
        return instant.astimezone(self.timezone).date()

    def start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.timezone).astimezone(UTC)


def is_graphic(category: str, level: int) -> bool:
    return category != "clear" and level >= 2


# -- writing, in step with the ledger --------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


_TYPES: dict[str, Any] = {
    "day": Date(),
    "week": Date(),
    "user_id": Integer(),
    "category": String(),
    "events": Integer(),
    "reveals": Integer(),
    "dose": Float(),
    "graphic_minutes": Float(),
}
_SUMMED = ("events", "reveals", "dose", "graphic_minutes")
# What each summary table is keyed by, besides its totals.
_KEYS: dict[Any, tuple[str, ...]] = {
    ExposureDay: ("day", "user_id"),
    ExposureWeek: ("week", "user_id"),
    ExposureWeekCategory: ("week", "user_id", "category"),
}


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@functools.cache
def _bump_statement(dialect: str, table: Any) -> Any:
    """INSERT ... SELECT <values> WHERE the basis is the writer's ... ON CONFLICT add: built
    once per dialect and table (building it per call cost milliseconds per view)."""
    names = [*_KEYS[table], *_SUMMED]
    same_basis = exists().where(
        SummaryBasis.id == BASIS_ID, SummaryBasis.fingerprint == bindparam("p_fingerprint")
    )
    source = select(*(bindparam(f"p_{n}", type_=_TYPES[n]).label(n) for n in names)).where(
        same_basis
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).from_select(names, source)
    return statement.on_conflict_do_update(
        index_elements=list(_KEYS[table]),
        set_={n: getattr(table, n) + getattr(statement.excluded, n) for n in _SUMMED},
    )


def bump(
    session: Session,
    basis: Basis,
    event: ExposureEvent,
    *,
    events: int,
    floored_before: float,
    floored_after: float,
) -> None:
    """Add one event's change to its day and week rows, if the basis in the database is
    `basis`."""
    graphic = is_graphic(event.category, event.level)
    weight = basis.weight(event.category, event.level, event.modality)
    day = basis.day_of(event.started_at)
    params = {
        "p_fingerprint": basis.fingerprint,
        "p_day": day,
        "p_week": monday_of(day),
        "p_user_id": event.user_id,
        "p_category": event.category,
        "p_events": events,
        "p_reveals": events if graphic else 0,
        "p_dose": floored_after / 60 * weight - floored_before / 60 * weight,
        "p_graphic_minutes": floored_after / 60 - floored_before / 60 if graphic else 0.0,
    }
    connection = session.connection()  # Core: with a parameter dict the ORM would bulk-insert
    for table in _KEYS:
        connection.execute(_bump_statement(connection.dialect.name, table), params)


# -- building from the ledger -----------------------------------------------------------------


def _weight_sql(basis: Basis) -> Any:
    e = ExposureEvent
    per_category = case(basis.weights, value=e.category, else_=1.0) if basis.weights else 1.0
    per_level = case(basis.level_factors, value=e.level, else_=1.0) if basis.level_factors else 1.0
    per_modality = (
        case(basis.modality_factors, value=e.modality, else_=1.0) if basis.modality_factors else 1.0
    )
    return case((e.category == "clear", 0.0), else_=per_category * per_level * per_modality)


def _per_event(session: Session, basis: Basis) -> tuple[Any, ...]:
    """Each event's count, reveal, dose and graphic minutes, as SQL."""
    e = ExposureEvent
    minutes = rollups.floored_seconds(session, e.duration_seconds, basis.floor_seconds) / 60.0
    graphic = (e.category != "clear") & (e.level >= 2)
    return (
        func.count().label("events"),
        func.sum(case((graphic, 1), else_=0)).label("reveals"),
        func.sum(minutes * _weight_sql(basis)).label("dose"),
        func.sum(case((graphic, minutes), else_=0.0)).label("graphic_minutes"),
    )


def _build_day(session: Session, basis: Basis, day: date) -> None:
    """Recompute one local day's rows from the raw ledger."""
    e = ExposureEvent
    session.execute(delete(ExposureDay).where(ExposureDay.day == day))
    query = (
        select(literal(day, Date()).label("day"), e.user_id, *_per_event(session, basis))
        .where(e.started_at >= basis.start_of(day), e.started_at < basis.start_of(day + DAY))
        .group_by(e.user_id)
    )
    session.execute(
        _insert(session)(ExposureDay).from_select([*_KEYS[ExposureDay], *_SUMMED], query)
    )


def _build_week(session: Session, basis: Basis, monday: date) -> None:
    """Recompute one local week's rows (per category, then per person) from the raw ledger."""
    e, c = ExposureEvent, ExposureWeekCategory
    session.execute(delete(c).where(c.week == monday))
    session.execute(delete(ExposureWeek).where(ExposureWeek.week == monday))
    query = (
        select(
            literal(monday, Date()).label("week"),
            e.user_id,
            e.category,
            *_per_event(session, basis),
        )
        .where(e.started_at >= basis.start_of(monday), e.started_at < basis.start_of(monday + WEEK))
        .group_by(e.user_id, e.category)
    )
    session.execute(_insert(session)(c).from_select([*_KEYS[c], *_SUMMED], query))
    per_person = (
        select(c.week, c.user_id, *(func.sum(getattr(c, n)) for n in _SUMMED))
        .where(c.week == monday)
        .group_by(c.week, c.user_id)
    )
    session.execute(
        _insert(session)(ExposureWeek).from_select([*_KEYS[ExposureWeek], *_SUMMED], per_person)
    )


def _build_span(session: Session, basis: Basis, first: date, last: date) -> None:
    """Days [first, last) and the weeks starting on the Mondays among them."""
    for offset in range((last - first).days):
        day = first + timedelta(days=offset)
        _build_day(session, basis, day)
        if day.weekday() == 0:
            _build_week(session, basis, day)


def _drop_days(session: Session, *, before: date | None = None, after: date | None = None) -> None:
    """Delete the rows of days before `before` (a Monday) or after `after`, and of their
    weeks."""
    for table, key in ((ExposureDay, ExposureDay.day), (ExposureWeek, ExposureWeek.week)):
        if before is not None:
            session.execute(delete(table).where(key < before))
        if after is not None:
            cut = after if table is ExposureDay else monday_of(after)
            session.execute(delete(table).where(key > cut))
    c = ExposureWeekCategory
    if before is not None:
        session.execute(delete(c).where(c.week < before))
    if after is not None:
        session.execute(delete(c).where(c.week > monday_of(after)))


def _hold_off_writers(session: Session) -> None:
    """Wait for transactions that are adding to summaries and hold off new ones until
    commit. (SQLite's write transaction already excludes every other writer.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "LOCK TABLE exposure_rollup, exposure_day, exposure_week, exposure_week_category"
                " IN SHARE ROW EXCLUSIVE MODE"
            )
        )


# -- keeping the basis in step with the policy ------------------------------------------------


class Step(Enum):
    CURRENT = "current"  # built for the policy in force; nothing to do
    PENDING = "pending"  # new terms seen; waiting for them to settle
    STARTED = "started"  # recent days rebuilt for the new terms
    PROGRESS = "progress"  # a chunk of older days rebuilt
    COMPLETE = "complete"  # the last chunk: the daily tables can be read again


def basis_row(session: Session) -> SummaryBasis | None:
    return session.get(SummaryBasis, BASIS_ID)


def _earliest_day(session: Session, basis: Basis) -> date | None:
    first = session.scalar(select(func.min(ExposureEvent.started_at)))
    return basis.day_of(first) if first is not None else None


def maintain(
    session: Session, policy: Policy, now: datetime, *, settle: timedelta = SETTLE
) -> Step:
    """One bounded step towards summaries built for `policy`. The caller commits after each
    step and calls again while the answer is STARTED or PROGRESS."""
    basis = Basis.of(policy)
    row = session.get(SummaryBasis, BASIS_ID, with_for_update=True)
    if row is not None and row.fingerprint == basis.fingerprint:
        return _continue(session, basis, row) if not row.complete else Step.CURRENT
    if row is None:
        # Before this table existed the hourly rollups were kept with the policy's floor:
        # trust them, and build only the daily tables.
        row = SummaryBasis(
            id=BASIS_ID,
            fingerprint="",
            floor_seconds=basis.floor_seconds,
            timezone=basis.timezone.key,
            complete=False,
            rebuild_hours=False,
            built_at=now,
        )
        session.add(row)
    if row.pending_fingerprint != basis.fingerprint or row.pending_since is None:
        row.pending_fingerprint, row.pending_since = basis.fingerprint, now
        session.flush()
        return Step.PENDING
    if now - row.pending_since < settle:
        return Step.PENDING
    _hold_off_writers(session)
    today = basis.day_of(now)
    recent = monday_of(today - timedelta(days=RECENT_DAYS))  # whole weeks from here
    if row.floor_seconds != basis.floor_seconds:
        row.rebuild_hours = True
    if row.rebuild_hours:
        start = rollups.hour_of(basis.start_of(recent))
        rollups.rebuild(session, basis.floor_seconds, start, now + timedelta(days=1))
    # Up to the ledger's last day (a clock ahead, or a zone behind the old one, may have
    # put rows after today), and no rows beyond it.
    latest = session.scalar(select(func.max(ExposureEvent.started_at)))
    last = max(today, basis.day_of(latest)) if latest is not None else today
    _drop_days(session, after=last)
    _build_span(session, basis, recent, last + DAY)  # `recent` is a Monday: whole weeks
    row.fingerprint = basis.fingerprint
    row.floor_seconds = basis.floor_seconds
    row.timezone = basis.timezone.key
    row.complete = False
    row.rebuilt_before = recent
    row.built_at = now
    row.pending_fingerprint = row.pending_since = None
    session.flush()
    return Step.STARTED


def _continue(session: Session, basis: Basis, row: SummaryBasis) -> Step:
    """Rebuild the next week of older days (no writer adds to days this old)."""
    before = row.rebuilt_before
    earliest = _earliest_day(session, basis)
    if before is None or earliest is None or before <= earliest:
        if before is not None:  # rows the old terms put before the ledger's first local day
            _drop_days(session, before=before)
        row.complete, row.rebuild_hours = True, False
        session.flush()
        return Step.COMPLETE
    first = before - WEEK  # a whole week, so its weekly rows are whole too
    if row.rebuild_hours:
        rollups.rebuild(
            session,
            basis.floor_seconds,
            rollups.hour_of(basis.start_of(first)),
            rollups.hour_of(basis.start_of(before)),
        )
        if first <= earliest:  # and everything before the first day's first hour
            start = datetime(1970, 1, 1, tzinfo=UTC)
            rollups.rebuild(
                session, basis.floor_seconds, start, rollups.hour_of(basis.start_of(first))
            )
    _build_span(session, basis, first, before)
    row.rebuilt_before = first
    session.flush()
    return Step.PROGRESS


def rebuild(session: Session, policy: Policy, now: datetime, *, hours: bool = False) -> int:
    """Build everything for `policy` now, without waiting for new terms to settle (CLI,
    tests, benchmarks); the caller commits. `hours` also recomputes the hourly rollups
    from the raw ledger. Returns the number of steps taken."""
    basis = Basis.of(policy)
    if basis_row(session) is None:
        maintain(session, policy, now)
    row = basis_row(session)
    assert row is not None
    row.fingerprint = ""
    row.rebuild_hours = row.rebuild_hours or hours
    row.pending_fingerprint, row.pending_since = basis.fingerprint, now
    session.flush()
    steps = 0
    while maintain(session, policy, now, settle=timedelta(0)) is not Step.CURRENT:
        steps += 1
    return steps


# -- reading -----------------------------------------------------------------------------------


class Source(Enum):
    DAYS = "days"  # daily tables for whole days, hourly rollups for the rest
    HOURS = "hours"  # hourly rollups only
    LEDGER = "ledger"  # the raw ledger (the floor on short events changed)


def source_for(session: Session, policy: Policy) -> Source:
    basis = Basis.of(policy)
    row = session.execute(
        select(
            SummaryBasis.fingerprint,
            SummaryBasis.complete,
            SummaryBasis.floor_seconds,
            SummaryBasis.rebuild_hours,
        ).where(SummaryBasis.id == BASIS_ID)
    ).first()
    if row is None:
        return Source.HOURS
    fingerprint, complete, floor, rebuild_hours = row
    if fingerprint == basis.fingerprint and complete:
        return Source.DAYS
    if floor != basis.floor_seconds or (rebuild_hours and not complete):
        return Source.LEDGER
    return Source.HOURS


def whole_days(basis: Basis, start: datetime, end: datetime) -> tuple[date, date] | None:
    """The local days that lie wholly inside [start, end): (first, after last), or None.
    (The rest of the window may split an hour, e.g. at a midnight half an hour off UTC:
    `summaries` reads such parts from the raw ledger.)"""
    first = basis.day_of(start)
    if basis.start_of(first) < start:
        first += timedelta(days=1)
    last = basis.day_of(end)
    if first >= last:
        return None
    return first, last
