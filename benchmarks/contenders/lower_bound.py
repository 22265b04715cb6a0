"""Contender "lower bound": the same concurrent conditional GETs plus feedparser, nothing more.

What any aggregator has to do at least: GET every feed with the same limits as
feedhub (a pool of `concurrency` threads, `per_host` at a time per host, with the
validators from the last run), skip a body whose hash has not changed, and hand
the others to `feedparser.parse` (sanitizer and relative-URI resolution off) in a
pool of one process per core, as feedhub. No store, no output: only a JSON file of
validators.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from urllib.parse import urlsplit

import feedparser
import requests

from benchmarks.contenders import run_one_command
from benchmarks.context import Context

NAME = "lower bound"
SCENARIOS = ("cold", "warm", "changed", "novalidators")
IN_FLIGHT = 16  # bodies fetched and waiting for a parser, at most


def unavailable() -> str | None:
    """Always available: requests and feedparser are feedhub dependencies."""
    return None


def prepare(context: Context) -> list[str] | None:
    """Nothing to set up: the first run starts without validators."""
    return None


def command(scenario: str, context: Context) -> list[str]:
    """Run `run()` in a fresh process."""
    return run_one_command(__name__.rsplit(".", 1)[-1], scenario, context)


def check_command(context: Context) -> list[str] | None:
    """The measured run prints its own counts."""
    return None


def run(scenario: str, context: Context) -> dict[str, int]:
    """Poll every source once; returns what happened, by kind, and the entries parsed."""
    state_path = context.work_dir / "lower_bound_state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    with ProcessPoolExecutor(context.parse_processes) as parsers:
        parsers.submit(int).result()  # start the workers before any thread exists
        poller = _Poller(context, state, parsers)
        with ThreadPoolExecutor(context.concurrency) as fetchers:
            for done in [fetchers.submit(poller.poll, s.url) for s in context.sources]:
                done.result()
        counts = poller.finish()
    state_path.write_text(json.dumps(state))
    return counts


def parse(body: bytes, headers: dict[str, str]) -> int:
    """Parse one document as feedhub does; returns its number of entries."""
    result = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    return len(result.entries)


class _Poller:
    """Fetches sources on many threads and queues changed bodies to the parser processes."""

    def __init__(
        self,
        context: Context,
        state: dict[str, dict[str, str | None]],
        parsers: ProcessPoolExecutor,
    ) -> None:
        self._context = context
        self._state = state
        self._parsers = parsers
        hosts = {urlsplit(source.url).netloc for source in context.sources}
        self._hosts = {host: threading.Semaphore(context.per_host) for host in hosts}
        self._slots = threading.BoundedSemaphore(IN_FLIGHT)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._parses: list[Future[int]] = []
        self._counts: Counter[str] = Counter()

    def poll(self, url: str) -> None:
        """GET one source and queue its body for parsing when it changed."""
        try:
            response = self._get(url)
        except requests.RequestException:
            self._count("errors")
            return
        if response.status_code == 304:
            self._count("not_modified")
            return
        if response.status_code != 200:
            self._count("errors")
            return
        digest = hashlib.sha256(response.content).hexdigest()
        known = self._state.get(url, {})
        self._state[url] = {
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "digest": digest,
        }
        if known.get("digest") == digest:
            self._count("unchanged")
            return
        headers = {
            "content-type": response.headers.get("content-type", ""),
            "content-location": response.url,
        }
        self._parse_later(response.content, headers)
        self._count("parsed")

    def finish(self) -> dict[str, int]:
        """Wait for the parsers; returns the counts, entries included."""
        self._counts["entries"] = sum(future.result() for future in self._parses)
        return dict(self._counts)

    def _get(self, url: str) -> requests.Response:
        known = self._state.get(url, {})
        headers = {"User-Agent": self._context.user_agent}
        if known.get("etag"):
            headers["If-None-Match"] = str(known["etag"])
        if known.get("last_modified"):
            headers["If-Modified-Since"] = str(known["last_modified"])
        with self._hosts[urlsplit(url).netloc]:
            return self._session().get(url, headers=headers, timeout=self._context.timeout)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _parse_later(self, body: bytes, headers: dict[str, str]) -> None:
        self._slots.acquire()
        future = self._parsers.submit(parse, body, headers)
        future.add_done_callback(lambda _: self._slots.release())
        with self._lock:
            self._parses.append(future)

    def _count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1
