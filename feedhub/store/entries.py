"""The entry write path: what the store knows about a poll's entries is read
(`feedhub.store.known`), the rules decide (`feedhub.rules.entries`), and the intents
are applied here, in batched statements inside the poll's transaction."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import Enclosure, EntryToStore, PollResult, RoutedEntry, SourceState
from feedhub.rules import neardup
from feedhub.rules.entries import EntryIntents, EntryRef, Insert, New, Rehome, Rewrite, decide
from feedhub.store import dialects, identity
from feedhub.store import neardup as neardup_store
from feedhub.store.categories import add_to_categories, mark_dirty
from feedhub.store.known import read_known
from feedhub.store.schema import entries, entry_categories
from feedhub.store.sources import update_sources

logger = logging.getLogger(__name__)

# Minting namespace for entry ids: uuid5(source URL + entry key) is stable even if the
# store is rebuilt from scratch, so readers never see an article twice.
ENTRY_ID_NAMESPACE = uuid.UUID("8a3e4a52-5b1e-4a70-9d51-5b0f6f1f9a11")

__all__ = ["RoutedEntry", "StoreReport", "mint_uid", "store_poll"]

_Resolve = Callable[[EntryRef | None], int | None]  # an entry's id, once new ones have theirs


@dataclass(slots=True)
class StoreReport:
    """What storing one source's entries changed."""

    new: int = 0
    updated: int = 0
    categories: set[str] = field(default_factory=set)


def mint_uid(source_url: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ENTRY_ID_NAMESPACE, source_url + chr(10) + key)}"


def store_poll(
    connection: Connection,
    state: SourceState,
    routed: Sequence[RoutedEntry],
    result: PollResult,
    now: datetime,
    *,
    site_link: str | None = None,
    policy: neardup.Policy = neardup.DEFAULT_POLICY,
) -> StoreReport:
    """Store one poll's entries and the source's new state in one transaction.

    Each entry is matched to the stored entry it is: a match whose content changed is
    rewritten (at most a few times a day); an entry nothing matches is new, unless it
    names an entry retention pruned (see `feedhub.rules.entries` for the whole policy).
    """
    intents = decide(routed, read_known(connection, state.id, routed), now)
    logger.debug(
        "%s: %d new, %d rewritten, %d unchanged, %d waiting for their next rewrite window,"
        " %d naming pruned entries",
        state.name,
        len(intents.inserts),
        len(intents.rewrites),
        intents.unchanged,
        len(intents.over_budget),
        len(intents.tombstoned),
    )
    report = _apply(connection, state, intents, now, policy)
    update_sources(connection, [(state.id, result, site_link)])
    mark_dirty(connection, report.categories)
    return report


def _apply(
    connection: Connection,
    state: SourceState,
    intents: EntryIntents,
    now: datetime,
    policy: neardup.Policy,
) -> StoreReport:
    inserted = _insert(connection, state, intents.inserts, now)

    def resolve(ref: EntryRef | None) -> int | None:
        return inserted.get(ref.index) if isinstance(ref, New) else ref

    identity.count_rewrites(
        connection, {rewrite.id: rewrite.revisions for rewrite in intents.rewrites}
    )
    _rehome(connection, intents.rehomes, resolve)
    _rewrite(connection, intents.rewrites, resolve)
    memberships = [
        (article, membership.sort_time, membership.categories)
        for membership in intents.memberships
        if (article := resolve(membership.article)) is not None
    ]
    add_to_categories(connection, memberships + _joined(intents.inserts, inserted))
    identity.record_aliases(
        connection,
        state.id,
        [
            (alias, entry_id)
            for alias, ref in intents.names
            if (entry_id := resolve(ref)) is not None
        ],
    )
    identity.record_listing(
        connection,
        state.id,
        [entry_id for ref in intents.listed if (entry_id := resolve(ref)) is not None],
    )
    _join_stories(connection, state, intents, inserted, policy)
    categories = set(intents.dirty)
    categories.update(*(intents.inserts[index].categories for index in inserted))
    return StoreReport(new=len(inserted), updated=len(intents.rewrites), categories=categories)


def _join_stories(
    connection: Connection,
    state: SourceState,
    intents: EntryIntents,
    inserted: Mapping[int, int],
    policy: neardup.Policy,
) -> None:
    """Record the categories each entry was routed to itself, and join new entries that
    repeat another source's story to it (`feedhub.store.neardup`), once they are in their
    categories (joining moves an article's categories to its story)."""
    new = [(entry_id, intents.inserts[index]) for index, entry_id in inserted.items()]
    routes = [(rewrite.id, rewrite.categories) for rewrite in intents.rewrites]
    neardup_store.record_routes(connection, routes + [(i, insert.categories) for i, insert in new])
    neardup_store.join_stories(
        connection, (state.id, state.url), [(i, insert.entry) for i, insert in new], policy
    )


