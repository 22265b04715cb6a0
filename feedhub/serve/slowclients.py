"""Clients that take their time sending a request (slowloris), kept from crowding others out.

waitress drops a connection only after `channel_timeout` seconds without a byte,
so a client sending one header line every few seconds holds its connection for
ever, and 100 of them fill the connection limit: new clients wait in the
kernel's backlog until they give up. Two rules stop that:

- a connection has `header_timeout` seconds to send a complete request, counted
  from when it opened or its last request was answered (an idle keep-alive
  connection is closed after as long; time spent answering does not count);
- when more than `max_connections` are open, a new connection makes room by
  closing the one that has waited longest without a complete request (never one
  being answered or sent its answer), so a new client is served at once even
  while the attack goes on.

Both act from waitress's event loop (`readable()` is polled every loop turn, at
most a second apart), where closing a connection is safe.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 100
# waitress's own limit: it stops accepting at this many, so it must stay above ours.
HARD_CONNECTION_LIMIT = 1000


class _PatientChannel(HTTPChannel):  # type: ignore[misc]
    """An HTTPChannel that knows since when it has waited for a complete request."""

    header_timeout = HEADER_TIMEOUT
    max_connections = MAX_CONNECTIONS
    waiting_since = 0.0

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.waiting_since = time.monotonic()
        self._make_room()

    def readable(self) -> bool:
        now = time.monotonic()
        if self.requests or self.total_outbufs_len:
            # Being answered (a slow reader is channel_timeout's business): the wait for
            # the next request starts once the answer is sent.
            self.waiting_since = now
        elif now - self.waiting_since > self.header_timeout:
            self.will_close = True
        return bool(super().readable())

    def _make_room(self) -> None:
        channels = self.server.active_channels
        if len(channels) <= self.max_connections:
            return
        waiting = [
            channel
            for channel in channels.values()
            if channel is not self
            and not channel.requests
            and not channel.total_outbufs_len
            and not channel.will_close
        ]
        if waiting:
            min(waiting, key=_waiting_since).will_close = True


def _waiting_since(channel: Any) -> float:
    return float(getattr(channel, "waiting_since", 0.0))


def guard_slow_clients(
    socket_map: dict[int, Any],
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> None:
    """Make every waitress server in `socket_map` accept its connections as
    `_PatientChannel`s with these limits."""
    channel_class = type(
        "PatientChannel",
        (_PatientChannel,),
        {"header_timeout": header_timeout, "max_connections": max_connections},
    )
    for dispatcher in list(socket_map.values()):
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel_class
