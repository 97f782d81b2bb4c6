"""The daily exposure tables give dashboards the same numbers as the raw ledger: after a
rebuild, as views and heartbeats are written through, in time zones with DST and half
hours, while the basis moves to a new policy step by step, and under concurrent writers."""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from exposure import attachments, daily, ledger, rollups, summaries
from exposure.categories import CATEGORIES, primary_category
from exposure.models import (
    Attachment,
    ExposureDay,
    ExposureEvent,
    ExposureRollup,
    ExposureWeek,
    ExposureWeekCategory,
    User,
    UserRole,
)
from exposure.policy import Policy, default_policy_text, parse_policy
from exposure.storage import make_engine
from tests.exposure.conftest import register_items

Step, Source = daily.Step, daily.Source
T = TypeVar("T")

# Items: one per category set; the last one is not flagged (category "clear").
CATEGORY_SETS = [["graphic_violence"], ["child_abuse"], ["hate_speech", "murder"], ["nudity"], []]
MODALITIES = ["image", "animation", "video", "audio"]
SETTLE = timedelta(seconds=30)


def make_policy(
    *, timezone: str = "UTC", floor: float | None = None, weights: dict[str, float] | None = None
) -> Policy:
    """The default policy with its time zone, floor on short events or weights edited."""
    text, n = re.subn(r'(?m)^timezone = "UTC"$', f'timezone = "{timezone}"', default_policy_text())
    assert n == 1
    if floor is not None:
        text, n = re.subn(r"min_event_seconds = [0-9.]+", f"min_event_seconds = {floor}", text)
        assert n == 1
    for name, weight in (weights or {}).items():
        text, n = re.subn(rf"(\[categories\.{name}\]\nweight = )[0-9.]+", rf"\g<1>{weight}", text)
        assert n == 1
    return parse_policy(text)


UTC_POLICY = make_policy()
_worlds = itertools.count()


class Views:
    """People and items, and views recorded through the ledger as the viewer records them,
    with whichever basis the worker currently holds."""

    def __init__(self, session: Session, policy: Policy, people: int = 3) -> None:
        self.session = session
        self.basis = daily.Basis.of(policy)
        self.serial = 0
        at = datetime(2026, 1, 1, tzinfo=UTC)
        tag = next(_worlds)  # unique names, so one database can hold several worlds
        self.people = []
        for i in range(people):
            user = User(
                username=f"p{tag}-{i}",
                display_name=f"Person {i}",
                password_hash="unused",
                session_token=f"s{tag}-{i}",
                created_at=at,
                role_rows=[UserRole(role="associate")],
            )
            session.add(user)
            session.flush()
            self.people.append(user.id)
        self.items: list[Attachment] = register_items(session, CATEGORY_SETS, at, tag=str(tag))

    def view(
        self,
        person: int,
        item: int,
        at: datetime,
        *,
        seconds: float = 0.0,
        level: int = 3,
        modality: str = "image",
        event_id: str | None = None,
    ) -> str:
        """A view at `at`, kept on screen for `seconds` by two heartbeats."""
        self.serial += 1
        eid = event_id or f"evt-{self.serial:06d}"
        att = self.items[item]
        ledger.record_view(
            self.session,
            self.people[person],
            att,
            level=min(level, attachments.max_level(att, CATEGORIES)),
            region=None,
            modality=modality,
            client_event_id=eid,
            now=at,
            basis=self.basis,
        )
        if seconds:
            self.beat(person, eid, at + timedelta(seconds=seconds / 2))
            self.beat(person, eid, at + timedelta(seconds=seconds))
        return eid

    def beat(self, person: int, eid: str, at: datetime) -> None:
        ledger.heartbeat(
            self.session,
            self.people[person],
            eid,
            at,
            grace_seconds=3600,
            cap_seconds=3600,
            basis=self.basis,
        )

    def history(self, first: datetime, days: int, *, per_day: int = 1, seed: int = 7) -> None:
        """Views from before the daily tables existed, a few a day per person at random
        times, short glances among them: in the ledger and the hourly rollups, as the
        ledger wrote them (straight in, which is quicker)."""
        rng = random.Random(seed)
        for d in range(days):
            for person in range(len(self.people)):
                for _ in range(per_day):
                    self.serial += 1
                    att = self.items[rng.randrange(len(self.items))]
                    at = first + timedelta(days=d, minutes=rng.randrange(24 * 60 - 70))
                    seconds = float(rng.choice([0, 4, 25, 300, 1500, 3600]))
                    event = ExposureEvent(
                        user_id=self.people[person],
                        attachment_id=att.id,
                        client_event_id=f"evt-{self.serial:06d}",
                        category=primary_category(att.categories) if att.categories else "clear",
                        severity=att.severity,
                        level=min(rng.randrange(5), attachments.max_level(att, CATEGORIES)),
                        region=None,
                        modality=rng.choice(MODALITIES),
                        started_at=at,
                        last_seen_at=at + timedelta(seconds=seconds),
                        duration_seconds=seconds,
                    )
                    self.session.add(event)
                    self.session.flush()
                    rollups.add_event(self.session, event, self.basis.floor_seconds)


