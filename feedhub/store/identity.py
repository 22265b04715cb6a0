"""Entry identity in the store, written: the names (aliases) stored entries go by, rewrite
counts, and what each source listed last.

The poll's write transaction calls these with what `feedhub.rules.entries` decided
(which names are new, which rewrites may happen now); `feedhub.store.known` reads
them back, with the tombstones retention leaves. Names are kept as digests
(`dedupe.digest`), so any guid fits the same small indexed column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.engine import Connection

from feedhub.rules import dedupe
from feedhub.store import dialects
from feedhub.store.schema import entry_aliases, entry_revisions, source_listings

BATCH = 500
T = TypeVar("T")


def record_aliases(
    connection: Connection, source_id: int, aliases: Sequence[tuple[str, int]]
) -> None:
    """Remember that each alias (a name digest) of the source points to its entry."""
    rows = [
        {"source_id": source_id, "alias": alias, "entry_id": entry_id}
        for alias, entry_id in aliases
    ]
    if rows:
        insert = dialects.insert(connection, entry_aliases).on_conflict_do_nothing()
        connection.execute(insert, rows)


def count_rewrites(connection: Connection, revisions: Mapping[int, dedupe.Revisions]) -> None:
    """Store each rewritten entry's rewrites in its current window, in one statement."""
    rows = [
        {"entry_id": entry_id, "window_start": counted.window_start, "rewrites": counted.count}
        for entry_id, counted in sorted(revisions.items())
    ]
    if rows:
        upsert = dialects.insert(connection, entry_revisions)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=[entry_revisions.c.entry_id],
                set_={
                    "window_start": upsert.excluded.window_start,
                    "rewrites": upsert.excluded.rewrites,
                },
            ),
            rows,
        )


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
