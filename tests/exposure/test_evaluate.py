"""Evaluation: a rule that crosses its threshold fires once, carries out its actions, and
respects its cooldown and window, for each person independently and under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exposure import breaks, viewing
from exposure.alerts import Routes
from exposure.evaluate import evaluate
from exposure.models import Alert, Attachment, Break, CheckIn, Delivery, PolicyTrigger
from exposure.policy import default_policy
from exposure.storage import make_engine
from tests.exposure.conftest import Ledger, count, policy

NOW = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
HOOK = "https://hooks.example.org/lead"
ROUTES = Routes(email=True, webhook_lead=HOOK)

BURST = """
[[rules]]
id = "burst"
description = "Three severe reveals in 15 minutes."
metric = "reveals"
min_severity = 4
window = "rolling 15m"
threshold = 3
cooldown_minutes = 20
actions = [
  { type = "break", minutes = 5 },
  { type = "checkin", within_hours = 2 },
  { type = "alert_lead" },
  { type = "alert_wellbeing" },
]
"""


@pytest.fixture
def team(build):
    team = build.team()
    build.person("Lee", "lead", lead_of=team, email="lee@example.org")
    build.person("Wanda", "wellbeing", email="wanda@example.org")
    return team


def reveals(build: Ledger, person, *instants: datetime, severity: int = 4) -> None:
    for instant in instants:
        build.event(person, instant, level=3, severity=severity)


def test_below_the_threshold_nothing_happens(session, build, team):
    ana = build.person("Ana", team=team)
    reveals(build, ana, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1))
    reveals(build, ana, NOW, severity=3)  # not severe enough to count
    assert evaluate(session, policy(BURST), ana.id, NOW, routes=ROUTES) == []
    assert breaks.active_restriction(session, ana.id, NOW) is None
    assert count(session, Alert) == count(session, CheckIn) == 0


def test_crossing_the_threshold_fires_once_with_all_its_actions(session, build, team):
    ana = build.person("Ana", team=team)
    pol = policy(BURST)
    reveals(build, ana, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW)

    fired = evaluate(session, pol, ana.id, NOW, routes=ROUTES)

    assert [(f.rule_id, f.value, f.actions) for f in fired] == [
        ("burst", 3, ("break", "checkin", "alert_lead", "alert_wellbeing"))
    ]
    brk = session.scalars(select(Break)).one()
    assert (brk.user_id, brk.kind, brk.status) == (ana.id, "enforced", "active")
    assert (brk.starts_at, brk.ends_at) == (NOW, NOW + timedelta(minutes=5))
    restriction = breaks.active_restriction(session, ana.id, NOW + timedelta(seconds=1))
    assert restriction is not None and restriction.seconds_left(NOW) == 300

    checkin = session.scalars(select(CheckIn)).one()
    assert (checkin.user_id, checkin.instrument) == (ana.id, "who5")
    assert checkin.due_at == NOW + timedelta(hours=2)

    alerts = {a.audience: a for a in session.scalars(select(Alert))}
    assert set(alerts) == {"lead", "wellbeing"}
    lead = alerts["lead"]
    assert (lead.team_id, lead.subject_user_id) == (team.id, ana.id)
    assert "Ana" in lead.message and "Three severe reveals" in lead.message
    assert "5 minutes" in lead.message
    deliveries = {
        a.audience: {
            (d.channel, d.target) for d in session.scalars(select(Delivery)) if d.alert_id == a.id
        }
        for a in alerts.values()
    }
    assert deliveries == {
        "lead": {("email", "lee@example.org"), ("webhook", HOOK)},
        "wellbeing": {("email", "wanda@example.org")},
    }

    # The same moment again (a retry, another worker): nothing more.
    assert evaluate(session, pol, ana.id, NOW, routes=ROUTES) == []
    assert count(session, PolicyTrigger) == count(session, Break) == 1
    assert count(session, CheckIn) == 1
    assert count(session, Alert) == 2 and count(session, Delivery) == 3


def test_the_cooldown_holds_then_the_rule_can_fire_again(session, build, team):
    ana = build.person("Ana", team=team)
    pol = policy(BURST)
    reveals(build, ana, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW)
    assert evaluate(session, pol, ana.id, NOW, routes=ROUTES)

    later = NOW + timedelta(minutes=10)
    reveals(build, ana, later, later, later)
    assert evaluate(session, pol, ana.id, later, routes=ROUTES) == []

    after = NOW + timedelta(minutes=21)  # past the 20-minute cooldown
    fired = evaluate(session, pol, ana.id, after, routes=ROUTES)
    assert [f.rule_id for f in fired] == ["burst"]
    assert [b.starts_at for b in session.scalars(select(Break).order_by(Break.id))] == [
        NOW,
        after,
    ]
    assert count(session, Alert) == 4


DAILY = """
[[rules]]
id = "daily"
description = "Five graphic minutes today."
metric = "graphic_minutes"
window = "day"
threshold = 5
cooldown_minutes = 60
actions = [{ type = "alert_lead" }]
"""


def test_a_day_window_fires_at_most_once_a_day(session, build, team):
    ana = build.person("Ana", team=team)
    pol = policy(DAILY)
    build.event(ana, NOW, minutes=6)
    assert len(evaluate(session, pol, ana.id, NOW + timedelta(minutes=6), routes=ROUTES)) == 1
    for hours in (2, 5, 9):  # well past the cooldown, but the same day
        moment = NOW + timedelta(hours=hours)
        build.event(ana, moment, minutes=6)
        assert evaluate(session, pol, ana.id, moment + timedelta(minutes=6), routes=ROUTES) == []
    tomorrow = NOW + timedelta(days=1)
    build.event(ana, tomorrow, minutes=6)
    assert len(evaluate(session, pol, ana.id, tomorrow + timedelta(minutes=6), routes=ROUTES)) == 1
    assert count(session, Alert) == 2


def test_the_day_follows_the_policy_timezone(session, build, team):
    ana = build.person("Ana", team=team)
    pol = policy(DAILY, timezone="America/New_York")
    late = datetime(2026, 1, 6, 3, 30, tzinfo=UTC)  # 22:30 on the 5th in New York
    build.event(ana, late - timedelta(minutes=6), minutes=6)
    assert len(evaluate(session, pol, ana.id, late, routes=ROUTES)) == 1
    after_midnight = late + timedelta(hours=2)  # 00:30 on the 6th in New York
    build.event(ana, after_midnight - timedelta(minutes=6), minutes=6)
    assert len(evaluate(session, pol, ana.id, after_midnight, routes=ROUTES)) == 1


def test_an_hour_of_continuous_work_brings_a_break_and_the_run_restarts_after_it(
    session, build, team
):
    """The default hourly rule, evaluated as the reconciler does, with every rule."""
    ana = build.person("Ana", team=team)
    pol = default_policy()
    start = NOW - timedelta(minutes=50)
    for n in range(10):  # five-minute items back to back, 13:10 to 14:00
        build.event(ana, start + timedelta(minutes=5 * n), minutes=5, level=1)
    fired = evaluate(session, pol, ana.id, NOW, routes=ROUTES)
    assert [(f.rule_id, f.actions) for f in fired] == [("hourly-break", ("break",))]
    restriction = breaks.active_restriction(session, ana.id, NOW + timedelta(minutes=1))
    assert restriction is not None and restriction.ends_at == NOW + timedelta(minutes=10)
    assert evaluate(session, pol, ana.id, NOW + timedelta(minutes=5), routes=ROUTES) == []

    back = NOW + timedelta(minutes=10)  # the break is over; she works on
    for n in range(10):
        build.event(ana, back + timedelta(minutes=5 * n), minutes=5, level=1)
    forty = back + timedelta(minutes=40)
    assert evaluate(session, pol, ana.id, forty, routes=ROUTES) == []
    fifty = back + timedelta(minutes=50)
    assert [f.rule_id for f in evaluate(session, pol, ana.id, fifty, routes=ROUTES)] == [
        "hourly-break"
    ]


def test_the_default_daily_cap_is_enforced_again_the_next_day(session, build, team):
    ana = build.person("Ana", team=team)
    pol = default_policy()
    cap = pol.rule("daily-graphic-cap")
    # Monday: four hours of graphic work from 12:00, the cap is reached at 16:00.
    build.event(ana, NOW - timedelta(hours=2), minutes=240)
    monday = NOW + timedelta(hours=2)
    assert len(evaluate(session, pol, ana.id, monday, routes=ROUTES, rules=[cap])) == 1
    # Tuesday: the 12-hour rotation is long over; she reaches the cap again at 15:00.
    tuesday = monday + timedelta(hours=23)
    build.event(ana, tuesday - timedelta(hours=4), minutes=240)
    fired = evaluate(session, pol, ana.id, tuesday, routes=ROUTES, rules=[cap])
    assert [f.rule_id for f in fired] == ["daily-graphic-cap"]


def test_people_are_evaluated_independently(session, build, team):
    ana = build.person("Ana", team=team)
    ben = build.person("Ben", team=team)
    pol = policy(BURST)
    reveals(build, ana, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW)
    reveals(build, ben, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1))
    assert len(evaluate(session, pol, ana.id, NOW, routes=ROUTES)) == 1
    assert evaluate(session, pol, ben.id, NOW, routes=ROUTES) == []
    assert breaks.active_restriction(session, ben.id, NOW) is None

    soon = NOW + timedelta(minutes=1)  # inside Ana's cooldown, which is not Ben's
    reveals(build, ben, soon)
    assert len(evaluate(session, pol, ben.id, soon, routes=ROUTES)) == 1
    subjects = sorted(a.subject_user_id for a in session.scalars(select(Alert)))
    assert subjects == sorted([ana.id, ana.id, ben.id, ben.id])


CAP = """
[[rules]]
id = "cap"
description = "An hour of graphic minutes today."
metric = "graphic_minutes"
window = "day"
threshold = 60
cooldown_minutes = 60
actions = [{ type = "rotate", hours = 12 }, { type = "alert_lead" }]
"""


def test_rotation_alert_suggests_free_teammates_with_the_lowest_week_dose(session, build, team):
    other = build.team("Queue B")
    ana = build.person("Ana", team=team)
    ben = build.person("Ben", team=team)
    cara = build.person("Cara", team=team)
    dan = build.person("Dan", team=team)
    hana = build.person("Hana", team=team)
    ivy = build.person("Ivy", team=team)
    rex = build.person("Rex", team=team)
    build.person("Olga", team=other)  # another team
    build.person("Pat", team=team, active=False)  # disabled account
    build.person("Lena", "lead", team=team)  # not an associate

    build.event(ana, NOW - timedelta(minutes=61), minutes=61, level=4)
    build.event(ben, NOW - timedelta(days=1), minutes=30, level=4)  # dose 105
    build.event(cara, NOW - timedelta(days=2), minutes=10, level=4)  # dose 35
    build.event(cara, NOW - timedelta(days=8), minutes=300, level=4)  # older than a week
    build.event(ivy, NOW - timedelta(days=3), minutes=60, level=4)  # dose 210
    breaks.start_break(session, dan.id, "step_away", NOW - timedelta(minutes=1), minutes=10)
    breaks.start_break(session, rex.id, "rotation", NOW - timedelta(hours=1), minutes=None)

    fired = evaluate(session, policy(CAP), ana.id, NOW, routes=ROUTES)

    assert [f.actions for f in fired] == [("rotate", "alert_lead")]
    rotation = breaks.active_restriction(session, ana.id, NOW + timedelta(hours=11))
    assert rotation is not None and rotation.kind == "rotation"
    assert rotation.ends_at == NOW + timedelta(hours=12)
    alert = session.scalars(select(Alert)).one()
    assert alert.kind == "rotate" and alert.audience == "lead"
    assert "rotation off sensitive work for 12 hours" in alert.message
    suggested = alert.detail["suggested_replacements"]
    assert [(s["user_id"], s["name"]) for s in suggested] == [
        (hana.id, "Hana"),
        (cara.id, "Cara"),
        (ben.id, "Ben"),
    ]
    assert [s["dose_7d"] for s in suggested] == [0, 35, 105]


def test_a_rotation_without_hours_lasts_until_a_lead_returns_them(session, build, team):
    ana = build.person("Ana", team=team)
    build.event(ana, NOW - timedelta(minutes=61), minutes=61, level=4)
    pol = policy(CAP.replace('{ type = "rotate", hours = 12 }', '{ type = "rotate" }'))
    evaluate(session, pol, ana.id, NOW, routes=ROUTES)
    rotation = breaks.active_restriction(session, ana.id, NOW + timedelta(days=6))
    assert rotation is not None and rotation.ends_at is None
    assert "until a lead returns them" in session.scalars(select(Alert)).one().message


def test_every_rotation_length_the_policy_accepts_can_be_carried_out(session, build, team):
    ana = build.person("Ana", team=team)
    build.event(ana, NOW - timedelta(minutes=61), minutes=61, level=4)
    pol = policy(CAP.replace("hours = 12", "hours = 48"))
    evaluate(session, pol, ana.id, NOW, routes=ROUTES)
    rotation = breaks.active_restriction(session, ana.id, NOW + timedelta(hours=47))
    assert rotation is not None and rotation.ends_at == NOW + timedelta(hours=48)


# Both databases from here on: these tests are about the database itself.


def _long_id_rule(rule_id: str) -> str:
    return DAILY.replace('id = "daily"', f'id = "{rule_id}"')


def test_any_valid_rule_id_can_raise_an_alert(any_db_url):
    rule_id = "weekly-dose-high-wellbeing-follow-up"  # 36 characters, well under 80
    engine = make_engine(any_db_url)
    try:
        with Session(engine) as session:
            build = Ledger(session)
            team = build.team()
            build.person("Lee", "lead", lead_of=team)
            ana = build.person("Ana", team=team)
            build.event(ana, NOW, minutes=6)
            pol = policy(_long_id_rule(rule_id))
            fired = evaluate(session, pol, ana.id, NOW + timedelta(minutes=6), routes=Routes())
            session.commit()
            assert [f.rule_id for f in fired] == [rule_id]
            assert count(session, Alert) == 1
    finally:
        engine.dispose()


RACE = """
[[rules]]
id = "burst"
description = "Three reveals in 15 minutes."
metric = "reveals"
window = "rolling 15m"
threshold = 3
cooldown_minutes = 0
actions = [{ type = "break", minutes = 5 }, { type = "alert_lead" }]

