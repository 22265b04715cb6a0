"""Serves the benchmark corpus over HTTP from loopback addresses, with validators and latency.

One threaded HTTP/1.1 server (keep-alive) per address 127.0.0.2, 127.0.0.3, ... so
per-host limits act as on the real web; Linux routes all of 127.0.0.0/8 to `lo`.
Every answer waits `latency` seconds first. Documents get a strong ETag and a
Last-Modified, and 304 answers If-None-Match / If-Modified-Since, unless
validators are switched off: then every GET gets the full body and no validator,
which is what a client's unchanged-body detection is for. Counters record what
was answered. This is test infrastructure, not the product.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Document:
    """A body with its validators."""

    body: bytes
    content_type: str
    etag: str
    modified: datetime  # whole seconds, UTC

    @property
    def last_modified(self) -> str:
        """The Last-Modified header value."""
        return format_datetime(self.modified, usegmt=True)


class Site:
    """The documents every host serves, the switches, and the counters; thread-safe."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.validators = True
        self._documents: dict[str, Document] = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def put(self, path: str, body: bytes, content_type: str, modified: datetime) -> None:
        """Serve `body` at `path` from now on (a swap changes ETag and Last-Modified)."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        document = Document(body, content_type, etag, modified.replace(microsecond=0))
        with self._lock:
            self._documents[path] = document

    def get(self, path: str) -> Document | None:
        """The document at `path`, if any."""
        with self._lock:
            return self._documents.get(path)

    def count(self, status: int, sent: int) -> None:
        """Record one answer."""
        with self._lock:
            self._counts["requests"] += 1
            self._counts[str(status)] += 1
            self._counts["bytes"] += sent

    def counters(self) -> dict[str, int]:
        """A snapshot of the counters: requests, bytes, and one per status code."""
        with self._lock:
            return dict(self._counts)

    def reset_counters(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()


def not_modified(document: Document, headers: dict[str, str]) -> bool:
    """Whether the conditional request headers match the document (RFC 9110 13.2.2)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or document.etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and document.modified <= since


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        if site.latency:
            time.sleep(site.latency)
        document = site.get(urlsplit(self.path).path)
        if document is None:
            self._answer(404, b"not found\n", {"Content-Type": "text/plain"})
            return
        if not site.validators:
            self._answer(200, document.body, {"Content-Type": document.content_type})
            return
        validators = {"ETag": document.etag, "Last-Modified": document.last_modified}
        headers = {name.lower(): value for name, value in self.headers.items()}
        if not_modified(document, headers):
            self._answer(304, b"", validators)
        else:
            self._answer(200, document.body, {"Content-Type": document.content_type, **validators})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.site.count(status, len(body))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: thousands of requests per run."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], site: Site) -> None:
        self.site = site
        super().__init__(address, _Handler)


class Farm:
    """One server per loopback address, all serving the same site."""

    def __init__(self, site: Site, servers: list[_Server]) -> None:
        self.site = site
        self._servers = servers

    @property
    def bases(self) -> list[str]:
        """The base URL of each host, e.g. http://127.0.0.2:41234."""
        return [f"http://{host}:{port}" for host, port in self._addresses()]

    def url(self, index: int, path: str) -> str:
        """Where the `index`-th document lives: documents are spread round-robin over hosts."""
        bases = self.bases
        return bases[index % len(bases)] + path

    def _addresses(self) -> Iterator[tuple[str, int]]:
        for server in self._servers:
            host, port = server.server_address[:2]
            yield str(host), int(port)


def loopback_hosts(count: int, first: int = 2) -> list[str]:
    """`count` loopback addresses from 127.0.0.`first` on."""
    if not 1 <= count <= 250 - first:
        raise ValueError(f"between 1 and {250 - first} hosts, not {count}")
    return [f"127.0.0.{first + n}" for n in range(count)]


@contextmanager
def serving(site: Site, hosts: list[str]) -> Iterator[Farm]:
    """Run one server per host (each on a free port) until the block ends."""
    servers: list[_Server] = []
    threads: list[threading.Thread] = []
    try:
        for host in hosts:
            server = _Server((host, 0), site)
            servers.append(server)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            threads.append(thread)
        yield Farm(site, servers)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
