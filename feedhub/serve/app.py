"""HTTP serving of published documents: the WSGI app and the waitress server.

The app answers GET and HEAD for the documents a `DocumentSource` holds (the
files `publish` wrote, by default) with validators, conditional responses and
gzip; it never serves anything outside the published site.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import waitress.server
from waitress import trigger, wasyncore

from feedhub.config.settings import Settings
from feedhub.core.clock import ensure_utc
from feedhub.core.errors import ServeError
from feedhub.core.site import Document, DocumentSource, content_type_of, document_file, strong_etag
from feedhub.core.websub import WebSubEndpoints
from feedhub.serve.slowclients import HARD_CONNECTION_LIMIT, HEADER_TIMEOUT, guard_slow_clients
from feedhub.serve.websub import websub_answer

logger = logging.getLogger(__name__)

Metrics = Callable[[], tuple[bytes, str]]

# An allow-list rather than a deny-list: segments of letters, digits and `._~-`
# that never start with a dot. This refuses `..`, hidden files, backslashes, NUL,
# empty segments (so absolute paths) and any `%` left after the server's single
# percent-decoding (so double encoding).
_SAFE_PATH = re.compile(r"(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*)?")

_WAITRESS_LIMITS: dict[str, Any] = {
    "max_request_header_size": 16 * 1024,
    "max_request_body_size": 1024,  # no bodies but WebSub's (see `server_limits`)
    "channel_timeout": 30,  # a client that stalls for longer is dropped...
    "cleanup_interval": 10,  # ...within this many seconds more
    # A ceiling only: `slowclients` keeps 100 open, making room for new clients.
    "connection_limit": HARD_CONNECTION_LIMIT,
    "ident": "feedhub",
}
_ALLOWED_METHODS = ("GET", "HEAD")
# Nothing published runs a script (the front page has none, feeds are data): every
# response says so, and that no page may frame it or learn where its readers go next.
# The front page's one <style> element is inline.
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)

# What a folder answers while the site has no front page: the hub has not published yet.
_NOTHING_PUBLISHED = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nothing published yet</title></head>
<body><h1>Nothing is published here yet</h1>
<p>The feeds appear here once feedhub has published them. Run <code>feedhub run --once</code>
to poll the sources and publish the feeds, or <code>feedhub publish</code> to write them from
what is already stored; the daemon, <code>feedhub run</code>, publishes after its first poll.</p>
</body></html>
"""
_GZIP_CACHE_SIZE = 64
_ETAG_CACHE_SIZE = 1024

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class FileDocuments:
    """Documents read from the files under `output_dir`."""

    def __init__(self, output_dir: Path) -> None:
        self._root = output_dir.resolve()
        self._etags: _LRU[tuple[str, int, int, int], str] = _LRU(_ETAG_CACHE_SIZE)

    def get(self, path: str) -> Document | None:
        relative = document_file(path)
        content_type = content_type_of(relative.rpartition("/")[2])
        if content_type is None:
            return None
        file = (self._root / relative).resolve()  # follows symlinks, so check where it lands
        if not file.is_relative_to(self._root):
            return None
        try:
            # One open and one read: publish replaces files by rename, so this
            # sees either the old file or the new one, whole; fstat describes it.
            with file.open("rb") as handle:
                status = os.fstat(handle.fileno())
                if not stat.S_ISREG(status.st_mode):
                    return None
                body = handle.read()
        except OSError:
            return None
        key = (relative, status.st_ino, status.st_mtime_ns, status.st_size)
        return Document(
            body=body,
            content_type=content_type,
            etag=self._etags.get_or_compute(key, lambda: strong_etag(body)),
            last_modified=datetime.fromtimestamp(status.st_mtime_ns // 1_000_000_000, UTC),
        )


def safe_relative_path(path_info: str) -> str | None:
    """The site-relative path of a request's PATH_INFO, or None if it is not safe."""
    if not path_info.startswith("/"):
        return None
    relative = path_info[1:]
    return relative if _SAFE_PATH.fullmatch(relative) else None


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _etag_matches(if_none_match: str, etag: str) -> bool:
    tags = [_opaque(tag) for tag in if_none_match.split(",")]
    return "*" in tags or _opaque(etag) in tags


def _modified_since(if_modified_since: str, last_modified: datetime) -> bool:
    try:
        since = ensure_utc(parsedate_to_datetime(if_modified_since))
    except (TypeError, ValueError):
        return True
    # HTTP dates have whole seconds.
    return last_modified.replace(microsecond=0) > since


def _not_modified(environ: WSGIEnvironment, etag: str, last_modified: datetime) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    return if_modified_since is not None and not _modified_since(if_modified_since, last_modified)


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _accepts_gzip(accept_encoding: str) -> bool:
    qualities: dict[str, float] = {}
    for coding in accept_encoding.split(","):
        name, *parameters = coding.split(";")
        qualities[name.strip().lower()] = _quality(parameters)
    quality = qualities.get("gzip", qualities.get("x-gzip", qualities.get("*", 0.0)))
    return quality > 0


def _gzip_etag(etag: str) -> str:
    return etag[:-1] + '-gzip"'


class _App:
    """The WSGI application; see `make_app`."""

    def __init__(
        self,
        documents: DocumentSource,
        max_age_seconds: int,
        metrics: Metrics | None,
        websub: WebSubEndpoints | None = None,
    ):
        self._documents = documents
        self._websub = websub
        self._cache_control = f"max-age={max_age_seconds}"
        self._metrics = metrics
        self._gzipped: _LRU[str, bytes] = _LRU(_GZIP_CACHE_SIZE)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        answer = None if self._websub is None else websub_answer(self._websub, environ)
        if answer is not None:
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
            body = answer.body.encode("utf-8")
            return _respond(
                environ, start_response, answer.status, body, [*headers, *answer.headers]
            )
        if method not in _ALLOWED_METHODS:
            return _plain(
                environ,
                start_response,
                "405 Method Not Allowed",
                [("Allow", ", ".join(_ALLOWED_METHODS))],
            )
        path_info = environ.get("PATH_INFO", "")
        if path_info == "/metrics" and self._metrics is not None:
            body, content_type = self._metrics()
            return _respond(
                environ,
                start_response,
                "200 OK",
                body,
                [("Content-Type", content_type), ("Cache-Control", "no-store")],
            )
        path = safe_relative_path(path_info)
        document = None if path is None else self._documents.get(path)
        if document is None:
            if path is not None and document_file(path) != path and not self._published():
                return _respond(
                    environ,
                    start_response,
                    "404 Not Found",
                    _NOTHING_PUBLISHED,
                    [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
                )
            return _plain(environ, start_response, "404 Not Found", [])
        return self._document(environ, start_response, document)

    def _published(self) -> bool:
        return self._documents.get("") is not None

    def _document(
        self, environ: WSGIEnvironment, start_response: StartResponse, document: Document
    ) -> Iterable[bytes]:
        body, etag, encoding = document.body, document.etag, []
        if _accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            etag = _gzip_etag(document.etag)
            body = self._gzipped.get_or_compute(etag, lambda: gzip.compress(document.body, mtime=0))
            encoding = [("Content-Encoding", "gzip")]
        validators = [
            ("ETag", etag),
            ("Last-Modified", format_datetime(ensure_utc(document.last_modified), usegmt=True)),
            ("Cache-Control", self._cache_control),
            ("Vary", "Accept-Encoding"),
        ]
        if _not_modified(environ, etag, document.last_modified):
            start_response("304 Not Modified", [*validators, *_SECURITY_HEADERS])
            return []
        headers = [("Content-Type", document.content_type), *encoding, *validators]
        return _respond(environ, start_response, "200 OK", body, headers)


def _respond(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]],
) -> Iterable[bytes]:
    start_response(
        status,
        [*headers, ("Content-Length", str(len(body))), *_SECURITY_HEADERS],
    )
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _plain(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    headers: list[tuple[str, str]],
) -> Iterable[bytes]:
    body = (status.partition(" ")[2].lower() + "\n").encode()
    return _respond(
        environ,
        start_response,
        status,
        body,
        [("Content-Type", "text/plain; charset=utf-8"), *headers],
    )


