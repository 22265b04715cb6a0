"""Fetch a source's document over HTTP(S) with requests, or from a local file.

Politeness and limits live here: the configured User-Agent, conditional GET,
connect/read timeouts plus a total deadline, a cap on the compressed and the
decompressed body, redirects followed one hop at a time (each hop checked),
and at most `per_host` requests to one host at once. feedparser never fetches.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from feedhub.config.settings import FetchSettings
from feedhub.core.errors import (
    AddressRefused,
    FetchError,
    FetchStopped,
    HTTPStatusError,
    LimitExceeded,
)
from feedhub.core.models import Fetched, FetchOutcome, NotModified, Redirect
from feedhub.core.text import one_line
from feedhub.fetch.netguard import check_url_address, connect_host
from feedhub.fetch.transport import CheckedAdapter, FetchGuard
from feedhub.rules.spread import host_of

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
    "application/json;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What to fetch for one source, with the validators held from the last fetch."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    allow_private: bool = False  # every hop may reach a non-public address
    private_host: str | None = None  # this host may be non-public even when the others may not
    allow_file: bool = False  # only sources written in the config file may be local files

    def may_reach_private(self, host: str) -> bool:
        """Whether a connection to `host` (as urllib3 reads it: see `connect_host`) may
        reach a non-public address."""
        return self.allow_private or (
            self.private_host is not None and host == self.private_host.strip("[]").lower()
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A request that is not a feed's fetch: a WebSub verification, form or document."""

    method: str
    url: str
    params: Mapping[str, str] | None = None  # added to the URL's query
    body: bytes | Mapping[str, str] | None = None  # a mapping is sent form-encoded
    headers: Mapping[str, str] | None = None
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class Answered:
    """What the other side answered a `Message`."""

    status: int
    body: bytes


