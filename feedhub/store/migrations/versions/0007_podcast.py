"""Podcast details: each entry's artwork (itunes:image, else its podcast's cover).

Durations travel with the enclosures (their JSON gains a fourth element), so they need
no column.

Revision ID: 0007_podcast
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_podcast"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("image", sa.String(2048)))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("image")
