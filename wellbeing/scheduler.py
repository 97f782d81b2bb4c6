"""The scheduler process: APScheduler runs the periodic reconciler in exactly one process.

A lock makes every other `wellbeing scheduler` a hot standby that takes over when the active
one dies: on PostgreSQL a session advisory lock held on a dedicated connection that a
watchdog keeps checking, on SQLite an exclusive ``flock`` on ``DATA_DIR/scheduler.lock``.
Jobs live in memory only; the times they act on (break ends, check-ins due) are in tables.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import click
from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from wellbeing import reconcile

log = logging.getLogger("wellbeing.scheduler")

# The one advisory lock key of this service: b"safeview" read as a (positive) signed int64.
LOCK_KEY = int.from_bytes(b"safeview", "big", signed=True)
LOCK_FILE = "scheduler.lock"
APPLICATION_NAME = "wellbeing-scheduler"
JOB_ID = "reconcile"
WATCHDOG_JOB_ID = "lock-watchdog"
STANDBY_SECONDS = 5.0
WATCHDOG_SECONDS = 3.0
LOCK_HELD_EXIT = 3

# One reconcile at a time in this process, even across an active term that ended while its
# last run was still going and the next term that started after it.
_one_run = threading.Lock()


class SchedulerLock(Protocol):
    """Exclusive, non-blocking, and released by the operating system or the database when the
    holding process dies."""

    def acquire(self) -> bool: ...

    def alive(self) -> bool:
        """Whether this process provably still holds the lock."""
        ...

    def release(self) -> None: ...

    def holder(self) -> str | None:
        """Who holds the lock, as far as can be told (for messages)."""
        ...


class FileLock:
    """``flock`` on a file: the kernel drops it when the process dies, even by SIGKILL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        # For people and for `holder()`; the kernel lock is what counts.
        os.ftruncate(fd, 0)
        os.write(fd, f"{reconcile.holder()}\n".encode())
        self._fd = fd
        return True

    def alive(self) -> bool:
        if self._fd is None:
            return False
        # If the file was deleted or replaced, a newcomer can lock the new file: step down.
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a connection of its own (never from the app's pool): the
    lock lives exactly as long as that database session."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        connect_args: dict[str, Any] = {
            "application_name": f"{APPLICATION_NAME} {reconcile.holder()}"[:63]
        }
        if parsed.get_driver_name() in ("psycopg", "psycopg2"):
            # Notice a dead network within seconds rather than the kernel's default hours.
            connect_args.update(
                connect_timeout=10,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=10_000,
            )
        # AUTOCOMMIT: the session holds the lock, and an idle open transaction could be
        # killed by idle_in_transaction_session_timeout.
        self._engine = create_engine(
            parsed, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args
        )
        self._conn: Connection | None = None
        self._mutex = threading.Lock()  # the watchdog and the job thread share the connection

    def acquire(self) -> bool:
        with self._mutex:
            if self._conn is not None:
                return True
            conn = self._engine.connect()
            try:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
                ).scalar_one()
            except BaseException:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True

    def alive(self) -> bool:
        with self._mutex:
            if self._conn is None:
                return False
            try:
                # Ask about the lock itself, not just "SELECT 1": a silently re-opened
                # connection would answer queries without holding anything.
                held = self._conn.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                        " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                        " AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid))"
                    ),
                    {"hi": (LOCK_KEY >> 32) & 0xFFFFFFFF, "lo": LOCK_KEY & 0xFFFFFFFF},
                ).scalar_one()
            except Exception as exc:
                log.error("scheduler lock connection failed: %s", exc)
                held = False
            if not held:
                self._discard()
            return bool(held)

    def release(self) -> None:
        with self._mutex:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except Exception as exc:
                # Closing the session below releases it anyway.
                log.warning("could not unlock the scheduler lock cleanly: %s", exc)
            self._discard()

    def holder(self) -> str | None:
        try:
            with self._engine.connect() as conn:
                name = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l"
                        " JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                        " AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid)"
                    ),
                    {"hi": (LOCK_KEY >> 32) & 0xFFFFFFFF, "lo": LOCK_KEY & 0xFFFFFFFF},
                ).scalar()
        except Exception:
            return None
        return str(name) if name else None

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                log.debug("closing the lost lock connection: %s", exc)


def make_lock(app: Flask) -> SchedulerLock:
    """The lock for the configured database: advisory on PostgreSQL, a file on SQLite."""
    url = app.config["DATABASE_URL"]
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        return AdvisoryLock(url)
    if backend == "sqlite":
        return FileLock(Path(app.config["DATA_DIR"]) / LOCK_FILE)
    raise ValueError(f"no scheduler lock for the {backend!r} database backend")