def make_app(
    documents: DocumentSource,
    max_age_seconds: int,
    metrics: Metrics | None = None,
    websub: WebSubEndpoints | None = None,
) -> WSGIApplication:
    """The WSGI app serving `documents`, and `/metrics` from `metrics` (body, content type),
    and the WebSub hub and callbacks through `websub`, when given."""
    return _App(documents, max_age_seconds, metrics, websub)


def site_app(
    settings: Settings,
    metrics: Metrics | None,
    documents: DocumentSource | None = None,
    websub: WebSubEndpoints | None = None,
) -> WSGIApplication:
    """The app serving a hub's site: `documents`, else the files in output_dir (see
    `feedhub.app.site.site_documents`). Clients may cache a document for as long as
    the most often polled source's interval, as nothing changes faster than that."""
    max_age = int(settings.shortest_interval.total_seconds())
    files = documents or FileDocuments(settings.hub.output_dir)
    return make_app(files, max_age, metrics, websub)


def server_limits(settings: Settings) -> dict[str, Any]:
    """The waitress settings that differ from `_WAITRESS_LIMITS` for this config: with
    WebSub, hubs push whole documents, as large as a fetch may be."""
    if not settings.websub.enabled:
        return {}
    return {"max_request_body_size": settings.fetch.max_body_bytes}