# -- comparing with the raw ledger -------------------------------------------------------------


def assert_same(a: dict[Any, summaries.Totals], b: dict[Any, summaries.Totals]) -> None:
    """Same people, same counts, sums equal up to float addition order."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        assert (x.reveals, x.events) == (y.reveals, y.events), key
        assert x.dose == pytest.approx(y.dose, rel=1e-12, abs=1e-9), key
        assert x.graphic_minutes == pytest.approx(y.graphic_minutes, rel=1e-12, abs=1e-9), key


def raw_day(session: Session, policy: Policy, day: date) -> dict[int, summaries.Totals]:
    basis = daily.Basis.of(policy)
    return summaries.totals_from_ledger(
        session, policy, basis.start_of(day), basis.start_of(day + timedelta(days=1))
    )


def assert_days_equal_raw(
    session: Session, policy: Policy, first: date, last: date
) -> dict[int, summaries.Totals]:
    """`totals`, `totals_by_category` and `totals_by_day` over the local days [first, last)
    equal the raw ledger's answers; returns the raw totals."""
    basis = daily.Basis.of(policy)
    start, end = basis.start_of(first), basis.start_of(last)
    raw = summaries.totals_from_ledger(session, policy, start, end)
    assert_same(summaries.totals(session, policy, start, end), raw)
    raw_by_category = {
        name: found
        for name in session.scalars(select(ExposureEvent.category).distinct())
        if (found := summaries.totals_from_ledger(session, policy, start, end, categories=[name]))
    }
    by_category = summaries.totals_by_category(session, policy, start, end)
    assert by_category.keys() == raw_by_category.keys()
    for name, found in by_category.items():
        assert_same(found, raw_by_category[name])
        assert_same(summaries.totals(session, policy, start, end, categories=[name]), found)
    by_day = summaries.totals_by_day(session, policy, first, last)
    assert list(by_day) == [first + timedelta(days=n) for n in range((last - first).days)]
    for day, found in by_day.items():
        assert_same(found, raw_day(session, policy, day))
    return raw


def day_rows(session: Session) -> list[tuple[Any, ...]]:
    days = session.execute(
        select(ExposureDay.day, ExposureDay.user_id, ExposureDay.events, ExposureDay.dose)
    ).all()
    weeks = session.execute(
        select(ExposureWeek.week, ExposureWeek.user_id, ExposureWeek.events, ExposureWeek.dose)
    ).all()
    cats = session.execute(
        select(
            ExposureWeekCategory.week,
            ExposureWeekCategory.user_id,
            ExposureWeekCategory.category,
            ExposureWeekCategory.events,
            ExposureWeekCategory.dose,
        )
    ).all()
    return [
        *sorted(tuple(r) for r in days),
        *sorted(tuple(r) for r in weeks),
        *sorted(tuple(r) for r in cats),
    ]


def total_events(found: dict[int, summaries.Totals]) -> int:
    return sum(t.events for t in found.values())


def total_dose(found: dict[int, summaries.Totals]) -> float:
    return sum(t.dose for t in found.values())


# -- pure: which days lie wholly inside a window --------------------------------------------


