"""The associate's "My day" and wellbeing staff's "Exposure" pages.

Both read exposure through `exposure.summaries` (daily tables for whole days, hourly
rollups for the rest) and `exposure.distributions`, never by scanning the raw ledger. My
day shows only the signed-in person's own numbers. Exposure shows distributions across
people (median, p90, how many are over a cap), breaks and check-in counts, never check-in
answers; every read of it, on screen or as CSV, is audited.

The first half of this module computes plain values from a session, a policy and `now`;
the second half is the blueprint that renders them.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from exposure import audit, breaks, distributions, roster, summaries
from exposure.categories import LEVEL_NAMES
from exposure.models import Break, CheckIn, ExposureEvent, ExposureRollup, Team, User
from exposure.policy import Policy
from exposure.summaries import Distribution, Totals
from wellbeing import charts
from wellbeing.auth import roles_required
from wellbeing.db import clock, db
from wellbeing.inputs import BadInput
from wellbeing.policies import policy

RECENT_EVENTS = 10
TREND_WEEKS = 8
TOP_PEOPLE = 10

# -- caps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caps:
    """The policy's thresholds on a person's totals (None: the policy sets none)."""

    daily_graphic: float | None
    daily_dose: float | None
    weekly_graphic: float | None
    weekly_dose: float | None


def _smallest_threshold(policy: Policy, metric: str, window: str) -> float | None:
    # Rules that count only some categories or severities are not caps on the totals.
    found = [
        r.threshold
        for r in policy.rules
        if r.metric == metric
        and r.window.kind == window
        and not r.categories
        and r.min_severity == 0
    ]
    return min(found) if found else None


def caps(policy: Policy) -> Caps:
    return Caps(
        daily_graphic=roster.daily_cap(policy),
        daily_dose=_smallest_threshold(policy, "dose", "day"),
        weekly_graphic=_smallest_threshold(policy, "graphic_minutes", "week"),
        weekly_dose=_smallest_threshold(policy, "dose", "week"),
    )


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def when(instant: datetime, tz: ZoneInfo | None = None) -> str:
    """A short local date and time, e.g. 'Mon 5 Jan 09:30'."""
    local = instant.astimezone(tz) if tz else instant
    return f"{local:%a} {local.day} {local:%b %H:%M}"


# -- My day ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """Exposure in one hour or one day."""

    label: str
    long_label: str
    dose: float
    graphic_minutes: float
    reveals: int


@dataclass(frozen=True)
class RecentView:
    at: datetime  # in the policy's time zone
    category: str
    level_name: str
    seconds: float


@dataclass(frozen=True)
class MyDay:
    now: datetime  # in the policy's time zone
    now_label: str
    caps: Caps
    hours: list[Bucket]
    days: list[Bucket]
    today: Totals
    week: Totals
    recent: list[RecentView]


def _bucket(total: Totals | None, label: str, long_label: str) -> Bucket:
    total = total or Totals()
    return Bucket(label, long_label, total.dose, total.graphic_minutes, total.reveals)


def _sum(buckets: Iterable[Bucket]) -> Totals:
    out = Totals()
    for b in buckets:
        out.dose += b.dose
        out.graphic_minutes += b.graphic_minutes
        out.reveals += b.reveals
    return out


def _hours_with_exposure(
    session: Session, user_id: int, start: datetime, end: datetime
) -> set[datetime]:
    """The person's hours that have rollup rows: only those are worth a `totals` query."""
    return set(
        session.scalars(
            select(ExposureRollup.hour_start)
            .where(
                ExposureRollup.user_id == user_id,
                ExposureRollup.hour_start >= start,
                ExposureRollup.hour_start < end,
            )
            .distinct()
        )
    )


