"""The entry write path: one poll's entries matched to what the store knows, then written."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.models import (
    Enclosure,
    EntryToStore,
    PollResult,
    SourceState,
)
from feedhub.core.text import bounded_key
from feedhub.rules import dedupe, neardup
from feedhub.store import dialects, identity
from feedhub.store import neardup as neardup_store
from feedhub.store.categories import add_to_categories, mark_dirty
from feedhub.store.identity import batches
from feedhub.store.schema import (
    entries,
    entry_categories,
)
from feedhub.store.sources import update_source

# Minting namespace for entry ids: uuid5(source URL + entry key) is stable even if the
# store is rebuilt from scratch, so readers never see an article twice.
ENTRY_ID_NAMESPACE = uuid.UUID("8a3e4a52-5b1e-4a70-9d51-5b0f6f1f9a11")


@dataclass(frozen=True, slots=True)
class RoutedEntry:
    """A normalized entry with the categories it was routed into."""

    entry: EntryToStore
    categories: frozenset[str]


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

    Each entry is matched to the stored entry it is (see `feedhub.rules.dedupe`): a match
    whose content changed is rewritten (at most a few times a day); an entry nothing
    matches is new, unless it names an entry retention pruned.
    """
    report = StoreReport()
    routed = _unique_by_key(routed)
    incoming = [item.entry for item in routed]
    known = identity.known_names(connection, state.id, incoming)
    matched = dedupe.match(incoming, known)
    stored = _entries_by_id(connection, [m for m in matched if m is not None])
    unmatched = [item for item, m in zip(routed, matched, strict=True) if m is None]
    pruned = identity.pruned(connection, state.id, [item.entry for item in unmatched])
    fresh = [item for item in unmatched if item.entry.key not in pruned]
    changed = [
        (stored[entry_id], item)
        for item, entry_id in zip(routed, matched, strict=True)
        if entry_id is not None and stored[entry_id].content_hash != item.entry.content_hash
    ]
    # Workers storing one article from two sources at once must agree on which copy
    # is the primary: the first to take the article's lock decides, the other sees it.
    moving = [*fresh, *(item for _, item in changed)]
    links = [item.entry.canonical_link for item in moving if item.entry.canonical_link]
    dialects.lock_names(connection, "canonical-link", links)
    primaries = _primaries(connection, links)
    rewrite = identity.allow_rewrites(connection, [row.id for row, _ in changed], now)
    for row, item in changed:
        if row.id in rewrite:
            report.categories |= _update_entry(connection, row, item, now, primaries)
            report.updated += 1
    fresh = _with_free_keys(connection, state.id, fresh, known)
    inserted = _insert_entries(connection, state, fresh, now, primaries)
    new = [(inserted[i.entry.key], i) for i in fresh if i.entry.key in inserted]
    rewritten = [(row.id, item) for row, item in changed if row.id in rewrite]
    neardup_store.record_routes(connection, [(n, i.categories) for n, i in [*rewritten, *new]])
    neardup_store.join_stories(
        connection, (state.id, state.url), [(n, i.entry) for n, i in new], policy
    )
    report.new = len(inserted)
    report.categories |= {
        slug for item in fresh if item.entry.key in inserted for slug in item.categories
    }
    kept = [
        (item.entry, entry_id)
        for item, entry_id in zip(routed, matched, strict=True)
        if entry_id is not None
    ]
    kept += [(item.entry, inserted[item.entry.key]) for item in fresh if item.entry.key in inserted]
    # A new entry's own key is its stored key: it needs no alias.
    stored_keys = {dedupe.digest(key): dedupe.Known(i, None) for key, i in inserted.items()}
    identity.record_names(connection, state.id, kept, known | stored_keys)
    identity.record_listing(connection, state.id, [entry_id for _, entry_id in kept])
    update_source(connection, state.id, result, site_link)
    mark_dirty(connection, report.categories)
    return report


def _unique_by_key(routed: Sequence[RoutedEntry]) -> list[RoutedEntry]:
    """Exact repeats inside one document count once (the first one wins)."""
    return list({item.entry.key: item for item in reversed(routed)}.values())[::-1]