def test_whole_days_are_the_local_days_inside_the_window() -> None:
    utc = daily.Basis.of(UTC_POLICY)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert daily.whole_days(utc, day + timedelta(hours=6), day + timedelta(hours=18)) is None
    assert daily.whole_days(utc, day + timedelta(hours=6), day + timedelta(hours=29)) is None
    assert daily.whole_days(utc, day, day + timedelta(days=1)) == (
        date(2026, 3, 2),
        date(2026, 3, 3),
    )
    week = daily.whole_days(utc, day + timedelta(hours=6), day + timedelta(days=7, hours=6))
    assert week == (date(2026, 3, 3), date(2026, 3, 9))
    # New York's 8 March 2026 has 23 hours: its midnights are 05:00 and 04:00 UTC.
    ny = daily.Basis.of(make_policy(timezone="America/New_York"))
    short_day = (datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC))
    assert daily.whole_days(ny, *short_day) == (date(2026, 3, 8), date(2026, 3, 9))
    assert daily.whole_days(ny, *(t + timedelta(hours=1) for t in short_day)) is None
    a_day_later = (datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 9, 6, tzinfo=UTC))
    assert daily.whole_days(ny, *a_day_later) is None  # 24 hours, but no whole local day
    # Kolkata's days start at 18:30 UTC; the rest of a window then splits an hour, which
    # summaries read from the raw ledger (tested with data below).
    india = daily.Basis.of(make_policy(timezone="Asia/Kolkata"))
    midnight = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    assert daily.whole_days(india, midnight, midnight + timedelta(days=7)) == (
        date(2026, 3, 2),
        date(2026, 3, 9),
    )
    assert daily.whole_days(india, day + timedelta(hours=6), day + timedelta(days=7)) == (
        date(2026, 3, 3),
        date(2026, 3, 9),
    )


# -- database: rebuild, write-through, time zones --------------------------------------------


NOW = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)  # 22:00 on 29 March in New York
FIRST = datetime(2026, 3, 2, tzinfo=UTC)


def test_rebuilt_days_equal_the_ledger_and_stay_equal_as_views_are_written(
    session: Session,
) -> None:
    policy = UTC_POLICY
    views = Views(session, policy)
    views.history(FIRST, 10)
    rebuilt_at = datetime(2026, 3, 11, 23, 0, tzinfo=UTC)
    assert daily.rebuild(session, policy, rebuilt_at) >= 3
    assert daily.source_for(session, policy) is Source.DAYS
    before = assert_days_equal_raw(session, policy, FIRST.date(), date(2026, 3, 13))
    assert total_events(before) == 10 * 3

    # A colour view of graphic violence that starts ten minutes before midnight and stays
    # on screen for half an hour: all of it belongs to the day it started.
    evening, night = date(2026, 3, 11), date(2026, 3, 12)
    was = summaries.totals_by_day(session, policy, evening, night + timedelta(days=1))
    late = views.view(0, 0, rebuilt_at + timedelta(minutes=50), level=4)
    views.beat(0, late, rebuilt_at + timedelta(minutes=65))  # 00:05 the next day
    views.beat(0, late, rebuilt_at + timedelta(minutes=80))
    views.view(0, 0, rebuilt_at + timedelta(minutes=50), level=4, event_id=late)  # a retry
    now = summaries.totals_by_day(session, policy, evening, night + timedelta(days=1))
    person = views.people[0]
    grew = now[evening][person].graphic_minutes - was[evening][person].graphic_minutes
    assert grew == pytest.approx(30.0)
    assert now[evening][person].events == was[evening][person].events + 1
    assert now[night] == was[night] == {}
    assert_days_equal_raw(session, policy, FIRST.date(), date(2026, 3, 13))

    # More views, glances and heartbeats over the next day, all written through.
    rng = random.Random(3)
    at = rebuilt_at + timedelta(hours=2)
    for n in range(40):
        at += timedelta(minutes=rng.randrange(1, 40))
        views.view(
            n % 3, n % len(CATEGORY_SETS), at, seconds=rng.choice([0, 3, 12, 400]), level=n % 5
        )
    after = assert_days_equal_raw(session, policy, FIRST.date(), date(2026, 3, 14))
    assert total_events(after) == total_events(before) + 41


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", date(2026, 3, 8)),  # clocks go forward: a 23-hour day
        ("America/New_York", date(2026, 11, 1)),  # clocks go back: a 25-hour day
        ("Asia/Kolkata", date(2026, 3, 8)),  # UTC+05:30: days start at 18:30 UTC
    ],
)
def test_days_follow_the_policy_time_zone(session: Session, zone: str, day: date) -> None:
    policy = make_policy(timezone=zone)
    basis = daily.Basis.of(policy)
    views = Views(session, policy, people=4)
    start = basis.start_of(day - timedelta(days=1))

    def busy(first: datetime, count: int) -> None:
        for n in range(count):
            views.view(
                n % 3,
                n % len(CATEGORY_SETS),
                first + timedelta(minutes=47 * n),
                seconds=[0, 5, 90, 700][n % 4],
                level=n % 5,
                modality=MODALITIES[n % 4],
            )

    busy(start, 40)  # before the rebuild
    rebuilt_at = start + timedelta(minutes=47 * 40)
    daily.rebuild(session, policy, rebuilt_at)
    assert daily.source_for(session, policy) is Source.DAYS
    busy(rebuilt_at + timedelta(minutes=5), 48)  # written through

    # One person views only at ten to midnight and ten past, local time.
    tz = policy.timezone
    owl = 3
    for local in (
        datetime(day.year, day.month, day.day, 23, 50, tzinfo=tz),
        datetime(day.year, day.month, day.day, 0, 10, tzinfo=tz) + timedelta(days=1),
    ):
        views.view(owl, 0, local.astimezone(UTC), seconds=120, level=4)
    by_day = summaries.totals_by_day(session, policy, day, day + timedelta(days=2))
    assert by_day[day][views.people[owl]].events == 1
    assert by_day[day + timedelta(days=1)][views.people[owl]].events == 1
    assert by_day[day][views.people[owl]].graphic_minutes == pytest.approx(2.0)

    first, last = day - timedelta(days=1), day + timedelta(days=3)
    raw = assert_days_equal_raw(session, policy, first, last)
    assert total_events(raw) == 40 + 48 + 2
    for n in range((last - first).days):
        one = first + timedelta(days=n)
        assert_days_equal_raw(session, policy, one, one + timedelta(days=1))