def my_day(session: Session, policy: Policy, user_id: int, now: datetime) -> MyDay:
    """One person's exposure today (by hour) and over the last 7 days (by day)."""
    tz = policy.timezone
    local = now.astimezone(tz)
    today = local.date()
    first_day = today - timedelta(days=6)
    end_of_day = _start_of(today + timedelta(days=1), tz)
    active = _hours_with_exposure(session, user_id, _start_of(first_day, tz), end_of_day)

    def between(start: datetime, end: datetime) -> Totals | None:
        if not any(start <= h < end for h in active):
            return None
        return summaries.totals(session, policy, start, end, user_ids=[user_id]).get(user_id)

    hours = []
    hour = _start_of(today, tz)
    while hour < end_of_day:
        after = hour + timedelta(hours=1)
        start = hour.astimezone(tz)
        hours.append(
            _bucket(
                between(hour, after),
                f"{start:%H}",
                f"{start:%H:%M} to {after.astimezone(tz):%H:%M}",
            )
        )
        hour = after
    days = []
    for back in range(6, -1, -1):
        day = today - timedelta(days=back)
        found = between(_start_of(day, tz), _start_of(day + timedelta(days=1), tz))
        days.append(_bucket(found, f"{day:%a} {day.day}", f"{day:%A} {day.day} {day:%B}"))
    events = session.scalars(
        select(ExposureEvent)
        .where(ExposureEvent.user_id == user_id)
        .order_by(ExposureEvent.started_at.desc(), ExposureEvent.id.desc())
        .limit(RECENT_EVENTS)
    ).all()
    recent = [
        RecentView(
            at=e.started_at.astimezone(tz),
            category="not flagged" if e.category == "clear" else e.category.replace("_", " "),
            level_name=LEVEL_NAMES.get(e.level, str(e.level))
            + (" (one region)" if e.region else ""),
            seconds=e.duration_seconds,
        )
        for e in events
    ]
    return MyDay(
        now=local,
        now_label=f"{local:%A} {local.day} {local:%B, %H:%M}",
        caps=caps(policy),
        hours=hours,
        days=days,
        today=_sum(hours),
        week=_sum(days),
        recent=recent,
    )


# -- Exposure (wellbeing) -------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    """A calendar week, Monday to Sunday in the policy's time zone."""

    monday: date
    start: datetime
    end: datetime

    @classmethod
    def containing(cls, day: date, tz: ZoneInfo) -> Week:
        monday = day - timedelta(days=day.weekday())
        return cls(monday, _start_of(monday, tz), _start_of(monday + timedelta(days=7), tz))

    def shifted(self, weeks: int, tz: ZoneInfo) -> Week:
        return Week.containing(self.monday + timedelta(weeks=weeks), tz)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)


@dataclass(frozen=True)
class PersonWeek:
    user_id: int
    name: str
    team_id: int | None
    graphic_minutes: float
    dose: float
    busiest_day_graphic: float
    over_weekly_dose: bool
    hit_daily_cap: bool


@dataclass(frozen=True)
class GroupRow:
    label: str
    graphic: Distribution
    dose: Distribution
    hit_daily_cap: int


@dataclass(frozen=True)
class CategoryRow:
    category: str
    graphic: Distribution
    dose: Distribution
    reveals: int


@dataclass(frozen=True)
class TrendPoint:
    week: Week
    graphic: Distribution
    dose: Distribution


@dataclass
class CareRow:
    """Enforced breaks and rotations started in the week, and check-ins due in it."""

    label: str
    breaks_started: int = 0
    breaks_taken: int = 0
    breaks_ended_early: int = 0
    breaks_in_progress: int = 0
    rotations: int = 0
    checkins_due: int = 0
    checkins_completed: int = 0
    escalations: int = 0
    overdue_escalations: int = 0


@dataclass(frozen=True)
class ExposureReport:
    week: Week
    team: Team | None
    teams: list[Team]
    caps: Caps
    policy_version: str
    timezone: ZoneInfo
    by_team: list[GroupRow]
    by_category: list[CategoryRow]
    trend: list[TrendPoint]
    care: list[CareRow]
    people: list[PersonWeek] = field(default_factory=list)


@dataclass(frozen=True)
class _Person:
    id: int
    name: str
    team_id: int | None


