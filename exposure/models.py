"""Typed SQLAlchemy 2.0 models for the whole service, on one declarative base."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from exposure.timecol import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("associate", "lead", "wellbeing", "admin")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[int]: JSON(),
    }


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]

    members: Mapped[list[User]] = relationship(back_populates="team", foreign_keys="User.team_id")


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rotated on logout, password change and disabling: every older session stops working.
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]

    team: Mapped[Team | None] = relationship(back_populates="members", foreign_keys=[team_id])
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r.role for r in self.role_rows)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class TeamLead(Base):
    __tablename__ = "team_lead"

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Blob(Base):
    """Original attachment bytes, content-addressed. Never served except through a reveal."""

    __tablename__ = "blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime]


class Attachment(Base):
    __tablename__ = "attachment"
    __table_args__ = (UniqueConstraint("ticket_ref", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_ref: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    media_kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    frames: Mapped[int]
    duration_seconds: Mapped[float | None] = mapped_column(Float)  # video only
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    source_url: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[list[str]]
    # 'flagged' | 'clear' | 'unknown'; unknown is treated as flagged (fail closed).
    flag_state: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[str]]
    severity: Mapped[int] = mapped_column(Integer, default=0)
    flag_source: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ExposureEvent(Base):
    __tablename__ = "exposure_event"
    __table_args__ = (
        UniqueConstraint("user_id", "client_event_id"),
        Index("ix_exposure_event_user_started", "user_id", "started_at"),
        # Rebuilding a day of summaries, and the raw-ledger fallback, read by time.
        Index("ix_exposure_event_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachment.id"), index=True)
    client_event_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int]
    level: Mapped[int]
    region: Mapped[str | None] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ExposureRollup(Base):
    """Per person, per hour, per category, level and modality: what dashboards read instead
    of scanning the raw ledger. Kept in step with the ledger in the same transaction."""

    __tablename__ = "exposure_rollup"
    __table_args__ = (Index("ix_exposure_rollup_hour", "hour_start"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    modality: Mapped[str] = mapped_column(String(16), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Seconds with each event counted at least the policy's min_event_seconds at write time.
    floored_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ExposureDay(Base):
    """Per person and local day (in the policy's time zone): totals with the policy's
    weights applied. What the wellbeing and lead pages read for whole days. Valid only
    while `SummaryBasis` names the policy in force (see exposure/daily.py)."""

    __tablename__ = "exposure_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    reveals: Mapped[int] = mapped_column(Integer, default=0)
    dose: Mapped[float] = mapped_column(Float, default=0.0)
    graphic_minutes: Mapped[float] = mapped_column(Float, default=0.0)


class ExposureWeek(Base):
    """Per person and local week (Monday to Sunday in the policy's time zone; `week` is the
    Monday): the same totals as `ExposureDay`, so an 8-week trend reads one row per person
    and week."""

    __tablename__ = "exposure_week"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    reveals: Mapped[int] = mapped_column(Integer, default=0)
    dose: Mapped[float] = mapped_column(Float, default=0.0)
    graphic_minutes: Mapped[float] = mapped_column(Float, default=0.0)


class ExposureWeekCategory(Base):
    """The same as `ExposureWeek`, split by category."""

    __tablename__ = "exposure_week_category"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    reveals: Mapped[int] = mapped_column(Integer, default=0)
    dose: Mapped[float] = mapped_column(Float, default=0.0)
    graphic_minutes: Mapped[float] = mapped_column(Float, default=0.0)


class SummaryBasis(Base):
    """One row: the policy terms (time zone, floor, weights) that the hourly rollups and the
    daily tables were built with, and how far a rebuild for new terms has got."""

    __tablename__ = "summary_basis"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    floor_seconds: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    # False while older days are still being rebuilt (from `rebuilt_before` back).
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    rebuild_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    rebuilt_before: Mapped[date | None] = mapped_column(Date)
    built_at: Mapped[datetime]
    # Terms seen in force but not yet built: built once they have been in force a while,
    # so that no worker still writes with the old ones.
    pending_fingerprint: Mapped[str | None] = mapped_column(String(64))
    pending_since: Mapped[datetime | None]


class RevealGrant(Base):
    """A single-use, short-lived right to fetch one revealed rendition, bound to one person."""

    __tablename__ = "reveal_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachment.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("exposure_event.id"))
    level: Mapped[int]
    region: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Break(Base):
    __tablename__ = "break_period"
    __table_args__ = (Index("ix_break_period_user_ends", "user_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # 'enforced' | 'step_away' | 'rotation'
    kind: Mapped[str] = mapped_column(String(16))
    # 'active' | 'completed' | 'overridden'
    status: Mapped[str] = mapped_column(String(16), default="active")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    trigger_id: Mapped[int | None] = mapped_column(ForeignKey("policy_trigger.id"))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    end_reason: Mapped[str | None] = mapped_column(Text)


class PolicyTrigger(Base):
    """One firing of a policy rule for one person. Its natural key makes every action
    idempotent: a retry, a crash or a second worker cannot fire the same rule twice."""

    __tablename__ = "policy_trigger"
    __table_args__ = (UniqueConstraint("user_id", "rule_id", "window_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    rule_id: Mapped[str] = mapped_column(String(80))
    window_key: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    metric_value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[datetime] = mapped_column(index=True)


class CheckIn(Base):
    """A wellbeing check-in: answers are private to the associate and wellbeing staff."""

    __tablename__ = "check_in"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_check_in_user_due", "user_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(120))
    instrument: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(120))
    trigger_id: Mapped[int | None] = mapped_column(ForeignKey("policy_trigger.id"))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    overdue_alerted_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    answers: Mapped[list[int] | None] = mapped_column(JSON)
    score: Mapped[int | None]
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)


class Alert(Base):
    """A message to a team's leads or to wellbeing staff, deduplicated by its key."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_audience_ack", "audience", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # 'lead' | 'wellbeing'
    audience: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(100))  # e.g. 'rule:<rule id of up to 80>'
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Delivery(Base):
    """One alert sent over one channel (email, webhook), retried with backoff until it goes."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "target"),
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(255))
    # 'pending' | 'sent' | 'failed'
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class PolicyVersion(Base):
    """A policy uploaded by an admin; the most recently activated one is in force, unless
    an admin went back to the policy file (then every activated row is deactivated)."""

    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None] = mapped_column(index=True)
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deactivated_at: Mapped[datetime | None]


class SchedulerHeartbeat(Base):
    __tablename__ = "scheduler_heartbeat"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    beat_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
