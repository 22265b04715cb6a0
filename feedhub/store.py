"""The store: sources with their poll state and schedule, entries, and category membership.

SQLAlchemy Core over SQLite (WAL, busy timeout, immediate write transactions)
or PostgreSQL. The schema is created and upgraded by the alembic migrations
in `feedhub/migrations` when the store is opened. One write transaction per
source poll, so a crash loses at most the poll in flight.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from feedhub import dialects, schema_version
from feedhub.config import SourceSettings
from feedhub.errors import StoreError
from feedhub.models import (
    Enclosure,
    EntryToStore,
    HealthChange,
    HealthEvent,
    PollResult,
    PublishedEntry,
    PublishedSource,
    SourceHealth,
    SourceState,
)
from feedhub.schema import (
    categories,
    documents,
    entries,
    entry_categories,
    health_events,
    sources,
)

log = logging.getLogger(__name__)

# Minting namespace for entry ids: uuid5(source URL + entry key) is stable even if the
# store is rebuilt from scratch, so readers never see an article twice.
ENTRY_ID_NAMESPACE = uuid.UUID("8a3e4a52-5b1e-4a70-9d51-5b0f6f1f9a11")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# What storing a poll's result does to the source's claim: gives it back.
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_until": None}


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


def create_store_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # A write transaction that starts as a reader and upgrades can fail with SQLITE_BUSY
    # immediately (no busy wait); taking the write lock at BEGIN avoids that.
    immediate = connection.get_execution_options().get("feedhub_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upgrade_schema(engine: Engine) -> None:
    """Apply every pending migration (creating the schema on a new store)."""
    with engine.connect() as connection:
        if schema_version.is_current(connection):
            return
    # Only a store that needs migrating pays for loading alembic (see feedhub.schema_version).
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(schema_version.MIGRATIONS))
    heads = set(ScriptDirectory.from_config(alembic_config).get_heads())
    with engine.connect().execution_options(feedhub_write=True) as connection:
        # Workers starting together: one migrates, the others wait and find nothing to do.
        dialects.lock_names(connection, "migrations", ["schema"])
        current = set(MigrationContext.configure(connection).get_current_heads())
        if current == heads:
            connection.commit()
            return
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "heads")
        connection.commit()
    log.info(
        "store schema upgraded from %s to %s",
        ", ".join(sorted(current)) or "nothing",
        ", ".join(sorted(heads)),
    )


class Store:
    """All reads and writes of feedhub's data go through here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        engine = create_store_engine(url)
        try:
            upgrade_schema(engine)
        except SQLAlchemyError as error:
            engine.dispose()
            raise StoreError(
                f"cannot open the store {_safe_url(url)}: {_first_line(error)}"
            ) from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with (
            self.engine.connect().execution_options(feedhub_write=True) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    # --- sources ----------------------------------------------------------

    def sync_sources(self, configured: Sequence[SourceSettings], now: datetime) -> None:
        """Make the store's source list match the config: new ones are due now."""
        wanted = {source.url: source for source in configured}
        with self.writing() as connection:
            known = {
                row.url: row
                for row in connection.execute(
                    sa.select(sources.c.id, sources.c.url, sources.c.name, sources.c.active)
                )
            }
            new = [
                _new_source(source, now)
                for url, source in sorted(wanted.items())
                if url not in known
            ]
            if new:
                # Workers starting together each add the new sources: the first one wins.
                connection.execute(
                    dialects.insert(connection, sources).on_conflict_do_nothing(), new
                )
            for url, source in wanted.items():
                row = known.get(url)
                if row is not None and (row.name != source.name or not row.active):
                    connection.execute(
                        sources.update()
                        .where(sources.c.id == row.id)
                        .values(name=source.name, active=True)
                    )
            gone = [row.id for url, row in known.items() if url not in wanted and row.active]
            if gone:
                connection.execute(
                    sources.update().where(sources.c.id.in_(gone)).values(active=False)
                )

    def claim_due_sources(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        *,
        everything: bool = False,
        after: int = 0,
    ) -> list[SourceState]:
        """Claim up to `limit` due sources for `owner`, in due order.

        With `everything`, every scheduled source counts as due; they come in id order
        from after the id `after`, so a caller claiming batch by batch gets each once.
        The claim is a lease until now + `lease`, committed before anything is fetched:
        other workers skip the sources until the poll's result is stored (which releases
        it) or the lease runs out (the worker died). On PostgreSQL the rows are picked
        with FOR UPDATE SKIP LOCKED, so concurrent claims neither wait nor overlap.
        """
        # A source without a next due time is not scheduled (gone) until retried.
        due: list[sa.ColumnElement[bool]] = [
            sources.c.active.is_(True),
            sources.c.next_due.is_not(None),
        ]
        if everything:
            due.append(sources.c.id > after)
            order: tuple[sa.ColumnElement[Any], ...] = (sources.c.id,)
        else:
            due.append(sources.c.next_due <= now)
            order = (sources.c.next_due, sources.c.id)
        free = sa.or_(sources.c.lease_until.is_(None), sources.c.lease_until <= now)
        query = (
            sa.select(sources.c.id)
            .where(*due, free)
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.writing() as connection:
            claimed = list(connection.execute(query).scalars())
            if not claimed:
                return []
            connection.execute(
                sources.update()
                .where(sources.c.id.in_(claimed))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            rows = connection.execute(
                sa.select(sources).where(sources.c.id.in_(claimed)).order_by(*order)
            )
            return [_source_state(row) for row in rows]

    def release_sources(self, owner: str, source_ids: Iterable[int]) -> None:
        """Give back claims that were not polled after all (the worker is stopping)."""
        with self.writing() as connection:
            connection.execute(
                sources.update()
                .where(sources.c.id.in_(list(source_ids)), sources.c.lease_owner == owner)
                .values(**_NO_LEASE)
            )

    def source_states(self) -> list[SourceState]:
        counts = (
            sa.select(entries.c.source_id, sa.func.count().label("entries"))
            .group_by(entries.c.source_id)
            .subquery()
        )
        query = (
            sa.select(sources, sa.func.coalesce(counts.c.entries, 0).label("entries"))
            .outerjoin(counts, counts.c.source_id == sources.c.id)
            .where(sources.c.active.is_(True))
            .order_by(sources.c.id)
        )
        with self.reading() as connection:
            return [_source_state(row) for row in connection.execute(query)]

    def site_links(self) -> dict[str, str]:
        """Each active source's web site as its feed named it, by the source's configured URL."""
        query = sa.select(sources.c.url, sources.c.site_link).where(
            sources.c.active.is_(True), sources.c.site_link.is_not(None)
        )
        with self.reading() as connection:
            return {url: link for url, link in connection.execute(query)}

    def next_due(self) -> datetime | None:
        with self.reading() as connection:
            return connection.execute(
                sa.select(sa.func.min(sources.c.next_due)).where(sources.c.active.is_(True))
            ).scalar()

    def record_poll(
        self, source_id: int, result: PollResult, *, site_link: str | None = None
    ) -> None:
        with self.writing() as connection:
            _update_source(connection, source_id, result, site_link)

    def retry_source(self, url: str, now: datetime) -> bool:
        """Make a source due now, gone or backing off; False if the store does not know it."""
        with self.writing() as connection:
            changed = connection.execute(
                sources.update().where(sources.c.url == url).values(next_due=now)
            ).rowcount
        return bool(changed)

    def pull_forward(self, due_by: Mapping[str, datetime]) -> None:
        """Bring the next poll of each source (by URL) forward to its time, if later."""
        with self.writing() as connection:
            for url, due in due_by.items():
                connection.execute(
                    sources.update()
                    .where(sources.c.url == url, sources.c.next_due > due)
                    .values(next_due=due)
                )

    def recent_health_events(self, limit: int) -> list[HealthEvent]:
        """The newest `limit` health events, newest first."""
        query = (
            sa.select(health_events)
            .order_by(health_events.c.at.desc(), health_events.c.id.desc())
            .limit(limit)
        )
        with self.reading() as connection:
            return [
                HealthEvent(
                    row.source_name, row.source_url, HealthChange(row.change), row.at, row.message
                )
                for row in connection.execute(query)
            ]

    # --- entries ----------------------------------------------------------

    def store_entries(
        self,
        state: SourceState,
        routed: Sequence[RoutedEntry],
        result: PollResult,
        now: datetime,
        *,
        site_link: str | None = None,
    ) -> StoreReport:
        """Store one poll's entries and the source's new state in one transaction."""
        report = StoreReport()
        with self.writing() as connection:
            existing = _existing_entries(connection, state.id, [item.entry.key for item in routed])
            # Workers storing one article from two sources at once must agree on which copy
            # is the primary: the first to take the article's lock decides, the other sees it.
            dialects.lock_names(
                connection,
                "canonical-link",
                (
                    item.entry.canonical_link
                    for item in routed
                    if item.entry.canonical_link and item.entry.key not in existing
                ),
            )
            primaries = _primaries(
                connection, state.id, [item.entry.canonical_link for item in routed]
            )
            for item in _unique_by_key(routed):
                row = existing.get(item.entry.key)
                if row is None:
                    if not _insert_entry(connection, state, item, now, primaries):
                        continue
                    report.new += 1
                elif row.content_hash != item.entry.content_hash:
                    _update_entry(connection, row, item.entry, now)
                    report.updated += 1
                else:
                    continue
                report.categories |= item.categories
            _update_source(connection, state.id, result, site_link)
            _mark_dirty(connection, report.categories)
        return report

    def latest_entries(self, category: str, limit: int) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first."""
        with self.reading() as connection:
            return _latest_entries(connection, category, limit)

    def category_sizes(self) -> dict[str, int]:
        query = sa.select(entry_categories.c.category, sa.func.count()).group_by(
            entry_categories.c.category
        )
        with self.reading() as connection:
            return {category: count for category, count in connection.execute(query)}

    # --- what to republish -----------------------------------------------

    def dirty_categories(self) -> set[str]:
        with self.reading() as connection:
            return set(
                connection.execute(sa.select(categories.c.slug).where(categories.c.dirty)).scalars()
            )

    @contextmanager
    def publishing(self, slug: str, *, always: bool) -> Iterator[Publication | None]:
        """Regenerate one feed, alone: its entries in, its documents out, in one transaction.

        Yields None, and the caller skips the feed, when another worker is regenerating
        it (on PostgreSQL the category's row is locked FOR UPDATE SKIP LOCKED) or, unless
        `always`, when nothing changed since the last time. Otherwise the feed is marked
        clean when the block ends. Storing entries marks the category dirty on the same
        row, so a poll stored while the feed is being regenerated waits for it and leaves
        the feed dirty for the next round: no change is ever missed. With `always` the
        lock is waited for instead of skipped.
        """
        with self.writing() as connection:
            # A feed that never had entries has no row yet, and the row is what is locked.
            # It is added on its own: another worker adding it too would wait for the end
            # of the transaction that added it, here the whole regeneration.
            connection.execute(
                dialects.insert(connection, categories)
                .values(slug=slug, dirty=True)
                .on_conflict_do_nothing()
            )
        with self.writing() as connection:
            dirty = connection.execute(
                sa.select(categories.c.dirty)
                .where(categories.c.slug == slug)
                .with_for_update(skip_locked=not always)
            ).scalar()
            if dirty is None or not (dirty or always):
                yield None
                return
            yield Publication(connection)
            connection.execute(
                categories.update().where(categories.c.slug == slug).values(dirty=False)
            )

    # --- published documents ----------------------------------------------

    def save_document(self, path: str, body: bytes, content_type: str, etag: str) -> bool:
        """Keep a published document that belongs to no single feed; see `Publication`."""
        with self.writing() as connection:
            return _save_document(connection, path, body, content_type, etag)

    def document(self, path: str) -> StoredDocument | None:
        """The published document at `path` (relative to the site root), if there is one."""
        with self.reading() as connection:
            row = connection.execute(
                sa.select(documents).where(documents.c.path == path)
            ).one_or_none()
        return None if row is None else StoredDocument(**row._mapping)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A published document as the store keeps it, for `feedhub serve` on any machine."""

    path: str  # relative to the site root, like "world/atom.xml"
    body: bytes
    content_type: str
    etag: str  # strong and quoted, a hash of `body`
    updated: datetime  # when `body` last changed, by the database's clock


class Publication:
    """One feed being regenerated under its lock (see `Store.publishing`)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def latest_entries(self, category: str, limit: int) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first."""
        return _latest_entries(self._connection, category, limit)

    def save_document(self, path: str, body: bytes, content_type: str, etag: str) -> bool:
        """Keep a document the feed published; False if it was kept with that body already."""
        return _save_document(self._connection, path, body, content_type, etag)


# --- helpers --------------------------------------------------------------


def _save_document(
    connection: Connection, path: str, body: bytes, content_type: str, etag: str
) -> bool:
    # Last-Modified comes from the database's clock, one for every machine, as a file's
    # mtime comes from its file system's; an unchanged body keeps it.
    upsert = dialects.insert(connection, documents).values(
        path=path,
        body=body,
        content_type=content_type,
        etag=etag,
        updated=sa.func.current_timestamp(),
    )
    changed = sa.or_(
        documents.c.etag != upsert.excluded.etag,
        documents.c.content_type != upsert.excluded.content_type,
    )
    replace = {name: upsert.excluded[name] for name in ("body", "content_type", "etag", "updated")}
    stored = upsert.on_conflict_do_update(
        index_elements=[documents.c.path], set_=replace, where=changed
    ).returning(documents.c.path)
    return connection.execute(stored).first() is not None


def _latest_entries(connection: Connection, category: str, limit: int) -> list[PublishedEntry]:
    query = (
        sa.select(
            entries,
            sources.c.name.label("source_name"),
            sources.c.url.label("source_url"),
            sources.c.site_link.label("source_link"),
        )
        .select_from(
            entry_categories.join(entries, entries.c.id == entry_categories.c.entry_id).join(
                sources, sources.c.id == entries.c.source_id
            )
        )
        .where(entry_categories.c.category == category, sources.c.active.is_(True))
        .order_by(entry_categories.c.sort_time.desc(), entry_categories.c.entry_id.desc())
        .limit(limit)
    )
    rows = list(connection.execute(query))
    alternates = _alternate_links(connection, [row.id for row in rows])
    return [_published_entry(row, alternates.get(row.id, ())) for row in rows]


def _new_source(source: SourceSettings, now: datetime) -> dict[str, Any]:
    return {
        "url": source.url,
        "name": source.name,
        "active": True,
        "health": SourceHealth.NEW.value,
        "permanent_redirects": 0,
        "failures": 0,
        "next_due": now,
    }


def _source_state(row: Any) -> SourceState:
    mapping = row._mapping
    return SourceState(
        id=mapping["id"],
        url=mapping["url"],
        effective_url=mapping["effective_url"],
        name=mapping["name"],
        health=SourceHealth(mapping["health"]),
        etag=mapping["etag"],
        last_modified=mapping["last_modified"],
        body_hash=mapping["body_hash"],
        last_attempt=mapping["last_attempt"],
        last_success=mapping["last_success"],
        last_status=mapping["last_status"],
        last_error=mapping["last_error"],
        failures=mapping["failures"],
        permanent_redirects=mapping["permanent_redirects"],
        redirect_target=mapping["redirect_target"],
        next_due=mapping["next_due"],
        entries=mapping.get("entries", 0),
        feed_hint_seconds=mapping.get("feed_hint_seconds"),
    )


def _update_source(
    connection: Connection, source_id: int, result: PollResult, site_link: str | None
) -> None:
    values: dict[str, Any] = {
        "health": result.health.value,
        "last_attempt": result.last_attempt,
        "next_due": result.next_due,
        "failures": result.failures,
        "last_status": result.last_status,
        "last_error": result.last_error,
        "last_success": result.last_success,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "body_hash": result.body_hash,
        "effective_url": result.effective_url,
        "permanent_redirects": result.permanent_redirects,
        "redirect_target": result.redirect_target,
        "feed_hint_seconds": result.feed_hint_seconds,
        **_NO_LEASE,
    }
    if site_link:
        values["site_link"] = site_link
    connection.execute(sources.update().where(sources.c.id == source_id).values(**values))
    if result.events:
        connection.execute(
            health_events.insert(),
            [
                {
                    "at": event.at,
                    "source_name": event.source_name,
                    "source_url": event.source_url,
                    "change": event.change.value,
                    "message": event.message,
                }
                for event in result.events
            ],
        )


def _unique_by_key(routed: Sequence[RoutedEntry]) -> list[RoutedEntry]:
    """Exact repeats inside one document count once (the first one wins)."""
    return list({item.entry.key: item for item in reversed(routed)}.values())[::-1]


def _existing_entries(
    connection: Connection, source_id: int, keys: Sequence[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for batch in _batches(sorted(set(keys))):
        query = sa.select(
            entries.c.id,
            entries.c.key,
            entries.c.content_hash,
            entries.c.updated,
            entries.c.duplicate_of,
            entries.c.sort_time,
        ).where(entries.c.source_id == source_id, entries.c.key.in_(batch))
        found.update((row.key, row) for row in connection.execute(query))
    return found


def _primaries(
    connection: Connection, source_id: int, links: Sequence[str | None]
) -> dict[str, tuple[int, datetime]]:
    """Articles other sources already carry, by canonical link: (entry id, sort time)."""
    wanted = sorted({link for link in links if link})
    found: dict[str, tuple[int, datetime]] = {}
    for batch in _batches(wanted):
        query = (
            sa.select(entries.c.canonical_link, entries.c.id, entries.c.sort_time)
            .where(
                entries.c.canonical_link.in_(batch),
                entries.c.duplicate_of.is_(None),
                entries.c.source_id != source_id,
            )
            .order_by(entries.c.id.desc())
        )
        found.update(
            (row.canonical_link, (row.id, row.sort_time)) for row in connection.execute(query)
        )
    return found


def _insert_entry(
    connection: Connection,
    state: SourceState,
    item: RoutedEntry,
    now: datetime,
    primaries: Mapping[str, tuple[int, datetime]],
) -> bool:
    """Insert a new entry; False if it is stored already: a worker whose lease ran out may
    store the same poll as the worker that took over, and the unique (source, key) keeps
    the entry it stored."""
    entry = item.entry
    # An undated entry takes its first-seen time; a date in the future is not believed.
    published = _stated(entry.published or entry.updated, now)
    sort_time = published or now
    primary = primaries.get(entry.canonical_link) if entry.canonical_link else None
    values = {
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
    insert = dialects.insert(connection, entries).values(**values).on_conflict_do_nothing()
    entry_id: int | None = connection.execute(insert.returning(entries.c.id)).scalar_one_or_none()
    if entry_id is None:
        return False
    article_id, article_time = primary or (entry_id, sort_time)
    _add_to_categories(connection, article_id, article_time, item.categories)
    return True


def _update_entry(connection: Connection, row: Any, entry: EntryToStore, now: datetime) -> None:
    stated = _stated_updated(entry, now)
    updated = stated if stated and stated > row.updated else max(now, row.updated)
    connection.execute(
        entries.update()
        .where(entries.c.id == row.id)
        .values(**_entry_values(entry), updated=updated)
    )


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
        "enclosures": json.dumps([[e.url, e.length, e.type] for e in entry.enclosures]),
        "content_hash": entry.content_hash,
    }


def _add_to_categories(
    connection: Connection, article_id: int, sort_time: datetime, slugs: Iterable[str]
) -> None:
    present = set(
        connection.execute(
            sa.select(entry_categories.c.category).where(entry_categories.c.entry_id == article_id)
        ).scalars()
    )
    rows = [
        {"category": slug, "entry_id": article_id, "sort_time": sort_time}
        for slug in sorted(set(slugs) - present)
    ]
    if rows:
        # A worker whose lease ran out may store the same poll as the one that took over.
        insert = dialects.insert(connection, entry_categories).on_conflict_do_nothing()
        connection.execute(insert, rows)


def _mark_dirty(connection: Connection, slugs: Iterable[str]) -> None:
    # In slug order: concurrent writers lock the rows in one order, so they never deadlock.
    rows = [{"slug": slug, "dirty": True} for slug in sorted(set(slugs))]
    if rows:
        upsert = dialects.insert(connection, categories).values(rows)
        connection.execute(
            upsert.on_conflict_do_update(index_elements=[categories.c.slug], set_={"dirty": True})
        )


def _alternate_links(
    connection: Connection, article_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for batch in _batches(list(article_ids)):
        query = (
            sa.select(entries.c.duplicate_of, entries.c.link)
            .where(entries.c.duplicate_of.in_(batch), entries.c.link.is_not(None))
            .order_by(entries.c.id)
        )
        for row in connection.execute(query):
            found.setdefault(row.duplicate_of, []).append(row.link)
    return {key: tuple(dict.fromkeys(links)) for key, links in found.items()}


def _published_entry(row: Any, alternates: tuple[str, ...]) -> PublishedEntry:
    return PublishedEntry(
        uid=row.uid,
        title=row.title,
        link=row.link,
        summary_html=row.summary_html,
        content_html=row.content_html,
        authors=tuple(json.loads(row.authors)),
        labels=tuple(json.loads(row.labels)),
        enclosures=tuple(
            Enclosure(url, length, kind) for url, length, kind in json.loads(row.enclosures)
        ),
        published=row.published or row.sort_time,
        updated=row.updated,
        source=PublishedSource(name=row.source_name, url=row.source_url, link=row.source_link),
        alternates=tuple(link for link in alternates if link != row.link),
    )


def _batches(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first_line(error: BaseException) -> str:
    if isinstance(error, OperationalError) and error.orig is not None:
        return " ".join(str(error.orig).split())[:300]
    return " ".join(str(error).split("\n")[0].split())[:300]


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
