"""Shared fixtures: a migrated database (SQLite file or PostgreSQL), the app with a fake
clock, a test client, a CLI runner, and helpers to make people, attachments and sessions.

The backend is chosen by WELLBEING_TEST_DB (sqlite, the default, or postgres). With
WELLBEING_REQUIRE_POSTGRES=1 a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from exposure import accounts, attachments
from exposure.attachments import MediaFacts, Registration
from exposure.models import Attachment, Base, Team, User
from wellbeing import create_app
from wellbeing.cli import upgrade
from wellbeing.clock import FakeClock

PASSWORD = "correct-horse-battery"
PG_ADMIN_URL = os.environ.get(
    "WELLBEING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# One database per test session, so concurrent runs on one server never clash.
PG_TEST_DB = f"wellbeing_test_{os.getpid()}"


def _require(flag: str) -> bool:
    return os.environ.get(flag, "") not in ("", "0", "false")


def postgres_url_or_skip() -> str:
    """A freshly created, migrated PostgreSQL database for this test session."""
    admin = make_url(PG_ADMIN_URL)
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {PG_TEST_DB}"))
        engine.dispose()
    except Exception as exc:
        if _require("WELLBEING_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unavailable at {admin!r}: {exc}")
        pytest.skip(f"PostgreSQL unavailable at {admin!r} ({exc}); set WELLBEING_TEST_POSTGRES_URL")
    url = admin.set(database=PG_TEST_DB).render_as_string(hide_password=False)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _pg_url() -> Iterator[str]:
    url = postgres_url_or_skip()
    yield url
    engine = create_engine(make_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgres":
        url: str = request.getfixturevalue("_pg_url")
        _truncate_postgres(url)
        return url
    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "wellbeing.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(os.environ.get("WELLBEING_TEST_DB", "sqlite"), request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends in every run, for tests whose point is the database itself."""
    return fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


_EXTRA_APPS: list[Flask] = []


def make_app(url: str, tmp_path: Path, clock: FakeClock, **overrides: Any) -> Flask:
    """An app on the given database; its engine is disposed when the test ends."""
    config = {
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        **overrides,
    }
    app = create_app(config, clock=clock)
    _EXTRA_APPS.append(app)
    return app


@pytest.fixture(autouse=True)
def _dispose_apps() -> Iterator[None]:
    # A pooled PostgreSQL connection left to the garbage collector warns (an error here).
    yield
    while _EXTRA_APPS:
        app = _EXTRA_APPS.pop()
        with app.app_context():
            from wellbeing.db import db

            db.dispose()


@pytest.fixture
def app(db_url: str, tmp_path: Path, clock: FakeClock) -> Flask:
    return make_app(db_url, tmp_path, clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def jpeg_bytes(size: tuple[int, int] = (320, 240), seed: int = 1) -> bytes:
    """A small photo-like JPEG with detail, so blur is measurable."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize(size, Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


class World:
    """Makes people, teams and attachments directly through the domain functions."""

    def __init__(self, app: Flask, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self._serial = itertools.count(1)

    def _session(self) -> Any:
        from wellbeing.db import db

        return db.session

    def team(self, name: str = "Queue A") -> int:
        with self.app.app_context():
            s = self._session()
            team = accounts.create_team(s, name, self.clock.now())
            s.commit()
            return team.id

    def user(
        self, username: str, *roles: str, team_id: int | None = None, lead_of: bool = False
    ) -> int:
        with self.app.app_context():
            s = self._session()
            team = s.get(Team, team_id) if team_id else None
            user = accounts.create_user(
                s, username, PASSWORD, roles or ("associate",), self.clock.now(), team=team
            )
            if lead_of and team is not None:
                accounts.make_lead(s, team, user)
            s.commit()
            return user.id

    def attachment(
        self,
        data: bytes | None = None,
        *,
        flag_state: str = "flagged",
        categories: list[str] | None = None,
        severity: int = 4,
        ticket: str = "T-1",
        external_id: str | None = None,
    ) -> int:
        import blur

        data = data or jpeg_bytes()
        if categories is None:
            categories = ["graphic_violence"] if flag_state == "flagged" else []
        info = blur.probe(data)
        with self.app.app_context():
            s = self._session()
            att, _ = attachments.register(
                s,
                Registration(
                    ticket_ref=ticket,
                    external_id=external_id or f"ext-{next(self._serial)}",
                    filename="evidence.jpg",
                    flag_state=flag_state,
                    categories=categories,
                    severity=severity,
                    flag_source="ticket_label" if flag_state == "flagged" else None,
                ),
                data,
                MediaFacts("image", info.format, info.mime, info.width, info.height, info.frames),
                self.clock.now(),
            )
            s.commit()
            return att.id

    def token(self, *scopes: str) -> str:
        with self.app.app_context():
            s = self._session()
            _, plaintext = accounts.create_api_token(
                s,
                "ticketing",
                scopes or ("attachments:write", "attachments:read"),
                self.clock.now(),
            )
            s.commit()
            return plaintext

    def get(self, model: type[Any], ident: Any) -> Any:
        with self.app.app_context():
            return self._session().get(model, ident)


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    return World(app, clock)


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF_META.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class Auth:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> Any:
        token = csrf_token(self.client)
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    def csrf(self) -> str:
        return csrf_token(self.client, "/")

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        headers = {"X-CSRFToken": self.csrf(), **kwargs.pop("headers", {})}
        response = self.client.post(path, data=data or {}, headers=headers, **kwargs)
        response.get_data()  # buffered, so a file response can be closed at once
        response.close()
        return response


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


__all__ = ["PASSWORD", "Attachment", "Auth", "User", "World", "csrf_token", "jpeg_bytes"]
