"""The scheduler: one active `wellbeing scheduler` process, a hot standby that takes over,
`--once` for cron, and /readyz reporting the heartbeat. Real processes, real databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from exposure import breaks
from exposure.models import Break, SchedulerHeartbeat
from tests.conftest import make_app
from wellbeing import reconcile
from wellbeing.scheduler import APPLICATION_NAME, LOCK_HELD_EXIT, start_in_process

WELLBEING = str(Path(sys.executable).with_name("wellbeing"))
FAST = ["--standby-seconds", "0.5", "--watchdog-seconds", "0.5"]
START_TIMEOUT = 30.0  # a cold interpreter on a loaded CI machine takes a few seconds
HOST = socket.gethostname()


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Scheduler:
    """A `wellbeing scheduler` child process with its output in a file."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def holder(self) -> str:
        return f"{HOST}:{self.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update(
        WELLBEING_DATABASE_URL=db_url,
        WELLBEING_DATA_DIR=str(tmp_path / "data"),  # the same DATA_DIR as the `app` fixture
        WELLBEING_SCHEDULER_INTERVAL_SECONDS="1",
        WELLBEING_SECRET_KEY="x",
    )
    return environ


@pytest.fixture
def spawn(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Scheduler]]:
    children: list[Scheduler] = []

    def start(*args: str) -> Scheduler:
        log = tmp_path / f"scheduler-{len(children)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [WELLBEING, "scheduler", *FAST, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )
        child = Scheduler(popen, log)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.alive():
            child.popen.kill()
        child.popen.wait(timeout=10)


