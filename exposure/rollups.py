"""Hourly rollups of the ledger, kept in step with it in the same transaction, so that
dashboards read a few thousand rows instead of scanning millions of events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
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


def _bump(
    session: Session,
    event: ExposureEvent,
    *,
    events: int,
    seconds: float,
    floored: float,
) -> None:
    """Add to the event's rollup row, creating it if needed, atomically on both databases."""
    values = {
        "user_id": event.user_id,
        "hour_start": hour_of(event.started_at),
        "category": event.category,
        "level": event.level,
        "modality": event.modality,
        "events": events,
        "seconds": seconds,
        "floored_seconds": floored,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ExposureRollup).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "hour_start", "category", "level", "modality"],
        set_={
            "events": ExposureRollup.events + statement.excluded.events,
            "seconds": ExposureRollup.seconds + statement.excluded.seconds,
            "floored_seconds": ExposureRollup.floored_seconds + statement.excluded.floored_seconds,
        },
    )
    session.execute(statement)


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


def rebuild(session: Session, floor: float, since: datetime | None = None) -> int:
    """Recompute rollups from the raw ledger (after a change of min_event_seconds)."""
    query = select(ExposureEvent)
    wipe = delete(ExposureRollup)
    if since is not None:
        since = hour_of(since)
        query = query.where(ExposureEvent.started_at >= since)
        wipe = wipe.where(ExposureRollup.hour_start >= since)
    session.execute(wipe)
    count = 0
    for event in session.scalars(query.execution_options(yield_per=5000)):
        add_event(session, event, floor)
        count += 1
    session.flush()
    return count
