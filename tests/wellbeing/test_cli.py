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
