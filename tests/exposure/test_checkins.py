"""Check-ins: instruments scored and escalated, answers validated, escalations private, and
periodic check-ins, reminders and overdue escalation each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from exposure import checkins, reconciler
from exposure.alerts import Routes
from exposure.models import Alert, CheckIn, Delivery
from exposure.policy import default_policy
from tests.exposure.conftest import count, policy

NOW = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
ROUTES = Routes(email=True, webhook_lead="https://hooks.example.org/lead")


@pytest.fixture
def people(build):
    team = build.team()
    lee = build.person("Lee", "lead", lead_of=team, email="lee@example.org")
    build.person("Wanda", "wellbeing", email="wanda@example.org")
    ana = build.person("Ana", team=team, email="ana@example.org")
    return {"team": team, "lee": lee, "ana": ana}


def open_checkin(session, person, instrument="who5", key="k-1", now=NOW) -> CheckIn:
    made = checkins.schedule(
        session,
        person.id,
        key=key,
        reason="test",
        instrument=instrument,
        due_at=now + timedelta(hours=24),
        now=now,
    )
    assert made is not None
    return made


# Pure: how each instrument scores and when it escalates.


@pytest.mark.parametrize(
    ("answers", "score", "escalates"),
    [
        ([3, 3, 3, 3, 3], 15, False),
        ([3, 3, 3, 2, 2], 13, False),  # just at the line
        ([5, 5, 5, 5, 5], 25, False),
        ([2, 2, 2, 3, 3], 12, True),  # raw score under 13
        ([5, 5, 5, 5, 1], 21, True),  # one item at 1
        ([5, 5, 0, 5, 5], 20, True),  # one item at 0
        ([0, 0, 0, 0, 0], 0, True),
    ],
)
def test_who5_scoring_and_escalation(answers, score, escalates):
    who5 = checkins.INSTRUMENTS["who5"]
    assert (len(who5.items), who5.top) == (5, 5)
    assert (who5.score(answers), who5.escalates(answers)) == (score, escalates)


@pytest.mark.parametrize(
    ("answers", "escalates"),
    [([2, 2, 2, 2, 2, 3], True), ([2, 2, 2, 2, 2, 2], False), ([4] * 6, True), ([0] * 6, False)],
)
def test_k6_escalates_at_13_or_more(answers, escalates):
    k6 = checkins.INSTRUMENTS["k6"]
    assert (len(k6.items), k6.top) == (6, 4)
    assert k6.escalates(answers) is escalates


# Database: answering, validation, escalation and the reconciler.


def test_answers_are_stored_with_score_and_escalation(session, people):
    ana = people["ana"]
    good = checkins.answer(session, open_checkin(session, ana).id, ana.id, [3] * 5, NOW)
    assert (good.score, good.escalated, good.answers, good.completed_at) == (
        15,
        False,
        [3] * 5,
        NOW,
    )
    low = open_checkin(session, ana, "k6", key="k-2")
    done = checkins.answer(session, low.id, ana.id, [3, 3, 3, 2, 1, 1], NOW)
    assert (done.score, done.escalated) == (13, True)
    assert checkins.open_checkins(session, ana.id) == []


INVALID = [
    ("who5", [3, 3, 3, 3]),
    ("who5", [3, 3, 3, 3, 3, 3]),
    ("who5", [3, 3, 3, 3, 6]),
    ("who5", [3, 3, 3, 3, -1]),
    ("who5", ["3", "3", "3", "3", "3"]),
    ("who5", [3, 3, 3, 3, 2.5]),
    ("k6", [5, 0, 0, 0, 0, 0]),
    ("k6", [1, 1, 1, 1, 1]),
]


def test_invalid_answers_are_rejected_and_the_checkin_stays_open(session, people):
    ana = people["ana"]
    opened = {name: open_checkin(session, ana, name, key=name) for name in ("who5", "k6")}
    for instrument, answers in INVALID:
        with pytest.raises(checkins.CheckInError, match="answer all"):
            checkins.answer(session, opened[instrument].id, ana.id, answers, NOW)
    assert {c.id for c in checkins.open_checkins(session, ana.id)} == {
        c.id for c in opened.values()
    }


def test_a_checkin_is_answered_once_and_only_by_its_owner(session, build, people):
    ana = people["ana"]
    ben = build.person("Ben", team=people["team"])
    checkin = open_checkin(session, ana)
    with pytest.raises(LookupError):
        checkins.answer(session, checkin.id, ben.id, [3] * 5, NOW)
    checkins.answer(session, checkin.id, ana.id, [3] * 5, NOW)
    with pytest.raises(checkins.CheckInError, match="already answered"):
        checkins.answer(session, checkin.id, ana.id, [0] * 5, NOW + timedelta(minutes=1))
    assert session.get(CheckIn, checkin.id).score == 15


def test_an_escalating_answer_alerts_wellbeing_staff_once_without_scores(session, people):
    ana = people["ana"]
    checkin = open_checkin(session, ana)
    answers = [1, 2, 2, 4, 2]
    done = checkins.submit(session, checkin.id, ana, answers, NOW, ROUTES)
    assert done.escalated and done.score == 11
    with pytest.raises(checkins.CheckInError):
        checkins.submit(session, checkin.id, ana, answers, NOW, ROUTES)

    alert = session.scalars(select(Alert)).one()
    assert (alert.audience, alert.kind, alert.subject_user_id) == (
        "wellbeing",
        "checkin_escalation",
        ana.id,
    )
    assert "Ana" in alert.message
    assert not any(ch.isdigit() for ch in alert.message)  # no score, no answers
    assert "11" not in str(alert.detail) and "answers" not in str(alert.detail)
    targets = {(d.channel, d.target) for d in session.scalars(select(Delivery))}
    assert targets == {("email", "wanda@example.org")}  # never the lead


def test_a_good_answer_alerts_nobody(session, people):
    ana = people["ana"]
    checkins.submit(session, open_checkin(session, ana).id, ana, [3] * 5, NOW, ROUTES)
    assert count(session, Alert) == 0


def test_periodic_checkins_once_per_associate_per_period(session, build, people):
    team = people["team"]
    ben = build.person("Ben", team=team)
    build.person("Pat", team=team, active=False)
    pol = default_policy()
    assert reconciler.periodic_checkins(session, pol, NOW) == 2
    assert reconciler.periodic_checkins(session, pol, NOW) == 0
    assert reconciler.periodic_checkins(session, pol, NOW + timedelta(hours=1)) == 0
    rows = session.scalars(select(CheckIn).order_by(CheckIn.user_id)).all()
    assert [r.user_id for r in rows] == [people["ana"].id, ben.id]
    assert all(r.instrument == "who5" and r.due_at == NOW + timedelta(hours=24) for r in rows)

    next_week = NOW + timedelta(days=7)
    assert reconciler.periodic_checkins(session, pol, next_week) == 2
    assert reconciler.periodic_checkins(session, pol, next_week) == 0
    assert count(session, CheckIn) == 4


def test_no_periodic_checkins_when_the_policy_turns_them_off(session, people):
    pol = policy(settings="[checkins]\nperiodic_days = 0\n")
    assert reconciler.periodic_checkins(session, pol, NOW) == 0
    assert count(session, CheckIn) == 0


def test_reminders_are_sent_once_and_only_for_open_checkins(session, build, people):
    ana = people["ana"]
    ben = build.person("Ben", team=people["team"])
    pol = default_policy()  # remind after 4 hours
    mine = open_checkin(session, ana)
    answered = open_checkin(session, ben)
    checkins.answer(session, answered.id, ben.id, [3] * 5, NOW + timedelta(hours=1))

    assert reconciler.checkin_reminders(session, pol, NOW + timedelta(hours=3, minutes=59)) == []
    later = NOW + timedelta(hours=4)
    assert [c.id for c in reconciler.checkin_reminders(session, pol, later)] == [mine.id]
    assert session.get(CheckIn, mine.id).reminded_at == later
    assert reconciler.checkin_reminders(session, pol, later + timedelta(hours=5)) == []


def test_an_overdue_checkin_is_escalated_to_wellbeing_staff_once(session, build, people):
    ana = people["ana"]
    ben = build.person("Ben", team=people["team"])
    pol = default_policy()  # due within 24 hours, escalate 24 hours after that
    late = open_checkin(session, ana)
    answered = open_checkin(session, ben)
    checkins.answer(session, answered.id, ben.id, [3] * 5, NOW + timedelta(hours=30))

    assert reconciler.overdue_checkins(session, pol, NOW + timedelta(hours=47), ROUTES) == 0
    at = NOW + timedelta(hours=48)
    assert reconciler.overdue_checkins(session, pol, at, ROUTES) == 1
    assert reconciler.overdue_checkins(session, pol, at + timedelta(hours=6), ROUTES) == 0

    alert = session.scalars(select(Alert)).one()
    assert (alert.audience, alert.kind, alert.subject_user_id) == (
        "wellbeing",
        "checkin_overdue",
        ana.id,
    )
    assert session.get(CheckIn, late.id).overdue_alerted_at == at
    targets = {(d.channel, d.target) for d in session.scalars(select(Delivery))}
    assert targets == {("email", "wanda@example.org")}
