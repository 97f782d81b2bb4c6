"""daily and weekly exposure summaries and their basis

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from exposure.timecol import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _totals() -> list[sa.Column[object]]:
    return [
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("reveals", sa.Integer(), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("graphic_minutes", sa.Float(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("exposure_event", schema=None) as batch_op:
        batch_op.create_index("ix_exposure_event_started_at", ["started_at"], unique=False)
    op.create_table(
        "exposure_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *_totals(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_exposure_day_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("day", "user_id", name=op.f("pk_exposure_day")),
    )
    op.create_table(
        "exposure_week",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *_totals(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_exposure_week_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("week", "user_id", name=op.f("pk_exposure_week")),
    )
    op.create_table(
        "exposure_week_category",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        *_totals(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_exposure_week_category_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint(
            "week", "user_id", "category", name=op.f("pk_exposure_week_category")
        ),
    )
    op.create_table(
        "summary_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("floor_seconds", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("rebuild_hours", sa.Boolean(), nullable=False),
        sa.Column("rebuilt_before", sa.Date(), nullable=True),
        sa.Column("built_at", UTCDateTime(), nullable=False),
        sa.Column("pending_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("pending_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_basis")),
    )
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
    op.drop_table("summary_basis")
    op.drop_table("exposure_week_category")
    op.drop_table("exposure_week")
    op.drop_table("exposure_day")
    with op.batch_alter_table("exposure_event", schema=None) as batch_op:
        batch_op.drop_index("ix_exposure_event_started_at")