def _entries_by_id(connection: Connection, entry_ids: Sequence[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for batch in batches(sorted(set(entry_ids))):
        query = sa.select(
            entries.c.id,
            entries.c.canonical_link,
            entries.c.content_hash,
            entries.c.updated,
            entries.c.duplicate_of,
            entries.c.sort_time,
        ).where(entries.c.id.in_(batch))
        found.update((row.id, row) for row in connection.execute(query))
    return found


def _primaries(connection: Connection, links: Sequence[str]) -> dict[str, tuple[int, datetime]]:
    """Articles the store already carries, by canonical link: (entry id, sort time)."""
    found: dict[str, tuple[int, datetime]] = {}
    for batch in batches(sorted(set(links))):
        found.update(
            (row.canonical_link, (row.id, row.sort_time))
            for row in connection.execute(primaries_query(batch))
        )
    return found


def primaries_query(links: Sequence[str]) -> sa.Select[Any]:
    """The articles (not copies) with these canonical links, newest first (a dict built
    from the rows in order keeps the oldest)."""
    return (
        sa.select(entries.c.canonical_link, entries.c.id, entries.c.sort_time)
        # Not `duplicate_of IS NULL`: SQLite (without statistics) would answer that from the
        # duplicate_of index, nearly the whole table, on every poll. Ids start at 1.
        .where(
            entries.c.canonical_link.in_(links), sa.func.coalesce(entries.c.duplicate_of, 0) == 0
        )
        .order_by(entries.c.id.desc())
    )


def _with_free_keys(
    connection: Connection,
    source_id: int,
    fresh: Sequence[RoutedEntry],
    known: Mapping[str, dedupe.Known],
) -> list[RoutedEntry]:
    """New entries under keys no entry of the source has: one whose key names a stored
    entry that a better match claimed is stored under its key and link instead."""
    kept: list[RoutedEntry] = []
    used: set[str] = set()
    for item in fresh:
        if dedupe.digest(item.entry.key) in known or item.entry.key in used:
            key = _free_key(connection, source_id, item.entry, used)
            item = RoutedEntry(replace(item.entry, key=key), item.categories)
        used.add(item.entry.key)
        kept.append(item)
    return kept


def _free_key(connection: Connection, source_id: int, entry: EntryToStore, used: set[str]) -> str:
    base = bounded_key(f"{entry.key}\n{entry.canonical_link or entry.content_hash}")
    candidates = [base, *(f"{base}\n{number}" for number in range(2, 10))]
    taken = used | set(
        connection.execute(
            sa.select(entries.c.key).where(
                entries.c.source_id == source_id, entries.c.key.in_(candidates)
            )
        ).scalars()
    )
    return next((key for key in candidates if key not in taken), f"{base}\n{len(used)}")


def _insert_entries(
    connection: Connection,
    state: SourceState,
    fresh: Sequence[RoutedEntry],
    now: datetime,
    primaries: dict[str, tuple[int, datetime]],
) -> dict[str, int]:
    """Insert a poll's new entries and their category rows; return their ids by key.

    At most two rounds of two statements (executemany): the entries that are the first
    of their article, then copies of an article that another new entry of this poll
    carries (they need its id). A worker whose lease ran out may store the same poll as
    the worker that took over: the unique (source, key) keeps the entries it stored,
    and they are not returned.
    """
    firsts: list[RoutedEntry] = []
    copies: list[RoutedEntry] = []
    seen: set[str | None] = set()
    for item in fresh:
        link = item.entry.canonical_link
        # A copy of an article that is itself new in this poll waits for the article's id.
        (copies if link in seen and link not in primaries else firsts).append(item)
        if link:
            seen.add(link)
    inserted = _insert_round(connection, state, firsts, now, primaries)
    return inserted | _insert_round(connection, state, copies, now, primaries)


def _insert_round(
    connection: Connection,
    state: SourceState,
    fresh: Sequence[RoutedEntry],
    now: datetime,
    primaries: dict[str, tuple[int, datetime]],
) -> dict[str, int]:
    if not fresh:
        return {}
    rows = [_new_entry_row(state, item.entry, now, primaries) for item in fresh]
    insert = dialects.insert(connection, entries).on_conflict_do_nothing()
    returned = connection.execute(insert.returning(entries.c.key, entries.c.id), rows)
    inserted: dict[str, int] = {key: entry_id for key, entry_id in returned}
    memberships: list[tuple[int, datetime, frozenset[str]]] = []
    for item, row in zip(fresh, rows, strict=True):
        entry_id = inserted.get(row["key"])
        if entry_id is None:
            continue
        link = item.entry.canonical_link
        if row["duplicate_of"] is None and link:
            primaries.setdefault(link, (entry_id, row["sort_time"]))
        # A copy of an article the store carries joins the categories of that article.
        primary = primaries.get(link or "") if row["duplicate_of"] else None
        article_id, article_time = primary or (entry_id, row["sort_time"])
        memberships.append((article_id, article_time, item.categories))
    add_to_categories(connection, memberships, list(inserted.values()))
    return inserted


def _new_entry_row(
    state: SourceState,
    entry: EntryToStore,
    now: datetime,
    primaries: Mapping[str, tuple[int, datetime]],
) -> dict[str, Any]:
    # An undated entry takes its first-seen time; a date in the future is not believed.
    published = _stated(entry.published or entry.updated, now)
    sort_time = published or now
    primary = primaries.get(entry.canonical_link) if entry.canonical_link else None
    return {
        **_entry_values(entry),
        "uid": mint_uid(state.url, entry.key),
        "source_id": state.id,
        "key": entry.key,
        "published": published,
        "updated": _stated_updated(entry, now) or sort_time,
        "first_seen": now,
        "sort_time": sort_time,
        "duplicate_of": primary[0] if primary else None,
    }


def _update_entry(
    connection: Connection,
    row: Any,
    item: RoutedEntry,
    now: datetime,
    primaries: dict[str, tuple[int, datetime]],
) -> set[str]:
    """Rewrite a stored entry whose content changed (its id stays, its `updated` moves);
    return the categories whose feeds change."""
    stated = _stated_updated(item.entry, now)
    updated = stated if stated and stated > row.updated else max(now, row.updated)
    connection.execute(
        entries.update()
        .where(entries.c.id == row.id)
        .values(**_entry_values(item.entry), updated=updated)
    )
    article_id, article_time, emptied = _rehome(connection, row, item.entry, primaries)
    add_to_categories(connection, [(article_id, article_time, item.categories)], [])
    return emptied | item.categories


def _rehome(
    connection: Connection,
    row: Any,
    entry: EntryToStore,
    primaries: dict[str, tuple[int, datetime]],
) -> tuple[int, datetime, set[str]]:
    """Keep one article per canonical link when a stored entry's link changes.

    Returns the article the entry belongs to now (id, sort time), and the categories
    an article left (to republish). An entry whose new link another article has joins
    it, with its own copies; one whose new link no article has is an article of its own.
    """
    link = entry.canonical_link
    if link == row.canonical_link:
        if row.duplicate_of is None:
            return row.id, row.sort_time, set()
        primary_time = connection.execute(
            sa.select(entries.c.sort_time).where(entries.c.id == row.duplicate_of)
        ).scalar_one()
        return row.duplicate_of, primary_time, set()
    if row.duplicate_of is None and primaries.get(row.canonical_link or "", (0,))[0] == row.id:
        del primaries[row.canonical_link]  # the old link has no article now
    target = primaries.get(link) if link else None
    if target is None or target[0] == row.id:
        if row.duplicate_of is not None:
            connection.execute(
                entries.update().where(entries.c.id == row.id).values(duplicate_of=None)
            )
        if link:
            primaries[link] = (row.id, row.sort_time)
        return row.id, row.sort_time, set()
    emptied: set[str] = set()
    if row.duplicate_of is None:
        emptied = set(
            connection.execute(
                entry_categories.delete()
                .where(entry_categories.c.entry_id == row.id)
                .returning(entry_categories.c.category)
            ).scalars()
        )
        connection.execute(
            entries.update().where(entries.c.duplicate_of == row.id).values(duplicate_of=target[0])
        )
        add_to_categories(connection, [(*target, frozenset(emptied))], [])
    connection.execute(
        entries.update().where(entries.c.id == row.id).values(duplicate_of=target[0])
    )
    return *target, emptied


def _stated_updated(entry: EntryToStore, now: datetime) -> datetime | None:
    return _stated(entry.updated or entry.published, now)


def _stated(moment: datetime | None, now: datetime) -> datetime | None:
    """A date the feed stated, unless it lies in the future."""
    return moment if moment and moment <= now else None


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
