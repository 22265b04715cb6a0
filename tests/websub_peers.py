"""WebSub's other parties, for tests on loopback: a subscriber (a reader's callback) and a
hub (the one a source advertises), each a real HTTP server logging what it received."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from feedhub.app.hub import Hub
from feedhub.serve.app import BackgroundServer, server_limits, site_app, start_background_server


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Peer:
    """A server answering GETs (echoing `hub.challenge` while `echo`) and POSTs (with the
    next of `post_statuses`, then 200 or 202), logging every request."""

    echo: bool = True
    post_statuses: list[int] = field(default_factory=list)
    post_status: int = 202
    delay: float = 0.0  # before answering a POST
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def got(self, method: str, path: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r for r in self.received if r.method == method and (path is None or r.path == path)
            ]

    def wait_for(self, method: str, timeout: float = 30) -> bool:
        """Whether a `method` request arrived (at once or within `timeout` seconds): for what
        happens in another thread, a wait on an event, no timing assertion."""
        return self._arrived.wait(timeout) and bool(self.got(method))

    def _answer(self, request: Received) -> tuple[int, bytes]:
        with self._lock:
            self.received.append(request)
            self._arrived.set()
            if request.method == "GET":
                challenge = request.query.get("hub.challenge", "")
                return (200, challenge.encode()) if self.echo else (404, b"no")
            status = self.post_statuses.pop(0) if self.post_statuses else self.post_status
        time.sleep(self.delay)
        return status, b""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(length))

            def _handle(self, body: bytes) -> None:
                parts = urlsplit(self.path)
                request = Received(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {name.lower(): value for name, value in self.headers.items()},
                    body,
                )
                status, reply = peer._answer(request)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def peer(**options: Any) -> Iterator[Peer]:
    server = Peer(**options)
    try:
        yield server
    finally:
        server.close()


def free_port() -> int:
    """A port free now, for a server whose URL must be in the config before it starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def subscribe(hub: str, topic: str, callback: str, **extra: str) -> requests.Response:
    """A subscriber's request to a hub."""
    form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback, **extra}
    return requests.post(hub, data=form, timeout=10)


def act_as_hub_verifying(callback: str, **query: str) -> requests.Response:
    """A hub's verification of intent at one of feedhub's callbacks."""
    return requests.get(callback, params={"hub.challenge": "c-123", **query}, timeout=10)


def push(callback: str, body: bytes, secret: str | None, **headers: str) -> requests.Response:
    """A hub's content distribution to one of feedhub's callbacks."""
    sent = {"Content-Type": "application/rss+xml", **headers}
    if secret is not None:
        sent["X-Hub-Signature"] = signature(secret, body)
    return requests.post(callback, data=body, headers=sent, timeout=10)


def serve_hub(hub: Hub, port: int = 0) -> BackgroundServer:
    """Serve `hub`'s site and WebSub endpoints on 127.0.0.1 from a background thread."""
    app = site_app(hub.settings, None, None, hub.websub)
    server, _ = start_background_server(app, "127.0.0.1", port, limits=server_limits(hub.settings))
    return server
