"""Policies uploaded by admins: validated before they are stored, activated explicitly
(after a simulation), and audited by the caller. The latest activated one is in force."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exposure.models import PolicyVersion
from exposure.policy import Policy, parse_policy

MAX_POLICY_BYTES = 256 * 1024


def upload(session: Session, text: str, user_id: int, now: datetime) -> PolicyVersion:
    """Store a valid policy (not yet active); raise PolicyError listing every problem."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        from exposure.policy import PolicyError

        raise PolicyError([f"the file is larger than {MAX_POLICY_BYTES // 1024} KiB"])
    parsed = parse_policy(text)
    row = PolicyVersion(version=parsed.version, text=text, created_by_id=user_id, created_at=now)
    session.add(row)
    session.flush()
    return row


def activate(session: Session, version_id: int, user_id: int, now: datetime) -> PolicyVersion:
    row = session.get(PolicyVersion, version_id)
    if row is None:
        raise LookupError("no such policy version")
    parse_policy(row.text)  # still valid under this code's rules
    row.activated_at = now
    row.activated_by_id = user_id
    session.flush()
    return row


def active(session: Session) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.activated_at.is_not(None))
        .order_by(PolicyVersion.activated_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def active_id(session: Session) -> int | None:
    return session.scalar(
        select(PolicyVersion.id)
        .where(PolicyVersion.activated_at.is_not(None))
        .order_by(PolicyVersion.activated_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def recent(session: Session, limit: int = 20) -> Sequence[PolicyVersion]:
    return session.scalars(
        select(PolicyVersion).order_by(PolicyVersion.created_at.desc()).limit(limit)
    ).all()


def load(row: PolicyVersion) -> Policy:
    return parse_policy(row.text)
