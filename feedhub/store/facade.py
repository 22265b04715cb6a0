"""The store: sources with their poll state and schedule, entries, and category membership.

SQLAlchemy Core over SQLite (WAL, busy timeout, immediate write transactions)
or PostgreSQL. The schema is created and upgraded by the alembic migrations
in `feedhub/migrations` when the store is opened. One write transaction per
source poll, so a crash loses at most the poll in flight.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from feedhub.config.settings import SourceSettings
from feedhub.core.errors import StoreError
from feedhub.core.models import (
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
from feedhub.core.text import bounded_key, error_line, safe_strings, strip_forbidden
from feedhub.rules import dedupe
from feedhub.rules.routing import Routable
from feedhub.rules.spread import host_of, spread_over_hosts
from feedhub.store import dialects, identity, schema_version
from feedhub.store.identity import batches as _batches
from feedhub.store.schema import (
    categories,
    documents,
    entries,
    entry_categories,
    health_events,
    hub_state,
    sources,
)

log = logging.getLogger(__name__)

# Minting namespace for entry ids: uuid5(source URL + entry key) is stable even if the
# store is rebuilt from scratch, so readers never see an article twice.
ENTRY_ID_NAMESPACE = uuid.UUID("8a3e4a52-5b1e-4a70-9d51-5b0f6f1f9a11")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WAL_ATTEMPTS = 200  # 50 ms apart
SQLITE_BEGIN_ATTEMPTS = 4
# With a category's max_per_source, how many of its newest articles per published one
# the cap is applied to (publishing cost stays bounded however large the store grows).
MAX_PER_SOURCE_SCAN = 20
ROUTING_DIGEST = "routing_digest"  # in hub_state: the routing config stored articles follow
# What storing a poll's result does to the source's claim: gives it back.
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_until": None}
# Due sources looked at per source claimed, to find other hosts to spread a claim over.
SCAN = 4


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
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A checkpoint every 40 MB of WAL instead of 4 MB: a cold poll writing thousands of
    # entries checkpoints (and syncs the database file) a tenth as often.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode (which it keeps). Switching needs the file to itself, and
    SQLite answers "locked" at once, without waiting, while other processes open a new
    store at the same moment (workers starting together): so try again."""
    for attempt in range(1, SQLITE_WAL_ATTEMPTS + 1):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if attempt == SQLITE_WAL_ATTEMPTS or "locked" not in str(error):
                raise
            time.sleep(0.05)


