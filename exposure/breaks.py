"""Breaks and rotations, and the question every media request asks: may this person see
sensitive media right now? Answered from the database at request time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from sqlalchemy import Dialect, Engine, bindparam, exists, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from exposure.accounts import IDENTITY_COLUMNS, Identity, identity_of
from exposure.attachments import Item
from exposure.models import Attachment, Break, User, UserRole

BREAK_KINDS = ("enforced", "step_away", "rotation")


@dataclass(frozen=True)
class Restriction:
    break_id: int
    kind: str
    starts_at: datetime
    ends_at: datetime | None

    def seconds_left(self, now: datetime) -> int | None:
        if self.ends_at is None:
            return None
        return max(0, int((self.ends_at - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class SafeView:
    """What a safe view needs: the item (None if there is no such attachment) and whether
    any restriction of the person is in force now."""

    item: Item | None
    restricted: bool


# The safe view's only query: the session's person with roles, the attachment's serving
# columns and the break flag, read in one round trip and one snapshot. Sessions stay
# revocable and breaks live: nothing is cached. Core, not the ORM: this is the hot path.
_SAFE_VIEW = (
    select(
        *IDENTITY_COLUMNS,
        select(func.aggregate_strings(UserRole.role, " "))
        .where(UserRole.user_id == User.id)
        .scalar_subquery(),
        Attachment.id,
        Attachment.media_kind,
        Attachment.sha256,
        Attachment.flag_state,
        Attachment.categories,
        exists().where(
            Break.user_id == User.id,
            Break.status == "active",
            Break.starts_at <= bindparam("now", type_=Break.starts_at.type),
            or_(
                Break.ends_at.is_(None),
                Break.ends_at > bindparam("now", type_=Break.ends_at.type),
            ),
        ),
    )
    .select_from(User)
    .outerjoin(Attachment, Attachment.id == bindparam("attachment_id"))
    .where(User.session_token == bindparam("token"), User.active.is_(True))
)


def safe_view(
    engine: Engine, token: str, attachment_id: int, now: datetime
) -> tuple[Identity | None, SafeView]:
    """The person holding a session token, an attachment and the person's break flag, in one
    query (the hot path of every safe view), on a connection of `engine` that only reads.
    The identity is None for an unknown, revoked or disabled session; when the flag says
    restricted, ask `active_restriction` why."""
    if now.tzinfo is None:  # what UTCDateTime refuses on the SQLAlchemy path
        raise ValueError("now must be an aware datetime")
    params = {"token": token, "attachment_id": attachment_id, "now": now}
    if engine.dialect.driver == "psycopg":
        row = _fetch_psycopg(engine, params)
    else:
        with engine.connect() as conn:
            row = conn.execute(_SAFE_VIEW, params).first()
    if row is None or row[5] is None:  # no such session, or a person without roles
        return None, SafeView(None, False)
    item_id, media_kind, sha256, flag_state, categories, restricted = row[6:]
    item = None if item_id is None else Item(item_id, media_kind, sha256, flag_state, categories)
    return identity_of(row), SafeView(item, bool(restricted))


@cache
def _psycopg_statement(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """`_SAFE_VIEW` compiled once for psycopg, and the values of its constant parameters."""
    sample = {"token": "", "attachment_id": 0, "now": datetime(2000, 1, 1, tzinfo=UTC)}
    compiled = _SAFE_VIEW.params(**sample).compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    constants = {
        name: bind.effective_value
        for name, bind in compiled.binds.items()
        if name not in sample and f"%({name})s" in compiled.string
    }
    return compiled.string, constants


def _fetch_psycopg(engine: Engine, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """Run `_SAFE_VIEW` as a server-side prepared statement on a pooled psycopg connection.

    This skips SQLAlchemy's execution context and result machinery, about a third of a
    safe view's cost in Python; the statement is still the typed one above. The values need
    no conversion on this driver (aware datetimes, JSON and booleans come back as Python
    objects). Errors become SQLAlchemy's exception classes, as on the usual path, and a
    broken connection is dropped from the pool. SQLAlchemy's statement events do not see
    this statement.
    """
    sql, constants = _psycopg_statement(engine.dialect)
    raw = engine.raw_connection()
    try:
        driver: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, {**constants, **params}, prepare=True)
                return cursor.fetchone()
        except psycopg.Error as exc:
            if driver.broken or driver.closed:
                raw.invalidate(exc)
            raise DBAPIError.instance(
                sql, params, exc, psycopg.Error, hide_parameters=True, dialect=engine.dialect
            ) from exc
    finally:
        raw.close()


def active_restriction(
    session: Session, user_id: int, now: datetime, *, ignore_started_at: datetime | None = None
) -> Restriction | None:
    """The break or rotation in force now, the one ending last if several overlap.

    `ignore_started_at` leaves out restrictions that began at that instant: the reveal whose
    own logging started a break is still served (it was logged), the next one is not.
    """
    query = select(Break).where(
        Break.user_id == user_id,
        Break.status == "active",
        Break.starts_at <= now,
        or_(Break.ends_at.is_(None), Break.ends_at > now),
    )
    if ignore_started_at is not None:
        query = query.where(Break.starts_at != ignore_started_at)
    rows = session.scalars(query).all()
    if not rows:
        return None
    open_ended = [b for b in rows if b.ends_at is None]
    chosen = open_ended[0] if open_ended else max(rows, key=lambda b: b.ends_at or now)
    return Restriction(
        break_id=chosen.id, kind=chosen.kind, starts_at=chosen.starts_at, ends_at=chosen.ends_at
    )


def start_break(
    session: Session,
    user_id: int,
    kind: str,
    now: datetime,
    *,
    minutes: float | None,
    created_by_id: int | None = None,
    reason: str | None = None,
) -> Break:
    if kind not in BREAK_KINDS:
        raise ValueError(f"break kind must be one of {BREAK_KINDS}")
    longest = 7 * 24 * 60 if kind == "rotation" else 24 * 60
    if minutes is not None and not 0 < minutes <= longest:
        raise ValueError(f"{kind} length must be between 0 and {longest} minutes")
    brk = Break(
        user_id=user_id,
        kind=kind,
        status="active",
        starts_at=now,
        ends_at=None if minutes is None else now + timedelta(minutes=minutes),
        reason=reason,
        created_by_id=created_by_id,
        created_at=now,
    )
    session.add(brk)
    session.flush()
    return brk


def end_break(
    session: Session, break_id: int, now: datetime, *, by_user_id: int, reason: str
) -> Break:
    """End a break or rotation early (a lead's or wellbeing staff's override)."""
    brk = session.get(Break, break_id)
    if brk is None or brk.status != "active":
        raise LookupError("no such active break")
    if not reason.strip():
        raise ValueError("ending a break needs a reason")
    brk.status = "overridden"
    brk.ended_at = now
    brk.ended_by_id = by_user_id
    brk.end_reason = reason.strip()[:2000]
    session.flush()
    return brk


def extend_break(
    session: Session, break_id: int, now: datetime, *, minutes: float, by_user_id: int, reason: str
) -> Break:
    brk = session.get(Break, break_id)
    if brk is None or brk.status != "active":
        raise LookupError("no such active break")
    if not reason.strip():
        raise ValueError("extending a break needs a reason")
    if not 0 < minutes <= 24 * 60:
        raise ValueError("extend by 1 to 1440 minutes")
    base = brk.ends_at if brk.ends_at is not None and brk.ends_at > now else now
    brk.ends_at = base + timedelta(minutes=minutes)
    brk.end_reason = f"extended by {minutes:g} min by user {by_user_id}: {reason.strip()[:2000]}"
    session.flush()
    return brk
