"""The outcome register: cases, events, deadlines, decisions, notifications.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand with portable types only (Text, Integer, BigInteger, Boolean, JSON,
timezone-aware DateTime) so it runs unchanged on SQLite and PostgreSQL. Constraint and index
names follow `activities.register_db.NAMING_CONVENTION`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "register_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("key", name="pk_register_keys"),
        comment="every applied idempotency key: an entry whose key is here is never applied again",
    )
    op.create_index("ix_register_keys_case_id", "register_keys", ["case_id"])

    op.create_table(
        "cases",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=True),
        sa.Column("controller_name", sa.Text(), nullable=True),
        sa.Column("controller_country", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        _ts("opened_at"),
        _ts("closed_at", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
        comment="one row per case: its current stage, status and outcome",
    )
    op.create_index("ix_cases_status_stage", "cases", ["status", "stage"])
    op.create_index("ix_cases_procedure", "cases", ["procedure"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("date", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("key", name="uq_events_key"),
        comment="append-only: every event applied to a case",
    )
    op.create_index("ix_events_case_id_seq", "events", ["case_id", "seq"])

    op.create_table(
        "deadlines",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("trigger_date", sa.Text(), nullable=True),
        sa.Column("period", sa.Text(), nullable=True),
        sa.Column("due", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_deadlines"),
        comment="current state of every deadline of a case",
    )
    op.create_index("ix_deadlines_status_due", "deadlines", ["status", "due"])

    op.create_table(
        "deadline_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("due", sa.Text(), nullable=True),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_deadline_changes"),
        sa.UniqueConstraint("key", name="uq_deadline_changes_key"),
        comment="append-only: every recorded state of a deadline",
    )
    op.create_index("ix_deadline_changes_case_id_seq", "deadline_changes", ["case_id", "seq"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("fine_eur", sa.BigInteger(), nullable=True),
        sa.Column("penalty_per_day_eur", sa.BigInteger(), nullable=True),
        sa.Column("amount_eur", sa.BigInteger(), nullable=True),
        sa.Column("injunction_due", sa.Text(), nullable=True),
        sa.Column("publish", sa.Boolean(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("decided_at"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.UniqueConstraint("key", name="uq_decisions_key"),
        comment="append-only: sanctions, liquidations and other decisions",
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])
    op.create_index("ix_decisions_kind", "decisions", ["kind"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("party", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("key", name="uq_notifications_key"),
        comment="every message to a party, once per idempotency key",
    )
    op.create_index("ix_notifications_case_id", "notifications", ["case_id"])
    op.create_index("ix_notifications_status", "notifications", ["status"])


def downgrade() -> None:
    for table in ("notifications", "decisions", "deadline_changes", "deadlines", "events",
                  "cases", "register_keys"):
        op.drop_table(table)
