"""Exposure summaries for dashboards: totals per person over a window, and distributions
(median, p90, how many are over a cap) across people. Read from the daily tables and the
hourly rollups (exposure/daily.py says when each is valid); the same answers computed
from the raw ledger are kept here too, for checks and benchmarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from exposure import daily, rollups
from exposure.models import (
    ExposureDay,
    ExposureEvent,
    ExposureRollup,
    ExposureWeek,
    ExposureWeekCategory,
    User,
    UserRole,
)
from exposure.policy import Policy
from exposure.rollups import floored_seconds


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


def _only(
    query: Any, table: Any, user_ids: Iterable[int] | None, categories: Iterable[str] | None
) -> Any:
    """The query narrowed to these people and categories (None: all)."""
    if user_ids is not None:
        query = query.where(table.user_id.in_(list(user_ids)))
    if categories is not None:
        query = query.where(table.category.in_(list(categories)))
    return query


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
) -> dict[tuple[int, str], Totals]:
    """Per person and category, weighting each (category, level, modality) group."""
    keys = (table.user_id, table.category, table.level, table.modality)
    query = select(*keys, events, seconds).where(when >= start, when < end).group_by(*keys)
    query = _only(query, table, user_ids, categories)
    result: dict[tuple[int, str], Totals] = defaultdict(Totals)
    for user_id, category, level, modality, count, total in (
        session.connection().execute(query).all()
    ):
        _add(result[user_id, category], policy, category, level, modality, int(count), float(total))
    return dict(result)


def _from_hours(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    user_ids: Iterable[int] | None,
    categories: Iterable[str] | None,
) -> dict[tuple[int, str], Totals]:
    if start >= end:
        return {}
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


def _from_ledger(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    user_ids: Iterable[int] | None,
    categories: Iterable[str] | None,
) -> dict[tuple[int, str], Totals]:
    e = ExposureEvent
    seconds = func.sum(floored_seconds(session, e.duration_seconds, policy.min_event_seconds))
    return _grouped(
        session, policy, e, func.count(), seconds, e.started_at, start, end, user_ids, categories
    )


def _from_table(
    session: Session,
    table: Any,
    key: Any,
    first: date,
    last: date,
    user_ids: Iterable[int] | None,
    categories: Iterable[str] | None,
    by_category: bool,
) -> dict[Any, Totals]:
    """Sums over rows with `key` (a day or week column) in [first, last), keyed by person,
    or by (person, category) when `by_category` (category tables only)."""
    keys: tuple[Any, ...] = (table.user_id, table.category) if by_category else (table.user_id,)
    query = (
        select(
            *keys,
            func.sum(table.dose),
            func.sum(table.graphic_minutes),
            func.sum(table.reveals),
            func.sum(table.events),
        )
        .where(key >= first, key < last)
        .group_by(*keys)
    )
    query = _only(query, table, user_ids, categories)
    rows: list[Any] = list(session.connection().execute(query).all())
    if by_category:
        return {(u, c): Totals(d, g, r, e) for u, c, d, g, r, e in rows}
    return {u: Totals(d, g, r, e) for u, d, g, r, e in rows}


def _whole_weeks(first: date, last: date) -> tuple[date, date] | None:
    """The local weeks (Monday to Sunday) wholly inside the days [first, last)."""
    start = daily.monday_of(first + timedelta(days=6))
    end = daily.monday_of(last)
    return (start, end) if start < end else None


def _merge(into: dict[Any, Totals], more: dict[Any, Totals]) -> dict[Any, Totals]:
    for key, part in more.items():
        total = into.setdefault(key, Totals())
        total.dose += part.dose
        total.graphic_minutes += part.graphic_minutes
        total.reveals += part.reveals
        total.events += part.events
    return into


def _collect(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    user_ids: Iterable[int] | None,
    categories: Iterable[str] | None,
    by_category: bool,
) -> dict[Any, Totals]:
    """Per person (or person and category) over [start, end), from the best valid source."""
    ids = list(user_ids) if user_ids is not None else None
    cats = list(categories) if categories is not None else None
    source = daily.source_for(session, policy)

    def finer(found: dict[tuple[int, str], Totals]) -> dict[Any, Totals]:
        return found if by_category else _per_person(found)

    on_the_hour = start == rollups.hour_of(start) and end == rollups.hour_of(end)
    if source is daily.Source.LEDGER or (source is daily.Source.HOURS and not on_the_hour):
        return finer(_from_ledger(session, policy, start, end, ids, cats))
    basis = daily.Basis.of(policy)
    days = daily.whole_days(basis, start, end) if source is daily.Source.DAYS else None
    if days is None:
        if not on_the_hour:  # the hourly rollups cannot split an hour
            return finer(_from_ledger(session, policy, start, end, ids, cats))
        return finer(_from_hours(session, policy, start, end, ids, cats))
    weeks = _whole_weeks(*days)

    def rest(a: datetime, b: datetime) -> dict[Any, Totals]:
        """Hours outside the day and week tables; the raw ledger if they split an hour."""
        if a >= b:
            return {}
        if a == rollups.hour_of(a) and b == rollups.hour_of(b):
            return finer(_from_hours(session, policy, a, b, ids, cats))
        return finer(_from_ledger(session, policy, a, b, ids, cats))

    if by_category or cats is not None:  # categories are kept per week only
        if weeks is None:
            return rest(start, end)
        found = _from_table(
            session, ExposureWeekCategory, ExposureWeekCategory.week, *weeks, ids, cats, by_category
        )
        _merge(found, rest(start, basis.start_of(weeks[0])))
        return _merge(found, rest(basis.start_of(weeks[1]), end))
    d = ExposureDay
    if weeks is None:
        found = _from_table(session, d, d.day, *days, ids, None, False)
    else:
        w = ExposureWeek
        found = _from_table(session, w, w.week, *weeks, ids, None, False)
        for a, b in ((days[0], weeks[0]), (weeks[1], days[1])):
            if a < b:
                _merge(found, _from_table(session, d, d.day, a, b, ids, None, False))
    _merge(found, rest(start, basis.start_of(days[0])))
    return _merge(found, rest(basis.start_of(days[1]), end))


def _per_person(parts: dict[tuple[int, str], Totals]) -> dict[int, Totals]:
    result: dict[int, Totals] = {}
    for (user_id, _category), part in parts.items():
        _merge(result, {user_id: part})
    return result


def totals(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    """Per person over [start, end): whole local days from the daily tables, other hours
    from the hourly rollups (each only while built for this policy's terms)."""
    return _collect(session, policy, start, end, user_ids, categories, by_category=False)


def totals_by_category(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
) -> dict[str, dict[int, Totals]]:
    """Per category, per person, in one pass."""
    result: dict[str, dict[int, Totals]] = defaultdict(dict)
    for (user_id, category), part in _collect(
        session, policy, start, end, user_ids, None, by_category=True
    ).items():
        result[category][user_id] = part
    return dict(result)


def totals_by_day(
    session: Session,
    policy: Policy,
    first: date,
    last: date,
    *,
    user_ids: Iterable[int] | None = None,
) -> dict[date, dict[int, Totals]]:
    """Per local day in [first, last), per person."""
    ids = list(user_ids) if user_ids is not None else None
    basis = daily.Basis.of(policy)
    if daily.source_for(session, policy) is not daily.Source.DAYS:
        return {
            first + timedelta(days=n): totals(
                session,
                policy,
                basis.start_of(first + timedelta(days=n)),
                basis.start_of(first + timedelta(days=n + 1)),
                user_ids=ids,
            )
            for n in range((last - first).days)
        }
    d = ExposureDay
    query = select(d.day, d.user_id, d.dose, d.graphic_minutes, d.reveals, d.events).where(
        d.day >= first, d.day < last
    )
    if ids is not None:
        query = query.where(d.user_id.in_(ids))
    result: dict[date, dict[int, Totals]] = {
        first + timedelta(days=n): {} for n in range((last - first).days)
    }
    for day, user_id, dose, graphic, reveals, events in session.connection().execute(query).all():
        result[day][user_id] = Totals(float(dose), float(graphic), int(reveals), int(events))
    return result


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
    return _per_person(_from_ledger(session, policy, start, end, user_ids, categories))


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


def distribution(values: Sequence[float], cap: float | None) -> Distribution:
    return Distribution(
        people=len(values),
        median=round(percentile(values, 50), 2),
        p90=round(percentile(values, 90), 2),
        over_cap=sum(1 for v in values if cap is not None and v >= cap),
    )


def associates(team_id: int | None, *columns: Any) -> Select[Any]:
    """The people exposure pages count: active associates, of one team or all (people with
    no exposure count as zero). Selects `columns`, or just the ids."""
    query = (
        select(*(columns or (User.id,)))
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "associate", User.active.is_(True))
    )
    return query.where(User.team_id == team_id) if team_id is not None else query


def people_in_scope(session: Session, team_id: int | None) -> list[int]:
    """The ids of `associates`."""
    return list(session.scalars(associates(team_id)))
