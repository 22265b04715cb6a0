"""Near-duplicate stories in the store: filing new entries under candidate keys, joining a
new entry to the story it repeats, and reading which copy of a story a category shows.

A story is an article row (`entries.duplicate_of` NULL) and its copies (rows whose
`duplicate_of` is it): copies of one canonical link, and near-duplicates from other
sources that `feedhub.rules.neardup` judges the same story. The story's categories
are in `entry_categories` under the article's id, so the published id is the
article's uid, minted when the story was first stored: a later copy, or a copy
pruned, never changes it (retention keeps an article while any copy is kept).
`entry_routes` keeps the categories each entry was routed to itself: a category
shows only copies routed to it.

Several workers: candidate keys are looked up and filed under a named lock on each
key (`dialects.lock_names`), so of two workers storing two copies of a story at
once, the second waits for the first to commit, then finds its copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import (
    Enclosure,
    EntryToStore,
    PublishedEntry,
    PublishedSource,
    RelatedLink,
)
from feedhub.core.text import safe_strings
from feedhub.rules import neardup
from feedhub.store import dialects
from feedhub.store.identity import batches
from feedhub.store.pairs import replace_pairs
from feedhub.store.schema import entries, entry_categories, entry_routes, neardup_keys, sources

log = logging.getLogger(__name__)

# Entries read per new entry as candidates (the newest of those sharing a key): the cost
# of a lookup stays the same however many entries the store holds.
MAX_CANDIDATES = 32


def record_routes(connection: Connection, routes: Iterable[tuple[int, Iterable[str]]]) -> None:
    """Record the categories each new entry (by id) was routed to itself."""
    rows = [
        {"entry_id": entry_id, "category": slug}
        for entry_id, slugs in routes
        for slug in sorted(set(slugs))
    ]
    if rows:
        insert = dialects.insert(connection, entry_routes).on_conflict_do_nothing()
        connection.execute(insert, rows)


def replace_routes(connection: Connection, routes: Mapping[int, Iterable[str]]) -> set[str]:
    """Make `entry_routes` say what routing says now (after a change of routing); return
    the categories whose copies changed (the copy they show may have)."""
    after = {(entry_id, slug) for entry_id, slugs in routes.items() for slug in slugs}
    return {slug for _, slug in replace_pairs(connection, entry_routes, after)}


def join_stories(
    connection: Connection,
    source: tuple[int, str],
    new: Sequence[tuple[int, EntryToStore]],
    policy: neardup.Policy,
) -> int:
    """Join each new entry (id, entry) of one source (id, URL) that repeats a story of
    another source to that story, and file the new entries under their candidate keys;
    return how many joined a story. Runs in the poll's write transaction, with one
    query per step for the whole poll, not one per entry."""
    if not policy.applies_to(source[1]) or not new:
        return 0
    keys = {entry_id: entry.story_keys for entry_id, entry in new}
    dialects.lock_names(connection, "neardup", [str(k) for ks in keys.values() for k in ks])
    articles = _articles_among(connection, list(keys))
    looking = {entry_id: ks for entry_id, ks in keys.items() if entry_id in articles and ks}
    candidates = _Candidates.read(connection, source[0], looking)
    joins: dict[int, int] = {}  # new entry id -> the story it repeats
    for entry_id, entry in new:
        found = candidates.of(entry_id)
        if not found:
            continue
        text = neardup.reader_text(entry.title, entry.summary_html, entry.content_html)
        story = neardup.best_story(text, found, policy.threshold)
        if story is not None:
            joins[entry_id] = story
            candidates.taken.add(story)  # a source's entries are never merged with each other
    _join(connection, joins)
    rows = [{"band_key": key, "entry_id": entry_id} for entry_id, ks in keys.items() for key in ks]
    if rows:
        connection.execute(dialects.insert(connection, neardup_keys).on_conflict_do_nothing(), rows)
    return len(joins)


def _articles_among(connection: Connection, entry_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for batch in batches(sorted(entry_ids)):
        query = sa.select(entries.c.id).where(
            entries.c.id.in_(batch), entries.c.duplicate_of.is_(None)
        )
        found.update(connection.execute(query).scalars())
    return found


# Statements built once (SQLAlchemy caches their compiled form).
_RANKED_BY_KEY = (
    sa.select(
        neardup_keys.c.band_key,
        neardup_keys.c.entry_id,
        sa.func.row_number()
        .over(partition_by=neardup_keys.c.band_key, order_by=neardup_keys.c.entry_id.desc())
        .label("rank"),
    )
    .where(neardup_keys.c.band_key.in_(sa.bindparam("keys", expanding=True)))
    .subquery()
)
# The newest entries filed under each key: the newest of those sharing any of an entry's
# keys are among them.
_SHARING_KEYS = sa.select(_RANKED_BY_KEY.c.band_key, _RANKED_BY_KEY.c.entry_id).where(
    _RANKED_BY_KEY.c.rank <= MAX_CANDIDATES
)
_CANDIDATE_TEXTS = sa.select(
    entries.c.id,
    entries.c.duplicate_of,
    entries.c.title,
    entries.c.summary_html,
    entries.c.content_html,
).where(
    entries.c.id.in_(sa.bindparam("ids", expanding=True)),
    entries.c.source_id != sa.bindparam("source_id"),
)


@dataclass(slots=True)
class _Candidates:
    """The stories a poll's new entries may repeat: for each entry, the newest
    `MAX_CANDIDATES` entries of other sources sharing one of its keys, as (story id, text).
    Stories that have a copy from this source (`taken`) are left out."""

    by_entry: dict[int, list[int]]  # new entry id -> candidate entry ids, newest first
    rows: dict[int, Any]  # candidate entry id -> its row (other sources' only)
    taken: set[int]
    texts: dict[int, neardup.ReaderText] = field(default_factory=dict)

    @classmethod
    def read(
        cls, connection: Connection, source_id: int, keys: Mapping[int, Sequence[int]]
    ) -> _Candidates:
        filed: dict[int, list[int]] = {}
        wanted = sorted({key for ks in keys.values() for key in ks})
        for batch in batches(wanted):
            for key, entry_id in connection.execute(_SHARING_KEYS, {"keys": list(batch)}):
                filed.setdefault(key, []).append(entry_id)
        by_entry = {
            entry_id: sorted({i for key in ks for i in filed.get(key, ())}, reverse=True)[
                :MAX_CANDIDATES
            ]
            for entry_id, ks in keys.items()
        }
        ids = sorted({i for found in by_entry.values() for i in found})
        rows = {
            row.id: row
            for batch in batches(ids)
            for row in connection.execute(
                _CANDIDATE_TEXTS, {"ids": list(batch), "source_id": source_id}
            )
        }
        stories = {row.duplicate_of or row.id for row in rows.values()}
        return cls(by_entry, rows, _stories_with_source(connection, stories, source_id))

    def of(self, entry_id: int) -> list[tuple[int, neardup.ReaderText]]:
        found = [self.rows[i] for i in self.by_entry.get(entry_id, ()) if i in self.rows]
        return [
            (story, self._text(row))
            for row in found
            if (story := row.duplicate_of or row.id) not in self.taken
        ]

    def _text(self, row: Any) -> neardup.ReaderText:
        if row.id not in self.texts:
            self.texts[row.id] = neardup.reader_text(row.title, row.summary_html, row.content_html)
        return self.texts[row.id]


def _stories_with_source(connection: Connection, stories: set[int], source_id: int) -> set[int]:
    found: set[int] = set()
    for batch in batches(sorted(stories)):
        query = sa.select(entries.c.id, entries.c.duplicate_of).where(
            entries.c.source_id == source_id,
            sa.or_(entries.c.id.in_(batch), entries.c.duplicate_of.in_(batch)),
        )
        found.update(row.duplicate_of or row.id for row in connection.execute(query))
    return found


def _join(connection: Connection, joins: Mapping[int, int]) -> None:
    """Make each new article (by id), with its copies, copies of the story it repeats, in
    that story's categories."""
    if not joins:
        return
    stories = sa.select(entries.c.id, entries.c.sort_time).where(
        entries.c.id.in_(sorted(set(joins.values())))
    )
    story_times = {story: sort_time for story, sort_time in connection.execute(stories)}
    left = connection.execute(
        entry_categories.delete()
        .where(entry_categories.c.entry_id.in_(sorted(joins)))
        .returning(entry_categories.c.entry_id, entry_categories.c.category)
    )
    moved = {(joins[entry_id], slug) for entry_id, slug in left}
    connection.execute(
        entries.update()
        .where(
            sa.or_(
                entries.c.id == sa.bindparam("entry"),
                entries.c.duplicate_of == sa.bindparam("entry"),
            )
        )
        .values(duplicate_of=sa.bindparam("story")),
        [{"entry": entry_id, "story": story} for entry_id, story in joins.items()],
    )
    if moved:
        rows = [
            {"category": slug, "entry_id": story, "sort_time": story_times[story]}
            for story, slug in sorted(moved)
        ]
        connection.execute(
            dialects.insert(connection, entry_categories).on_conflict_do_nothing(), rows
        )
    log.debug("%d new entries are copies of stories stored before", len(joins))


