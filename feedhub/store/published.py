"""The publish read model: a category's newest articles as `PublishedEntry` values, and the
feed being regenerated under its lock (`Publication`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import PublishedEntry
from feedhub.rules import neardup
from feedhub.store import neardup as neardup_store
from feedhub.store.documents import save_document
from feedhub.store.schema import (
    entries,
    entry_categories,
    sources,
)

# With a category's max_per_source, how many of its newest articles per published one
# the cap is applied to (publishing cost stays bounded however large the store grows).
MAX_PER_SOURCE_SCAN = 20


class Publication:
    """One feed being regenerated under its lock (see `Store.publishing`)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def latest_entries(
        self,
        category: str,
        limit: int,
        max_per_source: int | None = None,
        showing: neardup.Showing = neardup.DEFAULT_SHOWING,
    ) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first (see `latest_entries`)."""
        return latest_entries(self._connection, category, limit, max_per_source, showing)

    def save_document(self, path: str, body: bytes, content_type: str, etag: str) -> bool:
        """Keep a document the feed published; False if it was kept with that body already."""
        return save_document(self._connection, path, body, content_type, etag)


def latest_entries(
    connection: Connection,
    category: str,
    limit: int,
    max_per_source: int | None = None,
    showing: neardup.Showing = neardup.DEFAULT_SHOWING,
) -> list[PublishedEntry]:
    """The newest `limit` articles of a category (see `latest_entries_query`), each shown
    as the copy the category shows (see `feedhub.store.neardup`)."""
    rows = list(connection.execute(latest_entries_query(category, limit, max_per_source)))
    return neardup_store.published_entries(connection, category, showing, rows)[:limit]


def latest_entries_query(
    category: str, limit: int, max_per_source: int | None = None
) -> sa.Select[Any]:
    """The newest `limit` articles of a category, newest first, at most `max_per_source`
    of them from any one source. The cap is applied to the category's newest
    `limit * MAX_PER_SOURCE_SCAN` articles only, so publishing costs the same however
    large the store grows (a source that floods more than that many is not capped
    out of older articles of the others): the (category, sort_time) index is read
    from its newest end, never the whole category."""
    joined = entry_categories.join(entries, entries.c.id == entry_categories.c.entry_id).join(
        sources, sources.c.id == entries.c.source_id
    )
    wanted = (entry_categories.c.category == category, sources.c.active.is_(True))
    newest_first = (entry_categories.c.sort_time.desc(), entry_categories.c.entry_id.desc())
    published = (
        entries,
        sources.c.name.label("source_name"),
        sources.c.url.label("source_url"),
        sources.c.site_link.label("source_link"),
    )
    if max_per_source is None:
        return (
            sa.select(*published)
            .select_from(joined)
            .where(*wanted)
            .order_by(*newest_first)
            .limit(limit)
        )
    scanned = (
        sa.select(
            entry_categories.c.entry_id,
            entry_categories.c.sort_time,
            entries.c.source_id,
        )
        .select_from(joined)
        .where(*wanted)
        .order_by(*newest_first)
        .limit(limit * MAX_PER_SOURCE_SCAN)
        .subquery()
    )
    ranked = sa.select(
        scanned.c.entry_id,
        scanned.c.sort_time,
        sa.func.row_number()
        .over(
            partition_by=scanned.c.source_id,
            order_by=(scanned.c.sort_time.desc(), scanned.c.entry_id.desc()),
        )
        .label("place"),
    ).subquery()
    return (
        sa.select(*published)
        .select_from(
            ranked.join(entries, entries.c.id == ranked.c.entry_id).join(
                sources, sources.c.id == entries.c.source_id
            )
        )
        .where(ranked.c.place <= max_per_source)
        .order_by(ranked.c.sort_time.desc(), ranked.c.entry_id.desc())
        .limit(limit)
    )
