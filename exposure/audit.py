"""The audit log: reveals, overrides, reads of wellbeing data, logins, denials, security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exposure.models import AuditEvent


def record(
    session: Session,
    action: str,
    now: datetime,
    *,
    actor_id: int | None = None,
    subject_user_id: int | None = None,
    attachment_id: int | None = None,
    token_id: int | None = None,
    remote_addr: str | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        at=now,
        action=action,
        actor_id=actor_id,
        subject_user_id=subject_user_id,
        attachment_id=attachment_id,
        token_id=token_id,
        remote_addr=remote_addr,
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event
