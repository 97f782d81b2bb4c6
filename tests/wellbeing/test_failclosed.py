"""Fail closed: when the ledger cannot be written, nothing revealed leaves the server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from exposure.models import ExposureEvent
from tests.conftest import jpeg_bytes

JPEG_MAGIC = b"\xff\xd8\xff"


@contextmanager
def database_breaks_on(app, statement_prefix: str) -> Iterator[None]:
    """Make the real database connection fail from the next matching statement on."""
    with app.app_context():
        from wellbeing.db import db

        engine = db.engine  # the request's session (the safe view's read is table_gone's)

    def fail(conn, cursor, statement, parameters, context, executemany):
        text = statement.lstrip().upper()
        table = statement_prefix.split()[-1]
        if text.startswith(statement_prefix) or (
            statement_prefix.startswith("SELECT") and f"FROM {table}" in text
        ):
            raise OperationalError(
                statement, parameters, sqlite3.OperationalError("disk I/O error")
            )

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


@pytest.fixture
def associate(world, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    return uid


def test_reveal_is_refused_when_the_ledger_cannot_be_written(app, world, auth, associate):
    att = world.attachment(jpeg_bytes((320, 240)))
    with database_breaks_on(app, "INSERT INTO EXPOSURE_EVENT"):
        r = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-dbdown-01"})
    assert r.status_code == 503
    assert "url" not in r.json and "nothing was revealed" in r.json["message"]
    assert JPEG_MAGIC not in r.data
    with app.app_context():
        from wellbeing.db import db

        assert db.session.scalars(select(ExposureEvent)).all() == []


def test_grant_is_not_served_when_it_cannot_be_spent(app, world, auth, associate):
    att = world.attachment(jpeg_bytes((320, 240)))
    url = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-dbdown-02"})
    url = url.json["url"]
    with database_breaks_on(app, "UPDATE REVEAL_GRANT"):
        r = auth.post(url)
    assert r.status_code == 503
    assert JPEG_MAGIC not in r.data and r.mimetype == "application/json"


@contextmanager
def table_gone(app, table: str) -> Iterator[None]:
    """The table really cannot be read (renamed away by another connection): a failure of
    the database itself, whichever driver path the request reads it through."""
    from sqlalchemy import create_engine, text

    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table}_gone RENAME TO {table}"))
        engine.dispose()


def test_break_state_unreadable_refuses_media(app, world, client, associate):
    att = world.attachment(jpeg_bytes((320, 240)))
    assert client.get(f"/media/{att}/safe").status_code == 200  # rendered and cached
    with table_gone(app, "break_period"):
        r = client.get(f"/media/{att}/safe")
    assert r.status_code == 503 and r.json["error"] == "database_unavailable"
    assert JPEG_MAGIC not in r.data
    assert client.get(f"/media/{att}/safe").status_code == 200  # back once it is readable


def test_original_unreadable_is_503_not_a_placeholder(app, world, client, auth, associate, caplog):
    """A database failure while reading the original to render it is a 503 (retry later),
    never a 200 with a placeholder that would pass for the item; and the logged error does
    not carry the query's parameters (the session token among them)."""
    att = world.attachment(jpeg_bytes((320, 240)))  # nothing rendered or cached yet
    with table_gone(app, "blob"):
        r = client.get(f"/media/{att}/safe")
        assert r.status_code == 503 and r.json["error"] == "database_unavailable"
        assert JPEG_MAGIC not in r.data
        with table_gone(app, "break_period"):
            assert client.get(f"/media/{att}/safe").status_code == 503
    session_token = client.get_cookie("session").value
    with app.app_context():
        from exposure.models import User
        from wellbeing.db import db

        token = db.session.scalars(select(User.session_token)).one()
    logged = caplog.text
    assert "database unavailable" in logged
    assert token not in logged and session_token not in logged
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 200 and r.data.startswith(JPEG_MAGIC)


def test_a_reveal_render_does_not_hold_sqlites_write_lock(app, world, auth, associate, monkeypatch):
    """While a revealed rendition renders (it can take seconds), other requests can still
    write: the request's read transaction ended before the render began."""
    import sqlite3

    from wellbeing import renditions

    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    att = world.attachment(jpeg_bytes((320, 240)))
    path = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    outcomes: list[str] = []
    real = renditions.blur.render_cached

    def render_while_another_writes(*args, **kwargs):
        other = sqlite3.connect(path, isolation_level=None, timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            outcomes.append("wrote")
        except sqlite3.OperationalError as exc:
            outcomes.append(str(exc))
        finally:
            other.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(renditions.blur, "render_cached", render_while_another_writes)
    url = auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-lock-1"})
    r = auth.post(url.json["url"])
    assert r.status_code == 200 and r.data.startswith(JPEG_MAGIC)
    assert outcomes == ["wrote"]


def test_render_failure_gives_a_placeholder_not_the_original(app, world, auth, associate):
    """Bytes that decode in the probe but break the renderer: a neutral placeholder comes back."""
    data = jpeg_bytes((320, 240))
    att = world.attachment(data)
    with app.app_context():
        from exposure.models import Blob
        from wellbeing.db import db

        blob = db.session.scalars(select(Blob)).one()
        blob.data = data[:600]  # storage corrupted after registration
        db.session.commit()
    url = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-corrupt-1"})
    r = auth.post(url.json["url"])
    assert r.status_code == 200
    assert data[:600] not in r.data
    import io

    import numpy as np
    from PIL import Image

    shown = np.asarray(Image.open(io.BytesIO(r.data), formats=["JPEG", "PNG"]).convert("L"), float)
    assert shown.std() < 30  # flat placeholder, not a picture
