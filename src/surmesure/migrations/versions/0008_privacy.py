"""privacy: tombstones of erased identifiers (keyed hashes) and the erasure log

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_tombstones",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("erased_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_privacy_tombstones")),
    )
    op.create_table(
        "privacy_erasures",
        sa.Column("erasure_id", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("erasure_id", name=op.f("pk_privacy_erasures")),
    )


def downgrade() -> None:
    op.drop_table("privacy_erasures")
    op.drop_table("privacy_tombstones")
