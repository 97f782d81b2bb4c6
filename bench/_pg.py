"""A scratch PostgreSQL database for a benchmark: created fresh, dropped afterwards (on
errors and Ctrl-C too)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "WELLBEING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class SetupError(RuntimeError):
    """The bench's world could not be built."""


@contextlib.contextmanager
def scratch_database(name: str, skip_hint: str) -> Iterator[str]:
    """The URL of a new database `name` on the server at WELLBEING_BENCH_POSTGRES_URL."""
    admin_url = make_url(PG_ADMIN_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        raise SetupError(
            f"PostgreSQL unavailable at {admin_url!r} ({exc}); start it, set "
            f"WELLBEING_BENCH_POSTGRES_URL, or {skip_hint}"
        ) from None
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception), admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
