"""What bench/summaries.py times: the data of each dashboard page, computed by the app's own
page functions, from each source the summaries can read (the daily tables with the hourly
rollups for partial days, as shipped; the hourly rollups alone; the raw ledger), and the
answers compared."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from exposure import daily, rollups, roster
from exposure.models import ExposureRollup, User
from exposure.policy import Policy
from exposure.summaries import Totals, people_in_scope, totals, totals_from_ledger
from wellbeing import dashboards

TARGET_MS = 300.0
# Float sums taken in another order differ around 1e-12; anything larger is a real error.
TOLERANCE = 1e-9
SOURCES = ("summaries", "hourly", "raw")
_FORCED = {"hourly": daily.Source.HOURS, "raw": daily.Source.LEDGER}


@contextlib.contextmanager
def reading_from(source: str) -> Iterator[None]:
    """Make the app's summaries read from one source: "summaries" is the app as shipped
    (the daily tables, built for the policy, plus hourly rollups for partial days)."""
    if source == "summaries":
        yield
        return
    original = daily.source_for
    daily.source_for = lambda session, policy: _FORCED[source]  # type: ignore[assignment]
    try:
        yield
    finally:
        daily.source_for = original  # type: ignore[assignment]


@dataclass(frozen=True)
class Scene:
    """What the pages are asked about: this week (Monday in the policy's time zone), the
    largest team and its busiest associate today."""

    now: datetime
    monday: date
    team_id: int
    team_size: int
    person_id: int


def make_scene(session: Session, policy: Policy, now: datetime) -> Scene:
    local = now.astimezone(policy.timezone).date()
    by_team: dict[int, int] = defaultdict(int)
    for team_id in session.scalars(select(User.team_id).where(User.team_id.is_not(None))):
        by_team[team_id] += 1
    team_id = max(by_team, key=lambda t: (by_team[t], -t))
    members = people_in_scope(session, team_id)
    basis = daily.Basis.of(policy)
    today = totals(session, policy, basis.start_of(local), now, user_ids=members)
    person = max(today, key=lambda u: (today[u].events, -u)) if today else members[0]
    monday = local - timedelta(days=local.weekday())
    return Scene(now, monday, team_id, len(members), person)


def wellbeing_page(session: Session, policy: Policy, scene: Scene) -> object:
    """Wellbeing "Exposure", all teams, this week: distributions per team and category,
    busiest days, the 8-week trend, breaks and check-ins."""
    return dashboards.exposure_report(session, policy, scene.monday, None, scene.now)


def lead_page(session: Session, policy: Policy, scene: Scene) -> object:
    """Lead "My team": each member's state and dose today against the daily cap."""
    return roster.team_roster(session, policy, scene.team_id, scene.now)


def my_day_page(session: Session, policy: Policy, scene: Scene) -> object:
    """Associate "My day": today by hour and the last 7 days by day."""
    return dashboards.my_day(session, policy, scene.person_id, scene.now)


PAGES: dict[str, Callable[[Session, Policy, Scene], object]] = {
    'Wellbeing "Exposure"': wellbeing_page,
    'Lead "My team"': lead_page,
    'Associate "My day"': my_day_page,
}


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """Where two page outputs differ: floats beyond TOLERANCE, anything else at all."""
    if isinstance(a, float) and isinstance(b, float):
        if abs(a - b) > TOLERANCE:
            yield f"{path}: {a!r} != {b!r}"
    elif dataclasses.is_dataclass(a) and type(a) is type(b):
        for f in dataclasses.fields(a):
            yield from differences(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, f"{path}[{i}]")
    elif isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for key in a:
            yield from differences(a[key], b[key], f"{path}[{key!r}]")
    elif hasattr(a, "__table__") and type(a) is type(b):  # a row: the same row, by key
        if inspect(a).identity != inspect(b).identity:
            yield f"{path}: {type(a).__name__} {inspect(a).identity} != {inspect(b).identity}"
    elif a != b:
        yield f"{path}: {a!r} != {b!r}"


@dataclass
class Check:
    """One source's answers against the raw ledger's."""

    pages_differing: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    people: int = 0  # per-person weekly totals compared
    people_differ: int = 0  # beyond TOLERANCE, or in reveals or events
    max_abs_diff: float = 0.0

    @property
    def equal(self) -> bool:
        return not self.pages_differing and self.people_differ == 0


def week_totals_check(engine: Engine, policy: Policy, scene: Scene) -> Check:
    """Every associate's totals for this week and each of the 7 weeks before, as shipped
    against the raw ledger."""
    check = Check()
    basis = daily.Basis.of(policy)
    zero = Totals()
    with Session(engine) as session:
        for back in range(dashboards.TREND_WEEKS):
            monday = scene.monday - timedelta(weeks=back)
            window = (basis.start_of(monday), basis.start_of(monday + timedelta(days=7)))
            ours = totals(session, policy, *window)
            raw = totals_from_ledger(session, policy, *window)
            for user_id in set(ours) | set(raw):
                x, y = ours.get(user_id, zero), raw.get(user_id, zero)
                diff = max(abs(x.dose - y.dose), abs(x.graphic_minutes - y.graphic_minutes))
                check.people += 1
                check.max_abs_diff = max(check.max_abs_diff, diff)
                if diff > TOLERANCE or (x.reveals, x.events) != (y.reveals, y.events):
                    check.people_differ += 1
                    if len(check.examples) < 3:
                        check.examples.append(f"week of {monday} user {user_id}: {x} != {y}")
    return check


@dataclass
class Timing:
    page_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.page_ms)