def _people(session: Session, team_id: int | None) -> list[_Person]:
    """`summaries.associates` by name."""
    query = summaries.associates(team_id, User.id, User.display_name, User.team_id)
    return [_Person(*row) for row in session.execute(query.order_by(User.display_name))]


def _totals(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    people: Sequence[_Person],
    scoped: bool,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    # For all teams, read everyone and keep the associates: no long IN list of every id.
    found = summaries.totals(
        session,
        policy,
        start,
        end,
        user_ids=[p.id for p in people] if scoped else None,
        categories=categories,
    )
    return {p.id: found.get(p.id, Totals()) for p in people}


def _distributions(
    totals: dict[int, Totals], ids: Iterable[int], caps: Caps
) -> tuple[Distribution, Distribution]:
    ids = list(ids)
    graphic = summaries.distribution([totals[i].graphic_minutes for i in ids], caps.weekly_graphic)
    dose = summaries.distribution([totals[i].dose for i in ids], caps.weekly_dose)
    return graphic, dose


def _care(
    session: Session,
    week: Week,
    groups: Sequence[tuple[str, set[int]]],
    now: datetime,
) -> list[CareRow]:
    everyone = set().union(*(ids for _, ids in groups)) if groups else set()
    rows = {label: CareRow(label) for label, _ in groups}
    where_is = {i: label for label, ids in groups for i in ids}
    for user_id, kind, status, ends_at in session.execute(
        select(Break.user_id, Break.kind, Break.status, Break.ends_at).where(
            Break.kind.in_(("enforced", "rotation")),
            Break.starts_at >= week.start,
            Break.starts_at < week.end,
        )
    ):
        if user_id not in everyone:
            continue
        row = rows[where_is[user_id]]
        if kind == "rotation":
            row.rotations += 1
            continue
        row.breaks_started += 1
        if status == "overridden":
            row.breaks_ended_early += 1
        elif status == "completed" or (ends_at is not None and ends_at <= now):
            row.breaks_taken += 1
        else:
            row.breaks_in_progress += 1
    # Counts only: the answers and scores are never read for this page.
    for user_id, completed_at, escalated, overdue_alerted_at in session.execute(
        select(
            CheckIn.user_id, CheckIn.completed_at, CheckIn.escalated, CheckIn.overdue_alerted_at
        ).where(CheckIn.due_at >= week.start, CheckIn.due_at < week.end)
    ):
        if user_id not in everyone:
            continue
        row = rows[where_is[user_id]]
        row.checkins_due += 1
        row.checkins_completed += completed_at is not None
        row.escalations += bool(escalated)
        row.overdue_escalations += overdue_alerted_at is not None
    return [rows[label] for label, _ in groups]


def _busiest_days(
    session: Session, policy: Policy, week: Week, user_ids: Iterable[int]
) -> dict[int, float]:
    """The most graphic minutes each of these people had on one day of the week."""
    ids = sorted(set(user_ids))
    busiest = dict.fromkeys(ids, 0.0)
    if not ids:
        return busiest
    per_day = summaries.totals_by_day(
        session, policy, week.monday, week.monday + timedelta(days=7), user_ids=ids
    )
    for found in per_day.values():
        for i, total in found.items():
            busiest[i] = max(busiest[i], total.graphic_minutes)
    return busiest


def exposure_report(
    session: Session, policy: Policy, monday: date, team: Team | None, now: datetime
) -> ExposureReport:
    """Distributions of weekly exposure across the associates in scope, and their care."""
    tz = policy.timezone
    limits = caps(policy)
    week = Week.containing(monday, tz)
    scoped = team is not None
    people = _people(session, team.id if team else None)
    teams = list(session.scalars(select(Team).order_by(Team.name)))

    weekly = _totals(session, policy, week.start, week.end, people, scoped)
    spread_caps = (limits.weekly_graphic, limits.weekly_dose)

    def over_weekly(i: int) -> bool:
        return limits.weekly_dose is not None and weekly[i].dose >= limits.weekly_dose

    ranked = sorted(people, key=lambda p: (-weekly[p.id].dose, p.name))
    top = [p.id for p in ranked[:TOP_PEOPLE] if weekly[p.id].dose > 0]
    # Only someone with a week's graphic minutes over the daily cap can have hit it on a day:
    # days are read for them and for the people listed, not for everyone.
    cap = limits.daily_graphic
    may_hit = [i for i, t in weekly.items() if cap is not None and t.graphic_minutes >= cap]
    busiest = _busiest_days(
        session, policy, week, [*top, *may_hit, *(i for i in weekly if over_weekly(i))]
    )

    def hit_daily(i: int) -> bool:
        return cap is not None and busiest.get(i, 0.0) >= cap

    groups: list[tuple[str, set[int]]] = []
    if team is not None:
        groups.append((team.name, {p.id for p in people}))
    else:
        by_team: dict[int | None, set[int]] = defaultdict(set)
        for p in people:
            by_team[p.team_id].add(p.id)
        for t in teams:
            if by_team.get(t.id):
                groups.append((t.name, by_team[t.id]))
        if by_team.get(None):
            groups.append(("No team", by_team[None]))
    rows = []
    labelled = groups if team is not None else [*groups, ("All teams", {p.id for p in people})]
    for label, ids in labelled:
        graphic, dose = _distributions(weekly, ids, limits)
        rows.append(GroupRow(label, graphic, dose, sum(1 for i in ids if hit_daily(i))))

    spreads = distributions.by_category(
        session, policy, week.start, week.end, team.id if team else None, spread_caps
    )
    by_category = [
        CategoryRow(name.replace("_", " "), s.graphic, s.dose, s.reveals)
        for name, s in sorted(
            ((n, s) for n, s in spreads.items() if n in policy.categories),
            key=lambda item: (-policy.categories[item[0]].weight, item[0]),
        )
    ]

    earlier = [week.shifted(-back, tz) for back in range(TREND_WEEKS - 1, 0, -1)]
    past = distributions.weekly(
        session, policy, [(w.start, w.end) for w in earlier], team.id if team else None, spread_caps
    )
    trend = [TrendPoint(w, s.graphic, s.dose) for w, s in zip(earlier, past, strict=True)]
    trend.append(TrendPoint(week, *_distributions(weekly, list(weekly), limits)))

    shown = [
        PersonWeek(
            user_id=p.id,
            name=p.name,
            team_id=p.team_id,
            graphic_minutes=weekly[p.id].graphic_minutes,
            dose=weekly[p.id].dose,
            busiest_day_graphic=busiest[p.id],
            over_weekly_dose=over_weekly(p.id),
            hit_daily_cap=hit_daily(p.id),
        )
        for rank, p in enumerate(ranked)
        if over_weekly(p.id) or hit_daily(p.id) or (rank < TOP_PEOPLE and weekly[p.id].dose > 0)
    ]
    return ExposureReport(
        week=week,
        team=team,
        teams=teams,
        caps=limits,
        policy_version=policy.version,
        timezone=tz,
        by_team=rows,
        by_category=by_category,
        trend=trend,
        care=_care(session, week, groups, now),
        people=shown,
    )


# -- tables: one description of what is on screen, for the page and for the CSV -----------

Value = str | int | float | bool | None


@dataclass(frozen=True)
class Cell:
    value: Value
    href: str | None = None

    @property
    def text(self) -> str:
        v = self.value
        if v is None:
            return "n/a"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.1f}"
        return str(v)

    @property
    def numeric(self) -> bool:
        return isinstance(self.value, int | float) and not isinstance(self.value, bool)


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    note: str
    headers: list[str]
    rows: list[list[Cell]]
    text_columns: frozenset[int] = frozenset({0})  # the others are numbers, aligned right


