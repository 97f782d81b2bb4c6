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

        engines = [db.engine, db.read_engine]  # the request's session and its reads

    def fail(conn, cursor, statement, parameters, context, executemany):
        text = statement.lstrip().upper()
        table = statement_prefix.split()[-1]
        if text.startswith(statement_prefix) or (
            statement_prefix.startswith("SELECT") and f"FROM {table}" in text
        ):
            raise OperationalError(
                statement, parameters, sqlite3.OperationalError("disk I/O error")
            )

    for engine in engines:
        event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        for engine in engines:
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
