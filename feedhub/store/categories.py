"""Category membership of stored articles: routing them again, sizes, and feeds to republish."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.rules.routing import Routable
from feedhub.store import dialects
from feedhub.store import neardup as neardup_store
from feedhub.store.pairs import replace_pairs
from feedhub.store.schema import (
    categories,
    entries,
    entry_categories,
    sources,
)
from feedhub.store.state import read_state, write_state

ROUTING_DIGEST = "routing_digest"  # in hub_state: the routing config stored articles follow


@dataclass(frozen=True, slots=True)
class _StoredText:
    """What routing reads of a stored entry."""

    title: str
    summary_html: str | None
    content_html: str | None
    labels: tuple[str, ...]


def reroute(
    connection: Connection, digest: str, route: Callable[[str, Routable], frozenset[str]]
) -> bool:
    """Route every stored article again if routing changed since they were routed
    (`digest`, see `feedhub.rules.routing.routing_digest`); return whether any article
    moved into or out of a category.

    `route(source URL, entry)` gives an entry's categories; an article is in those
    of its own entry and of its copies from other sources. Articles keep their place
    (sort time); the categories whose membership changed are marked to republish.
    """
    if read_state(connection, ROUTING_DIGEST) == digest:
        return False
    query = (
        sa.select(
            entries.c.id,
            entries.c.duplicate_of,
            entries.c.sort_time,
            entries.c.title,
            entries.c.summary_html,
            entries.c.content_html,
            entries.c.labels,
            sources.c.url,
        )
        .join(sources, sources.c.id == entries.c.source_id)
        .execution_options(yield_per=500)
    )
    routed: dict[int, set[str]] = {}
    own: dict[int, frozenset[str]] = {}
    times: dict[int, datetime] = {}
    for row in connection.execute(query):
        text = _StoredText(
            row.title, row.summary_html, row.content_html, tuple(json.loads(row.labels))
        )
        own[row.id] = route(row.url, text)
        routed.setdefault(row.duplicate_of or row.id, set()).update(own[row.id])
        if row.duplicate_of is None:
            times[row.id] = row.sort_time
    after = {(article, slug) for article, slugs in routed.items() for slug in slugs}
    after = {pair for pair in after if pair[0] in times}
    moved = replace_pairs(
        connection,
        entry_categories,
        after,
        lambda article, _slug: {"sort_time": times[article]},
    )
    shown = neardup_store.replace_routes(connection, own)
    mark_dirty(connection, {slug for _, slug in moved} | shown)
    write_state(connection, ROUTING_DIGEST, digest)
    return bool(moved)


def sizes(connection: Connection) -> dict[str, int]:
    query = sa.select(entry_categories.c.category, sa.func.count()).group_by(
        entry_categories.c.category
    )
    return {category: count for category, count in connection.execute(query)}


def dirty(connection: Connection) -> set[str]:
    return set(connection.execute(sa.select(categories.c.slug).where(categories.c.dirty)).scalars())


def add_to_categories(
    connection: Connection, memberships: Sequence[tuple[int, datetime, Iterable[str]]]
) -> None:
    """Put each article (id, sort time) into its categories where it is not yet, in one
    statement; an article keeps the sort time it joined a category with."""
    rows: dict[tuple[int, str], dict[str, object]] = {}
    for article_id, sort_time, slugs in memberships:
        for slug in sorted(slugs):
            rows.setdefault(
                (article_id, slug),
                {"category": slug, "entry_id": article_id, "sort_time": sort_time},
            )
    if rows:
        # A worker whose lease ran out may store the same poll as the one that took over.
        insert = dialects.insert(connection, entry_categories).on_conflict_do_nothing()
        connection.execute(insert, list(rows.values()))


def mark_dirty(connection: Connection, slugs: Iterable[str]) -> None:
    # In slug order: concurrent writers lock the rows in one order, so they never deadlock.
    rows = [{"slug": slug, "dirty": True} for slug in sorted(set(slugs))]
    if rows:
        upsert = dialects.insert(connection, categories).values(rows)
        connection.execute(
            upsert.on_conflict_do_update(index_elements=[categories.c.slug], set_={"dirty": True})
        )


def ensure_row(connection: Connection, slug: str) -> None:
    """Give a feed that never had entries its row: the row is what publishing locks."""
    connection.execute(
        dialects.insert(connection, categories)
        .values(slug=slug, dirty=True)
        .on_conflict_do_nothing()
    )


def lock_for_publishing(connection: Connection, slug: str, *, always: bool) -> bool:
    """Lock a feed's row to regenerate it; False when it is clean (unless `always`) or,
    unless `always`, when another worker holds the lock."""
    dirty = connection.execute(
        sa.select(categories.c.dirty)
        .where(categories.c.slug == slug)
        .with_for_update(skip_locked=not always)
    ).scalar()
    return dirty is not None and (dirty or always)


def mark_clean(connection: Connection, slug: str) -> None:
    connection.execute(categories.update().where(categories.c.slug == slug).values(dirty=False))
