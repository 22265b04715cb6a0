"""A scripted HTTP server on 127.0.0.1 for tests: real sockets, a log of every request.

Each path answers with a `Reply` or a function of the request returning one.
`Reply.feed(...)` serves a body with a strong ETag and Last-Modified and answers
conditional requests with 304, as a well-behaved publisher does.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    conditional: bool = False  # answer If-None-Match / If-Modified-Since with 304

    @classmethod
    def feed(cls, body: bytes, content_type: str = "application/rss+xml", **extra: str) -> Reply:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {
            "Content-Type": content_type,
            "ETag": etag,
            "Last-Modified": formatdate(1751500000, usegmt=True),
            **extra,
        }
        return cls(200, body, headers, conditional=True)

    def answer(self, request: Request) -> Reply:
        if not self.conditional:
            return self
        etag = self.headers.get("ETag")
        if etag and request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return self


Route = Reply | Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a connection it had not read to the end is not a server error,
        # and its traceback would land in the stderr of an in-process command under test.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeedServer:
    """A threaded HTTP server whose answers tests script path by path."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = _Server((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, answer: Route) -> str:
        self.routes[path] = answer
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                request = Request(
                    "GET",
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    time.monotonic(),
                )
                server._record(request)
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    reply = Reply(404, b"not found")
                else:
                    reply = route if isinstance(route, Reply) else route(request)
                    reply = reply.answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.body and reply.status not in (204, 304):
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
