"""The `wellbeing` command: schema, people, teams, tokens and the demo data."""

from __future__ import annotations

from sqlalchemy import select

from exposure.models import ApiToken, Attachment, TeamLead, User


def test_create_team_user_and_token(app, runner, monkeypatch):
    monkeypatch.setenv("NEW_PW", "a-long-enough-password")
    assert runner.invoke(args=["team", "create", "Queue B"]).exit_code == 0
    r = runner.invoke(
        args=[
            "user",
            "create",
            "lee",
            "--role",
            "lead",
            "--role",
            "associate",
            "--team",
            "Queue B",
            "--password-env",
            "NEW_PW",
        ]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["token", "create", "ticketing"])
    assert r.exit_code == 0
    plaintext = r.output.strip().splitlines()[-1]
    assert plaintext.startswith("svg_")
    with app.app_context():
        from wellbeing.db import db

        lee = db.session.scalar(select(User).where(User.username == "lee"))
        assert lee.roles == {"lead", "associate"}
        assert db.session.scalar(select(TeamLead).where(TeamLead.user_id == lee.id)) is not None
        assert db.session.scalar(select(ApiToken)).token_hash != plaintext


def test_cli_errors_are_clear(app, runner, monkeypatch):
    monkeypatch.setenv("NEW_PW", "short")
    r = runner.invoke(args=["user", "create", "x", "--role", "boss", "--password-env", "NEW_PW"])
    assert r.exit_code != 0 and "roles must be some of" in r.output
    r = runner.invoke(
        args=["user", "create", "x", "--role", "associate", "--password-env", "NEW_PW"]
    )
    assert r.exit_code != 0 and "at least 10 characters" in r.output
    r = runner.invoke(args=["token", "revoke", "42"])
    assert r.exit_code != 0 and "no API token" in r.output


def test_demo_loads_people_and_attachments_idempotently(app, runner, client):
    r = runner.invoke(args=["demo", "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "ana" in r.output and "/view/" in r.output
    assert runner.invoke(args=["demo", "--no-serve"]).exit_code == 0
    with app.app_context():
        from wellbeing.db import db

        atts = db.session.scalars(select(Attachment)).all()
        assert len(atts) == 6
        assert {a.flag_state for a in atts} == {"flagged", "clear", "unknown"}
    from tests.conftest import Auth
    from wellbeing.demo import DEMO_PASSWORD

    assert Auth(client).login("ana", DEMO_PASSWORD).status_code == 302
    assert client.get(f"/view/{atts[0].id}").status_code == 200


def test_policy_check_lists_rules_or_every_problem(runner, tmp_path):
    r = runner.invoke(args=["policy", "check", "exposure/default_policy.toml"])
    assert r.exit_code == 0, r.output
    assert "daily-graphic-cap: graphic_minutes over day >= 240 -> rotate" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'version = "x"\n[[rules]]\nid = "fast"\nmetric = "nope"\nwindow = "fortnight"\n'
        'threshold = -1\nactions = [{ type = "break" }]\n'
    )
    r = runner.invoke(args=["policy", "check", str(bad)])
    assert r.exit_code != 0
    for problem in ("(id=fast).metric", "(id=fast).window", "(id=fast).threshold", "minutes"):
        assert problem in r.output


def test_policy_simulate_replays_the_ledger(app, world, clock, runner, tmp_path):
    from exposure import ledger
    from exposure.models import Attachment

    uid = world.user("ana", "associate")
    att_id = world.attachment(severity=5)
    with app.app_context():
        from wellbeing.db import db

        att = db.session.get(Attachment, att_id)
        for i in range(6):  # six severe reveals in six minutes
            ledger.record_view(
                db.session,
                uid,
                att,
                level=3,
                region=None,
                modality="image",
                client_event_id=f"evt-sim-{i:04d}",
                now=clock.now(),
            )
            clock.advance(seconds=60)
        db.session.commit()
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'version = "strict"\n[[rules]]\nid = "two-reveals"\ndescription = "d"\n'
        'metric = "reveals"\nwindow = "rolling 10m"\nthreshold = 2\ncooldown_minutes = 3\n'
        'actions = [{ type = "break", minutes = 1 }]\n'
    )
    r = runner.invoke(args=["policy", "simulate", str(strict), "--days", "1"])
    assert r.exit_code == 0, r.output
    assert "6 events, 1 people" in r.output
    assert "two-reveals: 2" in r.output  # at the 2nd reveal, and again after the cooldown
    with app.app_context():
        from sqlalchemy import func, select

        from exposure.models import Break
        from wellbeing.db import db

        assert db.session.scalar(select(func.count()).select_from(Break)) == 0  # nothing real
