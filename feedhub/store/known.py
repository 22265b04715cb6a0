"""What the store knows about one poll's entries, read in a few batched queries for
`feedhub.rules.entries.decide`.

First the names: in one statement per batch of names, which stored entries the
incoming entries' keys and aliases point to; then those entries, with what deciding
needs of them (their content hash, dates, the article they copy and its sort time,
their rewrites today). Then, holding the locks on the canonical links of the entries
about to change, what `rules.entries.to_read` asks for: in one statement, the articles
of those links and which names of the entries nothing matched are tombstones of pruned
entries; and, when needed, the categories of articles that may move and the free keys
already taken.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import zip_longest
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import EntryToStore, RoutedEntry
from feedhub.rules import dedupe
from feedhub.rules.entries import Article, KnownEntries, KnownEntry, to_read
from feedhub.store import dialects
from feedhub.store.identity import batches
from feedhub.store.schema import (
    entries,
    entry_aliases,
    entry_categories,
    entry_revisions,
    pruned_keys,
)

_KEY, _ALIAS, _ARTICLE, _PRUNED = 0, 1, 2, 3  # what a row of a union is
_article = entries.alias("article")


def read_known(
    connection: Connection, source_id: int, routed: Sequence[RoutedEntry]
) -> KnownEntries:
    """Everything the rules need to decide how to store these entries of the source.

    Takes the canonical-link locks (see `feedhub.store.dialects.lock_names`) before
    reading articles: workers storing one article from two sources at once must agree
    on which copy is the article, so the first to lock decides and the other sees it.
    """
    names = _names(connection, source_id, [item.entry for item in routed])
    wanted = to_read(routed, names)
    dialects.lock_names(connection, "canonical-link", wanted.locks)
    primaries, pruned = _articles_and_tombstones(
        connection, source_id, wanted.links, wanted.tombstones
    )
    return KnownEntries(
        names=names,
        pruned=pruned,
        primaries=primaries,
        categories=_categories(connection, wanted.articles),
        taken_keys=_taken_keys(connection, source_id, wanted.keys),
    )


def primaries_query(links: Sequence[str]) -> sa.Select[Any]:
    """The articles (not copies) with these canonical links (the oldest of a link is its
    article)."""
    return sa.select(
        _how(_ARTICLE), entries.c.canonical_link, entries.c.id, entries.c.sort_time
    ).where(
        entries.c.canonical_link.in_(links),
        # Not `duplicate_of IS NULL`: SQLite (without statistics) would answer that from the
        # duplicate_of index, nearly the whole table, on every poll. Ids start at 1.
        sa.func.coalesce(entries.c.duplicate_of, 0) == 0,
    )


def _names(
    connection: Connection, source_id: int, incoming: Sequence[EntryToStore]
) -> dict[str, KnownEntry]:
    """The stored entries the names point to, by digest (a stored key before an alias)."""
    raw = sorted({name for entry in incoming for name in dedupe.names(entry)})
    by_key: dict[str, int] = {}
    by_alias: dict[str, int] = {}
    for batch in batches(raw):
        digests = sorted({dedupe.digest(name) for name in batch})
        for how, name, entry_id in connection.execute(_names_query(source_id, batch, digests)):
            if how == _KEY:
                by_key[dedupe.digest(name)] = entry_id
            else:
                by_alias[name] = entry_id
    named = by_alias | by_key
    stored = _stored(connection, set(named.values()))
    return {name: stored[entry_id] for name, entry_id in named.items()}


def _names_query(
    source_id: int, raw: Sequence[str], digests: Sequence[str]
) -> sa.CompoundSelect[Any]:
    """Which entries the names are keys or aliases of: one statement, each part off its
    unique index."""
    keys = sa.select(_how(_KEY), entries.c.key, entries.c.id).where(
        entries.c.source_id == source_id, entries.c.key.in_(raw)
    )
    aliases = sa.select(_how(_ALIAS), entry_aliases.c.alias, entry_aliases.c.entry_id).where(
        entry_aliases.c.source_id == source_id, entry_aliases.c.alias.in_(digests)
    )
    return sa.union_all(keys, aliases)


def _how(found: int) -> sa.ColumnElement[int]:
    return sa.literal_column(str(found), sa.Integer).label("how")


def _stored(connection: Connection, entry_ids: Collection[int]) -> dict[int, KnownEntry]:
    """The stored entries, with the sort time of the article each copies and their
    rewrites in the current window."""
    found: dict[int, KnownEntry] = {}
    for batch in batches(sorted(entry_ids)):
        query = (
            sa.select(
                entries.c.id,
                entries.c.canonical_link,
                entries.c.content_hash,
                entries.c.updated,
                entries.c.sort_time,
                entries.c.duplicate_of,
                _article.c.sort_time.label("article_sort_time"),
                entry_revisions.c.window_start,
                entry_revisions.c.rewrites,
            )
            .select_from(
                entries.outerjoin(_article, _article.c.id == entries.c.duplicate_of).outerjoin(
                    entry_revisions, entry_revisions.c.entry_id == entries.c.id
                )
            )
            .where(entries.c.id.in_(batch))
        )
        found.update((row.id, _known_entry(row)) for row in connection.execute(query))
    return found


def _known_entry(row: Any) -> KnownEntry:
    return KnownEntry(
        id=row.id,
        canonical_link=row.canonical_link,
        content_hash=row.content_hash,
        updated=row.updated,
        sort_time=row.sort_time,
        article=(
            Article(row.duplicate_of, row.article_sort_time)
            if row.duplicate_of is not None
            else None
        ),
        revisions=(
            dedupe.Revisions(row.window_start, row.rewrites)
            if row.window_start is not None
            else None
        ),
    )


def _articles_and_tombstones(
    connection: Connection, source_id: int, links: Collection[str], names: Collection[str]
) -> tuple[dict[str, Article], frozenset[str]]:
    """The articles the store carries, by canonical link, and which of the name digests
    are tombstones of entries pruned from the source: one statement per batch."""
    oldest: dict[str, tuple[int, datetime]] = {}
    pruned: set[str] = set()
    for link_batch, name_batch in zip_longest(
        batches(sorted(links)), batches(sorted(names)), fillvalue=()
    ):
        tombstones = sa.select(_how(_PRUNED), pruned_keys.c.alias, sa.null(), sa.null()).where(
            pruned_keys.c.source_id == source_id, pruned_keys.c.alias.in_(name_batch)
        )
        query = sa.union_all(primaries_query(link_batch), tombstones)
        for how, name, entry_id, sort_time in connection.execute(query):
            if how == _PRUNED:
                pruned.add(name)
            elif name not in oldest or entry_id < oldest[name][0]:
                oldest[name] = (entry_id, sort_time)
    primaries = {link: Article(*article) for link, article in oldest.items()}
    return primaries, frozenset(pruned)


def _categories(connection: Connection, articles: Collection[int]) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for batch in batches(sorted(articles)):
        query = sa.select(entry_categories.c.entry_id, entry_categories.c.category).where(
            entry_categories.c.entry_id.in_(batch)
        )
        for row in connection.execute(query):
            found.setdefault(row.entry_id, set()).add(row.category)
    return {article: frozenset(slugs) for article, slugs in found.items()}


def _taken_keys(connection: Connection, source_id: int, keys: Collection[str]) -> frozenset[str]:
    taken: set[str] = set()
    for batch in batches(sorted(keys)):
        query = sa.select(entries.c.key).where(
            entries.c.source_id == source_id, entries.c.key.in_(batch)
        )
        taken.update(connection.execute(query).scalars())
    return frozenset(taken)
