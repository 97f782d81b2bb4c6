"""One SQLAlchemy session per app context, bound to the engine the factory configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from exposure import audit
from exposure.storage import make_engine, make_read_engine
from wellbeing.clock import Clock

log = logging.getLogger("wellbeing.security")


@dataclass
class _State:
    engine: Engine
    factory: sessionmaker[Session]
    reader: Engine


class Database:
    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["wellbeing.db"] = _State(
            engine, sessionmaker(engine, expire_on_commit=False), make_read_engine(engine)
        )
        app.teardown_appcontext(self._close)

    @staticmethod
    def _state() -> _State:
        state: _State = current_app.extensions["wellbeing.db"]
        return state

    @property
    def engine(self) -> Engine:
        return self._state().engine

    @property
    def read_engine(self) -> Engine:
        """The engine behind `reading` (on SQLite the same pool as `engine`)."""
        return self._state().reader

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = self._state().factory()
        session: Session = g.db_session
        return session

    def dispose(self) -> None:
        """Close every pooled connection of both engines (tests, forks, shutdown)."""
        state = self._state()
        state.reader.dispose()
        state.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for one statement that only reads, outside the request's session:
        autocommit on PostgreSQL (no BEGIN, no isolation switch), a snapshot on SQLite."""
        with self._state().reader.connect() as conn:
            yield conn

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()


def end_reads() -> None:
    """End the request's transaction once it has read what it needs and before slow work
    (rendering): on SQLite that transaction holds the write lock every other request
    waits on. Loaded objects stay usable (the session does not expire them on commit)."""
    db.session.commit()


def clock() -> Clock:
    found: Clock = current_app.extensions["wellbeing.clock"]
    return found


def security_event(action: str, **detail: Any) -> None:
    """Record a refusal of hostile or unauthorised input in the audit log.

    A refused request changes nothing, so its pending work is rolled back first; that also
    frees SQLite's write lock for this write. If even this write fails, the structured log
    line still carries the event.
    """
    addr = request.remote_addr if request else None
    log.warning("security event %s %s", action, detail, extra={"remote_addr": addr})
    session = db.session
    try:
        session.rollback()
        audit.record(
            session,
            "security." + action,
            clock().now(),
            actor_id=detail.pop("actor_id", None),
            token_id=detail.pop("token_id", None),
            attachment_id=detail.pop("attachment_id", None),
            remote_addr=addr,
            **detail,
        )
        session.commit()
    except Exception:
        session.rollback()
        log.exception("could not write security event %s", action)
