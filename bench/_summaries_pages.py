"""What bench/summaries.py times: each dashboard page's data, computed with
`exposure.summaries.totals` (rollups) or `totals_from_ledger` (raw table), and the answers
compared person by person."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from exposure import rollups
from exposure.models import ExposureRollup, User
from exposure.policy import Policy
from exposure.summaries import (
    Totals,
    distribution,
    people_in_scope,
    totals,
    totals_from_ledger,
)

TotalsFn = Callable[..., dict[int, Totals]]
SOURCES: dict[str, TotalsFn] = {"rollup": totals, "raw": totals_from_ledger}
TARGET_MS = 300.0
TREND_WEEKS = 8
# Float sums taken in another order differ around 1e-13; anything larger is a real error.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Scene:
    """The windows and people the pages ask about, all on whole hours: rollups answer for
    whole hours, so only hour-aligned windows can match the raw ledger exactly."""

    now: datetime
    week: tuple[datetime, datetime]  # the last 7 calendar days, today included
    weeks: tuple[tuple[datetime, datetime], ...]  # TREND_WEEKS weeks ending with `week`
    today: tuple[datetime, datetime]  # the calendar day (no events lie after "now")
    team_id: int
    team_size: int
    person_id: int


def make_scene(session: Session, policy: Policy, now: datetime) -> Scene:
    """The largest team, and its busiest associate today."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = midnight + timedelta(days=1)
    weeks = tuple(
        (end - timedelta(days=7 * (k + 1)), end - timedelta(days=7 * k))
        for k in reversed(range(TREND_WEEKS))
    )
    by_team: dict[int, int] = defaultdict(int)
    for team_id in session.scalars(select(User.team_id).where(User.team_id.is_not(None))):
        by_team[team_id] += 1
    team_id = max(by_team, key=lambda t: (by_team[t], -t))
    members = people_in_scope(session, team_id)
    today = totals(session, policy, midnight, now, user_ids=members)
    person = max(today, key=lambda u: (today[u].events, -u)) if today else members[0]
    return Scene(now, weeks[-1], weeks, (midnight, end), team_id, len(members), person)


class Recorder:
    """Calls one totals function, timing each call under a part of the page and keeping
    each answer under its own key for the comparison."""

    def __init__(self, fn: TotalsFn) -> None:
        self.fn = fn
        self.seconds: dict[str, float] = defaultdict(float)
        self.answers: dict[str, dict[int, Totals]] = {}

    def __call__(
        self,
        part: str,
        key: str,
        session: Session,
        policy: Policy,
        window: tuple[datetime, datetime],
        **kwargs: Any,
    ) -> dict[int, Totals]:
        t0 = time.perf_counter()
        answer = self.fn(session, policy, window[0], window[1], **kwargs)
        self.seconds[part] += time.perf_counter() - t0
        self.answers[key] = answer
        return answer


def _dist(values: list[float], cap: float | None) -> tuple[int, float, float, int]:
    d = distribution(values, cap)
    return (d.people, d.median, d.p90, d.over_cap)


def weekly_dose_cap(policy: Policy) -> float | None:
    caps = [r.threshold for r in policy.rules if r.metric == "dose" and r.window.kind == "week"]
    return min(caps) if caps else None


def wellbeing_page(session: Session, policy: Policy, scene: Scene, rec: Recorder) -> object:
    """Wellbeing "Exposure": per team, median and p90 of the week's dose and graphic
    minutes and how many are over the weekly dose cap; an 8-week trend of the same."""
    people = people_in_scope(session, None)
    team_of = dict(session.execute(select(User.id, User.team_id)).tuples().all())
    cap = weekly_dose_cap(policy)
    week = rec("week, all people", "week", session, policy, scene.week)
    by_team: dict[int | None, list[int]] = defaultdict(list)
    for user_id in people:
        by_team[team_of.get(user_id)].append(user_id)
    zero = Totals()
    teams = {
        team: (
            _dist([week.get(u, zero).dose for u in members], cap),
            _dist([week.get(u, zero).graphic_minutes for u in members], None),
        )
        for team, members in sorted(by_team.items(), key=lambda kv: kv[0] or 0)
    }
    trend = []
    for k, window in enumerate(scene.weeks):
        weekly = rec(
            f"{TREND_WEEKS}-week trend ({TREND_WEEKS} calls)", f"trend{k}", session, policy, window
        )
        trend.append(
            (
                _dist([weekly.get(u, zero).dose for u in people], cap),
                _dist([weekly.get(u, zero).graphic_minutes for u in people], None),
            )
        )
    return (teams, trend)


