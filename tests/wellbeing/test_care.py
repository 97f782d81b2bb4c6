"""Check-ins, the lead's team page, overrides and the alerts inbox, with the privacy rule:
leads see status and alerts, never check-in answers or scores; reads are audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from exposure import alerts, breaks, checkins
from exposure.models import Alert, AuditEvent, Break, CheckIn
from tests.conftest import Auth

GOOD = [4, 4, 3, 4, 4]  # WHO-5 raw 19: no follow-up needed
POOR = [1, 2, 2, 1, 2]  # raw 8, items at 1: follow-up


@pytest.fixture
def people(world, app):
    team = world.team("Queue A")
    other_team = world.team("Queue B")
    return {
        "team": team,
        "ana": world.user("ana", "associate", team_id=team),
        "sam": world.user("sam", "associate", team_id=team),
        "lee": world.user("lee", "lead", team_id=team, lead_of=True),
        "olga": world.user("olga", "lead", team_id=other_team, lead_of=True),
        "wes": world.user("wes", "wellbeing"),
    }


def _session(app):
    from wellbeing.db import db

    return db.session


def _checkin(app, clock, user_id, *, due_in=3600.0, key="periodic:test"):
    from datetime import timedelta

    with app.app_context():
        row = checkins.schedule(
            _session(app),
            user_id,
            key=key,
            reason="periodic",
            instrument="who5",
            due_at=clock.now() + timedelta(seconds=due_in),
            now=clock.now(),
        )
        _session(app).commit()
        return row.id


def _answer(auth, checkin_id, values):
    data = {f"item{i}": str(v) for i, v in enumerate(values)}
    return auth.post(f"/checkins/{checkin_id}", data)


def _audit(app, action):
    with app.app_context():
        return _session(app).scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_due_checkin_shows_a_banner_and_can_be_answered(app, clock, client, auth, people):
    cid = _checkin(app, clock, people["ana"])
    auth.login("ana")
    home = client.get("/").get_data(as_text=True)
    assert 'id="checkin-banner"' in home
    form = client.get(f"/checkins/{cid}").get_data(as_text=True)
    assert "I have felt cheerful and in good spirits" in form and "All of the time" in form
    r = _answer(auth, cid, GOOD)
    assert r.status_code == 302
    assert 'id="checkin-banner"' not in client.get("/").get_data(as_text=True)
    with app.app_context():
        row = _session(app).get(CheckIn, cid)
        assert (row.score, row.escalated) == (19, False)
        assert _session(app).scalars(select(Alert)).all() == []


def test_poor_answers_escalate_to_wellbeing_without_the_answers(app, clock, client, auth, people):
    cid = _checkin(app, clock, people["ana"])
    auth.login("ana")
    assert _answer(auth, cid, POOR).status_code == 302
    with app.app_context():
        alert = _session(app).scalars(select(Alert)).one()
    assert alert.audience == "wellbeing" and alert.kind == "checkin_escalation"
    assert "8" not in alert.message and "Some of the time" not in alert.message


@pytest.mark.parametrize("values", [[1, 2, 3], [9, 9, 9, 9, 9], ["a"] * 5])
def test_bad_answers_are_a_clear_400(app, clock, auth, people, values):
    cid = _checkin(app, clock, people["ana"])
    auth.login("ana")
    r = _answer(auth, cid, values)
    assert r.status_code == 400


def test_someone_elses_checkin_is_404(app, clock, client, auth, people):
    cid = _checkin(app, clock, people["sam"])
    auth.login("ana")
    assert client.get(f"/checkins/{cid}").status_code == 404
    assert _answer(auth, cid, GOOD).status_code == 404


def test_lead_sees_status_but_never_answers_or_scores(app, clock, client, auth, people):
    cid = _checkin(app, clock, people["ana"])
    ana = Auth(app.test_client())
    ana.login("ana")
    _answer(ana, cid, POOR)
    _checkin(app, clock, people["sam"], due_in=-60, key="periodic:overdue")
    auth.login("lee")
    page = client.get("/team").get_data(as_text=True)
    sam_row = page.split(f'id="member-{people["sam"]}"')[1].split("</tr>")[0]
    assert "<td>yes</td>" in sam_row  # sam's check-in is overdue: yes/no only
    for secret in ("score", "Score", "At no time", "Some of the time", "cheerful", ">8<"):
        assert secret not in page
    assert client.get(f"/people/{people['ana']}").status_code == 403
    inbox = client.get("/alerts").get_data(as_text=True)
    assert "check-in suggests" not in inbox  # escalations go to wellbeing staff only


def test_wellbeing_reads_answers_and_the_read_is_audited(app, clock, client, auth, people):
    cid = _checkin(app, clock, people["ana"])
    ana = Auth(app.test_client())
    ana.login("ana")
    _answer(ana, cid, POOR)
    auth.login("wes")
    page = client.get(f"/people/{people['ana']}").get_data(as_text=True)
    assert "I have felt cheerful and in good spirits: Some of the time" in page
    reads = _audit(app, "wellbeing.read_person")
    assert [(r.actor_id, r.subject_user_id) for r in reads] == [(people["wes"], people["ana"])]
    inbox = client.get("/alerts").get_data(as_text=True)
    assert "check-in suggests they may need support" in inbox


def _enforced_break(app, clock, user_id, kind="enforced"):
    with app.app_context():
        brk = breaks.start_break(_session(app), user_id, kind, clock.now(), minutes=30)
        _session(app).commit()
        return brk.id


def test_lead_ends_a_break_with_a_reason_and_it_is_audited(app, world, clock, client, auth, people):
    bid = _enforced_break(app, clock, people["ana"])
    att = world.attachment()
    ana = Auth(app.test_client())
    ana.login("ana")
    assert ana.client.get(f"/media/{att}/safe").status_code == 423
    auth.login("lee")
    assert "End break" in client.get("/team").get_data(as_text=True)
    assert auth.post(f"/team/breaks/{bid}/end", {"reason": ""}).status_code == 400
    r = auth.post(f"/team/breaks/{bid}/end", {"reason": "urgent escalation, she agreed"})
    assert r.status_code == 302
    assert ana.client.get(f"/media/{att}/safe").status_code == 200
    [event] = _audit(app, "break.ended")
    assert event.actor_id == people["lee"] and event.detail["reason"].startswith("urgent")


def test_lead_extends_a_break(app, clock, client, auth, people):
    bid = _enforced_break(app, clock, people["ana"])
    auth.login("lee")
    r = auth.post(f"/team/breaks/{bid}/extend", {"reason": "needs more time", "minutes": "15"})
    assert r.status_code == 302
    with app.app_context():
        brk = _session(app).get(Break, bid)
        assert (brk.ends_at - clock.now()).total_seconds() == 45 * 60


def test_lead_of_another_team_cannot_override(app, clock, auth, people):
    bid = _enforced_break(app, clock, people["ana"])
    auth.login("olga")
    r = auth.post(f"/team/breaks/{bid}/end", {"reason": "not my team"})
    assert r.status_code == 404
    assert _audit(app, "security.override_other_team")


def test_step_away_is_confidential_and_not_overridable(app, clock, client, auth, people):
    ana = Auth(app.test_client())
    ana.login("ana")
    ana.post("/step-away", {"minutes": "10"})
    with app.app_context():
        bid = _session(app).scalars(select(Break.id)).one()
        assert _session(app).scalars(select(Alert)).all() == []
    auth.login("lee")
    page = client.get("/team").get_data(as_text=True)
    row = page.split(f'id="member-{people["ana"]}"')[1].split("</tr>")[0]
    assert "on a break" in row and "step" not in row.lower() and "End break" not in row
    assert auth.post(f"/team/breaks/{bid}/end", {"reason": "come back"}).status_code == 404


def test_alert_acknowledgement_is_limited_to_its_team(app, clock, client, auth, people):
    with app.app_context():
        alert = alerts.raise_alert(
            _session(app),
            key="k1",
            audience="lead",
            team_id=people["team"],
            subject_user_id=people["ana"],
            kind="rotate",
            message="Ana must rotate",
            now=clock.now(),
            routes=alerts.Routes(),
        )
        _session(app).commit()
        alert_id = alert.id
    olga = Auth(app.test_client())
    olga.login("olga")
    assert "Ana must rotate" not in olga.client.get("/alerts").get_data(as_text=True)
    assert olga.post(f"/alerts/{alert_id}/ack").status_code == 404
    auth.login("lee")
    assert "Ana must rotate" in client.get("/alerts").get_data(as_text=True)
    assert auth.post(f"/alerts/{alert_id}/ack").status_code == 302
    assert "Ana must rotate" not in client.get("/alerts").get_data(as_text=True)
    with app.app_context():
        assert _session(app).get(Alert, alert_id).acknowledged_by_id == people["lee"]


def test_failed_deliveries_are_visible_in_the_inbox(app, clock, client, auth, people):
    from exposure.models import Delivery

    with app.app_context():
        alerts.raise_alert(
            _session(app),
            key="k2",
            audience="lead",
            team_id=people["team"],
            subject_user_id=people["ana"],
            kind="rotate",
            message="Ana must rotate",
            now=clock.now(),
            routes=alerts.Routes(webhook_lead="https://hooks.example.test/x"),
        )
        delivery = _session(app).scalars(select(Delivery)).one()
        delivery.status, delivery.attempts, delivery.last_error = "failed", 8, "HTTP 500"
        _session(app).commit()
    auth.login("lee")
    page = client.get("/alerts").get_data(as_text=True)
    assert "webhook: failed after 8 attempts (HTTP 500)" in page
    assert "hooks.example.test" not in page  # a webhook URL is a credential
