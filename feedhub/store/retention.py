"""Retention: prune entries first seen more than `[hub] keep_days` ago, at most once an hour.

Kept whatever their age: the newest `keep_min` entries of each source (by
first-seen time), every entry an active source's last document listed, and an
article while any copy of it from another source is kept. Pruning deletes rows
and nothing else, so what remains keeps its ids. The names of a pruned entry
(its key and aliases, as digests) stay behind as tombstones for
`TOMBSTONE_DAYS`, so an entry that reappears upstream is not stored again as new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.config.settings import HubSettings
from feedhub.rules import dedupe
from feedhub.store import dialects
from feedhub.store.categories import mark_dirty
from feedhub.store.facade import Store
from feedhub.store.identity import batches
from feedhub.store.schema import (
    entries,
    entry_aliases,
    entry_categories,
    pruned_keys,
    source_listings,
    sources,
)
from feedhub.store.state import read_state, write_state

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
TOMBSTONE_DAYS = 365
LAST_PRUNE = "last_prune"  # in hub_state, ISO 8601


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pruning pass removed."""

    entries: int
    tombstones_expired: int


def prune_if_due(store: Store, hub: HubSettings, now: datetime) -> Pruned | None:
    """Prune if the last pass was an hour ago or more (or never); None when not due."""
    with store.reading() as connection:
        if not _due(connection, now):
            return None
    with store.writing() as connection:
        if not _due(connection, now):  # another worker pruned meanwhile
            return None
        pruned = prune(connection, hub.keep_days, hub.keep_min, now)
        write_state(connection, LAST_PRUNE, now.isoformat())
    log.log(
        logging.INFO if pruned.entries or pruned.tombstones_expired else logging.DEBUG,
        "retention: pruned %d entries first seen more than %d days ago (kept the newest %d "
        "of each source and what sources still list); %d old tombstones dropped",
        pruned.entries,
        hub.keep_days,
        hub.keep_min,
        pruned.tombstones_expired,
    )
    return pruned


def prune(connection: Connection, keep_days: int, keep_min: int, now: datetime) -> Pruned:
    cutoff = now - timedelta(days=keep_days)
    doomed = _doomed(connection, cutoff, keep_min)
    _bury(connection, doomed, now)
    mark_dirty(connection, _categories_of(connection, doomed))
    for batch in batches(doomed):
        connection.execute(entries.delete().where(entries.c.id.in_(batch)))
    expired = connection.execute(
        pruned_keys.delete().where(pruned_keys.c.pruned_at < now - timedelta(days=TOMBSTONE_DAYS))
    ).rowcount
    return Pruned(len(doomed), expired)


def _due(connection: Connection, now: datetime) -> bool:
    last = read_state(connection, LAST_PRUNE)
    return last is None or now - datetime.fromisoformat(last) >= PRUNE_EVERY


def _doomed(connection: Connection, cutoff: datetime, keep_min: int) -> list[int]:
    """The ids of the entries to prune."""
    oldest = connection.execute(sa.select(sa.func.min(entries.c.first_seen))).scalar()
    if oldest is None or oldest >= cutoff:
        return []  # nothing old enough: no need to rank every entry of every source
    ranked = sa.select(
        entries.c.id,
        entries.c.duplicate_of,
        entries.c.first_seen,
        sa.func.row_number()
        .over(
            partition_by=entries.c.source_id,
            order_by=(entries.c.first_seen.desc(), entries.c.id.desc()),
        )
        .label("place"),
    ).subquery()
    old = connection.execute(
        sa.select(ranked.c.id, ranked.c.duplicate_of).where(
            ranked.c.first_seen < cutoff, ranked.c.place > keep_min
        )
    )
    candidates = {row.id: row.duplicate_of for row in old}
    for listed in _listed(connection):
        candidates.pop(listed, None)
    articles = [entry_id for entry_id, primary in candidates.items() if primary is None]
    for batch in batches(articles):
        copies = connection.execute(
            sa.select(entries.c.id, entries.c.duplicate_of).where(entries.c.duplicate_of.in_(batch))
        )
        for copy in copies:
            if copy.id not in candidates:
                candidates.pop(copy.duplicate_of, None)
    return sorted(candidates)


def _listed(connection: Connection) -> Iterator[int]:
    query = sa.select(source_listings.c.entry_ids).join(
        sources, sources.c.id == source_listings.c.source_id
    )
    for listing in connection.execute(query.where(sources.c.active.is_(True))).scalars():
        yield from json.loads(listing)


def _bury(connection: Connection, doomed: Sequence[int], now: datetime) -> None:
    """Keep the names of the doomed entries as tombstones."""
    tombstones: dict[tuple[int, str], dict[str, Any]] = {}
    for batch in batches(doomed):
        keys = connection.execute(
            sa.select(entries.c.source_id, entries.c.key).where(entries.c.id.in_(batch))
        )
        names = [(row.source_id, dedupe.digest(row.key)) for row in keys]
        aliases = connection.execute(
            sa.select(entry_aliases.c.source_id, entry_aliases.c.alias).where(
                entry_aliases.c.entry_id.in_(batch)
            )
        )
        names += [(row.source_id, row.alias) for row in aliases]
        for source_id, alias in names:
            tombstones[source_id, alias] = {
                "source_id": source_id,
                "alias": alias,
                "pruned_at": now,
            }
    if tombstones:
        insert = dialects.insert(connection, pruned_keys).on_conflict_do_nothing()
        connection.execute(insert, list(tombstones.values()))


def _categories_of(connection: Connection, doomed: Sequence[int]) -> set[str]:
    found: set[str] = set()
    for batch in batches(doomed):
        query = sa.select(entry_categories.c.category).where(entry_categories.c.entry_id.in_(batch))
        found.update(connection.execute(query.distinct()).scalars())
    return found
