"""segments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('segments',
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('segment_id', name=op.f('pk_segments'))
    )
    op.create_table('segment_members',
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('since_ms', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('segment_id', 'profile_id', name=op.f('pk_segment_members'))
    )
    op.create_index('ix_segment_members_profile', 'segment_members', ['profile_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_segment_members_profile', table_name='segment_members')
    op.drop_table('segment_members')
    op.drop_table('segments')