def _cap_header(verb: str, what: str, value: float | None) -> str:
    return f"{verb} the {what} ({'none set' if value is None else charts.number(value)})"


def _percent(done: int, due: int) -> str | None:
    return f"{round(100 * done / due)}%" if due else None


def _over(d: Distribution, cap: float | None) -> int | None:
    return d.over_cap if cap is not None else None


def exposure_tables(report: ExposureReport, person_link: Callable[[int], str]) -> list[Table]:
    c = report.caps
    over_week_dose = _cap_header("Over", "weekly dose threshold", c.weekly_dose)
    hit_day_graphic = _cap_header("Hit", "daily graphic-minutes cap", c.daily_graphic)
    distribution_headers = [
        "Graphic minutes: median",
        "Graphic minutes: p90",
        "Dose: median",
        "Dose: p90",
    ]

    def spread(graphic: Distribution, dose: Distribution) -> list[Cell]:
        return [Cell(graphic.median), Cell(graphic.p90), Cell(dose.median), Cell(dose.p90)]

    tables = [
        Table(
            "by-team",
            "By team",
            "Weekly totals per person, across the people of each team (people with no "
            "exposure count as zero).",
            [
                "Team",
                "People",
                *distribution_headers,
                over_week_dose,
                hit_day_graphic + " on any day",
            ],
            [
                [
                    Cell(r.label),
                    Cell(r.graphic.people),
                    *spread(r.graphic, r.dose),
                    Cell(_over(r.dose, c.weekly_dose)),
                    Cell(r.hit_daily_cap if c.daily_graphic is not None else None),
                ]
                for r in report.by_team
            ],
        ),
        Table(
            "by-category",
            "By category",
            "Weekly totals per person in each category, across the people who saw it. "
            "Caps apply to a person's totals, so they are shown per team.",
            ["Category", "People exposed", *distribution_headers, "Reveals"],
            [
                [
                    Cell(r.category),
                    Cell(r.graphic.people),
                    *spread(r.graphic, r.dose),
                    Cell(r.reveals),
                ]
                for r in report.by_category
            ],
        ),
        Table(
            "trend",
            "Trend",
            f"The last {TREND_WEEKS} weeks, for the same people.",
            [
                "Week starting",
                "People",
                *distribution_headers,
                over_week_dose,
            ],
            [
                [
                    Cell(p.week.monday.isoformat()),
                    Cell(p.graphic.people),
                    *spread(p.graphic, p.dose),
                    Cell(_over(p.dose, c.weekly_dose)),
                ]
                for p in report.trend
            ],
        ),
        Table(
            "care",
            "Breaks and check-ins",
            "Enforced breaks and rotations started this week; check-ins due this week. "
            "Self-started step-away breaks are confidential and not counted.",
            [
                "Team",
                "Enforced breaks",
                "Taken in full",
                "Ended early",
                "In progress",
                "Rotations off sensitive work",
                "Check-ins due",
                "Check-ins completed",
                "Completion",
                "Escalated by answers",
                "Escalated as overdue",
            ],
            [
                [
                    Cell(r.label),
                    Cell(r.breaks_started),
                    Cell(r.breaks_taken),
                    Cell(r.breaks_ended_early),
                    Cell(r.breaks_in_progress),
                    Cell(r.rotations),
                    Cell(r.checkins_due),
                    Cell(r.checkins_completed),
                    Cell(_percent(r.checkins_completed, r.checkins_due)),
                    Cell(r.escalations),
                    Cell(r.overdue_escalations),
                ]
                for r in report.care
            ],
        ),
    ]
    team_names = {t.id: t.name for t in report.teams}
    tables.append(
        Table(
            "people",
            "People to look at",
            f"Everyone over a cap this week, and the {TOP_PEOPLE} highest weekly doses. "
            "Opening a person is recorded in the audit log.",
            [
                "Person",
                "Team",
                "Graphic minutes",
                "Dose",
                "Busiest day: graphic minutes",
                over_week_dose,
                hit_day_graphic,
            ],
            [
                [
                    Cell(p.name, person_link(p.user_id)),
                    Cell(team_names.get(p.team_id or 0, "No team")),
                    Cell(p.graphic_minutes),
                    Cell(p.dose),
                    Cell(p.busiest_day_graphic),
                    Cell(p.over_weekly_dose if c.weekly_dose is not None else None),
                    Cell(p.hit_daily_cap if c.daily_graphic is not None else None),
                ]
                for p in report.people
            ],
            text_columns=frozenset({0, 1}),
        )
    )
    return tables


