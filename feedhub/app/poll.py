"""One poll: claim due sources a batch at a time, fetch them, parse, route and store each
result, in claim order.

Fetches run concurrently in threads and parsing in worker processes (`feedhub.parse.pool`);
everything that touches the store runs in the calling thread, one transaction per source
that brought entries. What a poll means for a source (health, backoff, next due time) is
decided by `feedhub.rules.schedule`. Expected failures of a source (`SourceError`) are
recorded on it and never stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from feedhub.app.claims import Claims
from feedhub.app.metrics import PollMetrics
from feedhub.app.websub import WebSub
from feedhub.config.settings import Settings, SourceSettings
from feedhub.core.clock import Clock
from feedhub.core.errors import FetchStopped, SourceError
from feedhub.core.models import Fetched, FetchOutcome, HealthChange, PollResult, SourceState
from feedhub.core.text import counted
from feedhub.fetch.client import Fetcher, FetchRequest
from feedhub.parse.pool import Parser, body_hash
from feedhub.rules import dedupe, neardup, schedule
from feedhub.rules.routing import Router
from feedhub.rules.schedule import Timing
from feedhub.rules.spread import host_of
from feedhub.store.entries import RoutedEntry
from feedhub.store.facade import Store

log = logging.getLogger(__name__)

Progress = Callable[["PollSummary"], None]


@dataclass(slots=True)
class PollSummary:
    """What one pass over the due sources did."""

    polled: int = 0
    failed: int = 0
    new_entries: int = 0
    updated_entries: int = 0
    health_events: int = 0
    published: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PollSteps:
    """The steps and values one poll uses, handed over by the hub."""

    settings: Settings
    store: Store
    fetcher: Fetcher
    parser: Parser
    router: Router
    metrics: PollMetrics
    clock: Clock
    claims: Claims
    sources: Mapping[str, SourceSettings]  # the configured sources, by URL
    timing: Callable[[SourceSettings], Timing]
    websub: WebSub  # pushed documents stand in for fetches; what a poll saw may subscribe
    neardup: neardup.Policy = neardup.DEFAULT_POLICY  # which sources' stories may merge


class Poll:
    """One pass over the due sources (every scheduled one, with `everything`)."""

    def __init__(self, steps: PollSteps) -> None:
        self.steps = steps
        self.summary = PollSummary()
        self.unrecorded = Unrecorded(
            steps.store, limit=steps.settings.fetch.concurrency, owner=steps.claims.owner
        )

    def run(
        self,
        *,
        everything: bool = False,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> PollSummary:
        """Claim, fetch and store until nothing is due or `stop` is set.

        Up to two batches are in hand, topped up as results are stored, each claim spread
        over hosts so that the fetches do not queue for a few hosts' slots. Results are
        stored in the order the sources were claimed, not as fetches finish, so which
        source an article shared by several is credited to is reproducible. The claims
        are renewed while the poll lasts. On `stop`, fetches in flight finish and are
        stored (unless `Fetcher.stop` cut them short); the others' claims are given back.
        `progress` sees the summary after each source.
        """
        steps = self.steps
        batch = steps.settings.fetch.concurrency
        in_hand: deque[tuple[SourceState, Future[FetchOutcome | SourceError]]] = deque()
        more, started = True, steps.clock()
        with (
            steps.parser.session(),
            steps.claims.renewing(),
            ThreadPoolExecutor(max_workers=batch, thread_name_prefix="feedhub-fetch") as pool,
        ):
            while stop is None or not stop.is_set():
                if more and len(in_hand) <= batch:
                    wanted = 2 * batch - len(in_hand)
                    busy = Counter(host_of(state.fetch_url) for state, _ in in_hand)
                    claimed = steps.claims.take(wanted, everything, started=started, busy=busy)
                    more = len(claimed) == wanted
                    in_hand.extend((state, pool.submit(self._fetch, state)) for state in claimed)
                if not in_hand:
                    break
                state, future = in_hand.popleft()
                if not future.done() and self.unrecorded.worth_storing():
                    self.unrecorded.store()  # while the fetch finishes
                self._process(state, future)
                if progress is not None:
                    progress(self.summary)
            steps.claims.give_back(state.id for state, future in in_hand if future.cancel())
            for state, future in in_hand:
                if not future.cancelled():
                    self._process(state, future)
            self.unrecorded.store()
        return self.summary

    def _fetch(self, state: SourceState) -> FetchOutcome | SourceError:
        steps = self.steps
        source = self._source(state)
        request = FetchRequest(
            url=state.fetch_url,
            etag=state.etag,
            last_modified=state.last_modified,
            allow_private=steps.settings.source_allows_private(source),
            private_host=steps.settings.source_private_host(source),
            allow_file=True,
        )
        outcome: FetchOutcome | SourceError
        try:
            with steps.metrics.timing():
                outcome = steps.websub.take_push(state) or steps.fetcher.fetch(request)
        except SourceError as error:
            outcome = error
        steps.metrics.fetched(outcome)
        if isinstance(outcome, Fetched) and body_hash(outcome) != state.body_hash:
            steps.parser.start(state.id, outcome)  # in a worker process, if there are many
        return outcome

    def _process(self, state: SourceState, future: Future[FetchOutcome | SourceError]) -> None:
        steps = self.steps
        outcome = future.result()
        if isinstance(outcome, FetchStopped):
            self.unrecorded.give_back(state.id)  # not the source's failure: poll it next run
            return
        self.summary.polled += 1
        source = self._source(state)
        timing = steps.timing(source)
        now = steps.clock()
        if isinstance(outcome, SourceError):
            self._record(state, schedule.after_failure(state, outcome, now, timing))
            return
        digest = body_hash(outcome) if isinstance(outcome, Fetched) else None
        succeeded = partial(schedule.after_success, state, outcome, now, timing, body_hash=digest)
        if not isinstance(outcome, Fetched) or digest == state.body_hash:
            # Nothing new: no parse, no entries written, nothing to republish.
            self._record(state, succeeded(feed_hint_seconds=state.feed_hint_seconds))
            log.debug(
                "%s: %s",
                state.name,
                "not modified (304)" if digest is None else "unchanged body",
            )
            return
        try:
            parsed = steps.parser.finish(state.id, outcome)
        except SourceError as error:
            failed = schedule.after_failure(state, error, now, timing, answered=outcome.status)
            self._record(state, failed)
            return
        document = parsed.document
        routed = [
            RoutedEntry(entry, steps.router.route(entry, source.categories))
            for entry in dedupe.within_document(parsed.entries)
        ]
        result = succeeded(feed_hint_seconds=schedule.feed_hint(document))
        if document.warning:
            result = schedule.with_warning(state, result, document)
        report = steps.store.store_entries(
            state, routed, result, now, site_link=document.link, policy=steps.neardup
        )
        steps.websub.noticed(state, document, new_entries=report.new)
        self._note(result)
        self.summary.new_entries += report.new
        self.summary.updated_entries += report.updated
        steps.metrics.stored(report.new, report.updated)
        log.log(
            logging.INFO if report.new or report.updated or document.warning else logging.DEBUG,
            "%s: %s, %d new, %d updated%s",
            state.name,
            counted(len(routed), "entry", "entries"),
            report.new,
            report.updated,
            f" ({document.warning})" if document.warning else "",
        )

    def _source(self, state: SourceState) -> SourceSettings:
        configured = self.steps.sources.get(state.url)
        return configured or SourceSettings.model_construct(url=state.url, name=state.name)

    def _record(self, state: SourceState, result: PollResult) -> None:
        """Note a poll that brought no entries (a failure, a wait, a 304, an unchanged body)."""
        self.unrecorded.add(state.id, result)
        self._note(result)
        if result.last_success != result.last_attempt and not result.events:
            log.warning("%s: %s", state.name, result.last_error)  # else the event says it

    def _note(self, result: PollResult) -> None:
        if result.health.troubled:
            self.summary.failed += 1
        self.summary.health_events += len(result.events)
        for event in result.events:
            level = logging.INFO if event.change is HealthChange.RECOVERED else logging.WARNING
            log.log(level, "%s", _with_detail(event.message, result))


def _with_detail(message: str, result: PollResult) -> str:
    """A health event's message as the log says it: with the problem's detail (URL, address,
    the server's words), which the published event leaves out."""
    public, detail = result.public_error, result.last_error
    if public and detail and message.endswith(public):
        return message.removesuffix(public) + detail
    return message


class Unrecorded:
    """Polls that brought no entries, stored `limit` at a time in one transaction.

    Each would otherwise cost a write transaction of its own, about as much as the
    conditional GET behind a 304. The poll stores them when it would wait for a fetch
    anyway and a quarter of `limit` are waiting, when `limit` are, and at its end; a crash
    before that loses only the polls' outcomes, and the sources are polled again once
    their claims run out.
    """

    def __init__(self, store: Store, *, limit: int, owner: str) -> None:
        self._store = store
        self._limit = limit
        self._owner = owner
        self._polls: list[tuple[int, PollResult]] = []
        self._given_back: list[int] = []  # claims of fetches cut short by a stop

    def give_back(self, source_id: int) -> None:
        self._given_back.append(source_id)

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
        if self._given_back:
            self._store.release_sources(self._owner, self._given_back)
            self._given_back = []
