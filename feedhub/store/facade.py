"""The `Store` facade: one object the stages hold, its work done by the store's modules.

Each method opens the transaction its work needs and hands the connection to the
module that does it: `sources` (the source list, claims, poll state), `entries` (the
entry write path), `categories` (membership, re-routing, what to republish),
`published` (the publish read model), `documents` (published documents), `state`
(small named values). One write transaction per source poll, so a crash loses at most
the poll in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from feedhub.config.settings import SourceSettings
from feedhub.core.errors import StoreError
from feedhub.core.models import HealthEvent, PollResult, SourceState
from feedhub.rules import neardup
from feedhub.rules.routing import Routable
from feedhub.store import categories, claims, documents, entries, sources, state
from feedhub.store.documents import StoredDocument
from feedhub.store.engine import create_store_engine, database_error_line, safe_url, upgrade_schema
from feedhub.store.entries import RoutedEntry, StoreReport
from feedhub.store.published import Publication


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
                f"cannot open the store {safe_url(url)}: {database_error_line(error)}; "
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
        with self.writing() as connection:
            sources.sync(connection, configured, now)

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
        """Claim up to `limit` due sources for `owner` (see `sources.claim_due`)."""
        with self.writing() as connection:
            return sources.claim_due(
                connection,
                owner,
                now,
                lease,
                limit,
                everything=everything,
                started=started,
                busy=busy,
            )

    def renew_claims(self, owner: str, until: datetime) -> None:
        """Extend `owner`'s leases: a worker polling slowly keeps its sources, a dead one
        stops renewing and loses them when its leases run out."""
        try:
            with self.writing() as connection:
                sources.renew_claims(connection, owner, until)
        except SQLAlchemyError as error:
            raise StoreError(
                f"cannot renew this worker's claims: {database_error_line(error)}"
            ) from None

    def release_sources(self, owner: str, source_ids: Iterable[int]) -> None:
        """Give back claims that were not polled after all (the worker is stopping)."""
        with self.writing() as connection:
            sources.release(connection, owner, source_ids)

    def source_states(self) -> list[SourceState]:
        with self.reading() as connection:
            return sources.states(connection)

    def site_links(self) -> dict[str, str]:
        """Each active source's web site as its feed named it, by the source's configured URL."""
        with self.reading() as connection:
            return sources.site_links(connection)

    def next_due(self) -> datetime | None:
        with self.reading() as connection:
            return sources.next_due(connection)

    def record_polls(self, polls: Sequence[tuple[int, PollResult]]) -> None:
        """Store polls that brought no entries (by source id), in one transaction."""
        with self.writing() as connection:
            sources.record_polls(connection, polls)

    def retry_source(self, url: str, now: datetime) -> bool:
        """Make a source due now, gone or backing off; False if the store does not know it."""
        with self.writing() as connection:
            return sources.retry(connection, url, now)

    def pull_forward(self, due_by: Mapping[str, datetime]) -> None:
        """Bring the next poll of each source (by URL) forward to its time, if later."""
        with self.writing() as connection:
            sources.pull_forward(connection, due_by)

    def recent_health_events(self, limit: int) -> list[HealthEvent]:
        """The newest `limit` health events, newest first."""
        with self.reading() as connection:
            return sources.recent_health_events(connection, limit)

    def free_gone_claims(self, here: claims.Holder) -> list[str]:
        """Give back the claims of gone holders (`feedhub.store.claims.free_gone`)."""
        with self.writing() as connection:
            return claims.free_gone(connection, here)

    def held_sources(self, now: datetime, here: claims.Holder) -> list[claims.Held]:
        """Sources other workers have in hand (`feedhub.store.claims.held_sources`)."""
        with self.reading() as connection:
            return claims.held_sources(connection, now, here)

    def count_due(
        self, now: datetime, here: claims.Holder, *, everything: bool
    ) -> tuple[int, list[claims.Held]]:
        """How many sources are due, and which are held (`feedhub.store.claims.count_due`)."""
        with self.reading() as connection:
            return claims.count_due(connection, now, here, everything=everything)

    # --- entries and categories -------------------------------------------

    def store_entries(
        self,
        state: SourceState,
        routed: Sequence[RoutedEntry],
        result: PollResult,
        now: datetime,
        *,
        site_link: str | None = None,
        policy: neardup.Policy = neardup.DEFAULT_POLICY,
    ) -> StoreReport:
        """Store one poll's entries and the source's new state in one transaction."""
        with self.writing() as connection:
            return entries.store_poll(
                connection, state, routed, result, now, site_link=site_link, policy=policy
            )

    def reroute(self, digest: str, route: Callable[[str, Routable], frozenset[str]]) -> bool:
        """Route every stored article again if routing changed (see `categories.reroute`)."""
        with self.writing() as connection:
            return categories.reroute(connection, digest, route)

    def category_sizes(self) -> dict[str, int]:
        with self.reading() as connection:
            return categories.sizes(connection)

    def dirty_categories(self) -> set[str]:
        with self.reading() as connection:
            return categories.dirty(connection)

    # --- publishing -------------------------------------------------------

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
            # Added on its own: another worker adding the row too would wait for the end
            # of the transaction that added it, here the whole regeneration.
            categories.ensure_row(connection, slug)
        with self.writing() as connection:
            if not categories.lock_for_publishing(connection, slug, always=always):
                yield None
                return
            yield Publication(connection)
            categories.mark_clean(connection, slug)

    @contextmanager
    def publication(self, *, write: bool = False) -> Iterator[Publication]:
        """The published site on one transaction, outside any feed's lock: to read a feed's
        entries, or (`write`) to keep documents that belong to no single feed."""
        with self.writing() if write else self.reading() as connection:
            yield Publication(connection)

    def document(self, path: str) -> StoredDocument | None:
        """The published document at `path` (relative to the site root), if there is one."""
        with self.reading() as connection:
            return documents.document(connection, path)

    # --- small named values -----------------------------------------------

    def hub_state(self, name: str) -> str | None:
        """A small named value the hub keeps in the store."""
        with self.reading() as connection:
            return state.read_state(connection, name)

    def set_hub_state(self, name: str, value: str) -> None:
        with self.writing() as connection:
            state.write_state(connection, name, value)
