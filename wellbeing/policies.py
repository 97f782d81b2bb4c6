"""The active exposure policy: loaded from POLICY_FILE (or the shipped default), reloaded
when the file changes, and kept at the last good version when a new one is invalid."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.orm import Session

from exposure import policy_versions
from exposure.alerts import Routes
from exposure.models import PolicyVersion
from exposure.policy import Policy, PolicyError, default_policy_text, parse_policy
from wellbeing.db import db

log = logging.getLogger("wellbeing.policy")


DB_CHECK_SECONDS = 5.0


@dataclass
class PolicyStore:
    path: Path | None
    policy: Policy
    mtime: float = 0.0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A policy activated by an admin (stored in the database) wins over the file.
    db_version_id: int | None = None
    db_policy: Policy | None = None
    db_checked_at: float = -1e9

    @classmethod
    def open(cls, path: str) -> PolicyStore:
        """Load at start-up; an invalid policy here stops the service from starting."""
        if not path:
            return cls(None, parse_policy(default_policy_text()))
        file = Path(path)
        return cls(file, parse_policy(file.read_text(encoding="utf-8")), file.stat().st_mtime)

    def current(self) -> Policy:
        if self.path is None:
            return self.policy
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            self._keep(f"cannot read {self.path}: {exc}")
            return self.policy
        if mtime != self.mtime:
            with self.lock:
                if mtime != self.mtime:
                    self.mtime = mtime
                    try:
                        self.policy = parse_policy(self.path.read_text(encoding="utf-8"))
                        self.last_error = None
                        log.info("loaded policy %s", self.policy.version)
                    except (OSError, UnicodeDecodeError, PolicyError) as exc:
                        self._keep(str(exc))
                    except Exception as exc:  # a parser bug must not take the service down
                        log.exception("policy reload failed")
                        self._keep(f"could not load: {exc!r}")
        return self.policy

    def database_due(self) -> bool:
        """Whether the admin-activated policy is due to be re-read (every few seconds)."""
        return time.monotonic() - self.db_checked_at >= DB_CHECK_SECONDS

    def from_database(self, session: Session) -> Policy | None:
        """The admin-activated policy, read from the database now."""
        now = time.monotonic()
        version_id = policy_versions.active_id(session)
        with self.lock:
            self.db_checked_at = now
            if version_id != self.db_version_id:
                row = session.get(PolicyVersion, version_id) if version_id else None
                try:
                    self.db_policy = policy_versions.load(row) if row else None
                    self.db_version_id = version_id
                except PolicyError as exc:
                    self._keep(f"activated policy {version_id} is invalid: {exc}")
        return self.db_policy

    def _keep(self, error: str) -> None:
        if error != self.last_error:
            log.error("keeping policy %s: %s", self.policy.version, error)
        self.last_error = error


def init_app(app: Flask) -> None:
    app.extensions["wellbeing.policy"] = PolicyStore.open(app.config["POLICY_FILE"])


def policy() -> Policy:
    store: PolicyStore = current_app.extensions["wellbeing.policy"]
    if store.database_due():
        # Its own read connection: the request's transaction is not begun (nor, on SQLite,
        # the write lock taken) just to look up the policy.
        with db.reading() as conn, Session(conn) as session:
            store.from_database(session)
    from_db = store.db_policy
    return from_db if from_db is not None else store.current()


def routes() -> Routes:
    cfg = current_app.config
    return Routes(
        email=bool(cfg["ALERT_EMAIL"]),
        webhook_lead=cfg["WEBHOOK_LEAD_URL"] or None,
        webhook_wellbeing=cfg["WEBHOOK_WELLBEING_URL"] or None,
    )
