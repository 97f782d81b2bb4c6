"""Engine construction: SQLite tuned for concurrent writers, or PostgreSQL as given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Execution option for a transaction that only reads: on SQLite it then does not take the
# database's write lock (BEGIN instead of BEGIN IMMEDIATE). A write in it would fail.
READ_ONLY = "wellbeing_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE``."""
    parsed = make_url(url)
    # Errors are logged; their parameters would carry session tokens and password hashes.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":
        # No pool_pre_ping: it costs a round trip on every request. A connection that died
        # with its server fails that one request (503, fail closed) and is replaced.
        kwargs.setdefault("pool_recycle", 3600)
        return create_engine(url, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is broken).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Plain BEGIN lets two read-then-write transactions deadlock into SQLITE_BUSY;
        # taking the write lock up front makes them queue on the busy timeout instead.
        # A connection marked READ_ONLY (it never writes) reads a WAL snapshot without it.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_read_engine(engine: Engine) -> Engine:
    """The engine for statements that only read, beside `engine`.

    PostgreSQL: its own small pool of autocommit connections, so a read is one round trip
    with no BEGIN, no ROLLBACK and no isolation switch per request. SQLite: the same pool,
    reading in a snapshot that does not take the write lock (`READ_ONLY`).
    """
    if engine.dialect.name != "postgresql":
        return engine.execution_options(**{READ_ONLY: True})
    return create_engine(
        engine.url, isolation_level="AUTOCOMMIT", pool_recycle=3600, hide_parameters=True
    )