# --- what a category shows ------------------------------------------------------------


def published_entries(
    connection: Connection, category: str, showing: neardup.Showing, articles: Sequence[Any]
) -> list[PublishedEntry]:
    """The entries a category publishes for its stories (`articles`: rows of the
    category's query, newest first, with source_name, source_url and source_link)."""
    copies = _routed_copies(connection, category, [row.id for row in articles])
    published: list[PublishedEntry] = []
    for article in articles:
        group = copies.get(article.id)
        if not group:
            continue  # no copy of the story comes from a source routed to this category
        parts = [group] if showing.merged else _by_link(group)
        entries_here = [
            _published(_uid(article, part, showing.merged), part, showing.order) for part in parts
        ]
        published += sorted(entries_here, key=lambda e: e.published, reverse=True)
    return published


def _routed_copies(
    connection: Connection, category: str, article_ids: Sequence[int]
) -> dict[int, list[Any]]:
    """Each story's copies (its article included) routed to `category`, by article id."""
    found: dict[int, list[Any]] = {}
    for batch in batches(list(article_ids)):
        for own in (entries.c.id, entries.c.duplicate_of):
            for row in connection.execute(routed_copies_query(category, batch, own)):
                found.setdefault(row.duplicate_of or row.id, []).append(row)
    return found