# -- database: a new policy, built step by step -----------------------------------------------


def _steps_until_current(
    session: Session, policy: Policy, now: datetime, between: Callable[[Step], None]
) -> list[Step]:
    steps = []
    while True:
        step = daily.maintain(session, policy, now, settle=SETTLE)
        steps.append(step)
        between(step)
        if step is Step.CURRENT or len(steps) > 50:
            return steps


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"weights": {"graphic_violence": 7.0, "nudity": 0.5}}, id="weights"),
        pytest.param({"timezone": "America/New_York"}, id="timezone"),
        pytest.param({"timezone": "Asia/Kolkata"}, id="timezone-ahead"),
    ],
)
def test_a_new_policy_is_built_step_by_step_and_read_correctly_throughout(
    session: Session, change: dict[str, Any]
) -> None:
    old, new = UTC_POLICY, make_policy(**change)
    views = Views(session, old)
    early = FIRST - timedelta(hours=4)  # 20:00 UTC: already the next day in Kolkata
    views.view(0, 0, early, seconds=60, level=4)
    views.history(FIRST, 28)
    views.view(1, 0, NOW - timedelta(minutes=30), seconds=600, level=4)  # after UTC midnight
    daily.rebuild(session, old, NOW)
    new_basis = daily.Basis.of(new)
    first, last = new_basis.day_of(early) - timedelta(days=1), date(2026, 3, 31)
    old_answer = assert_days_equal_raw(session, old, early.date(), last)
    assert daily.source_for(session, new) is Source.HOURS
    if "timezone" not in change:  # whole days of other zones are not whole UTC hours
        assert_days_equal_raw(session, new, first, last)

    t0 = NOW + timedelta(minutes=10)
    assert daily.maintain(session, new, t0, settle=SETTLE) is Step.PENDING
    assert daily.maintain(session, new, t0 + timedelta(seconds=29), settle=SETTLE) is Step.PENDING
    # Workers now hold the new policy: their views reach the ledger and the hourly rollups,
    # but not the daily rows, which are still built with the old terms.
    views.basis = new_basis
    frozen = day_rows(session)
    eid = views.view(2, 0, t0, seconds=200, level=4)
    views.view(0, 1, t0 + timedelta(seconds=5), level=3)
    views.view(2, 0, t0, level=4, event_id=eid)
    assert day_rows(session) == frozen
    assert daily.source_for(session, old) is Source.DAYS
    assert daily.source_for(session, new) is Source.HOURS
    if "timezone" not in change:
        assert_days_equal_raw(session, new, first, last)

    written = 0

    def between(step: Step) -> None:
        nonlocal written
        if step is Step.CURRENT:
            return
        expected = Source.DAYS if step is Step.COMPLETE else Source.HOURS
        assert daily.source_for(session, new) is expected
        # Views keep arriving while older days are rebuilt.
        views.view(written % 3, written % 5, t0 + timedelta(minutes=1 + written), seconds=30)
        written += 1
        if expected is Source.DAYS or "timezone" not in change:
            assert_days_equal_raw(session, new, first, last)

    steps = _steps_until_current(session, new, t0 + SETTLE, between)
    progress = steps.count(Step.PROGRESS)
    assert steps == [Step.STARTED] + [Step.PROGRESS] * progress + [Step.COMPLETE, Step.CURRENT]
    assert progress >= 3  # four weeks of history, a week at a time

    assert daily.source_for(session, new) is Source.DAYS
    assert daily.source_for(session, old) is not Source.DAYS
    new_answer = assert_days_equal_raw(session, new, first, last)
    assert total_events(new_answer) == total_events(old_answer) + 2 + written
    if "weights" in change:  # what the dashboards show changed with the weights
        by_category = summaries.totals_by_category(session, new, FIRST, NOW - timedelta(hours=2))
        before = summaries.totals_from_ledger(
            session, old, FIRST, NOW - timedelta(hours=2), categories=["graphic_violence"]
        )
        assert total_dose(by_category["graphic_violence"]) == pytest.approx(
            total_dose(before) * 2.0
        )
    else:  # days now start at local midnight; nothing is left on the old UTC days
        late = new_basis.day_of(NOW - timedelta(minutes=30))
        by_day = summaries.totals_by_day(session, new, first, late + timedelta(days=2))
        assert by_day[first] == {}
        assert views.people[0] in by_day[new_basis.day_of(early)]
        assert views.people[1] in by_day[late]
        assert by_day[late + timedelta(days=1)] == {}


