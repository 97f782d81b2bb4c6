"""The wellbeing page's spreads (median, p90, over-cap counts, reveals) ranked by the
database from the daily tables must equal the same spreads computed in Python from the
hourly rollups, for any mix of people, with and without exposure."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from exposure import daily, distributions, summaries
from exposure.models import User
from exposure.summaries import Distribution

from .conftest import Ledger, policy

CATEGORIES = ("graphic_violence", "nudity", "self_harm", "clear")
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def _world(build: Ledger, seed: int, people: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    teams = [build.team(f"Queue {k}") for k in range(2)]
    ids = []
    for k in range(people):
        person = build.person(f"P{seed}-{k:03d}", team=teams[k % 2])
        ids.append(person.id)
        if rng.random() < 0.25:
            continue  # nothing seen: counts as zero in the weekly spreads
        for _ in range(rng.randint(1, 12)):
            at = MONDAY - timedelta(weeks=rng.randint(0, 3), minutes=rng.randint(0, 7 * 24 * 60))
            build.event(
                person,
                at,
                minutes=rng.choice((0.05, 0.5, 3.0, 12.5, 40.0)),
                level=rng.choice((0, 1, 1, 2, 3, 4)),
                category=rng.choice(CATEGORIES),
                modality=rng.choice(("image", "video", "animation")),
            )
    build.session.flush()
    return ids, [t.id for t in teams]


def _close(a: Distribution, b: Distribution) -> bool:
    return (a.people, a.over_cap) == (b.people, b.over_cap) and (
        abs(a.median - b.median) <= 0.01 and abs(a.p90 - b.p90) <= 0.01
    )


def _python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daily, "source_for", lambda session, pol: daily.Source.HOURS)


@pytest.mark.parametrize("seed,people", [(1, 7), (2, 23), (3, 60)])
def test_database_spreads_equal_python_spreads(build, session, monkeypatch, seed, people):
    pol = policy()
    _, teams = _world(build, seed, people)
    daily.rebuild(session, pol, MONDAY + timedelta(days=7))
    assert daily.source_for(session, pol) is daily.Source.DAYS
    weeks = [(MONDAY - timedelta(weeks=k), MONDAY - timedelta(weeks=k - 1)) for k in range(4)]
    caps = (20.0, 30.0)
    for team_id, head_count in ((None, people), (teams[0], (people + 1) // 2)):
        in_db = distributions.weekly(session, pol, weeks, team_id, caps)
        cats_db = distributions.by_category(session, pol, *weeks[1], team_id, caps)
        with monkeypatch.context() as m:
            _python_path(m)
            in_py = distributions.weekly(session, pol, weeks, team_id, caps)
            cats_py = distributions.by_category(session, pol, *weeks[1], team_id, caps)
        assert len(in_db) == len(in_py) == 4
        for a, b in zip(in_db, in_py, strict=True):
            assert _close(a.graphic, b.graphic), (a, b)
            assert _close(a.dose, b.dose), (a, b)
            assert a.dose.people == head_count
        assert cats_db.keys() == cats_py.keys()
        assert cats_db, "some category was seen that week"
        for name in cats_db:
            a, b = cats_db[name], cats_py[name]
            assert a.reveals == b.reveals
            assert _close(a.graphic, b.graphic) and _close(a.dose, b.dose), (name, a, b)


def test_spreads_of_one_team_count_only_its_members(build, session):
    pol = policy()
    ids, _ = _world(build, 4, 30)
    daily.rebuild(session, pol, MONDAY + timedelta(days=7))
    team_id = build.session.get(User, ids[0]).team_id
    week = (MONDAY - timedelta(weeks=1), MONDAY)
    found = distributions.weekly(session, pol, [week], team_id, (None, None))[0]
    assert found.dose.people == 15  # every other person is in this team
    members = [i for i in ids if build.session.get(User, i).team_id == team_id]
    raw = summaries.totals_from_ledger(session, pol, *week, user_ids=members)
    values = [raw[i].dose if i in raw else 0.0 for i in members]
    assert found.dose == summaries.distribution(values, None)


def test_a_week_nobody_worked_is_all_zeros(build, session):
    pol = policy()
    _world(build, 5, 9)
    daily.rebuild(session, pol, MONDAY + timedelta(days=7))
    empty = (MONDAY + timedelta(weeks=5), MONDAY + timedelta(weeks=6))
    found = distributions.weekly(session, pol, [empty], None, (1.0, 1.0))[0]
    assert found.dose == Distribution(people=9, median=0.0, p90=0.0, over_cap=0)


def test_a_window_off_the_hour_is_answered_from_the_ledger(build, session):
    """The hourly rollups cannot split an hour: a window from 09:30 is read from the raw
    ledger, whatever summaries are built."""
    pol = policy()
    person = build.person("Ana")
    build.event(person, MONDAY + timedelta(hours=9, minutes=10), minutes=5.0)
    build.event(person, MONDAY + timedelta(hours=9, minutes=40), minutes=5.0)
    start, end = MONDAY + timedelta(hours=9, minutes=30), MONDAY + timedelta(hours=12)
    before = summaries.totals(session, pol, start, end)[person.id]
    daily.rebuild(session, pol, MONDAY + timedelta(days=1))
    after = summaries.totals(session, pol, start, end)[person.id]
    assert before.events == after.events == 1
    assert abs(after.graphic_minutes - 5.0) < 1e-9
