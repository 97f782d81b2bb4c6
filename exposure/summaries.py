"""Exposure summaries for dashboards: totals per person over a window, and distributions
(median, p90, how many are over a cap) across people. Read from the hourly rollups; the
same answers computed from the raw ledger are kept here too, for checks and benchmarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
    query = (
        select(
            ExposureRollup.user_id,
            ExposureRollup.category,
            ExposureRollup.level,
            ExposureRollup.modality,
            func.sum(ExposureRollup.events),
            func.sum(ExposureRollup.floored_seconds),
        )
        .where(ExposureRollup.hour_start >= start, ExposureRollup.hour_start < end)
        .group_by(
            ExposureRollup.user_id,
            ExposureRollup.category,
            ExposureRollup.level,
            ExposureRollup.modality,
        )
    )
    if user_ids is not None:
        query = query.where(ExposureRollup.user_id.in_(list(user_ids)))
    if categories is not None:
        query = query.where(ExposureRollup.category.in_(list(categories)))
    result: dict[int, Totals] = defaultdict(Totals)
    for user_id, category, level, modality, events, seconds in session.execute(query):
        _add(result[user_id], policy, category, level, modality, int(events), float(seconds))
    return dict(result)


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
    floor = policy.min_event_seconds
    query = (
        select(
            ExposureEvent.user_id,
            ExposureEvent.category,
            ExposureEvent.level,
            ExposureEvent.modality,
            func.count(),
            func.sum(
                func.max(ExposureEvent.duration_seconds, floor)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(ExposureEvent.duration_seconds, floor)
            ),
        )
        .where(ExposureEvent.started_at >= start, ExposureEvent.started_at < end)
        .group_by(
            ExposureEvent.user_id,
            ExposureEvent.category,
            ExposureEvent.level,
            ExposureEvent.modality,
        )
    )
    if user_ids is not None:
        query = query.where(ExposureEvent.user_id.in_(list(user_ids)))
    if categories is not None:
        query = query.where(ExposureEvent.category.in_(list(categories)))
    result: dict[int, Totals] = defaultdict(Totals)
    for user_id, category, level, modality, events, seconds in session.execute(query):
        _add(result[user_id], policy, category, level, modality, int(events), float(seconds))
    return dict(result)


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