def test_a_new_floor_is_read_from_the_ledger_until_the_hours_are_rebuilt(
    session: Session,
) -> None:
    old, new = UTC_POLICY, make_policy(floor=45)
    views = Views(session, old)
    views.history(FIRST, 21, per_day=2)
    daily.rebuild(session, old, NOW)
    first, last = FIRST.date(), date(2026, 3, 31)
    start, end = FIRST, datetime(2026, 3, 31, tzinfo=UTC)
    odd = (FIRST + timedelta(hours=6), FIRST + timedelta(days=21, hours=6))  # not whole days

    def equal_to_raw_with_new_floor() -> None:
        assert_same(
            summaries.totals(session, new, start, end),
            summaries.totals_from_ledger(session, new, start, end),
        )
        assert_same(
            summaries.totals(session, new, *odd),
            summaries.totals_from_ledger(session, new, *odd),
        )

    assert daily.source_for(session, new) is Source.LEDGER
    equal_to_raw_with_new_floor()
    # Glances now count 45 seconds rather than 10: the dashboards show more.
    assert total_dose(summaries.totals(session, new, start, end)) > total_dose(
        summaries.totals_from_ledger(session, old, start, end)
    )

    t0 = NOW + timedelta(minutes=10)
    assert daily.maintain(session, new, t0, settle=SETTLE) is Step.PENDING
    views.basis = daily.Basis.of(new)
    views.view(0, 0, t0, level=4)  # a glance under the new floor
    assert daily.source_for(session, new) is Source.LEDGER
    equal_to_raw_with_new_floor()
    written = 0

    def between(step: Step) -> None:
        nonlocal written
        if step in (Step.COMPLETE, Step.CURRENT):
            assert daily.source_for(session, new) is Source.DAYS
            return
        assert daily.source_for(session, new) is Source.LEDGER
        views.view(written % 3, written % 5, t0 + timedelta(minutes=1 + written), seconds=20)
        written += 1
        equal_to_raw_with_new_floor()

    steps = _steps_until_current(session, new, t0 + SETTLE, between)
    assert Step.STARTED in steps and steps.count(Step.PROGRESS) >= 2
    assert steps[-2:] == [Step.COMPLETE, Step.CURRENT]
    equal_to_raw_with_new_floor()
    assert_days_equal_raw(session, new, first, last)

    # The hourly rollups now hold every hour floored at 45 seconds, as the ledger says.
    expected: dict[tuple[Any, ...], list[float]] = {}
    for e in session.scalars(select(ExposureEvent)):
        key = (e.user_id, rollups.hour_of(e.started_at), e.category, e.level, e.modality)
        row = expected.setdefault(key, [0, 0.0, 0.0])
        row[0] += 1
        row[1] += e.duration_seconds
        row[2] += max(e.duration_seconds, 45.0)
    stored = {
        (r.user_id, r.hour_start, r.category, r.level, r.modality): [
            r.events,
            r.seconds,
            r.floored_seconds,
        ]
        for r in session.scalars(select(ExposureRollup))
    }
    assert stored.keys() == expected.keys()
    for key, (events, seconds, floored) in expected.items():
        assert stored[key][0] == events
        assert stored[key][1] == pytest.approx(seconds, abs=1e-9)
        assert stored[key][2] == pytest.approx(floored, abs=1e-9), key


