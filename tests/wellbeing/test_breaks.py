"""Enforced breaks: sensitive media is refused with 423 and the time left, from the database."""

from __future__ import annotations

from sqlalchemy import select

from exposure import breaks
from exposure.models import ExposureEvent
from tests.conftest import Auth, make_app


def _start_break(world, user_id: int, minutes: float, kind: str = "enforced") -> None:
    with world.app.app_context():
        from wellbeing.db import db

        breaks.start_break(db.session, user_id, kind, world.clock.now(), minutes=minutes)
        db.session.commit()


def test_break_refuses_view_safe_media_reveal_and_grant(world, clock, client, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    att = world.attachment()
    url = auth.post(
        f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-before-brk"}
    ).json["url"]
    clock.advance(seconds=1)  # a lead starts a break a second after the reveal
    _start_break(world, uid, minutes=5)

    page = client.get(f"/view/{att}")
    assert page.status_code == 423
    assert "Time to pause" in page.get_data(as_text=True)
    assert page.headers["Retry-After"] == "300"
    safe = client.get(f"/media/{att}/safe")
    assert safe.status_code == 423 and safe.json["seconds_left"] == 300
    assert safe.mimetype == "application/json"
    r = auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-during-brk"})
    assert r.status_code == 423
    # A grant issued before the break does not work during it.
    assert auth.post(url).status_code == 423
    with world.app.app_context():
        from wellbeing.db import db

        ids = db.session.scalars(select(ExposureEvent.client_event_id)).all()
    assert "evt-during-brk" not in ids


def test_unflagged_work_continues_during_a_break(world, client, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    att = world.attachment(flag_state="clear", categories=[])
    _start_break(world, uid, minutes=5)
    assert client.get(f"/view/{att}").status_code == 200
    assert client.get(f"/media/{att}/safe").status_code == 200


def test_break_ends_on_time(world, clock, client, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    att = world.attachment()
    _start_break(world, uid, minutes=2)
    clock.advance(seconds=119)
    assert client.get(f"/media/{att}/safe").json["seconds_left"] == 1
    clock.advance(seconds=1)
    assert client.get(f"/media/{att}/safe").status_code == 200


def test_break_holds_on_another_worker(world, db_url, tmp_path, clock):
    """A second app instance (another worker or node) reads the same break from the database."""
    uid = world.user("ana", "associate")
    att = world.attachment()
    _start_break(world, uid, minutes=10, kind="rotation")
    other = make_app(db_url, tmp_path / "other", clock)
    client = other.test_client()
    Auth(client).login("ana")
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 423
    assert r.json["kind"] == "rotation"
    with other.app_context():
        from wellbeing.db import db

        db.dispose()


def test_step_away_starts_a_confidential_break(world, client, auth):
    world.user("ana", "associate")
    auth.login("ana")
    att = world.attachment()
    r = auth.post("/step-away", {"minutes": "5"})
    assert r.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "on a break" in home
    assert client.get(f"/media/{att}/safe").json["kind"] == "step_away"


def test_step_away_rejects_silly_lengths(world, auth):
    world.user("ana", "associate")
    auth.login("ana")
    r = auth.post("/step-away", {"minutes": "100000"})
    assert r.status_code == 400