def lead_page(session: Session, policy: Policy, scene: Scene, rec: Recorder) -> object:
    """Lead "My team": each member's dose and graphic minutes today and this week."""
    members = people_in_scope(session, scene.team_id)
    today = rec("team today", "team-today", session, policy, scene.today, user_ids=members)
    week = rec("team 7 days", "team-week", session, policy, scene.week, user_ids=members)
    zero = Totals()
    return [(u, today.get(u, zero).rounded(), week.get(u, zero).rounded()) for u in members]


def my_day_page(session: Session, policy: Policy, scene: Scene, rec: Recorder) -> object:
    """Associate "My day": one person's dose and graphic minutes today and this week."""
    who = [scene.person_id]
    today = rec("person today", "me-today", session, policy, scene.today, user_ids=who)
    week = rec("person 7 days", "me-week", session, policy, scene.week, user_ids=who)
    zero = Totals()
    return (today.get(who[0], zero).rounded(), week.get(who[0], zero).rounded())


PAGES: dict[str, Callable[[Session, Policy, Scene, Recorder], object]] = {
    'Wellbeing "Exposure"': wellbeing_page,
    'Lead "My team"': lead_page,
    'Associate "My day"': my_day_page,
}


@dataclass
class Timing:
    page_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def median(self) -> float:
        return statistics.median(self.page_ms)

    def part(self, name: str) -> float:
        return statistics.median(self.parts_ms[name])


@dataclass
class Check:
    """Rollup answers against raw answers, per person, rounded as Totals.rounded()."""

    compared: int = 0  # person-answers compared
    differ: int = 0
    beyond_tolerance: int = 0  # differ by more than TOLERANCE, or in reveals or events
    max_abs_diff: float = 0.0  # largest unrounded difference in dose or graphic minutes
    examples: list[str] = field(default_factory=list)
    pages_equal: bool = True

    @property
    def identical(self) -> bool:
        return self.differ == 0 and self.pages_equal

    def summary(self) -> str:
        if self.identical:
            return "identical"
        if self.differ == 0:
            return "page output DIFFERS from the one computed from the raw ledger"
        if self.beyond_tolerance == 0:
            return (
                f"{self.differ} of {self.compared:,} differ in Totals.rounded() only "
                f"(max diff {self.max_abs_diff:.1e}: summation order), equal within {TOLERANCE:g}"
            )
        return f"DIFFERENT: {self.beyond_tolerance} of {self.compared:,} beyond {TOLERANCE:g}"


def compare(rollup: dict[str, dict[int, Totals]], raw: dict[str, dict[int, Totals]]) -> Check:
    check = Check()
    zero = Totals()
    for key in raw:
        a, b = rollup.get(key, {}), raw[key]
        for user_id in sorted(set(a) | set(b)):
            x, y = a.get(user_id, zero), b.get(user_id, zero)
            check.compared += 1
            diff = max(abs(x.dose - y.dose), abs(x.graphic_minutes - y.graphic_minutes))
            check.max_abs_diff = max(check.max_abs_diff, diff)
            if diff > TOLERANCE or (x.reveals, x.events) != (y.reveals, y.events):
                check.beyond_tolerance += 1
            if x.rounded() != y.rounded():
                check.differ += 1
                if len(check.examples) < 3:
                    check.examples.append(f"{key} user {user_id}: {x.rounded()} != {y.rounded()}")
    return check


@dataclass
class Measured:
    timings: dict[tuple[str, str], Timing]  # (page, source) -> timing
    check: Check
    raw_answers: dict[str, dict[int, Totals]]  # for checking other ways of answering
    raw_pages: dict[str, object]


def _run(
    engine: Engine, policy: Policy, scene: Scene, page: str, fn: TotalsFn
) -> tuple[float, Recorder, object]:
    rec = Recorder(fn)
    t0 = time.perf_counter()
    with Session(engine) as session:
        result = PAGES[page](session, policy, scene, rec)
        session.rollback()
    return time.perf_counter() - t0, rec, result


def _warm_up(
    engine: Engine, policy: Policy, scene: Scene, fn: TotalsFn
) -> tuple[dict[str, dict[int, Totals]], dict[str, object]]:
    """One untimed run of every page: its answers (per call) and page outputs."""
    answers: dict[str, dict[int, Totals]] = {}
    pages: dict[str, object] = {}
    for page in PAGES:
        _, rec, pages[page] = _run(engine, policy, scene, page, fn)
        answers.update({f"{page}/{k}": v for k, v in rec.answers.items()})
    return answers, pages


