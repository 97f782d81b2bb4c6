"""The hourly rollups always give the same answers as the raw ledger: after random sequences
of views, retried events and heartbeats, and under concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from exposure import accounts, attachments, daily, ledger, rollups, summaries
from exposure.models import Attachment, ExposureEvent, ExposureRollup
from exposure.policy import default_policy
from exposure.storage import make_engine
from tests.exposure.conftest import register_items

POLICY = default_policy()
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CATEGORY_SETS = [["graphic_violence"], ["child_abuse"], ["hate_speech", "murder"], []]

step = st.tuples(
    st.sampled_from(["view", "retry", "beat", "beat"]),
    st.integers(0, 2),  # person
    st.integers(0, 3),  # item
    st.integers(0, 4),  # level
    st.integers(1, 2400),  # seconds to advance before the step
)


def _world(session: Session) -> tuple[list[int], list[Attachment]]:
    people = [
        accounts.create_user(session, f"p{i}", "long-enough-pw", ["associate"], START).id
        for i in range(3)
    ]
    items = register_items(session, CATEGORY_SETS, START)
    return people, items


def assert_same(a: dict, b: dict) -> None:
    """Same people, same counts, sums equal up to float addition order."""
    assert a.keys() == b.keys()
    for person in a:
        x, y = a[person], b[person]
        assert (x.reveals, x.events) == (y.reveals, y.events)
        assert x.dose == pytest.approx(y.dose, rel=1e-12, abs=1e-9)
        assert x.graphic_minutes == pytest.approx(y.graphic_minutes, rel=1e-12, abs=1e-9)


def _compare(session: Session, now: datetime) -> None:
    for hours in (1, 3, 24, 24 * 7):
        start = rollups.hour_of(START)
        for _ in range(3):
            end = start + timedelta(hours=hours)
            a = summaries.totals(session, POLICY, start, end)
            b = summaries.totals_from_ledger(session, POLICY, start, end)
            assert_same(a, b)
            start = end
    cats = ["graphic_violence", "murder"]
    a = summaries.totals(session, POLICY, START, now + timedelta(hours=1), categories=cats)
    b = summaries.totals_from_ledger(
        session, POLICY, START, now + timedelta(hours=1), categories=cats
    )
    assert_same(a, b)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step, min_size=1, max_size=40))
def test_rollups_equal_a_raw_recomputation(db_url, steps):
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            _run(session, steps)
            session.rollback()
    finally:
        engine.dispose()


def _run(session: Session, steps: list[tuple[str, int, int, int, int]]) -> None:
    people, items = _world(session)
    now = START
    ids: list[tuple[int, str, int, int]] = []  # (person, event id, item, level)
    for n, (kind, person, item, level, advance) in enumerate(steps):
        now += timedelta(seconds=advance)
        att = items[item]
        level = min(level, attachments.max_level(att, POLICY.categories))
        if kind == "retry" and ids:
            p, eid, i, lv = ids[n % len(ids)]
            ledger.record_view(
                session,
                people[p],
                items[i],
                level=lv,
                region=None,
                modality="image",
                client_event_id=eid,
                now=now,
                basis=daily.Basis.of(POLICY),
            )
        elif kind == "beat" and ids:
            p, eid, _, _ = ids[-1 - n % len(ids)]
            ledger.heartbeat(
                session,
                people[p],
                eid,
                now,
                grace_seconds=900,
                cap_seconds=3600,
                basis=daily.Basis.of(POLICY),
            )
        else:
            eid = f"evt-{n:06d}"
            ledger.record_view(
                session,
                people[person],
                att,
                level=level,
                region=None,
                modality="image",
                client_event_id=eid,
                now=now,
                basis=daily.Basis.of(POLICY),
            )
            ids.append((person, eid, item, level))
    session.flush()
    _compare(session, now)


def test_rebuild_recomputes_the_same_rollups(db_url):
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            steps = [("view", i % 3, i % 4, i % 5, 700) for i in range(30)]
            steps += [("beat", 0, 0, 0, 5) for _ in range(10)]
            _run(session, steps)
            before = sorted(
                (r.user_id, r.hour_start, r.category, r.level, r.events, round(r.seconds, 6))
                for r in session.scalars(select(ExposureRollup))
            )
            session.execute(delete(ExposureRollup))
            rollups.rebuild(session, POLICY.min_event_seconds, START, START + timedelta(days=30))
            after = sorted(
                (r.user_id, r.hour_start, r.category, r.level, r.events, round(r.seconds, 6))
                for r in session.scalars(select(ExposureRollup))
            )
            assert before == after
            session.rollback()
    finally:
        engine.dispose()


def test_concurrent_writers_keep_rollups_exact(any_db_url):
    engine = make_engine(any_db_url)
    factory = sessionmaker(engine)
    try:
        with factory() as session:
            people, items = _world(session)
            session.commit()
            item_ids = [a.id for a in items]
        barrier = threading.Barrier(6)

        def work(t: int) -> None:
            barrier.wait()
            for n in range(25):
                with factory() as s:
                    att = s.get(Attachment, item_ids[n % 3])
                    now = START + timedelta(minutes=n)
                    eid = f"evt-{t}-{n:03d}"
                    for _ in range(2):  # a retry of the same event
                        ledger.record_view(
                            s,
                            people[t % 3],
                            att,
                            level=3,
                            region=None,
                            modality="image",
                            client_event_id=eid,
                            now=now,
                        )
                    ledger.heartbeat(
                        s,
                        people[t % 3],
                        eid,
                        now + timedelta(seconds=7),
                        grace_seconds=60,
                        cap_seconds=3600,
                    )
                    s.commit()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with factory() as session:
            assert session.scalar(select(ExposureEvent.id).limit(1)) is not None
            end = START + timedelta(days=1)
            a = summaries.totals(session, POLICY, START, end)
            b = summaries.totals_from_ledger(session, POLICY, START, end)
            assert_same(a, b)
            assert sum(t.events for t in a.values()) == 6 * 25
    finally:
        engine.dispose()
