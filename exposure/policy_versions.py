"""Policies uploaded by admins: validated before they are stored, activated explicitly
(after a simulation), and audited by the caller. The latest activated one is in force,
until an admin goes back to the policy file (`use_file`), which deactivates them all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from exposure.models import PolicyVersion
from exposure.policy import Policy, parse_policy

MAX_POLICY_BYTES = 256 * 1024
# Activated and not set aside since; the latest of these is in force.
_ACTIVATED = and_(PolicyVersion.activated_at.is_not(None), PolicyVersion.deactivated_at.is_(None))


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
    row.deactivated_at = None
    session.flush()
    return row


def use_file(session: Session, user_id: int, now: datetime) -> int:
    """Put the policy file (or the shipped default) back in force; how many rows stopped.

    Every activated row is deactivated, not only the latest: otherwise the one before it
    would come back into force. `user_id` is for the caller's audit event; each row keeps
    who activated it."""
    rows = session.scalars(select(PolicyVersion).where(_ACTIVATED)).all()
    for row in rows:
        row.deactivated_at = now
    session.flush()
    return len(rows)


def active(session: Session) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion)
        .where(_ACTIVATED)
        .order_by(PolicyVersion.activated_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def active_id(session: Session) -> int | None:
    return session.scalar(
        select(PolicyVersion.id)
        .where(_ACTIVATED)
        .order_by(PolicyVersion.activated_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def ended_at(session: Session, row: PolicyVersion) -> datetime | None:
    """When a row's last activation stopped being in force: deactivated, or replaced by a
    later activation; None if it is in force or was never activated."""
    if row.activated_at is None:
        return None
    replaced = session.scalar(
        select(func.min(PolicyVersion.activated_at)).where(
            PolicyVersion.id != row.id,
            or_(
                PolicyVersion.activated_at > row.activated_at,
                and_(PolicyVersion.activated_at == row.activated_at, PolicyVersion.id > row.id),
            ),
        )
    )
    ends = [t for t in (row.deactivated_at, replaced) if t is not None]
    return min(ends) if ends else None


def recent(session: Session, limit: int = 20) -> Sequence[PolicyVersion]:
    return session.scalars(
        select(PolicyVersion).order_by(PolicyVersion.created_at.desc()).limit(limit)
    ).all()


def load(row: PolicyVersion) -> Policy:
    return parse_policy(row.text)
