"""Entry identity and retention: aliases, tombstones of pruned entries, rewrite counts,
each source's last listing, and the hub's own small state (routing digest, last prune).

Revision ID: 0003_identity
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedhub.store.schema import UTCDateTime

revision = "0003_identity"
down_revision = "0001"
branch_labels = None
depends_on = None


def _source_id() -> sa.Column[int]:
    return sa.Column(
        "source_id",
        sa.Integer,
        sa.ForeignKey("sources.id", ondelete="CASCADE"),
        primary_key=True,
    )


def _entry_id(*, primary_key: bool) -> sa.Column[int]:
    return sa.Column(
        "entry_id",
        sa.Integer,
        sa.ForeignKey("entries.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "entry_aliases",
        _source_id(),
        sa.Column("alias", sa.String(32), primary_key=True),
        _entry_id(primary_key=False),
    )
    op.create_index("ix_entry_aliases_entry", "entry_aliases", ["entry_id"])
    op.create_table(
        "pruned_keys",
        _source_id(),
        sa.Column("alias", sa.String(32), primary_key=True),
        sa.Column("pruned_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_pruned_keys_pruned_at", "pruned_keys", ["pruned_at"])
    op.create_table(
        "entry_revisions",
        _entry_id(primary_key=True),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("rewrites", sa.Integer, nullable=False),
    )
    op.create_table(
        "source_listings",
        _source_id(),
        sa.Column("entry_ids", sa.Text, nullable=False),
    )
    op.create_table(
        "hub_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_entries_source_first_seen", "entries", ["source_id", "first_seen"])


def downgrade() -> None:
    op.drop_index("ix_entries_source_first_seen", "entries")
    for table in (
        "hub_state",
        "source_listings",
        "entry_revisions",
        "pruned_keys",
        "entry_aliases",
    ):
        op.drop_table(table)
