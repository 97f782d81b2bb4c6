"""Distributions of per-person totals across people (median, p90, how many are over a cap),
for the wellbeing page's trend and categories.

When the daily tables are valid for the policy (exposure/daily.py) the database ranks the
per-person totals and only the few values that the percentiles need come back: a week of
thousands of people in a dozen categories is a handful of rows instead of tens of
thousands. Otherwise the totals are read (from hourly rollups or the raw ledger) and
ranked here; both give the same answer (`summaries.distribution`)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Float, Select, and_, case, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from exposure import daily, summaries
from exposure.models import ExposureWeek, ExposureWeekCategory
from exposure.policy import Policy
from exposure.summaries import Distribution, Totals

QUANTILES = (50, 90)
Caps = tuple[float | None, float | None]  # graphic minutes, dose


@dataclass(frozen=True)
class Spread:
    graphic: Distribution
    dose: Distribution
    reveals: int = 0


def _percentile(n: int, present: int, at: Mapping[int, float], q: int) -> float:
    """`summaries.percentile` of n values of which the n - present smallest are zeros
    (people with no exposure; totals are never negative) and `at` holds the others that
    the percentile needs, by position among themselves."""
    if n == 0:
        return 0.0
    zeros = n - present
    rank = (n - 1) * q / 100
    low = int(rank)
    high = min(low + 1, n - 1)

    def value(r: int) -> float:
        return 0.0 if r < zeros else at[r - zeros]

    return value(low) + (value(high) - value(low)) * (rank - low)


def _ranked(
    session: Session,
    values: Any,
    population: int | None,
    caps: Caps,
) -> dict[Hashable, Spread]:
    """`values` has one row per person and group: columns grp, g (graphic minutes), d
    (dose) and r (reveals). `population` is each group's head count (missing people count
    as zero); None: only the people present. One query; it returns, per group, only the
    rows at the positions the percentiles need."""
    c = values.c

    def over(col: Any, cap: float | None) -> Any:
        total = func.sum(case((col >= cap, 1), else_=0)) if cap is not None else func.sum(0)
        return total.over(partition_by=c.grp)

    inner = select(
        c.grp,
        c.g,
        c.d,
        (func.row_number().over(partition_by=c.grp, order_by=c.g) - 1).label("gi"),
        (func.row_number().over(partition_by=c.grp, order_by=c.d) - 1).label("di"),
        func.count().over(partition_by=c.grp).label("m"),
        over(c.g, caps[0]).label("g_over"),
        over(c.d, caps[1]).label("d_over"),
        func.sum(c.r).over(partition_by=c.grp).label("r"),
    ).subquery()
    n = literal(population) if population is not None else inner.c.m
    zeros = n - inner.c.m
    wanted = []
    for q in QUANTILES:
        low = (n - 1) * q // 100 - zeros
        wanted += [low, low + 1]
    rows = session.execute(
        select(inner).where(or_(inner.c.gi.in_(wanted), inner.c.di.in_(wanted)))
    ).all()
    found: dict[Hashable, tuple[int, int, int, int, dict[int, float], dict[int, float]]] = {}
    for grp, g, d, gi, di, m, g_over, d_over, r in rows:
        entry = found.setdefault(grp, (int(m), int(g_over), int(d_over), int(r or 0), {}, {}))
        entry[4][int(gi)] = float(g)
        entry[5][int(di)] = float(d)
    out = {}
    for grp, (m, g_over, d_over, reveals, at_g, at_d) in found.items():
        people = population if population is not None else m
        out[grp] = Spread(
            _spread(people, m, at_g, g_over), _spread(people, m, at_d, d_over), reveals
        )
    return out


def _ranked_by_aggregates(session: Session, values: Any, caps: Caps) -> dict[Hashable, Spread]:
    """The same as `_ranked` with every person present (no missing zeros), on PostgreSQL:
    its `percentile_cont` interpolates like `summaries.percentile`, sorting each group
    once per metric, which is cheaper than ranking every row with window functions."""
    c = values.c
    fractions = literal([q / 100 for q in QUANTILES], ARRAY(Float()))

    def over(col: Any, cap: float | None) -> Any:
        return func.count().filter(col >= cap) if cap is not None else literal(0)

    rows = session.execute(
        select(
            c.grp,
            func.count(),
            func.percentile_cont(fractions).within_group(c.g),
            func.percentile_cont(fractions).within_group(c.d),
            over(c.g, caps[0]),
            over(c.d, caps[1]),
            func.sum(c.r),
        ).group_by(c.grp)
    ).all()

    def spread(people: int, at: Sequence[float], over_cap: int) -> Distribution:
        return Distribution(people, round(at[0], 2), round(at[1], 2), int(over_cap))

    return {
        grp: Spread(spread(m, g, g_over), spread(m, d, d_over), int(r or 0))
        for grp, m, g, d, g_over, d_over, r in rows
    }


def _spread(people: int, present: int, at: dict[int, float], over_cap: int) -> Distribution:
    return Distribution(
        people=people,
        median=round(_percentile(people, present, at, 50), 2),
        p90=round(_percentile(people, present, at, 90), 2),
        over_cap=over_cap,
    )


def _values(table: Any, group: Any) -> Select[Any]:
    """One row per person and group, in the columns the rankers read."""
    return select(
        group.label("grp"),
        table.graphic_minutes.label("g"),
        table.dose.label("d"),
        table.reveals.label("r"),
    )


def _weeks_valid(
    session: Session, policy: Policy, windows: Sequence[tuple[datetime, datetime]]
) -> list[date] | None:
    """The windows' Mondays, if each is exactly one local week (Monday to Sunday) and the
    weekly tables are valid for the policy."""
    if daily.source_for(session, policy) is not daily.Source.DAYS:
        return None
    basis = daily.Basis.of(policy)
    mondays = []
    for start, end in windows:
        monday = basis.day_of(start)
        if monday.weekday() != 0 or basis.start_of(monday) != start:
            return None
        if basis.start_of(monday + timedelta(days=7)) != end:
            return None
        mondays.append(monday)
    return mondays


def _in_python(
    session: Session, policy: Policy, ids: list[int], start: datetime, end: datetime, caps: Caps
) -> Spread:
    found = summaries.totals(session, policy, start, end, user_ids=ids)
    totals = [found.get(i, Totals()) for i in ids]
    return Spread(
        summaries.distribution([t.graphic_minutes for t in totals], caps[0]),
        summaries.distribution([t.dose for t in totals], caps[1]),
    )


def weekly(
    session: Session,
    policy: Policy,
    windows: Sequence[tuple[datetime, datetime]],
    team_id: int | None,
    caps: Caps,
) -> list[Spread]:
    """For each window (a local week): the spread of everyone's totals in it (people in
    scope with no exposure count as zero). `caps` are (graphic minutes, dose)."""
    people = summaries.associates(team_id)
    mondays = _weeks_valid(session, policy, windows)
    if mondays is None:
        ids = list(session.scalars(people))
        return [_in_python(session, policy, ids, start, end, caps) for start, end in windows]
    n = session.scalar(select(func.count()).select_from(people.subquery())) or 0
    w = ExposureWeek
    nobody = Spread(
        summaries.distribution([0.0] * n, caps[0]), summaries.distribution([0.0] * n, caps[1])
    )
    if session.get_bind().dialect.name == "postgresql":
        # Every person in every week, with zeros for the weeks they saw nothing.
        who = people.subquery()
        weeks = select(func.unnest(literal(mondays, ARRAY(Date()))).label("week")).subquery()
        filled = (
            select(
                weeks.c.week.label("grp"),
                func.coalesce(w.graphic_minutes, 0.0).label("g"),
                func.coalesce(w.dose, 0.0).label("d"),
                func.coalesce(w.reveals, 0).label("r"),
            )
            .select_from(who.join(weeks, true()))
            .outerjoin(w, and_(w.user_id == who.c.id, w.week == weeks.c.week))
            .subquery()
        )
        found = _ranked_by_aggregates(session, filled, caps)
        return [found.get(monday, nobody) for monday in mondays]
    values = _values(w, w.week).where(w.week.in_(mondays), w.user_id.in_(people)).subquery()
    spreads = _ranked(session, values, n, caps)
    return [spreads.get(monday, nobody) for monday in mondays]


def by_category(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    team_id: int | None,
    caps: Caps,
) -> dict[str, Spread]:
    """Per category: the spread of the totals of the people in scope who saw it."""
    people = summaries.associates(team_id)
    mondays = _weeks_valid(session, policy, [(start, end)])
    if mondays is None:
        ids = list(session.scalars(people))
        found = summaries.totals_by_category(session, policy, start, end, user_ids=ids)
        out = {}
        for name, per_person in found.items():
            seen = [t for t in per_person.values() if t.events > 0]
            if seen:
                out[name] = Spread(
                    summaries.distribution([t.graphic_minutes for t in seen], caps[0]),
                    summaries.distribution([t.dose for t in seen], caps[1]),
                    sum(t.reveals for t in seen),
                )
        return out
    c = ExposureWeekCategory
    values = (
        _values(c, c.category)
        .where(c.week == mondays[0], c.user_id.in_(people), c.events > 0)
        .subquery()
    )
    if session.get_bind().dialect.name == "postgresql":
        spreads = _ranked_by_aggregates(session, values, caps)
    else:
        spreads = _ranked(session, values, None, caps)
    return {str(name): spread for name, spread in spreads.items()}