@pytest.fixture
def once(env: dict[str, str], tmp_path: Path) -> Callable[[], tuple[int, int, str]]:
    """Run `wellbeing scheduler --once`; returns (exit code, pid, output)."""

    def run() -> tuple[int, int, str]:
        popen = subprocess.Popen(
            [WELLBEING, "scheduler", "--once"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        try:
            out, _ = popen.communicate(timeout=60)
        finally:
            if popen.poll() is None:
                popen.kill()
                popen.wait(timeout=10)
        return popen.returncode, popen.pid, out.decode(errors="replace")

    return run


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def heartbeat(engine: Engine) -> tuple[str, datetime] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(SchedulerHeartbeat.holder, SchedulerHeartbeat.beat_at).where(
                SchedulerHeartbeat.name == reconcile.HEARTBEAT_NAME
            )
        ).one_or_none()
    return None if row is None else (row[0], row[1])


def holder(engine: Engine) -> str | None:
    beat = heartbeat(engine)
    return None if beat is None else beat[0]


def active_of(engine: Engine, *candidates: Scheduler) -> Scheduler:
    by_holder = {s.holder: s for s in candidates}
    found: Scheduler = wait_for(
        "one scheduler to become active", lambda: by_holder.get(holder(engine) or ""), START_TIMEOUT
    )
    return found


def assert_sole_active(engine: Engine, active: Scheduler, seconds: float = 2.5) -> None:
    """Over a few intervals, only `active` beats (two active ones would alternate)."""
    first = heartbeat(engine)
    assert first is not None
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(holder(engine))
        time.sleep(0.1)
    last = heartbeat(engine)
    assert seen == {active.holder}
    assert last is not None and last[1] > first[1], "the active scheduler stopped beating"


# -- /readyz, in-process with the fake clock ---------------------------------------------------


def test_readyz_reports_scheduler_never_run_ok_and_stale(app, client, clock):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json == {"status": "ready", "database": "ok", "scheduler": "never_run"}

    reconcile.run_once(app)
    clock.advance(seconds=299)
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["scheduler"] == "ok"
    assert r.json["scheduler_age_seconds"] == 299

    clock.advance(seconds=2)
    r = client.get("/readyz")
    # Stale is visible but not fatal: web workers keep serving (enforcement reads the DB).
    assert r.status_code == 200
    assert r.json["status"] == "ready"
    assert r.json["scheduler"] == "stale"
    assert r.json["scheduler_age_seconds"] == 301
    assert r.json["scheduler_holder"] == f"{HOST}:{os.getpid()}"

    reconcile.run_once(app)
    assert client.get("/readyz").json["scheduler"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, clock):
    app = make_app("postgresql+psycopg://nobody@127.0.0.1:1/nothing", tmp_path, clock)
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json == {"status": "unavailable", "database": "unreachable"}


# -- `wellbeing scheduler` processes ------------------------------------------------------------


def test_two_schedulers_one_active_and_the_standby_takes_over_on_kill(app, spawn, engine):
    a, b = spawn(), spawn()
    active = active_of(engine, a, b)
    standby = b if active is a else a
    wait_for("the other to report standby", lambda: "standby" in standby.output(), START_TIMEOUT)
    assert_sole_active(engine, active)

    active.popen.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for("the standby to take over", lambda: holder(engine) == standby.holder, 10)
    assert time.monotonic() - killed_at < 10
    assert active.popen.wait(timeout=10) == -signal.SIGKILL
    assert_sole_active(engine, standby)

    # SIGTERM is a clean stop that releases the lock at once.
    standby.popen.send_signal(signal.SIGTERM)
    assert standby.popen.wait(timeout=15) == 0
    assert "scheduler stopped" in standby.output()
    app.config["SCHEDULER_IN_PROCESS"] = True
    scheduler = start_in_process(app)
    assert scheduler is not None
    scheduler.shutdown()


def test_once_and_in_process_are_refused_while_another_holds_the_lock(app, once, engine):
    assert start_in_process(app) is None  # SCHEDULER_IN_PROCESS is off by default
    app.config["SCHEDULER_IN_PROCESS"] = True
    scheduler = start_in_process(app)
    assert scheduler is not None
    try:
        assert {job.id for job in scheduler.get_jobs()} >= {"reconcile"}
        # The first run is immediate; it beats as this process.
        wait_for("the in-process run", lambda: holder(engine) == f"{HOST}:{os.getpid()}", 15)
        assert start_in_process(app) is None
        code, _, out = once()
        assert code == LOCK_HELD_EXIT
        assert "another scheduler holds the lock" in out
    finally:
        scheduler.shutdown()  # releases the lock
    code, pid, out = once()
    assert code == 0, out
    assert holder(engine) == f"{HOST}:{pid}"


def test_once_alone_reconciles_and_beats(app, world, once, engine):
    from wellbeing.db import db

    real_now = datetime.now(UTC)  # the child process runs on the system clock
    uid = world.user("ana", "associate")
    with app.app_context():
        ended = breaks.start_break(
            db.session, uid, "enforced", real_now - timedelta(minutes=30), minutes=5
        )
        running = breaks.start_break(
            db.session, uid, "step_away", real_now - timedelta(minutes=1), minutes=60
        )
        db.session.commit()
        ended_id, running_id = ended.id, running.id

    code, pid, out = once()
    assert code == 0, out
    assert "reconciled once" in out
    beat = heartbeat(engine)
    assert beat is not None and beat[0] == f"{HOST}:{pid}"
    assert beat[1] >= real_now
    with engine.connect() as conn:
        status = dict(conn.execute(select(Break.id, Break.status)).all())
    assert status == {ended_id: "completed", running_id: "active"}


def test_a_failing_reconcile_does_not_kill_the_scheduler(spawn, engine):
    # A real failure: the heartbeat table is missing, so the run's last step fails.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE scheduler_heartbeat RENAME TO scheduler_heartbeat_off"))
    try:
        child = spawn()
        wait_for(
            "a failed run to be logged",
            lambda: child.output().count("reconcile failed") >= 2 or not child.alive(),
            START_TIMEOUT,
        )
        assert child.alive(), child.output()
        assert "Traceback" in child.output()
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE scheduler_heartbeat_off RENAME TO scheduler_heartbeat"))
    wait_for("the next run to succeed", lambda: holder(engine) == child.holder, 15)
    assert child.alive()


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def test_losing_the_lock_connection_stops_the_active_scheduler(spawn, engine, db_url):
    if not _is_postgres(db_url):
        pytest.skip("advisory-lock connections exist on PostgreSQL only (WELLBEING_TEST_DB)")
    a, b = spawn(), spawn()
    active = active_of(engine, a, b)
    standby = b if active is a else a
    wait_for("the other to report standby", lambda: "standby" in standby.output(), START_TIMEOUT)

    with engine.connect() as conn:
        cut = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": f"{APPLICATION_NAME} {active.holder}"},
        ).scalar_one()
    assert cut == 1

    wait_for(
        "the active one to step down", lambda: "lost the scheduler lock" in active.output(), 10
    )
    wait_for("the standby to take over", lambda: holder(engine) == standby.holder, 10)
    assert active.alive(), "it goes back to standby rather than exiting"
    assert_sole_active(engine, standby)
