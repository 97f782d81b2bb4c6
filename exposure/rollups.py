"""Hourly rollups of the ledger, kept in step with it in the same transaction, so that
dashboards read a few thousand rows instead of scanning millions of events."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exposure.models import ExposureEvent, ExposureRollup

DEFAULT_FLOOR_SECONDS = 10.0


def hour_of(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def floored_seconds(session: Session, duration: Any, floor: float) -> Any:
    """SQL for max(duration, floor), which SQLite and PostgreSQL spell differently."""
    if session.get_bind().dialect.name == "sqlite":
        return func.max(duration, floor)
    return func.greatest(duration, floor)


def _floored(seconds: float, floor: float) -> float:
    return max(seconds, floor)


_KEYS = ("user_id", "hour_start", "category", "level", "modality")
_SUMMED = ("events", "seconds", "floored_seconds")


@functools.cache
def _bump_statement(dialect: str) -> Any:
    """The upsert, built once per dialect (building it per call cost about a millisecond)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    r = ExposureRollup
    statement = insert(r).values(
        {name: bindparam(f"p_{name}", type_=getattr(r, name).type) for name in _KEYS + _SUMMED}
    )
    return statement.on_conflict_do_update(
        index_elements=list(_KEYS),
        set_={n: getattr(r, n) + getattr(statement.excluded, n) for n in _SUMMED},
    )


def _bump(
    session: Session,
    event: ExposureEvent,
    *,
    events: int,
    seconds: float,
    floored: float,
) -> None:
    """Add to the event's rollup row, creating it if needed, atomically on both databases."""
    params = {
        "p_user_id": event.user_id,
        "p_hour_start": hour_of(event.started_at),
        "p_category": event.category,
        "p_level": event.level,
        "p_modality": event.modality,
        "p_events": events,
        "p_seconds": seconds,
        "p_floored_seconds": floored,
    }
    connection = session.connection()  # Core: with a parameter dict the ORM would bulk-insert
    connection.execute(_bump_statement(connection.dialect.name), params)


def add_event(session: Session, event: ExposureEvent, floor: float) -> None:
    _bump(
        session,
        event,
        events=1,
        seconds=event.duration_seconds,
        floored=_floored(event.duration_seconds, floor),
    )


def add_duration(
    session: Session, event: ExposureEvent, before: float, after: float, floor: float
) -> None:
    if after == before:
        return
    _bump(
        session,
        event,
        events=0,
        seconds=after - before,
        floored=_floored(after, floor) - _floored(before, floor),
    )


def rebuild(session: Session, floor: float, start: datetime, end: datetime) -> None:
    """Recompute the rollups of the hours starting in [start, end) from the raw ledger, in
    one statement (after a change of min_event_seconds)."""
    e = ExposureEvent
    session.execute(
        delete(ExposureRollup).where(
            ExposureRollup.hour_start >= start, ExposureRollup.hour_start < end
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        hour: Any = func.date_trunc("hour", e.started_at, "UTC")  # whatever the session zone
    else:  # the text UTCDateTime stores on SQLite, truncated to the hour
        hour = func.strftime("%Y-%m-%d %H:00:00.000000", e.started_at)
    keys = (e.user_id, hour, e.category, e.level, e.modality)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(ExposureRollup).from_select(
            [*_KEYS, *_SUMMED],
            select(
                *keys,
                func.count(),
                func.sum(e.duration_seconds),
                func.sum(floored_seconds(session, e.duration_seconds, floor)),
            )
            .where(e.started_at >= start, e.started_at < end)
            .group_by(*keys),
        )
    )
