"""events: one index on (anonymous_id, user_id) instead of anonymous_id alone

A person's events are read as ``user_id IN (...) OR (user_id IS NULL AND anonymous_id IN
(...))``. Without table statistics SQLite answered the second half through the user_id
index, scanning every anonymous event (50-115 ms for one demo visitor); the composite
index answers it in one range (0.3 ms) and still serves lookups by anonymous_id alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:25:00
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_events_anonymous_id', table_name='events')
    op.create_index('ix_events_anonymous_id_user_id', 'events', ['anonymous_id', 'user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_anonymous_id_user_id', table_name='events')
    op.create_index('ix_events_anonymous_id', 'events', ['anonymous_id'], unique=False)