def measure(
    engine: Engine, policy: Policy, scene: Scene, repeats: int, raw_repeats: int
) -> Measured:
    """One untimed run of every page from each source (warm-up, and the answers compared),
    then interleaved timed runs: rollup and raw take turns, so load from other processes
    falls on both sides of a ratio."""
    timings: dict[tuple[str, str], Timing] = defaultdict(Timing)
    warm = {source: _warm_up(engine, policy, scene, fn) for source, fn in SOURCES.items()}
    for r in range(max(repeats, raw_repeats)):
        for page in PAGES:
            for source, fn in SOURCES.items():
                if r >= (repeats if source == "rollup" else raw_repeats):
                    continue
                seconds, rec, _ = _run(engine, policy, scene, page, fn)
                timing = timings[(page, source)]
                timing.page_ms.append(seconds * 1000)
                for part, s in rec.seconds.items():
                    timing.parts_ms[part].append(s * 1000)
    check = compare(warm["rollup"][0], warm["raw"][0])
    check.pages_equal = warm["rollup"][1] == warm["raw"][1]
    return Measured(dict(timings), check, warm["raw"][0], warm["raw"][1])


def measure_contenders(
    contenders: dict[str, tuple[Engine, TotalsFn]],
    policy: Policy,
    scene: Scene,
    repeats: int,
    against: Measured,
) -> dict[str, tuple[dict[str, Timing], Check]]:
    """Each page's data from other ways of answering, taking turns round by round, and
    their answers checked against the raw ones."""
    checks = {}
    for name, (engine, fn) in contenders.items():
        answers, pages = _warm_up(engine, policy, scene, fn)
        checks[name] = compare(answers, against.raw_answers)
        checks[name].pages_equal = pages == against.raw_pages
    timings: dict[str, dict[str, Timing]] = {name: defaultdict(Timing) for name in contenders}
    for _ in range(repeats):
        for page in PAGES:
            for name, (engine, fn) in contenders.items():
                seconds, rec, _ = _run(engine, policy, scene, page, fn)
                timing = timings[name][page]
                timing.page_ms.append(seconds * 1000)
                for part, sec in rec.seconds.items():
                    timing.parts_ms[part].append(sec * 1000)
    return {name: (dict(timings[name]), checks[name]) for name in contenders}


# --- Checks on the rollups themselves ------------------------------------------------------


def rebuild_agrees(engine: Engine, policy: Policy, since: datetime) -> tuple[int, int, float]:
    """The bench built the rollups with one GROUP BY; `exposure.rollups.rebuild` (the app's
    own path, one upsert per event) must give the same rows. Rebuilds the hours since
    `since` in a transaction that is rolled back. Returns (rows, rows differing, max diff)."""
    columns = (
        ExposureRollup.user_id,
        ExposureRollup.hour_start,
        ExposureRollup.category,
        ExposureRollup.level,
        ExposureRollup.modality,
        ExposureRollup.events,
        ExposureRollup.floored_seconds,
    )
    query = select(*columns).where(ExposureRollup.hour_start >= rollups.hour_of(since))
    with Session(engine) as session:
        before = {tuple(r[:5]): (r[5], r[6]) for r in session.execute(query)}
        rollups.rebuild(session, policy.min_event_seconds, since=since)
        after = {tuple(r[:5]): (r[5], r[6]) for r in session.execute(query)}
        session.rollback()
    differ, max_diff = 0, 0.0
    for key in set(before) | set(after):
        b, a = before.get(key, (0, 0.0)), after.get(key, (0, 0.0))
        max_diff = max(max_diff, abs(a[1] - b[1]))
        if a[0] != b[0] or abs(a[1] - b[1]) > 1e-6:
            differ += 1
    return len(before), differ, max_diff


def misaligned_window(engine: Engine, policy: Policy, scene: Scene) -> tuple[int, int]:
    """A 7-day window starting half past an hour, for all people: (people, people whose
    rollup answer differs from the raw one)."""
    start = scene.week[0] - timedelta(minutes=30)
    with Session(engine) as session:
        a = totals(session, policy, start, scene.week[1])
        b = totals_from_ledger(session, policy, start, scene.week[1])
    zero = Totals()
    people = set(a) | set(b)
    return len(people), sum(
        1 for u in people if a.get(u, zero).rounded() != b.get(u, zero).rounded()
    )
