"""Helpers for the exposure tests: a plain session on a migrated database, a builder that
writes people, items and ledger rows directly, and small policies written as TOML."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from exposure import attachments, rollups
from exposure.attachments import MediaFacts, Registration
from exposure.models import Attachment, ExposureEvent, Team, TeamLead, User, UserRole
from exposure.policy import Policy, parse_policy
from exposure.storage import make_engine

_ids = itertools.count(1)
CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def policy(rules: str = "", *, timezone: str = "UTC", settings: str = "") -> Policy:
    """A small policy: the given [[rules]] (and extra tables) on top of fixed dose settings."""
    return parse_policy(
        f'version = "test-1"\ntimezone = "{timezone}"\n'
        "[dose]\nmin_event_seconds = 10\ncontinuous_gap_minutes = 10\nshift_gap_hours = 6\n"
        f"{settings}\n{rules}"
    )


def register_items(
    session: Session, category_sets: list[list[str]], at: datetime, *, tag: str = ""
) -> list[Attachment]:
    """One small image per category set (an empty set is an unflagged item)."""
    items = []
    for i, cats in enumerate(category_sets):
        att, _ = attachments.register(
            session,
            Registration(
                ticket_ref="T",
                external_id=f"e{tag}-{i}",
                filename="x",
                flag_state="flagged" if cats else "clear",
                categories=cats,
                severity=3,
            ),
            f"bytes-{tag}-{i}".encode(),
            MediaFacts("image", "jpeg", "image/jpeg", 10, 10, 1),
            at,
        )
        items.append(att)
    return items


def count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


class Ledger:
    """Makes people, teams, items and exposure events straight in the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._item: Attachment | None = None

    def team(self, name: str = "Queue A") -> Team:
        team = Team(name=name, created_at=CREATED_AT)
        self.session.add(team)
        self.session.flush()
        return team

    def person(
        self,
        name: str,
        *roles: str,
        team: Team | None = None,
        lead_of: Team | None = None,
        email: str | None = None,
        active: bool = True,
    ) -> User:
        user = User(
            username=name.lower(),
            display_name=name,
            email=email,
            password_hash="unused",
            team_id=team.id if team else None,
            active=active,
            session_token=secrets.token_urlsafe(16),
            failed_logins=0,
            created_at=CREATED_AT,
            role_rows=[UserRole(role=r) for r in (roles or ("associate",))],
        )
        self.session.add(user)
        self.session.flush()
        if lead_of is not None:
            self.session.add(TeamLead(team_id=lead_of.id, user_id=user.id))
            self.session.flush()
        return user

    def item(
        self, *categories: str, severity: int = 4, flag_state: str = "flagged", frames: int = 1
    ) -> Attachment:
        n = next(_ids)
        att, _ = attachments.register(
            self.session,
            Registration(
                ticket_ref="T-1",
                external_id=f"ext-{n}",
                filename="evidence.jpg",
                flag_state=flag_state,
                categories=list(
                    categories or (("graphic_violence",) if flag_state == "flagged" else ())
                ),
                severity=severity,
                flag_source="ticket_label" if flag_state == "flagged" else None,
            ),
            f"bytes-{n}".encode(),
            MediaFacts("image", "jpeg", "image/jpeg", 64, 48, frames),
            CREATED_AT,
        )
        return att

    def event(
        self,
        person: User,
        at: datetime,
        *,
        minutes: float = 0.0,
        level: int = 3,
        category: str = "graphic_violence",
        severity: int = 4,
        modality: str = "image",
        seen_until: datetime | None = None,
    ) -> ExposureEvent:
        """One view on screen from `at` for `minutes` (last seen at the end unless told)."""
        if self._item is None:
            self._item = self.item()
        event = ExposureEvent(
            user_id=person.id,
            attachment_id=self._item.id,
            client_event_id=f"evt-{next(_ids):08d}",
            category=category,
            severity=severity,
            level=level,
            region=None,
            modality=modality,
            started_at=at,
            last_seen_at=seen_until or at + timedelta(minutes=minutes),
            duration_seconds=minutes * 60,
        )
        self.session.add(event)
        self.session.flush()
        # As the ledger does: every event is in the hourly rollups too.
        rollups.add_event(self.session, event, rollups.DEFAULT_FLOOR_SECONDS)
        return event


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s
        s.rollback()


@pytest.fixture
def build(session: Session) -> Ledger:
    return Ledger(session)
