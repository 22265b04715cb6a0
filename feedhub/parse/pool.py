"""Parse and normalize fetched documents, in worker processes when a poll has many of them.

Parsing (feedparser) and normalizing (nh3) one document is pure CPU work and most
of a cold update; threads cannot share it between cores (the GIL), processes can.
Fetch threads hand each changed body to `Parser.start`; the storing thread takes
the result with `Parser.finish`: the document's own fields and its normalized
entries, small frozen values. A poll with little to parse never starts a
process: a body is parsed in the storing thread unless `POOL_BACKLOG` bytes of
bodies are waiting for it, and only then do workers start, one per core but one
(`parse_workers`). They are spawned (fresh interpreters that load only the parsing
modules, never inheriting our threads, sockets or store), hold only the documents
they are parsing (the executor queues one more per worker), and stop when the poll ends.
A storing thread that would wait for a worker takes back the newest document no worker
has started and parses it itself: on two cores, one worker and the storing thread then
share the parsing, without a second worker's memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from feedhub.core.errors import PARSER_FAILED, ParseError, SourceError
from feedhub.core.models import EntryToStore, FeedDocument, Fetched
from feedhub.parse.docguard import DocumentLimits

log = logging.getLogger(__name__)

# Bytes of bodies waiting for the storing thread before a poll starts worker processes:
# parsing a megabyte costs about what starting the workers does (a fifth of a second).
POOL_BACKLOG = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A fetched document, parsed, with its entries normalized (what a worker sends back)."""

    document: FeedDocument  # its `entries` left out: they travel normalized
    entries: tuple[EntryToStore, ...]


def body_hash(fetched: Fetched) -> str:
    """The identity of a body: one equal to the last one fetched is not parsed again."""
    return hashlib.sha256(fetched.body).hexdigest()


def parse_fetched(
    body: bytes, url: str, headers: Mapping[str, str], limits: DocumentLimits
) -> ParsedFeed:
    """Parse one body and normalize its entries; raise a SourceError when it is no feed."""
    # Imported here: a poll that parses nothing (all 304) never loads the parsers.
    from feedhub.parse.document import parse_document
    from feedhub.parse.normalize import normalize_entries

    document = parse_document(body, url, headers, limits)
    entries = normalize_entries(document.entries)
    return ParsedFeed(dataclasses.replace(document, entries=()), entries)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def parse_workers() -> int:
    """One worker per core but one, which the storing thread keeps busy (at least one).

    A second worker on two cores only competes with the storing thread, the critical
    path of a cold poll since parsing got faster, and costs 30 MiB more.
    """
    return max(1, cores() - 1)


