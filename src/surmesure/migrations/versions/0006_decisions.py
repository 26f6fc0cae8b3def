"""decisions: placements, experiments, the decision log and exposures

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('placements',
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_placements'))
    )
    op.create_table('experiments',
    sa.Column('experiment_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('experiment_id', name=op.f('pk_experiments'))
    )
    op.create_table('decisions',
    sa.Column('decision_id', sa.String(length=32), nullable=False),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('person', sa.String(length=300), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=True),
    sa.Column('experiment_id', sa.String(length=64), nullable=True),
    sa.Column('arm', sa.String(length=64), nullable=True),
    sa.Column('variant', sa.String(length=64), nullable=True),
    sa.Column('propensity', sa.Float(), nullable=False),
    sa.Column('personalized', sa.Boolean(), nullable=False),
    sa.Column('suppressed', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_decisions'))
    )
    op.create_index('ix_decisions_person_at', 'decisions', ['person', 'at_ms'], unique=False)
    op.create_index('ix_decisions_placement_at', 'decisions', ['placement_id', 'at_ms'], unique=False)
    op.create_index('ix_decisions_experiment', 'decisions', ['experiment_id'], unique=False)
    op.create_table('exposures',
    sa.Column('experiment_id', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.String(length=300), nullable=False),
    sa.Column('arm', sa.String(length=64), nullable=True),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.Column('decision_id', sa.String(length=32), nullable=False),
    sa.Column('propensity', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('experiment_id', 'identifier', name=op.f('pk_exposures'))
    )


def downgrade() -> None:
    op.drop_table('exposures')
    op.drop_index('ix_decisions_experiment', table_name='decisions')
    op.drop_index('ix_decisions_placement_at', table_name='decisions')
    op.drop_index('ix_decisions_person_at', table_name='decisions')
    op.drop_table('decisions')
    op.drop_table('experiments')
    op.drop_table('placements')
