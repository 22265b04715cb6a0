"""The published-documents server against hostile clients: huge request lines, stalled clients."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedhub.serve.app import FileDocuments, make_app, start_background_server

FEED = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>\n'


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "atom.xml").write_bytes(FEED)
    # Timeouts shortened so the test waits seconds, not the minute the defaults allow.
    limits = {"channel_timeout": 1, "cleanup_interval": 1}
    server, thread = start_background_server(
        make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0, limits=limits
    )
    yield server.effective_port
    server.close()
    thread.join(timeout=10)


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send `data` and read until the server hangs up (a reset too: it may stop reading)."""
    received = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        contextlib.suppress(ConnectionResetError, BrokenPipeError),
    ):
        sock.sendall(data)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_an_oversized_request_line_is_refused_and_the_server_goes_on(port: int) -> None:
    target = "/news/atom.xml?" + "a" * (64 * 1024)
    refused = exchange(port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert refused == b"" or refused.split(b" ", 2)[1] in (b"400", b"414", b"431")
    assert FEED not in refused
    served = exchange(port, b"GET /news/atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert served.endswith(FEED)


def test_a_client_that_stalls_mid_request_is_dropped(port: int) -> None:
    # Half a request, then silence: the server hangs up (recv returns b"") long before
    # the client's own 20 s timeout would give up.
    assert b"200 OK" not in exchange(port, b"GET /news/atom.xml HTTP/1.1\r\nHost:", timeout=20)
