"""The world bench/serve.py measures: a bench database, associates, flagged attachments,
optional past exposure, and sessions obtained through the real sign-in form."""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import requests
from _pg import SetupError, scratch_database
from _serve_load import USER_AGENT
from PIL import Image
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import blur
from exposure import accounts, attachments
from exposure.attachments import MediaFacts, Registration
from exposure.models import ExposureEvent
from exposure.storage import make_engine

PG_BENCH_DB = "wellbeing_bench_serve"
PASSWORD = "bench-password-1"
CATEGORIES = ["graphic_violence", "murder", "torture", "suicide", "self_harm", "hate_speech"]
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def postgres_database() -> contextlib.AbstractContextManager[str]:
    """A fresh bench database on the PostgreSQL server, dropped afterwards."""
    return scratch_database(PG_BENCH_DB, "run with --sqlite --no-postgres")


def photo(seed: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A photo-sized JPEG with smooth shapes and sensor-like noise (no downloads)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), np.int16)
    img = img + rng.normal(0, 12, img.shape).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class World:
    users: dict[str, int] = field(default_factory=dict)  # username -> id
    attachment_ids: list[int] = field(default_factory=list)


def populate(url: str, n_users: int, n_attachments: int) -> World:
    """Associates and flagged attachments made with the domain functions, like the tests."""
    now = datetime.now(UTC)
    engine = make_engine(url)
    world = World()
    try:
        with Session(engine) as session:
            team = accounts.create_team(session, "Bench queue", now)
            for i in range(n_users):
                name = f"assoc{i:02d}"
                user = accounts.create_user(session, name, PASSWORD, ("associate",), now, team=team)
                world.users[name] = user.id
            for i in range(n_attachments):
                data = photo(i)
                info = blur.probe(data)
                att, _ = attachments.register(
                    session,
                    Registration(
                        ticket_ref=f"T-{1000 + i}",
                        external_id=f"bench-{i}",
                        filename=f"evidence-{i}.jpg",
                        flag_state="flagged",
                        categories=[CATEGORIES[i % len(CATEGORIES)]],
                        severity=4,
                        flag_source="ticket_label",
                    ),
                    data,
                    MediaFacts(
                        "image", info.format, info.mime, info.width, info.height, info.frames
                    ),
                    now,
                )
                world.attachment_ids.append(att.id)
            session.commit()
    finally:
        engine.dispose()
    return world


def seed_history(url: str, world: World, per_user: int) -> None:
    """Past exposure per associate: safe views with every tenth one revealed in grayscale.

    Spread over the previous days inside the policy's 7-day lookback and ending at least
    7 hours ago, so today's and this shift's rules do not fire; weekly dose stays far under
    its threshold. Inserted in bulk (a bench shortcut, not the ledger's code path).
    """
    if per_user <= 0:
        return
    now = datetime.now(UTC)
    start = now - timedelta(days=7) + timedelta(hours=2)
    end = min(now.replace(hour=0, minute=0, second=0, microsecond=0), now - timedelta(hours=7))
    step = (end - start) / per_user
    rows = []
    for user_id in world.users.values():
        for k in range(per_user):
            at = start + step * k
            rows.append(
                {
                    "user_id": user_id,
                    "attachment_id": world.attachment_ids[k % len(world.attachment_ids)],
                    "client_event_id": secrets.token_urlsafe(12),
                    "category": CATEGORIES[k % len(CATEGORIES)],
                    "severity": 4,
                    "level": 3 if k % 10 == 9 else 1,
                    "region": None,
                    "modality": "image",
                    "started_at": at,
                    "last_seen_at": at + timedelta(seconds=8),
                    "duration_seconds": 8.0,
                }
            )
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.execute(insert(ExposureEvent), rows)
            session.commit()
    finally:
        engine.dispose()


def count_events(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(ExposureEvent)) or 0)
    finally:
        engine.dispose()


def database_pids(url: str) -> list[int]:
    """PostgreSQL backends serving the bench database (local server), for their CPU time."""
    if make_url(url).get_backend_name() != "postgresql":
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return [int(pid) for (pid,) in rows]
    finally:
        engine.dispose()


def login(base: str, username: str) -> str:
    """Sign in through the real form; return the Cookie header value of the session."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    page = http.get(base + "/login", timeout=10)
    match = CSRF_META.search(page.text)
    if match is None:
        raise SetupError("no CSRF token on /login")
    answer = http.post(
        base + "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302 or "session" not in http.cookies:
        raise SetupError(f"login of {username} failed: HTTP {answer.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def fetch(base: str, path: str, cookie: str) -> bytes:
    """GET with a session; anything but 200 is a set-up failure."""
    headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
    answer = requests.get(base + path, headers=headers, allow_redirects=False, timeout=30)
    if answer.status_code != 200:
        raise SetupError(f"GET {path} answered {answer.status_code}: {answer.text[:200]}")
    return answer.content


def cached_files(cache_dir: Path) -> dict[str, Path]:
    """SHA-256 of each cached rendition image -> its file, from the cache's sidecars."""
    found = {}
    for sidecar in cache_dir.glob("*/*.json"):
        meta = json.loads(sidecar.read_text())
        suffix = ".png" if meta["mime"] == "image/png" else ".jpg"
        found[meta["sha256"]] = sidecar.with_suffix(suffix)
    return found