# Cells a spreadsheet would run as a formula (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(heading: Sequence[str], tables: Sequence[Table]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(v) for v in heading])
    for table in tables:
        writer.writerow([])
        writer.writerow([csv_safe(table.title)])
        writer.writerow([csv_safe(h) for h in table.headers])
        for row in table.rows:
            writer.writerow([csv_safe(cell.text) for cell in row])
    return out.getvalue()


# -- charts ---------------------------------------------------------------------------------


def _graphic_and_dose(buckets: Sequence[Bucket]) -> list[charts.Series]:
    return [
        charts.Series("Graphic minutes", [b.graphic_minutes for b in buckets], charts.TEAL),
        charts.Series("Dose", [b.dose for b in buckets], charts.OCHRE),
    ]


def _busiest(buckets: Sequence[Bucket]) -> str:
    top = max(buckets, key=lambda b: b.graphic_minutes + b.dose, default=None)
    if top is None or top.graphic_minutes + top.dose == 0:
        return "No exposure recorded."
    return (
        f"Busiest: {top.long_label}, {top.graphic_minutes:.1f} graphic minutes "
        f"and dose {top.dose:.1f}."
    )


def my_day_charts(day: MyDay) -> dict[str, charts.Chart]:
    cap = day.caps.daily_graphic
    return {
        "hours": charts.bar_chart(
            "chart-today",
            title="Today, hour by hour: graphic minutes and dose",
            desc=f"Today so far: {day.today.graphic_minutes:.1f} graphic minutes and dose "
            f"{day.today.dose:.1f}. {_busiest(day.hours)}",
            labels=[b.label for b in day.hours],
            series=_graphic_and_dose(day.hours),
            unit="minutes",
            label_every=2,
        ),
        "days": charts.bar_chart(
            "chart-week",
            title="The last 7 days, day by day: graphic minutes and dose",
            desc=f"Last 7 days: {day.week.graphic_minutes:.1f} graphic minutes and dose "
            f"{day.week.dose:.1f}. {_busiest(day.days)}"
            + (f" The daily cap is {charts.number(cap)} graphic minutes." if cap else ""),
            labels=[b.label for b in day.days],
            series=_graphic_and_dose(day.days),
            unit="minutes",
            reference=charts.Reference(cap, f"Daily cap on graphic minutes ({charts.number(cap)})")
            if cap
            else None,
        ),
    }