@dataclass
class Measured:
    timings: dict[tuple[str, str], Timing]  # (page, source) -> timing
    checks: dict[str, Check]  # source -> its answers against the raw ones
    runs: dict[str, int]  # source -> timed runs


def _run(engine: Engine, policy: Policy, scene: Scene, page: str, source: str) -> Any:
    with reading_from(source), Session(engine) as session:
        t0 = time.perf_counter()
        result = PAGES[page](session, policy, scene)
        seconds = time.perf_counter() - t0
        session.rollback()
    return seconds, result


def measure(
    engine: Engine, policy: Policy, scene: Scene, repeats: int, slow_repeats: int
) -> Measured:
    """One untimed run of every page from each source (warm-up, and the answers compared),
    then timed runs in turns, so load from other processes falls on every source alike."""
    outputs: dict[tuple[str, str], object] = {}
    for page in PAGES:
        for source in SOURCES:
            outputs[page, source] = _run(engine, policy, scene, page, source)[1]
    checks = {}
    for source in SOURCES[:-1]:
        check = Check()
        for page in PAGES:
            found = list(differences(outputs[page, source], outputs[page, "raw"]))
            if found:
                check.pages_differing.append(page)
                check.examples += found[:3]
        checks[source] = check
    runs = {s: repeats if s == "summaries" else slow_repeats for s in SOURCES}
    timings: dict[tuple[str, str], Timing] = defaultdict(Timing)
    for r in range(max(runs.values())):
        for page in PAGES:
            for source in SOURCES:
                if r < runs[source]:
                    seconds, _ = _run(engine, policy, scene, page, source)
                    timings[page, source].page_ms.append(seconds * 1000)
    return Measured(dict(timings), checks, runs)


def build_daily(engine: Engine, policy: Policy, now: datetime) -> tuple[float, int, int]:
    """The daily tables, built by the app's own rebuild (what the scheduler does after a
    policy change). Returns (seconds, steps, rows per person-day)."""
    t0 = time.perf_counter()
    with Session(engine) as session:
        steps = daily.rebuild(session, policy, now)
        session.commit()
        seconds = time.perf_counter() - t0
        assert daily.source_for(session, policy) is daily.Source.DAYS
        from exposure.models import ExposureDay

        rows = session.scalar(select(func.count()).select_from(ExposureDay)) or 0
    return seconds, steps, rows


def rebuild_agrees(engine: Engine, policy: Policy, since: datetime) -> tuple[int, int, float]:
    """The bench built the rollups with its own GROUP BY; `exposure.rollups.rebuild` (what
    the app runs after a floor change) must give the same rows. Rebuilds the hours since
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
        rollups.rebuild(
            session, policy.min_event_seconds, rollups.hour_of(since), since + timedelta(days=1)
        )
        after = {tuple(r[:5]): (r[5], r[6]) for r in session.execute(query)}
        session.rollback()
    differ, max_diff = 0, 0.0
    for key in set(before) | set(after):
        b, a = before.get(key, (0, 0.0)), after.get(key, (0, 0.0))
        max_diff = max(max_diff, abs(a[1] - b[1]))
        if a[0] != b[0] or abs(a[1] - b[1]) > 1e-6:
            differ += 1
    return len(before), differ, max_diff
