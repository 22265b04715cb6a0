"""What `/metrics` reads of the sources: health, last HTTP status and last success.

Read from the sources table alone (never the entries table, which
`Store.source_states` counts), so a scrape costs the same however many
entries the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feedhub.core.models import SourceHealth
from feedhub.store.facade import Store
from feedhub.store.schema import sources


@dataclass(frozen=True, slots=True)
class SourceSummary:
    health: SourceHealth
    last_status: int | None
    last_success: datetime | None


def source_summaries(store: Store) -> list[SourceSummary]:
    """One summary per active source."""
    query = sa.select(sources.c.health, sources.c.last_status, sources.c.last_success).where(
        sources.c.active.is_(True)
    )
    with store.reading() as connection:
        return [
            SourceSummary(SourceHealth(health), status, success)
            for health, status, success in connection.execute(query)
        ]