def routed_copies_query(
    category: str, ids: Sequence[int], own: sa.ColumnElement[Any]
) -> sa.Select[Any]:
    """The entries routed to `category` whose `own` column (id, or duplicate_of) is in
    `ids`, with their sources' names and links."""
    return (
        sa.select(
            entries,
            sources.c.name.label("source_name"),
            sources.c.url.label("source_url"),
            sources.c.site_link.label("source_link"),
        )
        .join(sources, sources.c.id == entries.c.source_id)
        .join(
            entry_routes,
            sa.and_(entry_routes.c.entry_id == entries.c.id, entry_routes.c.category == category),
        )
        # Through a function, so that SQLite cannot start from the sources' (active, due)
        # index and walk every entry of every active source: the entries come off `ids`.
        .where(own.in_(ids), sa.func.coalesce(sources.c.active, False).is_(True))
    )


def _by_link(group: Sequence[Any]) -> list[list[Any]]:
    """Copies sharing a canonical link (a category that shows near-duplicates apart)."""
    parts: dict[object, list[Any]] = {}
    for row in group:
        parts.setdefault(row.canonical_link or row.id, []).append(row)
    return list(parts.values())


def _uid(article: Any, part: Sequence[Any], merged: bool) -> str:
    """The story's id: its article's; a near-duplicate shown apart keeps its own."""
    if merged or any(row.id == article.id for row in part):
        return str(article.uid)
    link = article.canonical_link
    if link and any(row.canonical_link == link for row in part):
        return str(article.uid)
    return str(min(part, key=lambda row: row.id).uid)


def _published(uid: str, group: Sequence[Any], order: Mapping[str, int]) -> PublishedEntry:
    by_id = {row.id: row for row in group}
    ranked = neardup.shown_first(
        [
            neardup.Copy(row.id, row.source_url, row.sort_time, row.duplicate_of is None)
            for row in group
        ],
        order,
    )
    shown, *others = [by_id[copy.entry_id] for copy in ranked]
    updated = max(
        [shown.updated, *(row.first_seen for row in group)] if others else [shown.updated]
    )
    related: dict[str, RelatedLink] = {}
    for row in others:
        if row.link and row.link != shown.link:
            related.setdefault(row.link, RelatedLink(row.link, row.source_name))
    entry = PublishedEntry(
        uid=uid,
        title=shown.title,
        link=shown.link,
        summary_html=shown.summary_html,
        content_html=shown.content_html,
        authors=tuple(json.loads(shown.authors)),
        labels=tuple(json.loads(shown.labels)),
        enclosures=tuple(Enclosure(*values) for values in json.loads(shown.enclosures)),
        published=shown.published or shown.sort_time,
        updated=updated,
        source=PublishedSource(
            name=shown.source_name, url=shown.source_url, link=shown.source_link
        ),
        related=tuple(related.values()),
        image=shown.image,
    )
    return safe_strings(entry)  # stored by an older feedhub, maybe before the border
