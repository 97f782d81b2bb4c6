"""Exposure summaries for dashboards: totals per person over a window, and distributions
(median, p90, how many are over a cap) across people. Read from the hourly rollups; the
same answers computed from the raw ledger are kept here too, for checks and benchmarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exposure.models import ExposureEvent, ExposureRollup, User
from exposure.policy import Policy


@dataclass
class Totals:
    dose: float = 0.0
    graphic_minutes: float = 0.0
    reveals: int = 0
    events: int = 0

    def rounded(self) -> tuple[float, float, int, int]:
        return (round(self.dose, 6), round(self.graphic_minutes, 6), self.reveals, self.events)


def _weight(policy: Policy, category: str, level: int, modality: str) -> float:
    if category == "clear":
        return 0.0
    rule = policy.categories.get(category)
    return (
        (rule.weight if rule else 1.0)
        * policy.level_factors.get(level, 1.0)
        * policy.modality_factors.get(modality, 1.0)
    )


def _add(
    total: Totals,
    policy: Policy,
    category: str,
    level: int,
    modality: str,
    events: int,
    floored_seconds: float,
) -> None:
    minutes = floored_seconds / 60
    total.events += events
    total.dose += minutes * _weight(policy, category, level, modality)
    if category != "clear" and level >= 2:
        total.graphic_minutes += minutes
        total.reveals += events


def floored_seconds(session: Session, duration: Any, floor: float) -> Any:
    """SQL for max(duration, floor), which SQLite and PostgreSQL spell differently."""
    if session.get_bind().dialect.name == "sqlite":
        return func.max(duration, floor)
    return func.greatest(duration, floor)


def _grouped(
    session: Session,
    policy: Policy,
    table: Any,
    events: Any,
    seconds: Any,
    when: Any,
    start: datetime,
    end: datetime,
    user_ids: Iterable[int] | None,
    categories: Iterable[str] | None,
) -> dict[int, Totals]:
    keys = (table.user_id, table.category, table.level, table.modality)
    query = select(*keys, events, seconds).where(when >= start, when < end).group_by(*keys)
    if user_ids is not None:
        query = query.where(table.user_id.in_(list(user_ids)))
    if categories is not None:
        query = query.where(table.category.in_(list(categories)))
    result: dict[int, Totals] = defaultdict(Totals)
    for user_id, category, level, modality, count, total in session.execute(query):
        _add(result[user_id], policy, category, level, modality, int(count), float(total))
    return dict(result)


def totals(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    """Per person, from the rollups, for hours starting in [start, end)."""
    r = ExposureRollup
    return _grouped(
        session,
        policy,
        r,
        func.sum(r.events),
        func.sum(r.floored_seconds),
        r.hour_start,
        start,
        end,
        user_ids,
        categories,
    )


def totals_from_ledger(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    """The same answer as `totals`, computed by scanning the raw ledger."""
    e = ExposureEvent
    seconds = func.sum(floored_seconds(session, e.duration_seconds, policy.min_event_seconds))
    return _grouped(
        session, policy, e, func.count(), seconds, e.started_at, start, end, user_ids, categories
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Distribution:
    people: int
    median: float
    p90: float
    over_cap: int
    values: list[float] = field(repr=False, default_factory=list)


def distribution(values: Sequence[float], cap: float | None) -> Distribution:
    return Distribution(
        people=len(values),
        median=round(percentile(values, 50), 2),
        p90=round(percentile(values, 90), 2),
        over_cap=sum(1 for v in values if cap is not None and v >= cap),
        values=list(values),
    )


def people_in_scope(session: Session, team_id: int | None) -> list[int]:
    """Active associates, of one team or all; people with no exposure count as zero."""
    from exposure.models import UserRole

    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "associate", User.active.is_(True))
    )
    if team_id is not None:
        query = query.where(User.team_id == team_id)
    return list(session.scalars(query))
