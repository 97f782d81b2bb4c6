"""The exposure ledger: every view and reveal, per person, idempotent by client event id."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exposure import daily, rollups
from exposure.attachments import is_sensitive, max_level
from exposure.categories import CATEGORIES, CategoryRule, primary_category
from exposure.models import Attachment, ExposureEvent, RevealGrant

MODALITIES = ("image", "animation", "video", "audio")


class LedgerConflict(ValueError):
    """A client event id was reused for a different view."""


class LevelNotAllowed(ValueError):
    """The requested reveal level is above what the item's category allows."""


def format_region(region: tuple[float, float, float, float] | None) -> str | None:
    if region is None:
        return None
    return ",".join(f"{v:.4f}" for v in region)


def parse_region(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    x, y, w, h = (float(v) for v in text.split(","))
    return (x, y, w, h)


def _existing(session: Session, user_id: int, client_event_id: str) -> ExposureEvent | None:
    return session.scalar(
        select(ExposureEvent).where(
            ExposureEvent.user_id == user_id, ExposureEvent.client_event_id == client_event_id
        )
    )


def record_view(
    session: Session,
    user_id: int,
    attachment: Attachment,
    *,
    level: int,
    region: tuple[float, float, float, float] | None,
    modality: str,
    client_event_id: str,
    now: datetime,
    table: Mapping[str, CategoryRule] = CATEGORIES,
    basis: daily.Basis | None = None,
) -> tuple[ExposureEvent, bool]:
    """Record that a person saw an item at a level; a retry returns the first event.
    The hourly rollups are kept with `basis`'s floor, and its daily rows too when given."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}")
    top = max_level(attachment, table)
    if level > top:
        raise LevelNotAllowed(f"level {level} is above the maximum ({top}) for this item")
    region_text = format_region(region)
    # Insert first: a new client event id is the common case (the viewer page makes a fresh
    # one per view), so a retry pays the lookup after the unique constraint refuses it.
    try:
        with session.begin_nested():
            found = ExposureEvent(
                user_id=user_id,
                attachment_id=attachment.id,
                client_event_id=client_event_id,
                category=primary_category(attachment.categories, table)
                if is_sensitive(attachment)
                else "clear",
                severity=attachment.severity,
                level=level,
                region=region_text,
                modality=modality,
                started_at=now,
                last_seen_at=now,
                duration_seconds=0.0,
            )
            session.add(found)
            session.flush()
            floor = _floor(basis)
            rollups.add_event(session, found, floor)
            if basis is not None:
                daily.bump(session, basis, found, events=1, floored_before=0.0, floored_after=floor)
        return found, True
    except IntegrityError:
        first = _existing(session, user_id, client_event_id)
        if first is None:  # refused for another reason
            raise
    if (first.attachment_id, first.level, first.region, first.modality) != (
        attachment.id,
        level,
        region_text,
        modality,
    ):
        raise LedgerConflict("this client event id was already used for a different view")
    return first, False


def _floor(basis: daily.Basis | None) -> float:
    return basis.floor_seconds if basis is not None else rollups.DEFAULT_FLOOR_SECONDS


def find_event(session: Session, user_id: int, client_event_id: str) -> ExposureEvent | None:
    """One of this person's own exposure events (never anybody else's)."""
    return _existing(session, user_id, client_event_id)


def heartbeat(
    session: Session,
    user_id: int,
    client_event_id: str,
    now: datetime,
    *,
    grace_seconds: float,
    cap_seconds: float,
    basis: daily.Basis | None = None,
) -> ExposureEvent | None:
    """Extend a view's duration while the viewer says it is on screen.

    Time since the last heartbeat counts only if it is within the grace period: a viewer
    that went quiet (tab hidden, closed, crashed) stops accruing at its last heartbeat.
    """
    event = session.scalar(
        select(ExposureEvent)
        .where(ExposureEvent.user_id == user_id, ExposureEvent.client_event_id == client_event_id)
        .with_for_update()
    )
    if event is None:
        return None
    gap = (now - event.last_seen_at).total_seconds()
    if gap <= 0:
        return event
    if gap <= grace_seconds:
        before = event.duration_seconds
        event.duration_seconds = min(cap_seconds, before + gap)
        floor = _floor(basis)
        rollups.add_duration(session, event, before, event.duration_seconds, floor)
        if basis is not None and event.duration_seconds > floor:
            daily.bump(
                session,
                basis,
                event,
                events=0,
                floored_before=max(before, floor),
                floored_after=event.duration_seconds,
            )
    event.last_seen_at = now
    session.flush()
    return event


@dataclass(frozen=True)
class Grant:
    token: str
    event: ExposureEvent
    expires_at: datetime
    created: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reveal(
    session: Session,
    user_id: int,
    attachment: Attachment,
    *,
    level: int,
    region: tuple[float, float, float, float] | None,
    client_event_id: str,
    now: datetime,
    ttl_seconds: int,
    modality: str = "image",
    table: Mapping[str, CategoryRule] = CATEGORIES,
    basis: daily.Basis | None = None,
) -> Grant:
    """Log a deliberate reveal and issue a single-use URL token for its rendition.

    The caller must commit before handing out the token: that commit is the ledger entry
    that has to exist before any revealed byte leaves the server.
    """
    event, created = record_view(
        session,
        user_id,
        attachment,
        level=level,
        region=region,
        modality=modality,
        client_event_id=client_event_id,
        now=now,
        table=table,
        basis=basis,
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(
        RevealGrant(
            token_hash=_digest(token),
            user_id=user_id,
            attachment_id=attachment.id,
            event_id=event.id,
            level=level,
            region=event.region,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return Grant(token=token, event=event, expires_at=expires_at, created=created)


def redeem(session: Session, token: str, user_id: int, now: datetime) -> RevealGrant | None:
    """Use a grant once: only its owner, only before it expires, only the first time."""
    result = session.execute(
        update(RevealGrant)
        .where(
            RevealGrant.token_hash == _digest(token),
            RevealGrant.user_id == user_id,
            RevealGrant.used_at.is_(None),
            RevealGrant.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(RevealGrant).where(RevealGrant.token_hash == _digest(token)))