class Term:
    """One active term: the jobs run while the lock is held. Shutting the scheduler down,
    for any reason, releases the lock."""

    def __init__(
        self,
        app: Flask,
        lock: SchedulerLock,
        *,
        watchdog_seconds: float = WATCHDOG_SECONDS,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.lock = lock
        self.ended = threading.Event()
        self._on_end = on_end
        self._stopping = threading.Lock()  # taken once, by whoever stops first
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # The watchdog has its own thread so a long reconcile cannot delay it.
            executors={"default": ThreadPoolExecutor(1), "watchdog": ThreadPoolExecutor(1)},
        )
        self.scheduler.add_listener(self._ended, EVENT_SCHEDULER_SHUTDOWN)
        self.scheduler.add_job(
            self._reconcile,
            IntervalTrigger(seconds=app.config["SCHEDULER_INTERVAL_SECONDS"], timezone=UTC),
            id=JOB_ID,
            name="reconcile breaks, check-ins, rules and deliveries",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # never drop a late run (APScheduler's default is 1 s)
            next_run_time=datetime.now(UTC),  # catch up on downtime right away
        )
        self.scheduler.add_job(
            self._watchdog,
            IntervalTrigger(seconds=watchdog_seconds, timezone=UTC),
            id=WATCHDOG_JOB_ID,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            executor="watchdog",
        )

    def start(self) -> None:
        self.scheduler.start()
        log.info("scheduler active as %s", reconcile.holder())

    def stop(self, *, wait: bool = True) -> None:
        # Non-blocking: the watchdog may stop the term while the main thread is stopping it
        # and waiting for that very watchdog run to end.
        if not self._stopping.acquire(blocking=False):
            return
        with contextlib.suppress(SchedulerNotRunningError):
            self.scheduler.shutdown(wait=wait)

    def _reconcile(self) -> None:
        if not self.lock.alive():
            self._lost()
            return
        if not _one_run.acquire(blocking=False):
            log.warning("the previous reconcile is still running; skipped this run")
            return
        try:
            reconcile.run_once(self.app)
        except Exception:
            # Logged, and the next run goes on: every step is idempotent.
            log.exception(
                "reconcile failed; will run again in %s s",
                self.app.config["SCHEDULER_INTERVAL_SECONDS"],
            )
        finally:
            _one_run.release()

    def _watchdog(self) -> None:
        if not self.lock.alive():
            self._lost()

    def _lost(self) -> None:
        # Never two active: stop scheduling at once (every run also checks the lock before
        # it starts). A run already under way finishes; its writes are idempotent.
        if self._stopping.locked():
            return
        log.error("lost the scheduler lock; stopping jobs and going back to standby")
        self.stop(wait=False)

    def _ended(self, _event: SchedulerEvent) -> None:
        self.lock.release()
        self.ended.set()
        if self._on_end is not None:
            self._on_end()


def serve(
    app: Flask,
    stop: threading.Event,
    *,
    standby_seconds: float = STANDBY_SECONDS,
    watchdog_seconds: float = WATCHDOG_SECONDS,
) -> None:
    """Be the active scheduler whenever the lock can be had, a standby otherwise; until
    ``stop`` is set."""
    lock = make_lock(app)
    wake = threading.Event()
    announced = False
    while not stop.is_set():
        try:
            got = lock.acquire()
        except Exception as exc:
            log.warning("cannot take the scheduler lock (%s); retrying", exc)
            got = False
        if not got:
            if not announced:
                log.info(
                    "standby: another scheduler is active (%s); retrying every %s s",
                    lock.holder() or "holder unknown",
                    standby_seconds,
                )
                announced = True
            stop.wait(standby_seconds)
            continue
        announced = False
        wake.clear()
        term = Term(app, lock, watchdog_seconds=watchdog_seconds, on_end=wake.set)
        term.start()
        while not stop.is_set() and not term.ended.is_set():
            wake.wait(0.25)
        if stop.is_set():
            term.stop(wait=True)
            break
        # The lock was lost (database restarted, connection cut). Back off for longer than a
        # standby's retry, so that a healthy standby takes over first.
        stop.wait(2 * standby_seconds)
    log.info("scheduler stopped")


def start_in_process(app: Flask) -> BackgroundScheduler | None:
    """Run the scheduler inside this process, for the single-process development and demo
    server only (never in web workers). None when SCHEDULER_IN_PROCESS is off or another
    scheduler holds the lock. Shutting the returned scheduler down releases the lock."""
    if not app.config["SCHEDULER_IN_PROCESS"]:
        return None
    lock = make_lock(app)
    try:
        got = lock.acquire()
    except Exception as exc:
        log.warning("in-process scheduler not started: cannot take the lock (%s)", exc)
        return None
    if not got:
        log.info("in-process scheduler not started: another scheduler is active")
        return None
    term = Term(app, lock, on_end=lambda: atexit.unregister(term.stop))
    atexit.register(term.stop, wait=False)
    term.start()
    return term.scheduler


@click.command("scheduler", help="Run the periodic reconciler; one process is active at a time.")
@click.option(
    "--once",
    is_flag=True,
    help=f"Take the lock, reconcile once and exit (for cron); exit {LOCK_HELD_EXIT} if another "
    "scheduler holds the lock.",
)
@click.option(
    "--standby-seconds",
    type=click.FloatRange(min=0.1),
    default=STANDBY_SECONDS,
    show_default=True,
    help="How often a standby tries to take over.",
)
@click.option(
    "--watchdog-seconds",
    type=click.FloatRange(min=0.1),
    default=WATCHDOG_SECONDS,
    show_default=True,
    help="How often the active scheduler checks that it still holds the lock.",
)
@with_appcontext
def scheduler_command(once: bool, standby_seconds: float, watchdog_seconds: float) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # "Running job" every tick
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        _run_once(app)
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            # A run that hangs must not make the process unkillable short of SIGKILL; the
            # lock goes with the process.
            log.warning("received %s again; exiting without waiting", name)
            os._exit(128 + signum)
        log.info("received %s; stopping after the current run", name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve(app, stop, standby_seconds=standby_seconds, watchdog_seconds=watchdog_seconds)


class LockHeld(click.ClickException):
    exit_code = LOCK_HELD_EXIT


def _run_once(app: Flask) -> None:
    lock = make_lock(app)
    try:
        got = lock.acquire()
    except Exception as exc:
        raise click.ClickException(f"cannot take the scheduler lock: {exc}") from None
    if not got:
        raise LockHeld(
            f"another scheduler holds the lock ({lock.holder() or 'holder unknown'}); "
            "nothing was run"
        )
    try:
        report = reconcile.run_once(app)
    except Exception as exc:
        log.exception("reconcile failed")
        raise click.ClickException(f"reconcile failed: {exc}") from None
    finally:
        lock.release()
    click.echo(f"reconciled once: {report}")
