"""recommendations: the log of answers shown to people ("why am I seeing this")

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recommendations_shown",
        sa.Column("shown_id", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("person", sa.String(length=300), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=True),
        sa.Column("context", sa.String(length=16), nullable=False),
        sa.Column("personalized", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("items", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("shown_id", name=op.f("pk_recommendations_shown")),
    )
    op.create_index("ix_recommendations_shown_person_at", "recommendations_shown", ["person", "at_ms"])
    op.create_index("ix_recommendations_shown_profile_at", "recommendations_shown", ["profile_id", "at_ms"])
    op.create_index("ix_recommendations_shown_at", "recommendations_shown", ["at_ms"])


def downgrade() -> None:
    op.drop_table("recommendations_shown")