def _create_server(
    app: WSGIApplication,
    host: str,
    port: int,
    threads: int,
    socket_map: dict[int, Any],
    limits: Mapping[str, Any] = _WAITRESS_LIMITS,
    header_timeout: float = HEADER_TIMEOUT,
) -> Any:
    try:
        server = waitress.server.create_server(
            app, map=socket_map, host=host, port=port, threads=threads, **limits
        )
    except OSError as error:
        raise ServeError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "pick another --host/--port (or [serve] host/port), or stop what uses it"
        ) from None
    guard_slow_clients(socket_map, header_timeout=header_timeout)
    return server


def serve(
    app: WSGIApplication,
    host: str,
    port: int,
    *,
    threads: int = 4,
    limits: Mapping[str, Any] | None = None,
) -> None:
    """Serve `app` on host:port until interrupted; `limits` as for `start_background_server`."""
    waitress_limits = {**_WAITRESS_LIMITS, **(limits or {})}
    server = _create_server(app, host, port, threads, {}, waitress_limits)
    logger.info("serving on http://%s:%s", host, port)
    server.run()


class BackgroundServer:
    """A waitress server whose loop runs in another thread; `close()` stops it."""

    def __init__(self, server: Any, socket_map: dict[int, Any]) -> None:
        self._server = server
        self._socket_map = socket_map
        # Sockets belong to the loop's thread: closing them is handed to it.
        self._wakeup = trigger.trigger(socket_map)
        self._closed = threading.Event()
        listening = (
            server.effective_listen
            if isinstance(server, waitress.server.MultiSocketServer)
            else [(server.effective_host, server.effective_port)]
        )
        self.effective_host: str = str(listening[0][0])
        self.effective_port: int = int(listening[0][1])

    def run(self) -> None:
        self._server.run()

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening, close every connection, stop the worker threads."""
        if self._closed.is_set():
            return
        self._wakeup.pull_trigger(self._close_sockets)
        self._closed.wait(timeout)
        self._server.task_dispatcher.shutdown()

    def _close_sockets(self) -> None:
        wasyncore.close_all(self._socket_map)
        self._closed.set()


def start_background_server(
    app: WSGIApplication,
    host: str,
    port: int,
    *,
    threads: int = 4,
    limits: Mapping[str, Any] | None = None,
    header_timeout: float = HEADER_TIMEOUT,
) -> tuple[BackgroundServer, threading.Thread]:
    """Serve `app` from a daemon thread; port 0 picks a free port (see `effective_port`).
    `limits` overrides waitress settings of `_WAITRESS_LIMITS`, and `header_timeout`
    that of `feedhub.serve.slowclients` (tests shorten timeouts)."""
    socket_map: dict[int, Any] = {}
    waitress_limits = {**_WAITRESS_LIMITS, **(limits or {})}
    created = _create_server(app, host, port, threads, socket_map, waitress_limits, header_timeout)
    server = BackgroundServer(created, socket_map)
    thread = threading.Thread(target=server.run, name="feedhub-serve", daemon=True)
    thread.start()
    logger.info("serving on http://%s:%s", server.effective_host, server.effective_port)
    return server, thread