[[rules]]
id = "daily"
description = "Some graphic minutes today."
metric = "graphic_minutes"
window = "day"
threshold = 0.1
cooldown_minutes = 0
actions = [{ type = "break", minutes = 10 }, { type = "checkin", within_hours = 4 }]
"""
WORKERS = 8


def _run_together(work) -> list[BaseException]:
    start = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _engine(url: str):
    """An engine whose PostgreSQL sessions report a deadlock after 100 ms, not 1 s."""
    if url.startswith("postgresql"):
        return make_engine(url, connect_args={"options": "-c deadlock_timeout=100ms"})
    return make_engine(url)


def _results(engine) -> tuple[dict[str, int], int, int, int]:
    with Session(engine) as s:
        per_rule: dict[str, int] = {}
        for trigger in s.scalars(select(PolicyTrigger)):
            per_rule[trigger.rule_id] = per_rule.get(trigger.rule_id, 0) + 1
        return per_rule, count(s, Break), count(s, Alert), count(s, CheckIn)


def test_eight_workers_evaluating_one_person_at_once_fire_each_rule_once(any_db_url):
    engine = _engine(any_db_url)
    try:
        with Session(engine) as s:
            build = Ledger(s)
            team = build.team()
            build.person("Lee", "lead", lead_of=team)
            ana = build.person("Ana", team=team)
            reveals(build, ana, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW)
            ana_id = ana.id
            s.commit()
        pol = policy(RACE)

        def work(_: int) -> None:
            with Session(engine) as s:
                evaluate(s, pol, ana_id, NOW, routes=Routes())
                s.commit()

        assert _run_together(work) == []
        assert _results(engine) == ({"burst": 1, "daily": 1}, 2, 1, 1)
    finally:
        engine.dispose()


def test_eight_reveals_by_one_person_at_once_fire_each_rule_once(any_db_url):
    """Two tabs, a double click: every reveal is logged and the rules still fire once."""
    engine = _engine(any_db_url)
    try:
        with Session(engine) as s:
            build = Ledger(s)
            team = build.team()
            build.person("Lee", "lead", lead_of=team)
            ana_id = build.person("Ana", team=team).id
            item_id = build.item(severity=5).id
            s.commit()
        pol = policy(RACE)

        def work(i: int) -> None:
            with Session(engine) as s:
                viewing.reveal(
                    s,
                    pol,
                    Routes(),
                    ana_id,
                    s.get(Attachment, item_id),
                    level=3,
                    region=None,
                    client_event_id=f"evt-race-{i:04d}",
                    now=NOW,
                    ttl_seconds=60,
                )
                s.commit()

        assert _run_together(work) == []
        assert _results(engine) == ({"burst": 1, "daily": 1}, 2, 1, 1)
    finally:
        engine.dispose()
