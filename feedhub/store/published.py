"""The publish read model: a category's newest articles as `PublishedEntry` values, and the
feed being regenerated under its lock (`Publication`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import (
    Enclosure,
    PublishedEntry,
    PublishedSource,
)
from feedhub.core.text import safe_strings
from feedhub.store.documents import save_document
from feedhub.store.identity import batches
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
        self, category: str, limit: int, max_per_source: int | None = None
    ) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first (see `latest_entries`)."""
        return latest_entries(self._connection, category, limit, max_per_source)

    def save_document(self, path: str, body: bytes, content_type: str, etag: str) -> bool:
        """Keep a document the feed published; False if it was kept with that body already."""
        return save_document(self._connection, path, body, content_type, etag)


def latest_entries(
    connection: Connection, category: str, limit: int, max_per_source: int | None = None
) -> list[PublishedEntry]:
    """The newest `limit` articles of a category (see `latest_entries_query`)."""
    rows = list(connection.execute(latest_entries_query(category, limit, max_per_source)))
    alternates = _alternate_links(connection, [row.id for row in rows])
    return [_published_entry(row, alternates.get(row.id, ())) for row in rows]


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


def _alternate_links(
    connection: Connection, article_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for batch in batches(list(article_ids)):
        query = (
            sa.select(entries.c.duplicate_of, entries.c.link)
            .where(entries.c.duplicate_of.in_(batch), entries.c.link.is_not(None))
            .order_by(entries.c.id)
        )
        for row in connection.execute(query):
            found.setdefault(row.duplicate_of, []).append(row.link)
    return {key: tuple(dict.fromkeys(links)) for key, links in found.items()}


def _published_entry(row: Any, alternates: tuple[str, ...]) -> PublishedEntry:
    entry = PublishedEntry(
        uid=row.uid,
        title=row.title,
        link=row.link,
        summary_html=row.summary_html,
        content_html=row.content_html,
        authors=tuple(json.loads(row.authors)),
        labels=tuple(json.loads(row.labels)),
        enclosures=tuple(Enclosure(*values) for values in json.loads(row.enclosures)),
        published=row.published or row.sort_time,
        updated=row.updated,
        source=PublishedSource(name=row.source_name, url=row.source_url, link=row.source_link),
        alternates=tuple(link for link in alternates if link != row.link),
        image=row.image,
    )
    return safe_strings(entry)  # stored by an older feedhub, maybe before the border
