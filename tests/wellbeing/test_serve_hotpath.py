"""The safe view reads the session's person, the attachment and the break flag in one query:
it must keep every check the separate reads made (revocation, roles, existence, breaks)."""

from __future__ import annotations

from sqlalchemy import select

from exposure import accounts, breaks
from exposure.models import AuditEvent, User, UserRole
from tests.conftest import Auth


def _copy_cookie(src, dst) -> None:
    cookie = src.get_cookie("session")
    dst.set_cookie(cookie.key, cookie.value)


def test_logout_revokes_a_copied_cookie_on_media(world, app, client, auth):
    world.user("ana", "associate")
    att = world.attachment()
    auth.login("ana")
    thief = app.test_client()
    _copy_cookie(client, thief)
    assert thief.get(f"/media/{att}/safe").status_code == 200
    auth.post("/logout")
    r = thief.get(f"/media/{att}/safe")
    assert r.status_code == 401 and r.mimetype == "application/json"


def test_disabled_or_roleless_person_gets_nothing(world, app, client, auth):
    uid = world.user("ana", "associate")
    att = world.attachment()
    auth.login("ana")
    with app.app_context():
        from wellbeing.db import db

        db.session.query(UserRole).filter_by(user_id=uid).delete()
        db.session.commit()
    assert client.get(f"/media/{att}/safe").status_code == 401
    with app.app_context():
        from wellbeing.db import db

        db.session.add(UserRole(user_id=uid, role="associate"))
        db.session.commit()
    assert client.get(f"/media/{att}/safe").status_code == 200
    with app.app_context():
        from wellbeing.db import db

        accounts.set_active(db.session.get(User, uid), False)
        db.session.commit()
    assert client.get(f"/media/{att}/safe").status_code == 401


def test_missing_item_is_404_only_for_a_signed_in_associate(world, app, client, auth):
    world.user("ana", "associate")
    assert app.test_client().get("/media/999/safe").status_code == 401
    auth.login("ana")
    assert client.get("/media/999/safe").status_code == 404


def test_break_is_read_live_between_two_safe_views(world, app, clock, client, auth):
    uid = world.user("ana", "associate")
    att = world.attachment()
    clear = world.attachment(flag_state="clear", external_id="clear-1")
    Auth(client).login("ana")
    assert client.get(f"/media/{att}/safe").status_code == 200
    with app.app_context():
        from wellbeing.db import db

        brk = breaks.start_break(db.session, uid, "enforced", clock.now(), minutes=5)
        db.session.commit()
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 423 and r.json["seconds_left"] == 300
    with app.app_context():  # the refusal is audited, although the safe view only reads
        from wellbeing.db import db

        refused = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "security.refused_on_break")
        ).all()
        assert [(e.actor_id, e.attachment_id) for e in refused] == [(uid, att)]
    assert client.get(f"/media/{clear}/safe").status_code == 200  # unflagged items pass
    with app.app_context():
        from wellbeing.db import db

        breaks.end_break(db.session, brk.id, clock.now(), by_user_id=uid, reason="test")
        db.session.commit()
    assert client.get(f"/media/{att}/safe").status_code == 200


def test_safe_view_on_sqlite_does_not_queue_behind_a_writer(world, app, client, auth):
    """On SQLite the safe view reads a snapshot (BEGIN, not BEGIN IMMEDIATE): it is served
    while another connection holds the database's write lock, and sees only committed rows."""
    import sqlite3

    import pytest

    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    world.user("ana", "associate")
    att = world.attachment()
    auth.login("ana")
    path = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE attachment SET flag_state = 'unflagged'")
        r = client.get(f"/media/{att}/safe")
        assert r.status_code == 200 and r.mimetype == "image/jpeg"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_safe_view_recovers_after_the_database_drops_its_connections(world, app, client, auth):
    """PostgreSQL reads the safe view on a raw driver connection: when the server drops it
    (a restart, a failover), that one request is refused with 503 and nothing of the image,
    and the dead connection leaves the pool so the next request is served."""
    import pytest
    from sqlalchemy import create_engine, text

    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("PostgreSQL's driver connections")
    world.user("ana", "associate")
    att = world.attachment()
    auth.login("ana")
    assert client.get(f"/media/{att}/safe").status_code == 200
    admin = create_engine(app.config["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        admin.dispose()
    assert dropped >= 1
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 503 and r.json["error"] == "database_unavailable"
    assert b"\xff\xd8\xff" not in r.data
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"


def test_ids_beyond_what_an_id_column_holds_are_404_not_database_errors(world, app, client, auth):
    """Hostile ids are answered like unknown ones, before any database driver sees them."""
    world.user("ana", "associate")
    token = world.token("attachments:read")
    auth.login("ana")
    huge = 2**31  # one past the largest INTEGER id on PostgreSQL
    for path in (f"/media/{huge}/safe", f"/view/{huge}", f"/media/{10**30}/safe"):
        assert client.get(path).status_code == 404, path
    r = client.get(f"/api/v1/attachments/{huge}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    assert client.get(f"/media/{2**31 - 1}/safe").status_code == 404  # the largest: no such item
    assert client.get(f"/media/{2**63}/safe").status_code == 404