def exposure_charts(report: ExposureReport) -> dict[str, charts.Chart]:
    labels = [f"{p.week.monday.day} {p.week.monday:%b}" for p in report.trend]
    last = report.trend[-1]
    threshold = report.caps.weekly_dose

    def lines(pick: Callable[[TrendPoint], Distribution]) -> list[charts.Series]:
        return [
            charts.Series("Median", [pick(p).median for p in report.trend], charts.TEAL),
            charts.Series("p90", [pick(p).p90 for p in report.trend], charts.PLUM, dashed=True),
        ]

    return {
        "graphic": charts.line_chart(
            "chart-trend-graphic",
            title=f"Weekly graphic minutes per person over {TREND_WEEKS} weeks: median and p90",
            desc=f"Week of {last.week.monday:%d %B}: median {last.graphic.median:.1f}, "
            f"p90 {last.graphic.p90:.1f} graphic minutes across {last.graphic.people} people.",
            labels=labels,
            series=lines(lambda p: p.graphic),
            unit="graphic minutes",
        ),
        "dose": charts.line_chart(
            "chart-trend-dose",
            title=f"Weekly dose per person over {TREND_WEEKS} weeks: median and p90",
            desc=f"Week of {last.week.monday:%d %B}: median {last.dose.median:.1f}, "
            f"p90 {last.dose.p90:.1f} across {last.dose.people} people."
            + (f" The weekly threshold is {charts.number(threshold)}." if threshold else ""),
            labels=labels,
            series=lines(lambda p: p.dose),
            unit="dose",
            reference=charts.Reference(
                threshold, f"Weekly dose threshold ({charts.number(threshold)})"
            )
            if threshold
            else None,
        ),
    }


