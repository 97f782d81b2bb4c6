"""Ticket attachments: registration (idempotent), flag state and original bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exposure.categories import (
    CATEGORIES,
    FLAG_SOURCES,
    FLAG_STATES,
    CategoryRule,
    display_rule,
    validate_categories,
)
from exposure.models import Attachment, Blob


class AttachmentError(ValueError):
    """Input about an attachment that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class MediaFacts:
    """What the media engine found out about the bytes (this package never decodes media)."""

    media_kind: str
    format: str
    mime: str
    width: int
    height: int
    frames: int
    duration_seconds: float | None = None
    has_audio: bool = False


@dataclass(frozen=True)
class Registration:
    ticket_ref: str
    external_id: str
    filename: str
    labels: list[str] = field(default_factory=list)
    flag_state: str = "unknown"
    categories: list[str] = field(default_factory=list)
    severity: int = 0
    flag_source: str | None = None
    source_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("ticket_ref", "external_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= 200:
                raise AttachmentError(f"{name} must be a string of 1 to 200 characters")
        if not isinstance(self.filename, str) or len(self.filename) > 255:
            raise AttachmentError("filename must be a string of at most 255 characters")
        _check_flag(self.flag_state, self.categories, self.severity, self.flag_source)
        if (
            not isinstance(self.labels, list)
            or len(self.labels) > 50
            or any(not isinstance(lb, str) or len(lb) > 100 for lb in self.labels)
        ):
            raise AttachmentError("labels must be at most 50 strings of at most 100 characters")


def _check_flag(state: str, categories: list[str], severity: int, source: str | None) -> None:
    if state not in FLAG_STATES:
        raise AttachmentError(f"flag_state must be one of {', '.join(FLAG_STATES)}")
    if not isinstance(categories, list):
        raise AttachmentError("categories must be a list")
    try:
        validate_categories(categories)
    except ValueError as exc:
        raise AttachmentError(str(exc)) from None
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 5:
        raise AttachmentError("severity must be an integer from 0 to 5")
    if source is not None and source not in FLAG_SOURCES:
        raise AttachmentError(f"flag_source must be one of {', '.join(FLAG_SOURCES)}")
    if state == "flagged" and not categories:
        raise AttachmentError("a flagged attachment needs at least one category")


class Viewable(Protocol):
    """What choosing and serving an item's rendition reads of it: an `Attachment`, or the
    plain `Item` the safe view reads without the ORM."""

    @property
    def id(self) -> int: ...
    @property
    def media_kind(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def flag_state(self) -> str: ...
    @property
    def categories(self) -> list[str]: ...


@dataclass(frozen=True)
class Item:
    """An attachment's serving columns, read as a plain row (see `Viewable`)."""

    id: int
    media_kind: str
    sha256: str
    flag_state: str
    categories: list[str]


def is_sensitive(attachment: Viewable) -> bool:
    """Flagged or of unknown status: served only as a safe rendition (fail closed)."""
    return attachment.flag_state != "clear"


def default_level(attachment: Viewable, table: Mapping[str, CategoryRule] = CATEGORIES) -> int:
    if not is_sensitive(attachment):
        return 4
    return display_rule(attachment.categories, table).default_level


def max_level(attachment: Attachment, table: Mapping[str, CategoryRule] = CATEGORIES) -> int:
    if not is_sensitive(attachment):
        return 4
    return display_rule(attachment.categories, table).max_level


def find(session: Session, ticket_ref: str, external_id: str) -> Attachment | None:
    return session.scalar(
        select(Attachment).where(
            Attachment.ticket_ref == ticket_ref, Attachment.external_id == external_id
        )
    )


def register(
    session: Session, reg: Registration, data: bytes, facts: MediaFacts, now: datetime
) -> tuple[Attachment, bool]:
    """Store an attachment once per (ticket_ref, external_id); a repeat returns the first."""
    existing = find(session, reg.ticket_ref, reg.external_id)
    if existing is not None:
        return existing, False
    digest = hashlib.sha256(data).hexdigest()
    try:
        with session.begin_nested():
            if session.get(Blob, digest) is None:
                session.add(Blob(sha256=digest, size=len(data), data=data, created_at=now))
                session.flush()
    except IntegrityError:
        pass  # another request stored the same bytes first
    try:
        with session.begin_nested():
            att = Attachment(
                ticket_ref=reg.ticket_ref,
                external_id=reg.external_id,
                filename=reg.filename,
                media_kind=facts.media_kind,
                format=facts.format,
                mime=facts.mime,
                sha256=digest,
                size=len(data),
                width=facts.width,
                height=facts.height,
                frames=facts.frames,
                duration_seconds=facts.duration_seconds,
                has_audio=facts.has_audio,
                source_url=reg.source_url,
                labels=list(reg.labels),
                flag_state=reg.flag_state,
                categories=list(reg.categories),
                severity=reg.severity,
                flag_source=reg.flag_source,
                created_at=now,
                updated_at=now,
            )
            session.add(att)
            session.flush()
    except IntegrityError:
        raced = find(session, reg.ticket_ref, reg.external_id)
        if raced is None:
            raise
        return raced, False
    return att, True


def set_flag(
    session: Session,
    attachment: Attachment,
    *,
    flag_state: str,
    categories: list[str],
    severity: int,
    flag_source: str | None,
    now: datetime,
) -> Attachment:
    _check_flag(flag_state, categories, severity, flag_source)
    attachment.flag_state = flag_state
    attachment.categories = list(categories)
    attachment.severity = severity
    attachment.flag_source = flag_source
    attachment.updated_at = now
    session.flush()
    return attachment


def original_bytes(session: Session | Connection, attachment: Viewable) -> bytes:
    data = session.scalar(select(Blob.data).where(Blob.sha256 == attachment.sha256))
    if data is None:
        raise LookupError(f"original bytes of attachment {attachment.id} are missing")
    return data