def _sqlite_on_begin(connection: Connection) -> None:
    # A write transaction that starts as a reader and upgrades can fail with SQLITE_BUSY
    # immediately (no busy wait); taking the write lock at BEGIN avoids that.
    immediate = connection.get_execution_options().get("feedhub_write", False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    # Each attempt waits up to the busy timeout; a writer holding the store longer than that
    # (another process's long transaction) is waited for again, never reported as "locked".
    for attempt in range(1, SQLITE_BEGIN_ATTEMPTS + 1):
        try:
            connection.exec_driver_sql(statement)
            return
        except OperationalError as error:
            if attempt == SQLITE_BEGIN_ATTEMPTS or "locked" not in str(error.orig):
                raise
            log.warning("the store is busy; waiting for it again (attempt %d)", attempt + 1)


def upgrade_schema(engine: Engine) -> None:
    """Apply every pending migration (creating the schema on a new store)."""
    with engine.connect() as connection:
        if schema_version.is_current(connection):
            return
    # Only a store that needs migrating pays for loading alembic (see feedhub.store.schema_version).
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
                f"cannot open the store {_safe_url(url)}: {_first_line(error)}; "
                "check [hub] database in the config, and that the database is reachable"
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

    def hub_state(self, name: str) -> str | None:
        """A small named value the hub keeps in the store."""
        with self.reading() as connection:
            return read_state(connection, name)

    def set_hub_state(self, name: str, value: str) -> None:
        with self.writing() as connection:
            write_state(connection, name, value)

    def claim_due_sources(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        *,
        everything: bool = False,
        started: datetime | None = None,
        busy: Mapping[str, int] | None = None,
    ) -> list[SourceState]:
        """Claim up to `limit` due sources for `owner`: earliest due first, hosts in turn.

        With `everything`, every scheduled source not attempted since `started` (default:
        `now`) counts as due, in id order, so a caller claiming batch by batch from one
        start gets each once. Of up to `SCAN` times `limit` due sources, those claimed are
        spread over hosts (`feedhub.rules.spread`: `busy` counts the fetches the caller already
        has in hand per host). The claim is a lease until now + `lease`, committed before
        anything is fetched: other workers skip the sources until the poll's result is
        stored (which releases it) or the lease runs out (the worker died: a live one
        renews its leases, see `renew_claims`). On PostgreSQL the rows are picked with FOR
        UPDATE SKIP LOCKED, so concurrent claims neither wait nor overlap.
        """
        # A source without a next due time is not scheduled (gone) until retried.
        due: list[sa.ColumnElement[bool]] = [
            sources.c.active.is_(True),
            sources.c.next_due.is_not(None),
        ]
        if everything:
            due.append(
                sa.or_(sources.c.last_attempt.is_(None), sources.c.last_attempt < (started or now))
            )
            order: tuple[sa.ColumnElement[Any], ...] = (sources.c.id,)
        else:
            due.append(sources.c.next_due <= now)
            order = (sources.c.next_due, sources.c.id)
        free = sa.or_(sources.c.lease_until.is_(None), sources.c.lease_until <= now)
        query = (
            sa.select(sources.c.id, sources.c.url, sources.c.effective_url)
            .where(*due, free)
            .order_by(*order)
            .limit(None if limit is None else limit * SCAN)
            .with_for_update(skip_locked=True)
        )
        with self.writing() as connection:
            candidates = [
                (row.id, host_of(row.effective_url or row.url)) for row in connection.execute(query)
            ]
            claimed = spread_over_hosts(candidates, limit or len(candidates), busy or {})
            if not claimed:
                return []
            connection.execute(
                sources.update()
                .where(sources.c.id.in_(claimed))
                .values(lease_owner=owner, lease_until=now + lease)
            )
            rows = connection.execute(sa.select(sources).where(sources.c.id.in_(claimed)))
            states = {row.id: _source_state(row) for row in rows}
            return [states[source_id] for source_id in claimed]

    def renew_claims(self, owner: str, until: datetime) -> None:
        """Extend `owner`'s leases: a worker polling slowly keeps its sources, a dead one
        stops renewing and loses them when its leases run out."""
        try:
            with self.writing() as connection:
                connection.execute(
                    sources.update().where(sources.c.lease_owner == owner).values(lease_until=until)
                )
        except SQLAlchemyError as error:
            raise StoreError(f"cannot renew this worker's claims: {_first_line(error)}") from None

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
            return {url: strip_forbidden(link) for url, link in connection.execute(query)}

    def next_due(self) -> datetime | None:
        with self.reading() as connection:
            return connection.execute(
                sa.select(sa.func.min(sources.c.next_due)).where(sources.c.active.is_(True))
            ).scalar()

    def record_polls(self, polls: Sequence[tuple[int, PollResult]]) -> None:
        """Store polls that brought no entries (by source id), in one transaction."""
        with self.writing() as connection:
            for source_id, result in polls:
                _update_source(connection, source_id, result, None)

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
            events = [
                HealthEvent(
                    row.source_name, row.source_url, HealthChange(row.change), row.at, row.message
                )
                for row in connection.execute(query)
            ]
        return [safe_strings(event) for event in events]

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
        """Store one poll's entries and the source's new state in one transaction.

        Each entry is matched to the stored entry it is (see `feedhub.rules.dedupe`): a match
        whose content changed is rewritten (at most a few times a day); an entry nothing
        matches is new, unless it names an entry retention pruned.
        """
        report = StoreReport()
        routed = _unique_by_key(routed)
        incoming = [item.entry for item in routed]
        with self.writing() as connection:
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
            report.new = len(inserted)
            report.categories |= {
                slug for item in fresh if item.entry.key in inserted for slug in item.categories
            }
            kept = [
                (item.entry, entry_id)
                for item, entry_id in zip(routed, matched, strict=True)
                if entry_id is not None
            ]
            kept += [
                (item.entry, inserted[item.entry.key])
                for item in fresh
                if item.entry.key in inserted
            ]
            # A new entry's own key is its stored key: it needs no alias.
            stored_keys = {dedupe.digest(key): dedupe.Known(i, None) for key, i in inserted.items()}
            identity.record_names(connection, state.id, kept, known | stored_keys)
            identity.record_listing(connection, state.id, [entry_id for _, entry_id in kept])
            _update_source(connection, state.id, result, site_link)
            _mark_dirty(connection, report.categories)
        return report

    def latest_entries(
        self, category: str, limit: int, max_per_source: int | None = None
    ) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first (see `_latest_entries`)."""
        with self.reading() as connection:
            return _latest_entries(connection, category, limit, max_per_source)

    def reroute(self, digest: str, route: Callable[[str, Routable], frozenset[str]]) -> bool:
        """Route every stored article again if routing changed since they were routed
        (`digest`, see `feedhub.rules.routing.routing_digest`); return whether any article
        moved into or out of a category.

        `route(source URL, entry)` gives an entry's categories; an article is in those
        of its own entry and of its copies from other sources. Articles keep their place
        (sort time); the categories whose membership changed are marked to republish.
        """
        with self.writing() as connection:
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
            times: dict[int, datetime] = {}
            for row in connection.execute(query):
                text = _StoredText(
                    row.title, row.summary_html, row.content_html, tuple(json.loads(row.labels))
                )
                routed.setdefault(row.duplicate_of or row.id, set()).update(route(row.url, text))
                if row.duplicate_of is None:
                    times[row.id] = row.sort_time
            after = {(article, slug) for article, slugs in routed.items() for slug in slugs}
            after = {pair for pair in after if pair[0] in times}
            before = {
                (row.entry_id, row.category)
                for row in connection.execute(
                    sa.select(entry_categories.c.entry_id, entry_categories.c.category)
                )
            }
            removed = [{"article": article, "slug": slug} for article, slug in before - after]
            if removed:
                connection.execute(
                    entry_categories.delete().where(
                        entry_categories.c.entry_id == sa.bindparam("article"),
                        entry_categories.c.category == sa.bindparam("slug"),
                    ),
                    removed,
                )
            added = [
                {"category": slug, "entry_id": article, "sort_time": times[article]}
                for article, slug in sorted(after - before)
            ]
            if added:
                connection.execute(entry_categories.insert(), added)
            moved = before ^ after
            _mark_dirty(connection, {slug for _, slug in moved})
            write_state(connection, ROUTING_DIGEST, digest)
        return bool(moved)

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

    def latest_entries(
        self, category: str, limit: int, max_per_source: int | None = None
    ) -> list[PublishedEntry]:
        """The newest `limit` articles of a category, newest first (see `_latest_entries`)."""
        return _latest_entries(self._connection, category, limit, max_per_source)

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


def _latest_entries(
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


@dataclass(frozen=True, slots=True)
class _StoredText:
    """What routing reads of a stored entry."""

    title: str
    summary_html: str | None
    content_html: str | None
    labels: tuple[str, ...]


def read_state(connection: Connection, name: str) -> str | None:
    """A small named value the hub keeps in the store (`hub_state`)."""
    return connection.execute(
        sa.select(hub_state.c.value).where(hub_state.c.name == name)
    ).scalar_one_or_none()


def write_state(connection: Connection, name: str, value: str) -> None:
    upsert = dialects.insert(connection, hub_state).values(name=name, value=value)
    connection.execute(
        upsert.on_conflict_do_update(index_elements=[hub_state.c.name], set_={"value": value})
    )


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
    state = SourceState(
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
        public_error=mapping.get("public_error"),
    )
    return safe_strings(state)  # stored by an older feedhub, maybe before the border


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
        "public_error": result.public_error,
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


def _entries_by_id(connection: Connection, entry_ids: Sequence[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for batch in _batches(sorted(set(entry_ids))):
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
    for batch in _batches(sorted(set(links))):
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
    _add_to_categories(connection, memberships, list(inserted.values()))
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
    _add_to_categories(connection, [(article_id, article_time, item.categories)], [])
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
        _add_to_categories(connection, [(*target, frozenset(emptied))], [])
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
        "enclosures": json.dumps([[e.url, e.length, e.type] for e in entry.enclosures]),
        "content_hash": entry.content_hash,
    }


def _add_to_categories(
    connection: Connection,
    memberships: Sequence[tuple[int, datetime, frozenset[str]]],
    new_ids: Iterable[int],
) -> None:
    """Put each article (id, sort time) into its categories, once; `new_ids` have none yet."""
    known = sorted({article_id for article_id, _, _ in memberships} - set(new_ids))
    present: set[tuple[int, str]] = set()
    for batch in _batches(known):
        query = sa.select(entry_categories.c.entry_id, entry_categories.c.category).where(
            entry_categories.c.entry_id.in_(batch)
        )
        present.update((row.entry_id, row.category) for row in connection.execute(query))
    rows = []
    for article_id, sort_time, slugs in memberships:
        for slug in sorted(slugs):
            if (article_id, slug) not in present:
                present.add((article_id, slug))
                rows.append({"category": slug, "entry_id": article_id, "sort_time": sort_time})
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
    entry = PublishedEntry(
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
    return safe_strings(entry)  # stored by an older feedhub, maybe before the border


def _first_line(error: BaseException) -> str:
    if isinstance(error, OperationalError) and error.orig is not None:
        return error_line(error.orig)
    return error_line(error)


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
