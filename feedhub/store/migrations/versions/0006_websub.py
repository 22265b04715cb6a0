"""WebSub: subscription requests, subscribers and deliveries (as a hub); subscriptions to
sources' hubs and the documents they pushed (as a subscriber).

Revision ID: 0006_websub
Revises: 0005_workers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedhub.store.schema import UTCDateTime

revision = "0006_websub"
down_revision = "0005_workers"
branch_labels = None
depends_on = None


def _source_id() -> sa.Column[int]:
    return sa.Column(
        "source_id", sa.Integer, sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "websub_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("callback", sa.String(2048), nullable=False),
        sa.Column("callback_host", sa.String(255), nullable=False),
        sa.Column("secret", sa.String(200)),
        sa.Column("lease_seconds", sa.Integer, nullable=False),
        sa.Column("received", UTCDateTime, nullable=False),
        sa.Column("claim_until", UTCDateTime),
    )
    op.create_table(
        "websub_subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("callback", sa.String(2048), nullable=False),
        sa.Column("callback_host", sa.String(255), nullable=False),
        sa.Column("secret", sa.String(200)),
        sa.Column("expires", UTCDateTime, nullable=False),
        sa.Column("changed", sa.Boolean, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("retry_at", UTCDateTime),
        sa.Column("claim_until", UTCDateTime),
    )
    op.create_index("ix_websub_subscribers_topic", "websub_subscribers", ["topic"])
    op.create_index("ix_websub_subscribers_callback_host", "websub_subscribers", ["callback_host"])
    op.create_table(
        "websub_sources",
        _source_id(),
        sa.Column("hub", sa.String(2048), nullable=False),
        sa.Column("topic", sa.String(2048), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("verified_at", UTCDateTime),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("retry_at", UTCDateTime),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("claim_until", UTCDateTime),
    )
    op.create_table(
        "websub_pushes",
        _source_id(),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("received", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("websub_pushes", "websub_sources", "websub_subscribers", "websub_requests"):
        op.drop_table(table)