class Parser:
    """Parses the changed bodies of a poll: in this process, or in workers once they pile up.

    `start` is called from fetch threads, `finish` from the storing thread, both with
    the source's id as the key (unique among the sources of a poll).
    """

    def __init__(
        self,
        limits: DocumentLimits,
        *,
        workers: int | None = None,
        backlog: int = POOL_BACKLOG,
    ) -> None:
        self.limits = limits
        self.workers = workers or parse_workers()
        self.backlog = backlog
        self.in_workers = 0  # documents handed to worker processes, ever
        self.taken_back = 0  # of those, parsed by the storing thread while it waited
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._waiting = 0  # bytes of the bodies started and not finished yet
        # What each started body went to: (the pool, its future), by source id.
        self._futures: dict[int, tuple[ProcessPoolExecutor, Future[ParsedFeed]]] = {}
        # Bodies started while there was no backlog: parsed by `finish`, unless the
        # workers start before it comes to them.
        self._inline: dict[int, Fetched] = {}
        # Bodies handed to the workers and not parsed yet, which may be taken back.
        self._queued: dict[int, Fetched] = {}

    @contextmanager
    def session(self) -> Iterator[Parser]:
        """One poll: the workers it starts stop at its end."""
        try:
            yield self
        finally:
            self.stop()

    def start(self, key: int, fetched: Fetched) -> None:
        """A changed body was fetched: have a worker parse it now if there is a backlog."""
        with self._lock:
            self._waiting += len(fetched.body)
            if self._pool is None and self._waiting < self.backlog:
                self._inline[key] = fetched  # `finish` parses it in the storing thread
                return
            # The workers take the bodies waiting inline too, oldest (stored first) first.
            for waiting_key, waiting in self._inline.items():
                self._futures[waiting_key] = self._submit(waiting_key, waiting)
            self._inline.clear()
            self._futures[key] = self._submit(key, fetched)

    def finish(self, key: int, fetched: Fetched) -> ParsedFeed:
        """The parsed document of `fetched`; raise a SourceError when it is no feed."""
        with self._lock:
            self._waiting = max(0, self._waiting - len(fetched.body))
            self._inline.pop(key, None)
            started = self._futures.pop(key, None)
        if started is None:
            return parse_fetched(fetched.body, fetched.url, fetched.headers, self.limits)
        pool, future = started
        while not future.done() and self._take_back_one():
            pass
        try:
            return future.result()
        except BrokenProcessPool:
            # A worker died (killed, or crashed on a document): the documents it took down
            # with it get one more try in fresh workers; the one that kills them fails.
            log.warning("%s: a parser process died; parsing it again", fetched.url)
            with self._lock:
                self._discard(pool)
                _, retry = self._submit(key, fetched)
        try:
            return retry.result()
        except BrokenProcessPool:
            raise ParseError(
                f"{fetched.url}: the parser process died on this document", PARSER_FAILED
            ) from None

    def _take_back_one(self) -> bool:
        """Parse here the newest document not started by a worker; False if there is none."""
        with self._lock:
            taken = self._cancel_newest_queued()
        if taken is None:
            return False
        key, pool, fetched = taken
        parsed: Future[ParsedFeed] = Future()
        try:
            parsed.set_result(
                parse_fetched(fetched.body, fetched.url, fetched.headers, self.limits)
            )
        except SourceError as error:
            parsed.set_exception(error)
        with self._lock:
            self._futures[key] = (pool, parsed)
            self.taken_back += 1
        return True

    def _cancel_newest_queued(self) -> tuple[int, ProcessPoolExecutor, Fetched] | None:
        """Take the newest body no worker has started away from them (holding `_lock`)."""
        for key, (pool, future) in reversed(self._futures.items()):
            fetched = self._queued.get(key)
            if fetched is not None and future.cancel():
                return key, pool, fetched
        return None

    def stop(self) -> None:
        """Stop the workers (if any ran) and forget what was not finished."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._futures.clear()
            self._inline.clear()
            self._queued.clear()
            self._waiting = 0
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, key: int, fetched: Fetched) -> tuple[ProcessPoolExecutor, Future[ParsedFeed]]:
        """Hand one body to the workers, starting them if needed (holding `_lock`)."""
        for _ in range(2):  # a pool found broken is replaced once
            if self._pool is None:
                self._pool = _start_pool(self.workers)
                log.debug("parsing in %d worker processes", self.workers)
            pool = self._pool
            try:
                future = pool.submit(
                    parse_fetched, fetched.body, fetched.url, dict(fetched.headers), self.limits
                )
            except BrokenProcessPool:
                self._discard(pool)
                continue
            self.in_workers += 1
            self._queued[key] = fetched
            # Called by the executor's thread (or here, if already done): no lock taken.
            future.add_done_callback(lambda _: self._queued.pop(key, None))
            return pool, future
        raise ParseError(
            f"{fetched.url}: the parser processes keep dying; see the log", PARSER_FAILED
        )

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        """Forget a broken pool (holding `_lock`); the next body starts fresh workers."""
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)


def _start_pool(workers: int) -> ProcessPoolExecutor:
    # Spawned, not forked: a worker never inherits our threads' locks, sockets or store,
    # and holds only the parsing modules (a forked one would count the whole hub in its RSS).
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_interrupts)


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the hub stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