# -- windows that are not whole days ---------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_windows_that_are_not_whole_days_equal_the_ledger(session: Session, zone: str) -> None:
    policy = make_policy(timezone=zone)
    views = Views(session, policy)
    views.history(FIRST, 9)
    for d in range(9):  # next to midnight in New York (04:00/05:00) and Kolkata (18:30)
        for n, minute in enumerate([4 * 60 + 50, 5 * 60 + 10, 18 * 60 + 10, 18 * 60 + 45]):
            views.view(n % 3, d % 4, FIRST + timedelta(days=d, minutes=minute), seconds=60)
    daily.rebuild(session, policy, FIRST + timedelta(days=10))
    assert daily.source_for(session, policy) is Source.DAYS
    basis = daily.Basis.of(policy)
    for start, end in [
        (FIRST + timedelta(hours=6), FIRST + timedelta(days=7, hours=6)),
        (FIRST + timedelta(hours=19), FIRST + timedelta(days=8, hours=18)),
        (FIRST + timedelta(days=2, hours=3), FIRST + timedelta(days=2, hours=23)),
    ]:
        raw = summaries.totals_from_ledger(session, policy, start, end)
        assert total_events(raw) > 0
        assert_same(summaries.totals(session, policy, start, end), raw)
        found = summaries.totals_by_category(session, policy, start, end)
        for name, per_person in found.items():
            assert_same(
                per_person,
                summaries.totals_from_ledger(session, policy, start, end, categories=[name]),
            )
        if (end - start) < timedelta(days=1):
            assert daily.whole_days(basis, start, end) is None


# -- property: any sequence of views, retries and heartbeats, rebuilt at any point -----------


step = st.tuples(
    st.sampled_from(["view", "retry", "beat", "beat"]),
    st.integers(0, 2),  # person
    st.integers(0, len(CATEGORY_SETS) - 1),  # item
    st.integers(0, 4),  # level
    st.integers(1, 3 * 3600),  # seconds to advance before the step
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(step, min_size=1, max_size=25),
    st.integers(0, 25),
    st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]),
)
def test_days_equal_the_ledger_whenever_they_were_rebuilt(
    db_url: str, steps: list[tuple[str, int, int, int, int]], rebuild_at: int, zone: str
) -> None:
    policy = make_policy(timezone=zone)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            views = Views(session, policy)
            now = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # the night before New York's DST
            ids: list[tuple[int, str, int, int]] = []
            for n, (kind, person, item, level, advance) in enumerate(steps):
                if n == rebuild_at:
                    daily.rebuild(session, policy, now)
                now += timedelta(seconds=advance)
                if kind == "retry" and ids:
                    p, eid, i, lv = ids[n % len(ids)]
                    views.view(p, i, now, level=lv, event_id=eid)
                elif kind == "beat" and ids:
                    p, eid, _, _ = ids[-1 - n % len(ids)]
                    views.beat(p, eid, now)
                else:
                    ids.append((person, views.view(person, item, now, level=level), item, level))
            if rebuild_at >= len(steps):
                daily.rebuild(session, policy, now)
            assert daily.source_for(session, policy) is Source.DAYS
            basis = daily.Basis.of(policy)
            first = basis.day_of(datetime(2026, 3, 7, 20, 0, tzinfo=UTC))
            raw = assert_days_equal_raw(session, policy, first, basis.day_of(now) + timedelta(1))
            assert total_events(raw) == len({(p, eid) for p, eid, _, _ in ids})
            session.rollback()
    finally:
        engine.dispose()


