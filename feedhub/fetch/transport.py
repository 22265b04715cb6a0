"""The connections under requests: checked against the address they reached, cut at the deadline.

`netguard.check_url_address` refuses a host that resolves to a non-public
address before anything is sent, but urllib3 resolves the name again when it
connects, and a hostile DNS server can answer differently the second time (DNS
rebinding). So every request checks the peer address of the very socket it is
about to write to (`netguard.check_peer`), on a new connection right after the
TCP connect (before TLS or anything is sent) and on a reused one.

Timeouts bound each wait, not the whole: a server that drips its headers or
body one byte a second never trips them. A `FetchGuard` shuts down the sockets
of its fetch when the fetch's deadline passes, wherever the fetch is blocked.

A fetch runs in one thread; its guard is found through a thread-local, since
urllib3 gives connections no way to learn whose request they carry.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from feedhub.fetch.netguard import check_peer

_current = threading.local()


class FetchGuard:
    """The rules of one fetch: which hosts may be reached on a private address (judged by
    the host each connection actually connects to), and a deadline (from `start()`) after
    which its sockets are shut down. Use as a context manager in the thread that fetches."""

    def __init__(self, seconds: float) -> None:
        self.may_reach_private: Callable[[str], bool] = _never
        self.expired = False
        self._seconds = seconds
        self._deadline: float | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> FetchGuard:
        _current.guard = self
        return self

    def start(self) -> float:
        """Start the clock, the first time only; return the deadline (`time.monotonic()`)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self._seconds
            self._timer.start()
        return self._deadline

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        _current.guard = None

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once, if it has passed)."""
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut_down(sock)

    def expire(self) -> None:
        """Shut the fetch's sockets down now (its deadline passed, or feedhub is stopping)."""
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut_down(sock)


def _never(host: str) -> bool:
    return False


def current_guard() -> FetchGuard | None:
    guard: FetchGuard | None = getattr(_current, "guard", None)
    return guard


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _check(host: str, sock: socket.socket) -> None:
    """Refuse `sock` unless its peer is allowed; watch it for the deadline."""
    guard = current_guard()
    try:
        allowed = guard is not None and guard.may_reach_private(host.strip("[]").lower())
        check_peer(host, sock.getpeername()[0], allow_private=allowed)
    except BaseException:
        sock.close()
        raise
    if guard is not None:
        guard.watch(sock)


class _CheckedHTTPConnection(HTTPConnection):
    """Connects as urllib3 does, then checks where it landed before sending anything."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check(self.host, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection, checked for this fetch's rules
            _check(self.host, self.sock)
        super().request(*args, **kwargs)


class _CheckedHTTPSConnection(_CheckedHTTPConnection, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """A requests adapter whose connections are checked (see the module docstring)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }
