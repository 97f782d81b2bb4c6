"""Sign-in, throttling, revocable sessions and the role matrix."""

from __future__ import annotations

import pytest

from exposure import accounts
from exposure.models import AuditEvent, User
from tests.conftest import Auth


def _copy_cookie(src, dst) -> None:
    cookie = src.get_cookie("session")
    assert cookie is not None
    dst.set_cookie("session", cookie.value)


def test_login_and_home(world, client, auth):
    world.user("ana", "associate")
    r = auth.login("ana")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "Hello, ana" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_401_and_audited(world, client, auth):
    world.user("ana", "associate")
    r = auth.login("ana", "wrong-password-xx")
    assert r.status_code == 401
    assert "wrong password" in r.get_data(as_text=True)
    with world.app.app_context():
        from sqlalchemy import select

        from wellbeing.db import db

        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "security.login_failed" in actions


def test_account_locks_after_repeated_failures(world, clock, client, auth):
    world.user("ana", "associate")
    for _ in range(5):
        auth.login("ana", "wrong-password-xx")
    r = auth.login("ana")  # the right password, but locked
    assert r.status_code == 401
    assert "locked" in r.get_data(as_text=True)
    clock.advance(seconds=301)
    assert auth.login("ana").status_code == 302


def test_logout_kills_a_copied_cookie(world, app, client, auth):
    world.user("ana", "associate")
    auth.login("ana")
    thief = app.test_client()
    _copy_cookie(client, thief)
    assert thief.get("/").status_code == 200
    auth.post("/logout")
    r = thief.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_password_change_and_disable_kill_sessions(world, app, client, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    with app.app_context():
        from wellbeing.db import db

        accounts.set_password(db.session.get(User, uid), "a-new-password-123")
        db.session.commit()
    assert client.get("/").status_code == 302
    Auth(client).login("ana", "a-new-password-123")
    assert client.get("/").status_code == 200
    with app.app_context():
        from wellbeing.db import db

        accounts.set_active(db.session.get(User, uid), False)
        db.session.commit()
    assert client.get("/").status_code == 302
    assert Auth(client).login("ana", "a-new-password-123").status_code == 401


def test_rotating_the_secret_key_keeps_or_ends_sessions_as_configured(world, app, client, auth):
    """The session cookie's signer is built once, but follows a change of keys: with the old
    key as a fallback people stay signed in; without it their cookies stop working."""
    world.user("ana", "associate")
    att = world.attachment()
    auth.login("ana")
    assert client.get(f"/media/{att}/safe").status_code == 200
    old = app.secret_key
    app.secret_key = "rotated-secret"
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert client.get(f"/media/{att}/safe").status_code == 200
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get(f"/media/{att}/safe").status_code == 401


def test_login_does_not_redirect_offsite(world, client):
    world.user("ana", "associate")
    from tests.conftest import PASSWORD, csrf_token

    token = csrf_token(client)
    r = client.post(
        "/login?next=//evil.example.com/x",
        data={"username": "ana", "password": PASSWORD, "csrf_token": token},
    )
    assert r.headers["Location"] == "/"


def test_login_form_needs_csrf(world, client):
    world.user("ana", "associate")
    from tests.conftest import PASSWORD

    r = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/", "/view/1"])
def test_anonymous_pages_redirect_to_login(client, path):
    r = client.get(path)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


@pytest.mark.parametrize("path", ["/media/1/safe"])
def test_anonymous_media_is_401(client, path):
    r = client.get(path)
    assert r.status_code == 401
    assert r.mimetype == "application/json"


def test_anonymous_reveal_and_grant_are_refused(client):
    assert client.post("/view/1/reveal").status_code in (400, 401)
    assert client.post("/media/once/abc").status_code in (400, 401)


@pytest.mark.parametrize("role", ["lead", "wellbeing", "admin"])
def test_roles_without_associate_cannot_open_media(world, client, auth, role):
    world.user("pat", role)
    att = world.attachment()
    auth.login("pat")
    assert client.get(f"/view/{att}").status_code == 403
    assert client.get(f"/media/{att}/safe").status_code == 403
    r = auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-role-00001"})
    assert r.status_code == 403


def test_html_responses_carry_a_strict_csp(world, client):
    r = client.get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'self'" in csp
    assert "<script>" not in r.get_data(as_text=True)


def test_frame_ancestors_is_configurable(db_url, tmp_path, clock):
    from tests.conftest import make_app

    app = make_app(db_url, tmp_path, clock, FRAME_ANCESTORS="https://tickets.example.com")
    r = app.test_client().get("/login")
    assert r.headers["Content-Security-Policy"].endswith(
        "frame-ancestors https://tickets.example.com"
    )


def test_production_refuses_to_start_without_a_secret(db_url, tmp_path, clock):
    from wellbeing import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ENV": "production", "SECRET_KEY": None, "DATABASE_URL": db_url}, clock=clock)