# -- concurrency: writers while the basis moves to a new policy -------------------------------


def _transient(exc: DBAPIError) -> bool:
    """Deadlock, serialization failure or a busy SQLite file: the transaction may be retried."""
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01") or "locked" in str(exc.orig)


def _retrying(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    for attempt in range(30):
        with factory() as s:
            try:
                result = work(s)
                s.commit()
                return result
            except DBAPIError as exc:
                s.rollback()
                if not _transient(exc):
                    raise
        time.sleep(0.005 * attempt)
    raise AssertionError("a transaction kept failing")


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(any_db_url)
    yield sessionmaker(engine)
    engine.dispose()


def test_writers_during_a_switch_to_a_new_policy_lose_and_double_nothing(
    factory: sessionmaker[Session],
) -> None:
    old = UTC_POLICY
    new = make_policy(weights={"graphic_violence": 6.0, "hate_speech": 3.0})
    with factory() as session:
        views = Views(session, old)
        views.history(FIRST, 21)
        daily.rebuild(session, old, NOW)
        session.commit()
        people, item_ids = views.people, [a.id for a in views.items]
    threads_n, per_thread = 4, 25
    started = threading.Barrier(threads_n + 1)
    steps: list[Step] = []
    errors: list[BaseException] = []
    committed: list[int] = []  # one entry per writer transaction committed
    at_start: list[int] = []  # how many had been committed when each step committed
    going = threading.Event()

    def write(t: int) -> None:
        basis = daily.Basis.of(new)  # this worker already holds the new policy
        started.wait()
        for n in range(per_thread):
            at = NOW - timedelta(hours=20) + timedelta(minutes=7 * n + t)
            eid = f"evt-w{t}-{n:03d}"
            item = item_ids[(t + n) % 3]

            def one(s: Session, at: datetime = at, eid: str = eid, item: int = item) -> None:
                att = s.get(Attachment, item)
                assert att is not None
                for _ in range(2):  # the client retries after a lost answer
                    ledger.record_view(
                        s,
                        people[t % 3],
                        att,
                        level=3,
                        region=None,
                        modality="image",
                        client_event_id=eid,
                        now=at,
                        basis=basis,
                    )
                for seconds in (8, 40):
                    ledger.heartbeat(
                        s,
                        people[t % 3],
                        eid,
                        at + timedelta(seconds=seconds),
                        grace_seconds=60,
                        cap_seconds=3600,
                        basis=basis,
                    )

            _retrying(factory, one)
            committed.append(t)
            if len(committed) >= 10:
                going.set()
            time.sleep(0.01)  # as between requests: SQLite's lock is not handed out fairly

    def switch() -> None:
        started.wait()
        going.wait(timeout=60)  # the writers are under way
        while not steps or steps[-1] is not Step.CURRENT:
            steps.append(
                _retrying(factory, lambda s: daily.maintain(s, new, NOW, settle=timedelta(0)))
            )
            at_start.append(len(committed))
            time.sleep(0.02)  # the scheduler commits between steps; writers get in between

    def guarded(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(write, t)) for t in range(threads_n)]
    threads.append(threading.Thread(target=guarded(switch)))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors
    assert Step.STARTED in steps and steps[-2:] == [Step.COMPLETE, Step.CURRENT]
    # The switch happened while views were being written, not before or after them all.
    assert 0 < at_start[steps.index(Step.STARTED)] < threads_n * per_thread, at_start

    with factory() as session:
        assert daily.source_for(session, new) is Source.DAYS
        raw = assert_days_equal_raw(session, new, FIRST.date(), date(2026, 3, 31))
        assert total_events(raw) == 21 * 3 + threads_n * per_thread
        # Every writer's view lasted 40 seconds, once, however often it was sent.
        written = session.scalars(
            select(ExposureEvent.duration_seconds).where(
                ExposureEvent.client_event_id.like("evt-w%")
            )
        ).all()
        assert sorted(written) == [40.0] * threads_n * per_thread
