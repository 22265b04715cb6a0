"""Near-duplicate stories: candidate keys per entry, and each entry's own categories.

Revision ID: 0008_neardup
Revises: 0005_workers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_neardup"
down_revision = "0005_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "neardup_keys",
        sa.Column("band_key", sa.BigInteger, primary_key=True),
        sa.Column(
            "entry_id",
            sa.Integer,
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_neardup_keys_entry", "neardup_keys", ["entry_id"])
    op.create_table(
        "entry_routes",
        sa.Column(
            "entry_id",
            sa.Integer,
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("category", sa.String(100), primary_key=True),
    )
    # Entries stored before this migration: each copy may be shown wherever its article is,
    # as before (the next change of routing records each entry's own categories).
    op.execute(
        "INSERT INTO entry_routes (entry_id, category) "
        "SELECT entries.id, entry_categories.category FROM entries "
        "JOIN entry_categories ON entry_categories.entry_id = "
        "COALESCE(entries.duplicate_of, entries.id)"
    )


def downgrade() -> None:
    op.drop_table("entry_routes")
    op.drop_index("ix_neardup_keys_entry", "neardup_keys")
    op.drop_table("neardup_keys")
