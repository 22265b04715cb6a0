"""Several workers: a lease on each claimed source, and the published documents in the store.

Revision ID: 0005_workers
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedhub.store.schema import UTCDateTime

revision = "0005_workers"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("lease_owner", sa.String(200)))
    op.add_column("sources", sa.Column("lease_until", UTCDateTime))
    op.create_table(
        "documents",
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("etag", sa.String(100), nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("documents")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
