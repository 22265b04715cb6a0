"""Entry identity in the store: the names (keys and aliases) stored entries go by, the
names of pruned entries, rewrite counts, and what each source listed last.

SQL helpers that `feedhub.store.facade` calls inside a poll's write transaction; the
decisions they serve (which stored entry an incoming one is, whether a rewrite
may happen now) are made in `feedhub.rules.dedupe`. Names are kept as digests
(`dedupe.digest`), so any guid fits the same small indexed column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import EntryToStore
from feedhub.rules import dedupe
from feedhub.store import dialects
from feedhub.store.schema import (
    entries,
    entry_aliases,
    entry_revisions,
    pruned_keys,
    source_listings,
)

BATCH = 500
T = TypeVar("T")


def known_names(
    connection: Connection, source_id: int, incoming: Sequence[EntryToStore]
) -> dict[str, dedupe.Known]:
    """The stored entries of the source that the incoming entries' names point to, by digest.

    A name points to an entry when it is the entry's own key or a recorded alias.
    """
    raw = sorted({name for entry in incoming for name in dedupe.names(entry)})
    found: dict[str, dedupe.Known] = {}
    for batch in batches(raw):
        query = sa.select(entries.c.key, entries.c.id, entries.c.canonical_link).where(
            entries.c.source_id == source_id, entries.c.key.in_(batch)
        )
        for row in connection.execute(query):
            found[dedupe.digest(row.key)] = dedupe.Known(row.id, row.canonical_link)
    digests = sorted({dedupe.digest(name) for name in raw} - set(found))
    for batch in batches(digests):
        query = (
            sa.select(entry_aliases.c.alias, entries.c.id, entries.c.canonical_link)
            .join(entries, entries.c.id == entry_aliases.c.entry_id)
            .where(entry_aliases.c.source_id == source_id, entry_aliases.c.alias.in_(batch))
        )
        for row in connection.execute(query):
            found[row.alias] = dedupe.Known(row.id, row.canonical_link)
    return found


def record_names(
    connection: Connection,
    source_id: int,
    stored: Sequence[tuple[EntryToStore, int]],
    known: Mapping[str, dedupe.Known],
) -> None:
    """Remember every name of each (entry, stored id) that does not point anywhere yet."""
    rows: dict[str, dict[str, Any]] = {}
    for entry, entry_id in stored:
        for name in dedupe.names(entry):
            alias = dedupe.digest(name)
            if alias not in known and alias not in rows:
                rows[alias] = {"source_id": source_id, "alias": alias, "entry_id": entry_id}
    if rows:
        insert = dialects.insert(connection, entry_aliases).on_conflict_do_nothing()
        connection.execute(insert, list(rows.values()))


def pruned(connection: Connection, source_id: int, incoming: Sequence[EntryToStore]) -> set[str]:
    """The keys of the incoming entries that name an entry pruned from the source."""
    by_digest: dict[str, set[str]] = {}
    for entry in incoming:
        for name in dedupe.names(entry):
            by_digest.setdefault(dedupe.digest(name), set()).add(entry.key)
    gone: set[str] = set()
    for batch in batches(sorted(by_digest)):
        query = sa.select(pruned_keys.c.alias).where(
            pruned_keys.c.source_id == source_id, pruned_keys.c.alias.in_(batch)
        )
        for alias in connection.execute(query).scalars():
            gone |= by_digest[alias]
    return gone


def allow_rewrites(connection: Connection, entry_ids: Sequence[int], now: datetime) -> set[int]:
    """Of entries whose content changed, those that may be rewritten now; counts the rewrites."""
    current: dict[int, dedupe.Revisions] = {}
    for batch in batches(sorted(set(entry_ids))):
        query = sa.select(entry_revisions).where(entry_revisions.c.entry_id.in_(batch))
        for row in connection.execute(query):
            current[row.entry_id] = dedupe.Revisions(row.window_start, row.rewrites)
    allowed: set[int] = set()
    for entry_id in sorted(set(entry_ids)):
        revisions = dedupe.next_revisions(current.get(entry_id), now)
        if revisions is None:
            continue
        allowed.add(entry_id)
        values = {"window_start": revisions.window_start, "rewrites": revisions.count}
        upsert = dialects.insert(connection, entry_revisions).values(entry_id=entry_id, **values)
        connection.execute(
            upsert.on_conflict_do_update(index_elements=[entry_revisions.c.entry_id], set_=values)
        )
    return allowed


def record_listing(connection: Connection, source_id: int, entry_ids: Sequence[int]) -> None:
    """What the source's document listed this time (retention keeps these)."""
    listed = json.dumps(sorted(set(entry_ids)))
    upsert = dialects.insert(connection, source_listings).values(
        source_id=source_id, entry_ids=listed
    )
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=[source_listings.c.source_id], set_={"entry_ids": listed}
        )
    )


def batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of `size`, for IN (...) lists the databases accept."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