# -- views ----------------------------------------------------------------------------------

bp = Blueprint("dashboards", __name__)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 2000, 2999


def _week_arg(tz: ZoneInfo, now: datetime) -> date:
    raw = request.args.get("week", "").strip()
    if not raw:
        return now.astimezone(tz).date()
    try:
        if not _ISO_DATE.match(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadInput("week must be a date written YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:  # and the trend's weeks stay on the calendar
        raise BadInput(f"week must be a date from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def _team_arg() -> Team | None:
    raw = request.args.get("team", "").strip()
    if raw in ("", "all"):
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise BadInput("team must be a team's number, or 'all'")
    team = db.session.get(Team, int(raw))
    if team is None:
        abort(404, description="No such team.")
    return team


def render_my_day() -> str:
    """The signed-in associate's own day; also what "/" shows them."""
    now = clock().now()
    pol = policy()
    day = my_day(db.session, pol, current_user.id, now)
    restriction = breaks.active_restriction(db.session, current_user.id, now)
    return render_template(
        "my_day.html",
        day=day,
        timezone=str(pol.timezone),
        charts=my_day_charts(day),
        restriction=restriction,
        seconds_left=restriction.seconds_left(now) if restriction else None,
        when=lambda instant: when(instant, pol.timezone),
    )


@bp.get("/me")
@roles_required("associate")
def my_day_page() -> str:
    return render_my_day()


def _report() -> tuple[ExposureReport, list[Table], datetime]:
    now = clock().now()
    pol = policy()
    day = _week_arg(pol.timezone, now)
    team = _team_arg()
    report = exposure_report(db.session, pol, day, team, now)
    tables = exposure_tables(report, lambda uid: url_for("people.show", user_id=uid))
    return report, tables, now


def _audit(report: ExposureReport, now: datetime, form: str) -> None:
    # Reading aggregates and named people's exposure is a read of wellbeing data.
    audit.record(
        db.session,
        "wellbeing.read_exposure",
        now,
        actor_id=current_user.id,
        remote_addr=request.remote_addr,
        week=report.week.monday.isoformat(),
        team_id=report.team.id if report.team else None,
        format=form,
    )
    db.session.commit()


def _query(report: ExposureReport, week: Week) -> dict[str, Any]:
    args: dict[str, Any] = {"week": week.monday.isoformat()}
    if report.team is not None:
        args["team"] = report.team.id
    return args


@bp.get("/exposure")
@roles_required("wellbeing")
def exposure() -> str:
    report, tables, now = _report()
    _audit(report, now, "html")
    tz = report.timezone
    current = Week.containing(now.astimezone(tz).date(), tz)
    return render_template(
        "exposure.html",
        report=report,
        tables={t.id: t for t in tables},
        charts=exposure_charts(report),
        csv_args=_query(report, report.week),
        previous_args=_query(report, report.week.shifted(-1, tz)),
        next_args=_query(report, report.week.shifted(1, tz))
        if report.week.monday < current.monday
        else None,
        current_week=report.week.monday == current.monday,
    )


@bp.get("/exposure.csv")
@roles_required("wellbeing")
def exposure_csv() -> Response:
    report, tables, now = _report()
    _audit(report, now, "csv")
    scope = report.team.name if report.team else "All teams"
    heading = [
        "Exposure",
        "week starting",
        report.week.monday.isoformat(),
        "scope",
        scope,
        "policy",
        report.policy_version,
        "time zone",
        str(report.timezone),
    ]
    name = f"exposure-{report.week.monday.isoformat()}-" + (
        f"team-{report.team.id}" if report.team else "all"
    )
    return Response(
        to_csv(heading, tables),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store, private",
        },
    )
