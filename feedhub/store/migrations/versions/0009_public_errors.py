"""What is published of a source's failure: its class, kept beside the detail.

`sources.public_error` holds the class of `last_error` ("host not found",
"refused: not a public address"); the front page shows it, `status` the detail.
Health events already stored lose their detail (a path, an internal address), as
the health feed is published.

Revision ID: 0009_public_errors
Revises: 0002_health
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_public_errors"
down_revision = "0002_health"
branch_labels = None
depends_on = None

_EVENTS = sa.table(
    "health_events",
    sa.column("source_name", sa.String),
    sa.column("change", sa.String),
    sa.column("message", sa.Text),
)


def upgrade() -> None:
    op.add_column("sources", sa.Column("public_error", sa.Text))
    for change, words in (("failing", " is failing"), ("gone", " is gone")):
        op.execute(
            _EVENTS.update()
            .where(_EVENTS.c.change == change)
            .values(message=_EVENTS.c.source_name + words)
        )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("public_error")