def _insert(
    connection: Connection, state: SourceState, inserts: Sequence[Insert], now: datetime
) -> dict[int, int]:
    """Insert the new entries in one statement; return their ids by place in `inserts`.

    A copy of an article that is itself new in this poll gets the article's id once
    both are in. A worker whose lease ran out may store the same poll as the worker that
    took over: the unique (source, key) keeps the entries it stored, and they are not
    returned.
    """
    if not inserts:
        return {}
    rows = [_new_entry_row(state, insert, now) for insert in inserts]
    statement = dialects.insert(connection, entries).on_conflict_do_nothing()
    returned = connection.execute(statement.returning(entries.c.key, entries.c.id), rows)
    by_key: dict[str, int] = {key: entry_id for key, entry_id in returned}
    inserted = {
        index: by_key[insert.entry.key]
        for index, insert in enumerate(inserts)
        if insert.entry.key in by_key
    }
    copies = [
        {"entry_id": entry_id, "article_id": inserted[article.id.index]}
        for index, entry_id in inserted.items()
        if (article := inserts[index].article) is not None
        and isinstance(article.id, New)
        and article.id.index in inserted
    ]
    if copies:
        connection.execute(
            entries.update()
            .where(entries.c.id == sa.bindparam("entry_id"))
            .values(duplicate_of=sa.bindparam("article_id")),
            copies,
        )
    return inserted


def _new_entry_row(state: SourceState, insert: Insert, now: datetime) -> dict[str, Any]:
    article = insert.article.id if insert.article else None
    return {
        **_entry_values(insert.entry),
        "uid": mint_uid(state.url, insert.entry.key),
        "source_id": state.id,
        "key": insert.entry.key,
        "published": insert.published,
        "updated": insert.updated,
        "first_seen": now,
        "sort_time": insert.sort_time,
        # A copy of an article new in this poll points to it once both have ids.
        "duplicate_of": None if isinstance(article, New) else article,
    }


def _joined(
    inserts: Sequence[Insert], inserted: Mapping[int, int]
) -> list[tuple[int, datetime, frozenset[str]]]:
    """The articles the inserted entries' categories join: a copy's article, else itself
    (a copy whose new article another worker stored first is an article of its own)."""
    joined: list[tuple[int, datetime, frozenset[str]]] = []
    for index, entry_id in inserted.items():
        insert = inserts[index]
        article, sort_time = entry_id, insert.sort_time
        if insert.article is not None:
            ref = insert.article.id
            found = inserted.get(ref.index) if isinstance(ref, New) else ref
            if found is not None:
                article, sort_time = found, insert.article.sort_time
        joined.append((article, sort_time, insert.categories))
    return joined


def _rehome(connection: Connection, rehomes: Sequence[Rehome], resolve: _Resolve) -> None:
    """Articles that became copies leave their categories (the intents put them in the
    new article's), and their copies follow them, in order."""
    if not rehomes:
        return
    moved = sorted({rehome.article for rehome in rehomes})
    connection.execute(entry_categories.delete().where(entry_categories.c.entry_id.in_(moved)))
    connection.execute(
        entries.update()
        .where(entries.c.duplicate_of == sa.bindparam("old_article"))
        .values(duplicate_of=sa.bindparam("new_article")),
        [
            {"old_article": rehome.article, "new_article": resolve(rehome.into)}
            for rehome in rehomes
        ],
    )


def _rewrite(connection: Connection, rewrites: Sequence[Rewrite], resolve: _Resolve) -> None:
    """Rewrite changed entries in place: their id stays, their `updated` moves."""
    if not rewrites:
        return
    connection.execute(
        entries.update().where(entries.c.id == sa.bindparam("entry_id")),
        [
            {
                "entry_id": rewrite.id,
                **_entry_values(rewrite.entry),
                "updated": rewrite.updated,
                "duplicate_of": resolve(rewrite.article),
            }
            for rewrite in rewrites
        ],
    )


def _entry_values(entry: EntryToStore) -> dict[str, Any]:
    return {
        "canonical_link": entry.canonical_link,
        "link": entry.link,
        "title": entry.title,
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
        "authors": json.dumps(list(entry.authors), ensure_ascii=False),
        "labels": json.dumps(list(entry.labels), ensure_ascii=False),
        "enclosures": json.dumps([_enclosure_values(e) for e in entry.enclosures]),
        "content_hash": entry.content_hash,
        "image": entry.image,
    }


def _enclosure_values(enclosure: Enclosure) -> list[object]:
    """An enclosure as stored: url, length, type, and its duration when known."""
    values: list[object] = [enclosure.url, enclosure.length, enclosure.type]
    return values if enclosure.duration is None else [*values, enclosure.duration]