class Fetcher:
    """One requests Session shared by every fetch of a poll (keeps connections alive)."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers.update(
            {
                "User-Agent": settings.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self.session.trust_env = False
        adapter = CheckedAdapter(
            pool_connections=64, pool_maxsize=settings.concurrency, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._host_lock = threading.Lock()
        self._stopping = threading.Event()
        self._guards: set[FetchGuard] = set()  # of the fetches in flight

    def close(self) -> None:
        self.session.close()

    def stop(self) -> None:
        """Cut the fetches in flight short and refuse new ones: each raises FetchStopped."""
        with self._host_lock:
            self._stopping.set()
            guards = list(self._guards)
        for guard in guards:
            guard.expire()

    def fetch(self, request: FetchRequest) -> FetchOutcome:
        """Fetch `request.url`; raise a SourceError subclass on any expected failure."""
        if self._stopping.is_set():
            raise FetchStopped(f"{request.url}: not fetched, feedhub is stopping")
        scheme = urlsplit(request.url).scheme
        if scheme == "file":
            if not request.allow_file:
                raise AddressRefused(f"{request.url}: local files may only be configured sources")
            return self._read_file(request.url)
        if scheme not in ("http", "https"):
            raise AddressRefused(f"{request.url}: only http and https URLs are fetched")
        # The guard shuts the sockets down at the deadline: a body cut short by it is no body.
        with FetchGuard(self.settings.deadline) as guard, self._watching(guard):
            try:
                outcome = self._fetch_http(request, guard)
            except FetchError:
                if guard.expired:
                    raise self._cut_short(request.url) from None
                raise
            if guard.expired:
                raise self._cut_short(request.url)
            return outcome

    def send(self, message: Message) -> Answered:
        """Send `message` (a WebSub verification, form or document) and read the answer,
        within the same address guard, deadline, host slots and body limits as a fetch;
        redirects are not followed. Raise a SourceError subclass when it cannot be sent."""
        url = message.url
        if urlsplit(url).scheme not in ("http", "https"):
            raise AddressRefused(f"{url}: only http and https URLs are reached")
        with FetchGuard(self.settings.deadline) as guard, self._host_slot(url):
            deadline = guard.start()
            guard.may_reach_private = lambda _host: message.allow_private
            try:
                check_url_address(url, allow_private=message.allow_private)
                response = self._request(message, deadline)
                try:
                    encoding = response.headers.get("content-encoding", "")
                    body = self._read_body(url, response, encoding, deadline)
                finally:
                    response.close()
            except FetchError:
                if guard.expired:
                    raise self._past_deadline(url) from None
                raise
            if guard.expired:
                raise self._past_deadline(url)
        return Answered(response.status_code, body)

    @contextmanager
    def _watching(self, guard: FetchGuard) -> Iterator[None]:
        """Keep `guard` where `stop` finds it while its fetch runs."""
        with self._host_lock:
            self._guards.add(guard)
            if self._stopping.is_set():
                guard.expire()
        try:
            yield
        finally:
            with self._host_lock:
                self._guards.discard(guard)

    def _cut_short(self, url: str) -> FetchError:
        if self._stopping.is_set():
            return FetchStopped(f"{url}: cut short, feedhub is stopping")
        return self._past_deadline(url)

    def _past_deadline(self, url: str) -> LimitExceeded:
        return LimitExceeded(
            f"{url}: the fetch took longer than the deadline ({self.settings.deadline:g}s)"
        )

    def _fetch_http(self, request: FetchRequest, guard: FetchGuard) -> FetchOutcome:
        url = request.url
        redirects: list[Redirect] = []
        seen = {url}
        while True:
            with self._host_slot(url):
                if guard.expired:  # stopped while waiting for the host's turn
                    raise self._cut_short(url)
                # The deadline runs from the fetch's first turn at its host (per_host), not
                # while it waits behind other sources' fetches from the same host.
                deadline = guard.start()
                guard.may_reach_private = request.may_reach_private
                check_url_address(url, allow_private=request.may_reach_private(connect_host(url)))
                response = self._get(url, request, deadline)
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = self._follow(url, response, redirects, seen)
                        continue
                    return self._outcome(url, response, redirects, deadline)
                finally:
                    response.close()

    def _follow(
        self, url: str, response: requests.Response, redirects: list[Redirect], seen: set[str]
    ) -> str:
        target = urljoin(url, response.headers["location"].strip())
        redirects.append(Redirect(response.status_code, target))
        if len(redirects) > self.settings.max_redirects:
            raise LimitExceeded(
                f"{url}: more than {self.settings.max_redirects} redirects; "
                "fix the source URL to point at the feed itself"
            )
        if target in seen:
            raise LimitExceeded(f"{url}: redirect loop back to {target}")
        if urlsplit(target).scheme not in ("http", "https"):
            raise AddressRefused(f"{url}: redirect to a non-http(s) URL {target!r} refused")
        seen.add(target)
        return target

    def _get(self, url: str, request: FetchRequest, deadline: float) -> requests.Response:
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        return self._request(Message("GET", url, headers=headers), deadline)

    def _request(self, message: Message, deadline: float) -> requests.Response:
        url = message.url
        remaining = max(0.1, deadline - time.monotonic())
        timeout = min(self.settings.timeout, remaining)
        try:
            return self.session.request(
                message.method,
                url,
                params=message.params,
                data=message.body,
                headers=message.headers,
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise FetchError(f"{url}: timed out after {timeout:g}s") from None
        except requests.ConnectionError as error:
            raise FetchError(f"{url}: cannot connect ({_root_cause(error)})") from None
        except requests.RequestException as error:
            raise FetchError(f"{url}: request failed ({_root_cause(error)})") from None

    def _outcome(
        self, url: str, response: requests.Response, redirects: list[Redirect], deadline: float
    ) -> FetchOutcome:
        headers = {name.lower(): value for name, value in response.headers.items()}
        etag = headers.get("etag")
        last_modified = headers.get("last-modified")
        if response.status_code == 304:
            return NotModified(url, headers, etag, last_modified, tuple(redirects))
        if response.status_code != 200:
            raise HTTPStatusError(
                response.status_code,
                f"{url}: HTTP {response.status_code} {response.reason}",
                headers,
            )
        body = self._read_body(url, response, headers.get("content-encoding", ""), deadline)
        return Fetched(url, 200, body, headers, etag, last_modified, tuple(redirects))

    def _read_body(
        self, url: str, response: requests.Response, encoding: str, deadline: float
    ) -> bytes:
        limits = self.settings
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise LimitExceeded(
                f"{url}: body of {int(declared)} bytes is over max_body_bytes "
                f"({limits.max_body_bytes})"
            )
        decoder = _decoder(encoding.strip().lower())
        raw_size = 0
        # A BytesIO hands its buffer over at the end (no second copy of a large body), and
        # closing it frees a body over a limit at once, though the error's traceback lives on.
        size = 0
        with io.BytesIO() as body:
            try:
                while chunk := response.raw.read1(_CHUNK, decode_content=False):
                    raw_size += len(chunk)
                    if raw_size > limits.max_body_bytes:
                        raise LimitExceeded(
                            f"{url}: body is over max_body_bytes ({limits.max_body_bytes})"
                        )
                    for piece in decoder(chunk, limits.max_decompressed_bytes - size + 1):
                        size += len(piece)
                        if size > limits.max_decompressed_bytes:
                            raise LimitExceeded(
                                f"{url}: decompressed body is over max_decompressed_bytes "
                                f"({limits.max_decompressed_bytes})"
                            )
                        body.write(piece)
                    if time.monotonic() > deadline:
                        raise self._past_deadline(url)
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,  # `raw` is urllib3's: its errors come unwrapped
                OSError,
                zlib.error,
            ) as error:
                raise FetchError(f"{url}: reading the body failed ({_root_cause(error)})") from None
            return body.getvalue()

    def _read_file(self, url: str) -> Fetched:
        path = Path(url2pathname(urlsplit(url).path))
        try:
            with path.open("rb") as file:
                body = file.read(self.settings.max_body_bytes + 1)
        except OSError as error:
            raise FetchError(f"{path}: cannot read ({error.strerror})") from None
        if len(body) > self.settings.max_body_bytes:
            raise LimitExceeded(f"{path}: file is over max_body_bytes")
        return Fetched(url, 200, body, {"content-type": "application/xml"})

    @contextmanager
    def _host_slot(self, url: str) -> Iterator[None]:
        host = host_of(url)
        with self._host_lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(self.settings.per_host)
        with slot:
            yield


def _decoder(encoding: str) -> _Decode:
    if encoding in ("gzip", "x-gzip"):
        return _ZlibDecoder(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _ZlibDecoder(zlib.MAX_WBITS)
    return _identity


class _Decode:
    def __call__(self, chunk: bytes, budget: int) -> Iterator[bytes]:
        raise NotImplementedError


class _ZlibDecoder(_Decode):
    """Decompress in bounded pieces, so a gzip bomb stops at the cap, not in memory."""

    def __init__(self, wbits: int) -> None:
        self._inflate = zlib.decompressobj(wbits)

    def __call__(self, chunk: bytes, budget: int) -> Iterator[bytes]:
        data = chunk
        while data:
            piece = self._inflate.decompress(data, max(1, min(budget, _CHUNK)))
            data = self._inflate.unconsumed_tail
            budget -= len(piece)
            yield piece


class _Identity(_Decode):
    def __call__(self, chunk: bytes, budget: int) -> Iterator[bytes]:
        yield chunk


_identity = _Identity()


def _root_cause(error: BaseException) -> str:
    """The innermost message of a requests/urllib3 exception chain, on one line."""
    cause: BaseException = error
    while True:
        inner = cause.__cause__ or cause.__context__
        if inner is None and cause.args and isinstance(cause.args[0], BaseException):
            inner = cause.args[0]
        if inner is None or inner is cause:
            break
        cause = inner
    reason = getattr(cause, "reason", None)
    text = str(reason if isinstance(reason, BaseException) else cause)
    return one_line(text) or type(cause).__name__
