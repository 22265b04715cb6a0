"""Source health: the document's own polling hint on sources, and the health events table.

Revision ID: 0002_health
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedhub.store.schema import UTCDateTime

revision = "0002_health"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("feed_hint_seconds", sa.Integer))
    op.create_table(
        "health_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("source_name", sa.String(500), nullable=False),
        sa.Column("source_url", sa.String(2048), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_health_events_at", "health_events", ["at", "id"])


def downgrade() -> None:
    op.drop_table("health_events")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("feed_hint_seconds")
