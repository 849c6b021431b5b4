"""Erasure at the end of retention: event rows keep a salted digest of their data and a
digest of its public form, so the chain survives the erasure of their personal values;
every erasure is recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Rows written before this revision keep NULL in the new columns and verify as before; an
erasure re-chains such a case once (see `activities.register.Register.erase`). Nothing is
rewritten here: a migration must not recompute hashes it has not verified.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("data_salt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("data_digest", sa.Text(), nullable=True))
        batch.add_column(sa.Column("public_digest", sa.Text(), nullable=True))

    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("rehashed", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_erasures"),
        comment="every erasure of a case's personal data: when, and how many rows of each "
                "table",
    )
    op.create_index("ix_erasures_case_id", "erasures", ["case_id"])


def downgrade() -> None:
    op.drop_table("erasures")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("public_digest")
        batch.drop_column("data_digest")
        batch.drop_column("data_salt")
