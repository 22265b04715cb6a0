"""The initial store: sources, entries, their categories, and categories to republish.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedhub.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("site_link", sa.String(2048)),
        sa.Column("effective_url", sa.String(2048)),
        sa.Column("redirect_target", sa.String(2048)),
        sa.Column("permanent_redirects", sa.Integer, nullable=False),
        sa.Column("etag", sa.String(1024)),
        sa.Column("last_modified", sa.String(256)),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("last_attempt", UTCDateTime),
        sa.Column("last_success", UTCDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_due", UTCDateTime),
    )
    op.create_index("ix_sources_due", "sources", ["active", "next_due"])
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(100), nullable=False, unique=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(2048), nullable=False),
        sa.Column("canonical_link", sa.String(2048)),
        sa.Column("link", sa.String(2048)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary_html", sa.Text),
        sa.Column("content_html", sa.Text),
        sa.Column("authors", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("enclosures", sa.Text, nullable=False),
        sa.Column("published", UTCDateTime),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("sort_time", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("entries.id", ondelete="SET NULL")),
        sa.UniqueConstraint("source_id", "key", name="uq_entries_source_key"),
    )
    op.create_index("ix_entries_canonical_link", "entries", ["canonical_link"])
    op.create_index("ix_entries_duplicate_of", "entries", ["duplicate_of"])
    op.create_table(
        "entry_categories",
        sa.Column("category", sa.String(100), primary_key=True),
        sa.Column(
            "entry_id",
            sa.Integer,
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sort_time", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_entry_categories_recent", "entry_categories", ["category", "sort_time", "entry_id"]
    )
    op.create_index("ix_entry_categories_entry", "entry_categories", ["entry_id"])
    op.create_table(
        "categories",
        sa.Column("slug", sa.String(100), primary_key=True),
        sa.Column("dirty", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("categories", "entry_categories", "entries", "sources"):
        op.drop_table(table)
