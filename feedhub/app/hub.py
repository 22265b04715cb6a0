"""Run the steps for due sources: fetch -> parse -> normalize -> route -> store -> publish.

The pipeline only calls the steps and hands their values on; what a poll
means for a source (health, backoff, next due time) is decided by
`feedhub.rules.schedule`. Fetches run concurrently in threads; everything that
touches the store runs in the calling thread, one transaction per source.
Expected failures of a source (`SourceError`) are recorded on it and never
stop the others.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from feedhub.app.metrics import PollMetrics
from feedhub.config.settings import Settings, SourceSettings
from feedhub.core.clock import Clock, system_clock
from feedhub.core.errors import SourceError, StoreError
from feedhub.core.models import (
    Fetched,
    FetchOutcome,
    HealthChange,
    PollResult,
    SourceState,
)
from feedhub.fetch.client import Fetcher, FetchRequest
from feedhub.parse.docguard import DocumentLimits
from feedhub.parse.pool import Parser, body_hash
from feedhub.publish.catalog import FEED_FILES, SITE_FILES, feeds_of
from feedhub.publish.health import health_feed_path, publish_health
from feedhub.publish.publisher import feeds_are_current, publish, site_is_current
from feedhub.rules import dedupe, schedule
from feedhub.rules.routing import Routable, Router, routing_digest
from feedhub.rules.schedule import Timing
from feedhub.rules.spread import host_of
from feedhub.store.facade import RoutedEntry, Store
from feedhub.store.retention import prune_if_due

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PollSummary:
    """What one pass over the due sources did."""

    polled: int = 0
    failed: int = 0
    new_entries: int = 0
    updated_entries: int = 0
    health_events: int = 0
    published: list[str] = field(default_factory=list)


class Hub:
    """One configured hub: its settings, store, fetcher, clock and random draws (for jitter).

    A hub is built for one config; the daemon builds a new one on a config reload.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock = system_clock,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.draw = draw
        self.fetcher = Fetcher(settings.fetch)
        self.router = Router(settings.categories)
        self.limits = DocumentLimits(
            settings.fetch.max_entries_per_document, settings.fetch.max_field_bytes
        )
        self.metrics = PollMetrics()
        self.parser = Parser(self.limits)
        self.worker = worker_name()  # whose claims this hub's polls hold
        self._sources = {source.url: source for source in settings.sources}
        self._config_published = False  # whether the outputs were checked against settings

    def close(self) -> None:
        self.fetcher.close()
        self.parser.stop()

    def sync_sources(self) -> None:
        """Make the store follow the config: its sources, and its entries' categories."""
        self.store.sync_sources(self.settings.sources, self.clock())
        digest = routing_digest(self.settings.categories, self.settings.sources)
        if self.store.reroute(digest, self._route_stored):
            log.info("routing changed: stored entries moved into their new categories")

    def run_once(
        self, *, everything: bool = False, stop: threading.Event | None = None
    ) -> PollSummary:
        """Poll what is due (everything, if asked), then republish what changed."""
        summary = self.poll(everything=everything, stop=stop)
        prune_if_due(self.store, self.settings.hub, self.clock())
        try:
            summary.published = self.publish_changed(polled=summary.polled > 0)
        finally:  # a document that could not be published does not keep this one back
            if summary.health_events or not health_feed_path(self.settings).exists():
                publish_health(self.store, self.settings)
        return summary

    def poll(self, *, everything: bool = False, stop: threading.Event | None = None) -> PollSummary:
        """Claim due sources (every one, if asked) a batch at a time, fetch, store each result.

        Claiming (see `Store.claim_due_sources`) lets several workers share one store: none
        fetches a source another has in hand. Up to two batches are in hand, topped up as
        results are stored, each claim spread over hosts so that the fetches do not queue
        for a few hosts' slots. Results are stored in the order the sources were claimed,
        not as fetches finish, so which source an article shared by several is credited to
        is reproducible. The claims are renewed while the poll lasts. On
        `stop`, fetches in flight finish and are stored; the others' claims are given back.
        """
        summary = PollSummary()
        batch = self.settings.fetch.concurrency
        in_hand: deque[tuple[SourceState, Future[FetchOutcome | SourceError]]] = deque()
        more, started = True, self.clock()
        unrecorded = Unrecorded(self.store, limit=batch)
        with (
            self.parser.session(),
            self._renewing_claims(),
            ThreadPoolExecutor(max_workers=batch, thread_name_prefix="feedhub-fetch") as pool,
        ):
            while stop is None or not stop.is_set():
                if more and len(in_hand) <= batch:
                    wanted = 2 * batch - len(in_hand)
                    busy = Counter(host_of(state.fetch_url) for state, _ in in_hand)
                    claimed = self._claim(wanted, everything, started=started, busy=busy)
                    more = len(claimed) == wanted
                    in_hand.extend((state, pool.submit(self._fetch, state)) for state in claimed)
                if not in_hand:
                    break
                state, future = in_hand.popleft()
                if not future.done() and unrecorded.worth_storing():
                    unrecorded.store()  # while the fetch finishes
                self._process(state, future, summary, unrecorded)
            not_started = [state.id for state, future in in_hand if future.cancel()]
            if not_started:
                self.store.release_sources(self.worker, not_started)
            for state, future in in_hand:
                if not future.cancelled():
                    self._process(state, future, summary, unrecorded)
            unrecorded.store()
        return summary

    @contextmanager
    def _renewing_claims(self) -> Iterator[None]:
        """Renew this worker's leases every third of a lease while the block runs, so that a
        slow poll keeps its sources; a dead worker stops renewing and its leases run out."""
        lease = self.settings.schedule.lease
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.total_seconds() / 3):
                try:
                    self.store.renew_claims(self.worker, self.clock() + lease)
                except StoreError as error:
                    log.warning("%s; trying again in a third of a lease", error)

        renewing = threading.Thread(target=renew, name="feedhub-lease", daemon=True)
        renewing.start()
        try:
            yield
        finally:
            done.set()
            renewing.join()

    def _claim(
        self, limit: int, everything: bool, *, started: datetime, busy: Counter[str]
    ) -> list[SourceState]:
        return self.store.claim_due_sources(
            self.worker,
            self.clock(),
            self.settings.schedule.lease,
            limit,
            everything=everything,
            started=started,
            busy=busy,
        )

    def publish_changed(self, *, polled: bool) -> list[str]:
        """Republish the feeds whose entries changed, or whose files are missing, and the
        front page and sources.opml with them, or when what they show of the sources (after
        a poll) or of the config (a hub's first publish) changed; every feed when the config
        changed what the feeds show. An idle tick compares nothing but the dirty marks."""
        if not self._config_published and not feeds_are_current(self.store, self.settings):
            publish(self.store, self.settings)  # the config renamed, added or resized feeds
            self._config_published = True
            return sorted(self._slugs())
        site_may_differ = polled or not self._config_published
        output = self.settings.hub.output_dir
        missing = {
            feed.slug
            for feed in feeds_of(self.settings)
            if not all((output / feed.slug / name).exists() for name in FEED_FILES)
        }
        targets = sorted((self.store.dirty_categories() | missing) & self._slugs())
        site_missing = not all((output / name).exists() for name in SITE_FILES)
        if (
            targets
            or site_missing
            or (site_may_differ and not site_is_current(self.store, self.settings))
        ):
            publish(self.store, self.settings, only=targets, forced=missing)
        self._config_published = True
        return targets

    def publish_all(self) -> None:
        try:
            publish(self.store, self.settings)
        finally:
            publish_health(self.store, self.settings)

    def _slugs(self) -> set[str]:
        return {feed.slug for feed in feeds_of(self.settings)}

    def _fetch(self, state: SourceState) -> FetchOutcome | SourceError:
        source = self._source(state)
        request = FetchRequest(
            url=state.fetch_url,
            etag=state.etag,
            last_modified=state.last_modified,
            allow_private=self.settings.source_allows_private(source),
            private_host=self.settings.source_private_host(source),
            allow_file=True,
        )
        outcome: FetchOutcome | SourceError
        try:
            with self.metrics.timing():
                outcome = self.fetcher.fetch(request)
        except SourceError as error:
            outcome = error
        self.metrics.fetched(outcome)
        if isinstance(outcome, Fetched) and body_hash(outcome) != state.body_hash:
            self.parser.start(state.id, outcome)  # in a worker process, if there are many
        return outcome

    def _process(
        self,
        state: SourceState,
        future: Future[FetchOutcome | SourceError],
        summary: PollSummary,
        unrecorded: Unrecorded,
    ) -> None:
        summary.polled += 1
        source = self._source(state)
        timing = self.timing(source)
        outcome = future.result()
        now = self.clock()
        if isinstance(outcome, SourceError):
            self._record(
                state, schedule.after_failure(state, outcome, now, timing), summary, unrecorded
            )
            return
        digest = body_hash(outcome) if isinstance(outcome, Fetched) else None
        succeeded = partial(schedule.after_success, state, outcome, now, timing, body_hash=digest)
        if not isinstance(outcome, Fetched) or digest == state.body_hash:
            # Nothing new: no parse, no entries written, nothing to republish.
            result = succeeded(feed_hint_seconds=state.feed_hint_seconds)
            self._record(state, result, summary, unrecorded)
            log.info(
                "%s: %s",
                state.name,
                "not modified (304)" if digest is None else "unchanged body",
            )
            return
        try:
            parsed = self.parser.finish(state.id, outcome)
        except SourceError as error:
            self._record(
                state, schedule.after_failure(state, error, now, timing), summary, unrecorded
            )
            return
        document = parsed.document
        routed = [
            RoutedEntry(entry, self.router.route(entry, source.categories))
            for entry in dedupe.within_document(parsed.entries)
        ]
        result = succeeded(feed_hint_seconds=schedule.feed_hint(document))
        if document.warning:
            result = schedule.with_warning(result, document.warning, document.public_warning)
        report = self.store.store_entries(state, routed, result, now, site_link=document.link)
        self._note(state, result, summary)
        summary.new_entries += report.new
        summary.updated_entries += report.updated
        self.metrics.stored(report.new, report.updated)
        log.info(
            "%s: %d entries, %d new, %d updated%s",
            state.name,
            len(routed),
            report.new,
            report.updated,
            f" ({document.warning})" if document.warning else "",
        )

    def _route_stored(self, source_url: str, entry: Routable) -> frozenset[str]:
        source = self._sources.get(source_url)
        return self.router.route(entry, source.categories if source else ())

    def _source(self, state: SourceState) -> SourceSettings:
        configured = self._sources.get(state.url)
        return configured or SourceSettings.model_construct(url=state.url, name=state.name)

    def timing(self, source: SourceSettings) -> Timing:
        """The schedule rules for `source`, with a fresh random draw for its jitter."""
        schedule = self.settings.schedule
        return Timing(
            interval=self.settings.source_interval(source),
            min_interval=schedule.min_interval,
            max_interval=schedule.max_interval,
            spread=self.draw(),
        )

    def _record(
        self, state: SourceState, result: PollResult, summary: PollSummary, unrecorded: Unrecorded
    ) -> None:
        """Note a poll that brought no entries (a failure, a wait, a 304, an unchanged body)."""
        unrecorded.add(state.id, result)
        self._note(state, result, summary)
        if result.last_success != result.last_attempt:
            log.warning("%s: %s", state.name, result.last_error)

    def _note(self, state: SourceState, result: PollResult, summary: PollSummary) -> None:
        if result.health.troubled:
            summary.failed += 1
        summary.health_events += len(result.events)
        for event in result.events:
            level = logging.INFO if event.change is HealthChange.RECOVERED else logging.WARNING
            log.log(level, "%s", event.message)


class Unrecorded:
    """Polls that brought no entries, stored `limit` at a time in one transaction.

    Each would otherwise cost a write transaction of its own, about as much as the
    conditional GET behind a 304. The poll stores them when it would wait for a fetch
    anyway and a quarter of `limit` are waiting, when `limit` are, and at its end; a crash
    before that loses only the polls' outcomes, and the sources are polled again once
    their claims run out.
    """

    def __init__(self, store: Store, *, limit: int) -> None:
        self._store = store
        self._limit = limit
        self._polls: list[tuple[int, PollResult]] = []

    def add(self, source_id: int, result: PollResult) -> None:
        self._polls.append((source_id, result))
        if len(self._polls) >= self._limit:
            self.store()

    def worth_storing(self) -> bool:
        return len(self._polls) >= max(1, self._limit // 4)

    def store(self) -> None:
        if self._polls:
            self._store.record_polls(self._polls)
            self._polls = []


def worker_name() -> str:
    """Who holds a claim: the host, the process, and a random part for a restarted process."""
    return f"{socket.gethostname()[:150]} pid {os.getpid()} {secrets.token_hex(4)}"
